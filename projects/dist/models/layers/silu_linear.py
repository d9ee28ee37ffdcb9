"""SiLU followed by a linear map, keeping only the pre-activation for
backward."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable


class _SiLULinear(torch.autograd.Function):
    """``silu(x) @ weight.T (+ bias) (+ accumulate)``; see :func:`silu_linear`.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor,
                bias: Optional[torch.Tensor],
                accumulate: Optional[torch.Tensor]) -> torch.Tensor:
        a = F.silu(x)
        if accumulate is None:
            out = (a.mm(weight.t())
                   if bias is None else torch.addmm(bias, a, weight.t()))
        else:
            out = accumulate.addmm_(a, weight.t())
            if bias is not None:
                out.add_(bias)
            ctx.mark_dirty(accumulate)
        ctx.save_for_backward(x, weight)
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

    The product needs its input for the weight gradient and SiLU needs its
    input for its own; autograd would keep both, two activations of the same
    size. Here only ``x`` is kept and SiLU is recomputed in backward (one
    cheap element-wise pass), which halves the memory of every hidden layer
    that goes through it. Values and gradients are those of the plain
    composition up to float rounding.

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
    return _SiLULinear.apply(x, weight, bias, accumulate)
