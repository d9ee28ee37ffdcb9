"""SiLU followed by a linear map or a convolution, keeping only the
pre-activation for backward.

The product needs its input for the weight gradient and SiLU needs its input
for its own; autograd would keep both, two activations of the same size.
These functions keep only the pre-activation and recompute SiLU in backward
(one cheap element-wise pass), which halves the memory of every hidden layer
that goes through them. Values and gradients are those of the plain
composition up to float rounding.
"""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from ..utils.autograd import conv3d_backward, records_grad


def _silu_linear(x: torch.Tensor, weight: torch.Tensor,
                 bias: Optional[torch.Tensor],
                 accumulate: Optional[torch.Tensor]) -> torch.Tensor:
    """The forward of :func:`silu_linear` (plain operations)."""
    a = F.silu(x)
    if accumulate is None:
        return (a.mm(weight.t()) if bias is None else torch.addmm(
            bias, a, weight.t()))
    accumulate.addmm_(a, weight.t())
    if bias is not None:
        accumulate.add_(bias)
    return accumulate


class _SiLULinear(torch.autograd.Function):
    """``silu(x) @ weight.T (+ bias) (+ accumulate)``; see :func:`silu_linear`.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor,
                bias: Optional[torch.Tensor],
                accumulate: Optional[torch.Tensor]) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        out = _silu_linear(x, weight, bias, accumulate)
        if accumulate is not None:
            ctx.mark_dirty(accumulate)
            return accumulate  # the dirtied input itself, for torch.compile
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple:
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b, need_acc = ctx.needs_input_grad
        grad_x = grad_w = grad_b = None
        if need_x:
            grad_x = torch.ops.aten.silu_backward(grad.mm(weight), x)
        if need_w:
            grad_w = grad.t().mm(F.silu(x))  # the activation, recomputed
        if need_b:
            grad_b = grad.sum(0)
        return grad_x, grad_w, grad_b, grad if need_acc else None


def silu_linear(x: torch.Tensor,
                weight: torch.Tensor,
                bias: Optional[torch.Tensor] = None,
                accumulate: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``F.linear(F.silu(x), weight, bias)``, optionally added in place to
    ``accumulate``, saving ``x`` but not ``silu(x)`` for backward.

    Args:
        x (torch.Tensor): Pre-activation, (M, K).
        weight (torch.Tensor): (N, K), in ``x``'s dtype.
        bias (torch.Tensor, optional): (N,), in ``x``'s dtype.
        accumulate (torch.Tensor, optional): (M, N); if given the result is
            added to it in place and it is returned.

    Returns:
        torch.Tensor: (M, N).
    """
    if x.dim() != 2 or weight.dim() != 2 or x.shape[1] != weight.shape[1]:
        raise ValueError(f'silu_linear expects x (M, K) and weight (N, K), '
                         f'got {tuple(x.shape)} and {tuple(weight.shape)}')
    if not records_grad(x, weight, bias, accumulate):
        return _silu_linear(x, weight, bias, accumulate)
    return _SiLULinear.apply(x, weight, bias, accumulate)


class _SiLUConv3d(torch.autograd.Function):
    """``F.conv3d(F.silu(x), weight, bias, padding=padding)``; see
    :func:`silu_conv3d`."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor,
                bias: Optional[torch.Tensor],
                padding: Sequence[int]) -> torch.Tensor:
        ctx.padding = list(padding)
        ctx.bias_sizes = None if bias is None else list(bias.shape)
        ctx.save_for_backward(x, weight)
        return F.conv3d(F.silu(x), weight, bias, padding=ctx.padding)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple:
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b, _ = ctx.needs_input_grad
        # the activation, recomputed (only its shape is read without need_w)
        a = F.silu(x) if need_w else x
        grad_a, grad_w, grad_b = conv3d_backward(grad, a, weight,
                                                 ctx.bias_sizes, ctx.padding,
                                                 need_x, need_w, need_b)
        grad_x = (torch.ops.aten.silu_backward(grad_a, x) if need_x else None)
        return grad_x, grad_w, grad_b, None


def silu_conv3d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor] = None,
    padding: Sequence[int] = (0, 0, 0)
) -> torch.Tensor:
    """``F.conv3d(F.silu(x), weight, bias, padding=padding)`` (stride and
    dilation 1, one group), saving ``x`` but not ``silu(x)`` for backward.

    Args:
        x (torch.Tensor): Pre-activation, (B, C_in, T, H, W).
        weight (torch.Tensor): (C_out, C_in, kT, kH, kW), in ``x``'s dtype.
        bias (torch.Tensor, optional): (C_out,), in ``x``'s dtype.
        padding (Sequence[int]): Zero padding (T, H, W). Defaults to 0.

    Returns:
        torch.Tensor: (B, C_out, T', H', W').
    """
    if x.dim() != 5 or weight.dim() != 5 or x.shape[1] != weight.shape[1]:
        raise ValueError(
            f'silu_conv3d expects x (B, C_in, T, H, W) and weight (C_out, '
            f'C_in, kT, kH, kW), got {tuple(x.shape)} and '
            f'{tuple(weight.shape)}')
    if not records_grad(x, weight, bias):
        return F.conv3d(F.silu(x), weight, bias, padding=tuple(padding))
    return _SiLUConv3d.apply(x, weight, bias, tuple(padding))
