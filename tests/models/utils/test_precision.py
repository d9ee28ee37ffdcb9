"""autocast_dtype: the dtype autocast gives products, None when off."""
import pytest
import torch

from projects.dist.models.utils import precision
from projects.dist.models.utils.precision import (autocast_available,
                                                  autocast_dtype)


def test_autocast_dtype():
    assert autocast_dtype('cpu') is None
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert autocast_dtype('cpu') == torch.bfloat16
    with torch.autocast('cpu', dtype=torch.float16):
        assert autocast_dtype('cpu') == torch.float16
    # devices without autocast (FLOP counting on meta) count as off
    assert autocast_dtype('meta') is None


@pytest.mark.parametrize('device_type', ['cpu', 'cuda', 'meta', 'lazy'])
def test_autocast_available_matches_torch(device_type):
    assert autocast_available(device_type) == \
        torch.amp.is_autocast_available(device_type)


def test_autocast_available_asks_torch_for_unlisted_types(monkeypatch):
    monkeypatch.setattr(precision, '_AUTOCAST_AVAILABLE', {})
    assert autocast_available('cpu') is True
    assert autocast_available('meta') is False


def test_autocast_dtype_compiles_without_graph_break():
    # torch 2.11's TorchDynamo cannot trace torch.amp.is_autocast_available
    # (a graph break in every T-/I-Block); the lookup table it can
    def scaled(x):
        dtype = autocast_dtype(x.device.type) or x.dtype
        return (x * 2).to(dtype)

    compiled = torch.compile(scaled, backend='eager', fullgraph=True)
    x = torch.ones(3)
    assert compiled(x).dtype == torch.float32
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert compiled(x).dtype == torch.bfloat16
