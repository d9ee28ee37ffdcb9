"""LayerNorm computed in float32 (as in CLIP), its fusions with the product
that follows it, and the QuickGELU activation.

For training, the fused LayerNorm-product functions keep less for backward
than the plain composition: only the input, not the normalised tensor
(:func:`normalized_linear`, :func:`channel_norm_conv3d`). Values and
gradients are those of the plain composition up to float rounding; when
autograd records nothing the plain operations run.
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from ..utils.autograd import conv3d_backward, records_grad


def layer_norm_fp32(x: torch.Tensor,
                    normalized_shape: Sequence[int],
                    weight: Optional[torch.Tensor] = None,
                    bias: Optional[torch.Tensor] = None,
                    eps: float = 1e-5) -> torch.Tensor:
    """LayerNorm with float32 statistics and affine, returned in x's dtype.

    The input is normalised in float32 and cast back, as CLIP does. (Keeping
    a bf16/fp16 input instead of its float32 copy for backward, with a
    custom autograd function, was measured to save under 1 % of what a
    training step keeps: the side network's LayerNorm inputs are float32
    under autocast; see docs/benchmark.md.)

    Args:
        x (torch.Tensor): Input, (..., *normalized_shape).
        normalized_shape (Sequence[int]): Trailing dimensions to normalise.
        weight (torch.Tensor, optional): Scale, ``normalized_shape``.
        bias (torch.Tensor, optional): Shift, ``normalized_shape``.
        eps (float): Added to the variance. Defaults to 1e-5.

    Returns:
        torch.Tensor: Same shape and dtype as ``x``.
    """
    return F.layer_norm(x.float(), tuple(normalized_shape), _float(weight),
                        _float(bias), eps).to(x.dtype)


def _to(t: Optional[torch.Tensor],
        dtype: Optional[torch.dtype]) -> Optional[torch.Tensor]:
    """``t.to(dtype)``, passing None through."""
    return None if t is None else t.to(dtype)


def _float(t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    return _to(t, torch.float32)


class _NormalizedLinear(torch.autograd.Function):
    """``F.linear(LN(x), weight, bias)`` with an affine-free LayerNorm; see
    :func:`normalized_linear`."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor,
                bias: Optional[torch.Tensor], eps: float) -> torch.Tensor:
        out, mean, rstd = _normalized_linear(x, weight, bias, eps)
        ctx.eps = eps
        ctx.save_for_backward(x, weight, mean, rstd)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple:
        x, weight, mean, rstd = ctx.saved_tensors
        need_x, need_w, need_b, _ = ctx.needs_input_grad
        shape = x.shape[-1:]
        grad = grad.flatten(0, -2)
        grad_x = grad_w = grad_b = None
        if need_w:
            # the normalised input, recomputed by the forward's own kernel
            n = torch.native_layer_norm(x.float(), shape, None, None,
                                        ctx.eps)[0]
            grad_w = grad.t().mm(n.to(weight.dtype).flatten(0, -2))
        if need_b:
            grad_b = grad.sum(0)
        if need_x:
            grad_n = grad.mm(weight).view(x.shape)
            grad_x = torch.ops.aten.native_layer_norm_backward(
                grad_n.float(), x.float(), shape, mean, rstd, None, None,
                [True, False, False])[0].to(x.dtype)
        return grad_x, grad_w, grad_b, None


def _normalized_linear(x: torch.Tensor, weight: torch.Tensor,
                       bias: Optional[torch.Tensor], eps: float) -> tuple:
    """The forward of :func:`normalized_linear`: the output and the
    LayerNorm statistics."""
    n, mean, rstd = torch.native_layer_norm(x.float(), x.shape[-1:], None,
                                            None, eps)
    n = n.to(weight.dtype).flatten(0, -2)
    out = n.mm(weight.t()) if bias is None else torch.addmm(
        bias, n, weight.t())
    return out.unflatten(0, x.shape[:-1]), mean, rstd


def normalized_linear(x: torch.Tensor,
                      weight: torch.Tensor,
                      bias: Optional[torch.Tensor] = None,
                      eps: float = 1e-5) -> torch.Tensor:
    """Affine-free LayerNorm over the last dimension, then a linear map.

    The normalisation runs in float32 (statistics and result) and is cast to
    ``weight``'s dtype for the product. For backward only ``x`` and the
    per-row statistics are kept; the normalised tensor, which autograd
    would keep for the weight gradient, is recomputed there. A LayerNorm's
    own affine parameters can be folded into ``weight`` and ``bias``
    beforehand (``W diag(gamma)`` and ``W beta + b``).

    Args:
        x (torch.Tensor): Input, (..., K).
        weight (torch.Tensor): (N, K).
        bias (torch.Tensor, optional): (N,), in ``weight``'s dtype.
        eps (float): Added to the variance. Defaults to 1e-5.

    Returns:
        torch.Tensor: (..., N) in ``weight``'s dtype.
    """
    if weight.dim() != 2 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f'normalized_linear expects x (..., K) and weight '
                         f'(N, K), got {tuple(x.shape)} and '
                         f'{tuple(weight.shape)}')
    if not records_grad(x, weight, bias):
        return _normalized_linear(x, weight, bias, eps)[0]
    return _NormalizedLinear.apply(x, weight, bias, eps)


