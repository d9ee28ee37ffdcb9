"""silu_linear: the composition's values and gradients, keeping only the
pre-activation for backward."""
import pytest
import torch
import torch.nn.functional as F

from projects.dist.models.layers import silu_conv3d, silu_linear
from tests.numerics import assert_close_rounding


def _leaves(*tensors):
    return [None if t is None else t.clone().requires_grad_() for t in tensors]


@pytest.mark.parametrize('with_bias', [True, False])
@pytest.mark.parametrize('with_acc', [True, False])
def test_matches_composition(with_bias, with_acc):
    torch.manual_seed(0)
    x0, w0 = torch.randn(6, 5) * 2, torch.randn(3, 5)
    b0 = torch.randn(3) if with_bias else None
    acc0 = torch.randn(6, 3) if with_acc else None
    grad = torch.randn(6, 3)
    grads = []
    for use_fn in (False, True):
        x, w, b, acc_leaf = _leaves(x0, w0, b0, acc0)
        # an intermediate to accumulate into (in place needs a non-leaf)
        acc = None if acc_leaf is None else acc_leaf * 1
        if use_fn:
            out = silu_linear(x, w, b, accumulate=acc)
            if acc is not None:
                assert out is acc  # added in place
        else:
            out = F.linear(F.silu(x), w, b)
            out = out if acc is None else acc + out
        out.backward(grad)
        grads.append((out.detach(), ) + tuple(
            t.grad for t in (x, w, b, acc_leaf) if t is not None))
    for got, want in zip(*grads[::-1]):
        assert_close_rounding(got, want, reduction=max(x0.shape))


def test_keeps_pre_activation_only():
    x = torch.randn(64, 32, requires_grad=True)
    w = torch.randn(16, 32, requires_grad=True)

    def saved_numel(fn):
        saved = []
        with torch.autograd.graph.saved_tensors_hooks(
                lambda t: saved.append(t) or t, lambda t: t):
            fn()
        return sum(t.numel() for t in saved), saved

    plain, _ = saved_numel(lambda: F.linear(F.silu(x), w))
    assert plain == 2 * x.numel() + w.numel()  # x and silu(x) both kept
    numel, saved = saved_numel(lambda: silu_linear(x, w))
    assert numel == x.numel() + w.numel()
    assert {t.data_ptr() for t in saved} == {x.data_ptr(), w.data_ptr()}


def test_without_grad_and_bad_shapes():
    x, w = torch.randn(4, 5), torch.randn(3, 5)
    with torch.no_grad():
        out = silu_linear(x, w)
    torch.testing.assert_close(out, F.silu(x) @ w.t())
    with pytest.raises(ValueError, match=r'x \(M, K\) and weight \(N, K\)'):
        silu_linear(x, torch.randn(3, 4))
    with pytest.raises(ValueError, match='got'):
        silu_linear(x[None], w)


@pytest.mark.parametrize('with_bias', [True, False])
def test_silu_conv3d_matches_composition(with_bias):
    torch.manual_seed(0)
    x0 = torch.randn(2, 4, 3, 5,
                     5).contiguous(memory_format=torch.channels_last_3d) * 2
    w0 = torch.randn(6, 4, 1, 3, 3)
    b0 = torch.randn(6) if with_bias else None
    grad = torch.randn(2, 6, 3, 5, 5)
    results = []
    for use_fn in (False, True):
        x, w, b = _leaves(x0, w0, b0)
        if use_fn:
            out = silu_conv3d(x, w, b, padding=(0, 1, 1))
        else:
            out = F.conv3d(F.silu(x), w, b, padding=(0, 1, 1))
        out.backward(grad)
        results.append([out.detach(), x.grad, w.grad] +
                       ([b.grad] if with_bias else []))
    for got, want in zip(results[1], results[0]):
        # weight gradients sum over B x T x H x W = 150 positions
        assert_close_rounding(got, want, reduction=x0[:, 0].numel())


def test_silu_conv3d_keeps_pre_activation_only():
    x = torch.randn(1, 4, 3, 5, 5, requires_grad=True)
    w = torch.randn(4, 4, 3, 1, 1, requires_grad=True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(
            lambda t: saved.append(t) or t, lambda t: t):
        silu_conv3d(x, w, padding=(1, 0, 0))
    assert {t.data_ptr() for t in saved} == {x.data_ptr(), w.data_ptr()}
    with pytest.raises(ValueError, match=r'x \(B, C_in, T, H, W\)'):
        silu_conv3d(x, w[:, :2])
