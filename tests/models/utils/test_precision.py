"""autocast_dtype: the dtype autocast gives products, None when off."""
import torch

from projects.dist.models.utils.precision import autocast_dtype


def test_autocast_dtype():
    assert autocast_dtype('cpu') is None
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert autocast_dtype('cpu') == torch.bfloat16
    with torch.autocast('cpu', dtype=torch.float16):
        assert autocast_dtype('cpu') == torch.float16
    # devices without autocast (FLOP counting on meta) count as off
    assert autocast_dtype('meta') is None
