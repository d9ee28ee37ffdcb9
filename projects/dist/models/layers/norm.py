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


class QuickGELU(nn.Module):
    """CLIP's sigmoid approximation of GELU: ``x * sigmoid(1.702 * x)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)
