"""T-Block: activation after the residual sum, shape preserved."""
import pytest
import torch

from projects.dist.models.layers import TemporalBlock


def test_formula_and_shape():
    torch.manual_seed(0)
    blk = TemporalBlock(8, mlp_ratio=2.0, temporal_kernel_size=3)
    with torch.no_grad():
        for p in blk.parameters():
            p.normal_(0.0, 0.5)
    x = torch.randn(2, 8, 5, 3, 3)
    y = blk(x)
    assert y.shape == x.shape
    n = torch.nn.functional.layer_norm(x.movedim(1, -1), (8, ),
                                       blk.norm.weight, blk.norm.bias)
    h = blk.conv1(n.movedim(-1, 1))
    h = blk.conv2(h * torch.sigmoid(1.702 * h))
    s = x + h
    torch.testing.assert_close(y, s * torch.sigmoid(1.702 * s))


def test_even_kernel_rejected():
    with pytest.raises(ValueError, match='must be odd .* got 2'):
        TemporalBlock(8, temporal_kernel_size=2)


def test_keeps_channels_last_and_gradients():
    torch.manual_seed(0)
    blk = TemporalBlock(8)
    x = torch.randn(1, 8, 4, 3, 3).contiguous(
        memory_format=torch.channels_last_3d).requires_grad_()
    y = blk(x)
    assert y.is_contiguous(memory_format=torch.channels_last_3d)
    y.square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in blk.parameters())
