"""records_grad: whether autograd would record an operation."""
import torch

from projects.dist.models.utils.autograd import records_grad


def test_records_grad():
    leaf = torch.zeros(2, requires_grad=True)
    plain = torch.zeros(2)
    assert records_grad(plain, None, leaf)
    assert not records_grad(plain, None)
    with torch.no_grad():
        assert not records_grad(leaf)