class _ChannelNormConv3d(torch.autograd.Function):
    """Channel LayerNorm then a 3D convolution; see
    :func:`channel_norm_conv3d`."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, norm_weight: torch.Tensor,
                norm_bias: torch.Tensor, eps: float, weight: torch.Tensor,
                bias: Optional[torch.Tensor],
                padding: Sequence[int]) -> torch.Tensor:
        y, mean, rstd = _channel_norm(x, norm_weight, norm_bias, eps,
                                      weight.dtype)
        ctx.eps, ctx.padding = eps, list(padding)
        ctx.bias_sizes = None if bias is None else list(bias.shape)
        ctx.save_for_backward(x, norm_weight, norm_bias, weight, mean, rstd)
        return F.conv3d(y, weight, bias, padding=ctx.padding)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple:
        x, norm_weight, norm_bias, weight, mean, rstd = ctx.saved_tensors
        need_x, need_nw, need_nb, _, need_w, need_b, _ = \
            ctx.needs_input_grad
        # the normalised input, recomputed by the forward's own kernel
        y = _channel_norm(x, norm_weight, norm_bias, ctx.eps, weight.dtype)[0]
        need_y = need_x or need_nw or need_nb
        grad_y, grad_w, grad_b = conv3d_backward(grad, y, weight,
                                                 ctx.bias_sizes, ctx.padding,
                                                 need_y, need_w, need_b)
        grad_x = grad_nw = grad_nb = None
        if need_y:
            grad_x, grad_nw, grad_nb = (
                torch.ops.aten.native_layer_norm_backward(
                    grad_y.permute(0, 2, 3, 4, 1).float(),
                    x.permute(0, 2, 3, 4, 1).float(), x.shape[1:2], mean, rstd,
                    norm_weight.float(), norm_bias.float(),
                    [need_x, need_nw, need_nb]))
            if grad_x is not None:
                grad_x = grad_x.permute(0, 4, 1, 2, 3).to(x.dtype)
            grad_nw = _to(grad_nw, norm_weight.dtype)
            grad_nb = _to(grad_nb, norm_bias.dtype)
        return grad_x, grad_nw, grad_nb, None, grad_w, grad_b, None


def _channel_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                  eps: float, dtype: torch.dtype) -> tuple:
    """Float32 LayerNorm over dim 1 of (B, C, T, H, W): the result in
    ``dtype`` and the (B, T, H, W, 1) statistics."""
    y, mean, rstd = torch.native_layer_norm(
        x.permute(0, 2, 3, 4, 1).float(), x.shape[1:2], weight.float(),
        bias.float(), eps)
    return y.to(dtype).permute(0, 4, 1, 2, 3), mean, rstd


def channel_norm_conv3d(
    x: torch.Tensor,
    norm_weight: torch.Tensor,
    norm_bias: torch.Tensor,
    eps: float,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor] = None,
    padding: Sequence[int] = (0, 0, 0)
) -> torch.Tensor:
    """LayerNorm over the channels of a video tensor, then a convolution.

    The normalisation runs in float32 and is cast to ``weight``'s dtype for
    the convolution (stride and dilation 1, one group). For backward only
    ``x`` and the per-position statistics are kept; the normalised tensor,
    which the convolution would keep for its weight gradient, is recomputed
    there. On channels-last (``torch.channels_last_3d``) input the channel
    views need no copies.

    Args:
        x (torch.Tensor): (B, C, T, H, W).
        norm_weight (torch.Tensor): LayerNorm scale, (C,).
        norm_bias (torch.Tensor): LayerNorm shift, (C,).
        eps (float): LayerNorm epsilon.
        weight (torch.Tensor): (C_out, C, kT, kH, kW).
        bias (torch.Tensor, optional): (C_out,), in ``weight``'s dtype.
        padding (Sequence[int]): Zero padding (T, H, W) of the normalised
            tensor. Defaults to 0.

    Returns:
        torch.Tensor: (B, C_out, T', H', W') in ``weight``'s dtype.
    """
    if x.dim() != 5 or weight.dim() != 5 or x.shape[1] != weight.shape[1]:
        raise ValueError(
            f'channel_norm_conv3d expects x (B, C, T, H, W) and weight '
            f'(C_out, C, kT, kH, kW), got {tuple(x.shape)} and '
            f'{tuple(weight.shape)}')
    if not records_grad(x, norm_weight, norm_bias, weight, bias):
        y = _channel_norm(x, norm_weight, norm_bias, eps, weight.dtype)[0]
        return F.conv3d(y, weight, bias, padding=tuple(padding))
    return _ChannelNormConv3d.apply(x, norm_weight, norm_bias, eps, weight,
                                    bias, tuple(padding))


class LayerNorm32(nn.LayerNorm):
    """LayerNorm over the last dimension, computed in float32.

    Under mixed precision the statistics are taken in float32 and the result
    is cast back to the input dtype (CLIP's LayerNorm does the same).

    Args:
        x (torch.Tensor): Input of shape (..., C).

    Returns:
        torch.Tensor: Normalised tensor, same shape and dtype as ``x``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return layer_norm_fp32(x, self.normalized_shape, self.weight,
                               self.bias, self.eps)


#: ``s`` in QuickGELU(x) = x * sigmoid(s * x) = silu(s * x) / s. Between two
#: linear maps, the ``s`` and ``1 / s`` fold into their weights so that the
#: activation becomes a single SiLU.
QUICK_GELU_SCALE = 1.702


class QuickGELU(nn.Module):
    """CLIP's sigmoid approximation of GELU: ``x * sigmoid(1.702 * x)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(QUICK_GELU_SCALE * x)
