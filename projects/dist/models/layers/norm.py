"""LayerNorm computed in float32 and the QuickGELU activation, as in CLIP."""
import torch
import torch.nn as nn
import torch.nn.functional as F


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
        out = F.layer_norm(x.float(), self.normalized_shape,
                           self.weight.float(), self.bias.float(), self.eps)
        return out.to(x.dtype)


#: ``s`` in QuickGELU(x) = x * sigmoid(s * x) = silu(s * x) / s. Between two
#: linear maps, the ``s`` and ``1 / s`` fold into their weights so that the
#: activation becomes a single SiLU.
QUICK_GELU_SCALE = 1.702


class QuickGELU(nn.Module):
    """CLIP's sigmoid approximation of GELU: ``x * sigmoid(1.702 * x)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(QUICK_GELU_SCALE * x)
