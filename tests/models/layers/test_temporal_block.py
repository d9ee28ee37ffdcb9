"""T-Block: activation after the residual sum, shape preserved."""
import pytest
import torch

from projects.dist.models.layers import TemporalBlock
from tests.numerics import assert_close_rounding


def _block() -> TemporalBlock:
    torch.manual_seed(0)
    blk = TemporalBlock(8, mlp_ratio=2.0, temporal_kernel_size=3)
    with torch.no_grad():  # non-trivial LayerNorm affine and biases
        for p in blk.parameters():
            p.normal_(0.0, 0.5)
    return blk


def _formula(blk: TemporalBlock, x: torch.Tensor) -> torch.Tensor:
    n = torch.nn.functional.layer_norm(
        x.movedim(1, -1), (8, ), blk.norm.weight, blk.norm.bias)
    h = blk.conv1(n.movedim(-1, 1))
    h = blk.conv2(h * torch.sigmoid(1.702 * h))
    s = x + h
    return s * torch.sigmoid(1.702 * s)


def test_formula_and_shape():
    blk = _block()
    x = torch.randn(2, 8, 5, 3, 3)
    y = blk(x)
    assert y.shape == x.shape
    # longest sum: conv over channels x temporal kernel
    assert_close_rounding(y, _formula(blk, x), reduction=16 * 3)


@pytest.mark.parametrize('channels_last', [True, False])
def test_gradients_match_the_formula(channels_last):
    blk = _block()
    x0 = torch.randn(2, 8, 5, 3, 3)
    if channels_last:
        x0 = x0.contiguous(memory_format=torch.channels_last_3d)
    w = torch.randn(2, 8, 5, 3, 3)
    grads = []
    for fn in (blk, lambda x: _formula(blk, x)):
        blk.zero_grad()
        x = x0.clone().requires_grad_()
        (fn(x) * w).sum().backward()
        grads.append([x.grad] + [p.grad.clone() for p in blk.parameters()])
    for got, want in zip(*grads):  # weight gradients sum over B*T*H*W
        assert_close_rounding(got, want, reduction=x0[:, 0].numel())


def test_backward_keeps_three_stream_sized_tensors():
    """The input, conv1's output and the residual sum; not the normalised
    input or the hidden activation."""
    blk = TemporalBlock(8)
    x = torch.randn(
        1, 8, 4, 5,
        5).contiguous(memory_format=torch.channels_last_3d).requires_grad_()
    saved = {}
    with torch.autograd.graph.saved_tensors_hooks(
            lambda t: saved.setdefault(t.untyped_storage().data_ptr(), t),
            lambda t: t):
        blk(x)
    stream = [
        t for t in saved.values()
        if t.untyped_storage().nbytes() >= x.numel() * 4
    ]
    assert len(stream) == 3
    assert any(t.data_ptr() == x.data_ptr() for t in stream)


def test_even_kernel_rejected():
    with pytest.raises(ValueError, match='must be odd .* got 2'):
        TemporalBlock(8, temporal_kernel_size=2)


def test_keeps_channels_last_and_gradients():
    torch.manual_seed(0)
    blk = TemporalBlock(8)
    x = torch.randn(
        1, 8, 4, 3,
        3).contiguous(memory_format=torch.channels_last_3d).requires_grad_()
    y = blk(x)
    assert y.is_contiguous(memory_format=torch.channels_last_3d)
    y.square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in blk.parameters())


def test_traces_without_graph_breaks():
    """torch.compile sees the block (custom autograd functions included)
    as one graph."""
    blk = _block()
    x = torch.randn(1, 8, 4, 3, 3, requires_grad=True)
    explained = torch._dynamo.explain(blk)(x)
    assert explained.graph_break_count == 0, explained.break_reasons
