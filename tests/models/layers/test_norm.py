"""LayerNorm in float32 (LayerNorm32, layer_norm_fp32) and the fused
LayerNorm-product functions: values, gradients and what they keep."""
import pytest
import torch

from projects.dist.models.layers import LayerNorm32, QuickGELU
from projects.dist.models.layers.norm import (channel_norm_conv3d,
                                              layer_norm_fp32,
                                              normalized_linear)
from tests.numerics import assert_close_rounding


def test_layernorm32_dtype_and_value():
    ln = LayerNorm32(8)
    x = torch.randn(3, 8)
    torch.testing.assert_close(
        ln(x), torch.nn.functional.layer_norm(x, (8, ), ln.weight, ln.bias))
    assert ln(x.bfloat16()).dtype == torch.bfloat16


def test_quick_gelu():
    x = torch.linspace(-3, 3, 7)
    torch.testing.assert_close(QuickGELU()(x), x * torch.sigmoid(1.702 * x))


def _reference_ln(x, weight, bias):
    """The plain formula: float32 copy, float32 LayerNorm, cast back."""
    out = torch.nn.functional.layer_norm(
        x.float(), x.shape[-1:], None if weight is None else weight.float(),
        None if bias is None else bias.float())
    return out.to(x.dtype)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
@pytest.mark.parametrize('affine', [True, False])
def test_low_precision_layer_norm_matches_float32_formula(dtype, affine):
    """Values and all gradients equal the float32-copy formula bit for bit
    (same float32 kernels on the same values)."""
    torch.manual_seed(0)
    x0 = (torch.randn(4, 5, 16) * 3 + 1).to(dtype)
    w0 = torch.randn(16) if affine else None
    b0 = torch.randn(16) if affine else None
    grad = torch.randn(4, 5, 16).to(dtype)
    results = []
    for fn in (_reference_ln,
               lambda x, w, b: layer_norm_fp32(x, (16, ), w, b, eps=1e-5)):
        x = x0.clone().requires_grad_()
        w = None if w0 is None else w0.clone().requires_grad_()
        b = None if b0 is None else b0.clone().requires_grad_()
        out = fn(x, w, b)
        out.backward(grad)
        results.append([out, x.grad] + ([w.grad, b.grad] if affine else []))
    for got, want in zip(results[1], results[0]):
        assert got.dtype == want.dtype
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_low_precision_layer_norm_without_grad():
    ln = LayerNorm32(16)
    x = torch.randn(3, 16).bfloat16()
    with torch.no_grad():
        out = ln(x)
    assert out.dtype == torch.bfloat16 and not out.requires_grad
    torch.testing.assert_close(
        out, _reference_ln(x, ln.weight, ln.bias), rtol=0, atol=0)


@pytest.mark.parametrize('with_bias', [True, False])
def test_normalized_linear_matches_composition(with_bias):
    torch.manual_seed(0)
    x0, w0 = torch.randn(2, 3, 16) * 2 + 1, torch.randn(5, 16)
    b0 = torch.randn(5) if with_bias else None
    grad = torch.randn(2, 3, 5)
    results = []
    for fused in (False, True):
        x, w = x0.clone().requires_grad_(), w0.clone().requires_grad_()
        b = None if b0 is None else b0.clone().requires_grad_()
        if fused:
            out = normalized_linear(x, w, b, eps=1e-5)
        else:
            out = torch.nn.functional.linear(
                torch.nn.functional.layer_norm(x, (16, )), w, b)
        out.backward(grad)
        results.append([out, x.grad, w.grad] + ([b.grad] if with_bias else []))
    for got, want in zip(results[1], results[0]):
        # longest sum: the 16 features (forward) or 2 x 3 rows (weights)
        assert_close_rounding(got, want, reduction=16)


def test_normalized_linear_keeps_input_not_normalised_copy():
    x = torch.randn(64, 16).bfloat16().requires_grad_()
    w = torch.randn(8, 16).bfloat16().requires_grad_()
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(
            lambda t: saved.append(t) or t, lambda t: t):
        out = normalized_linear(x, w)
    assert out.dtype == torch.bfloat16
    big = [t for t in saved if t.numel() >= x.numel()]
    assert len(big) == 1 and big[0].data_ptr() == x.data_ptr()
    with pytest.raises(ValueError, match=r'x \(\.\.\., K\) and weight'):
        normalized_linear(x, w[:, :8])


@pytest.mark.parametrize('channels_last', [True, False])
def test_channel_norm_conv3d_matches_composition(channels_last):
    torch.manual_seed(0)
    x0 = torch.randn(2, 6, 4, 3, 3) * 2 + 1
    if channels_last:
        x0 = x0.contiguous(memory_format=torch.channels_last_3d)
    nw0, nb0 = torch.randn(6), torch.randn(6)
    w0, b0 = torch.randn(5, 6, 3, 1, 1), torch.randn(5)
    grad = torch.randn(2, 5, 4, 3, 3)
    results = []
    for fused in (False, True):
        x, nw, nb, w, b = (
            t.clone().requires_grad_() for t in (x0, nw0, nb0, w0, b0))
        if fused:
            out = channel_norm_conv3d(x, nw, nb, 1e-5, w, b, (1, 0, 0))
        else:
            y = torch.nn.functional.layer_norm(
                x.movedim(1, -1), (6, ), nw, nb).movedim(-1, 1)
            out = torch.nn.functional.conv3d(y, w, b, padding=(1, 0, 0))
        out.backward(grad)
        results.append([out, x.grad, nw.grad, nb.grad, w.grad, b.grad])
    for got, want in zip(results[1], results[0]):
        # weight/bias gradients sum over B*T*H*W positions
        assert_close_rounding(got, want, reduction=x0[:, 0].numel())


def test_channel_norm_conv3d_keeps_input_not_normalised_copy():
    x = torch.randn(1, 6, 4, 5, 5).bfloat16().requires_grad_()
    ln = LayerNorm32(6)
    w = torch.randn(6, 6, 3, 1, 1).bfloat16().requires_grad_()
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(
            lambda t: saved.append(t) or t, lambda t: t):
        out = channel_norm_conv3d(
            x, ln.weight, ln.bias, ln.eps, w, padding=(1, 0, 0))
    assert out.dtype == torch.bfloat16
    big = [t for t in saved if t.numel() >= x.numel()]
    assert len(big) == 1 and big[0].data_ptr() == x.data_ptr()
    with pytest.raises(ValueError, match=r'x \(B, C, T, H, W\) and weight'):
        channel_norm_conv3d(x, ln.weight, ln.bias, ln.eps, w[:, :3])
