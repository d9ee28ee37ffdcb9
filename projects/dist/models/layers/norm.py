"""LayerNorm computed in float32 and the QuickGELU activation, as in CLIP."""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd.function import once_differentiable


class _Float32LayerNorm(torch.autograd.Function):
    """LayerNorm of a reduced-precision input, computed in float32, that
    keeps the *input* (not its float32 copy) for backward.

    ``F.layer_norm(x.float(), ...)`` under autograd saves the float32 copy of
    ``x``: twice the memory of the bf16/fp16 activation it was made from.
    This function saves ``x`` as it is plus the per-row statistics, and
    converts it again in backward, which then runs the same float32 kernel
    on the same values (identical gradients).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, normalized_shape: Sequence[int],
                weight: Optional[torch.Tensor], bias: Optional[torch.Tensor],
                eps: float) -> torch.Tensor:
        out, mean, rstd = torch.native_layer_norm(x.float(), normalized_shape,
                                                  _float(weight),
                                                  _float(bias), eps)
        ctx.normalized_shape = normalized_shape
        ctx.param_dtypes = (None if weight is None else weight.dtype,
                            None if bias is None else bias.dtype)
        ctx.save_for_backward(x, weight, bias, mean, rstd)
        return out.to(x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple:
        x, weight, bias, mean, rstd = ctx.saved_tensors
        mask = [ctx.needs_input_grad[0], ctx.needs_input_grad[2],
                ctx.needs_input_grad[3]]
        gx, gw, gb = torch.ops.aten.native_layer_norm_backward(
            grad.float(), x.float(), ctx.normalized_shape, mean, rstd,
            _float(weight), _float(bias), mask)
        w_dtype, b_dtype = ctx.param_dtypes
        return (None if gx is None else gx.to(x.dtype), None,
                None if gw is None else gw.to(w_dtype),
                None if gb is None else gb.to(b_dtype), None)


def layer_norm_fp32(x: torch.Tensor,
                    normalized_shape: Sequence[int],
                    weight: Optional[torch.Tensor] = None,
                    bias: Optional[torch.Tensor] = None,
                    eps: float = 1e-5) -> torch.Tensor:
    """LayerNorm with float32 statistics and affine, returned in x's dtype.

    A float32 input goes straight to ``F.layer_norm``. A bf16/fp16 input is
    normalised in float32 and cast back (as CLIP does); when autograd
    records the call, the low-precision input is what is kept for backward
    (see :class:`_Float32LayerNorm`), which halves the memory that mixed
    precision training holds for every LayerNorm.

    Args:
        x (torch.Tensor): Input, (..., *normalized_shape).
        normalized_shape (Sequence[int]): Trailing dimensions to normalise.
        weight (torch.Tensor, optional): Scale, ``normalized_shape``.
        bias (torch.Tensor, optional): Shift, ``normalized_shape``.
        eps (float): Added to the variance. Defaults to 1e-5.

    Returns:
        torch.Tensor: Same shape and dtype as ``x``.
    """
    normalized_shape = tuple(normalized_shape)
    records_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (x, weight, bias))
    if x.dtype != torch.float32 and records_grad:
        return _Float32LayerNorm.apply(x, normalized_shape, weight, bias, eps)
    return F.layer_norm(x.float(), normalized_shape, _float(weight),
                        _float(bias), eps).to(x.dtype)


def _float(t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    return None if t is None else t.float()


class LayerNorm32(nn.LayerNorm):
    """LayerNorm over the last dimension, computed in float32.

    Under mixed precision the statistics are taken in float32 and the result
    is cast back to the input dtype (CLIP's LayerNorm does the same); for
    backward only the input, in its own dtype, is kept.

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
