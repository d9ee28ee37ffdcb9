"""I-Block: the integration branch's per-layer block."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from ..utils.precision import autocast_dtype
from .fast_path import use_fast_path
from .norm import (QUICK_GELU_SCALE, LayerNorm32, QuickGELU, normalized_linear)
from .silu_ops import silu_linear


class TokenMLP(BaseModule):
    """Two linear layers with QuickGELU in between.

    Args:
        dim (int): Input and output channels.
        hidden_dim (int): Hidden channels.
        init_cfg (dict, optional): MMEngine init config. Defaults to None.
    """

    def __init__(self, dim: int, hidden_dim: int, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = QuickGELU()
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x (torch.Tensor): (..., dim). Returns: (..., dim)."""
        return self.fc2(self.act(self.fc1(x)))


class TemporalTokenMLP(BaseModule):
    """Per-token temporal MLP over the spatial frames (DiST's TFFN).

    reduce (1x1x1) -> temporal conv (k, 1, 1) with no activation in between
    -> QuickGELU -> expand (1x1x1). Each token position (CLS included) is
    convolved along the Ts axis independently. The weights keep Conv3d shapes
    so official checkpoints load unchanged.

    Args:
        dim (int): Channels C_i.
        hidden_dim (int): Reduced channels.
        kernel_size (int): Temporal kernel (odd). Defaults to 3.
        init_cfg (dict, optional): MMEngine init config. Defaults to None.
    """

    def __init__(self,
                 dim: int,
                 hidden_dim: int,
                 kernel_size: int = 3,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.reduce = nn.Conv3d(dim, hidden_dim, kernel_size=1)
        self.temporal = nn.Conv3d(
            hidden_dim,
            hidden_dim,
            kernel_size=(kernel_size, 1, 1),
            padding=(kernel_size // 2, 0, 0))
        self.act = QuickGELU()
        self.expand = nn.Conv3d(hidden_dim, dim, kernel_size=1)

    def forward(self, x: torch.Tensor, num_videos: int) -> torch.Tensor:
        """Apply the temporal MLP.

        Args:
            x (torch.Tensor): (B*Ts, L, C_i), rows b-major.
            num_videos (int): B.

        Returns:
            torch.Tensor: (B*Ts, L, C_i).
        """
        bt, num_tokens, dim = x.shape
        # (B*Ts, L, C) -> (B, C, Ts, L, 1): tokens as a Ts x L x 1 volume
        y = x.view(num_videos, bt // num_videos, num_tokens, dim)
        y = y.permute(0, 3, 1, 2).unsqueeze(-1)
        y = self.expand(self.act(self.temporal(self.reduce(y))))
        return y.squeeze(-1).permute(0, 2, 3, 1).reshape(bt, num_tokens, dim)


class IntegrationBlock(BaseModule):
    """I-Block: ``r = MLP(LN_a(z)) + TemporalMLP(LN_b(z))``.

    There is no identity term: the output is a residual that DiST adds to the
    next layer's projected CLIP features (CLIP's own residual stream is the
    skip connection).

    The parameters are those of the formula (``norm``, ``mlp``,
    ``norm_temporal``, ``temporal_mlp``; official checkpoints load
    unchanged). :meth:`forward_plain` is the formula built from them;
    :meth:`forward` runs it unless the fast path is off
    (:mod:`.fast_path`), in which case it computes the same result up to
    float rounding in fewer passes over memory:

    - both LayerNorms share one normalisation; their affine parameters fold
      into ``mlp.fc1`` and ``temporal_mlp.reduce``, which then run as one
      matrix product (:func:`normalized_linear`, which keeps only ``z`` for
      backward);
    - each QuickGELU sits between two linear maps, so its 1.702 folds into
      their weights and it runs as one SiLU;
    - the two branch outputs accumulate into one buffer, with both output
      biases added once;
    - for backward, each SiLU and the product after it keep only the
      pre-activation (:func:`silu_linear`), not the activation as well.

    The folded weights are recomputed (cheaply, differentiably) in every
    forward, so training updates the original parameters.

    Args:
        dim (int): C_i.
        mlp_ratio (float): Hidden size of the token MLP / dim. Defaults to 1.
        temporal_mlp_ratio (float): Hidden size of the temporal MLP / dim.
            Defaults to 0.25.
        temporal_kernel_size (int): Temporal kernel. Defaults to 3.
        init_cfg (dict, optional): MMEngine init config. Defaults to None.
    """

    def __init__(self,
                 dim: int,
                 mlp_ratio: float = 1.0,
                 temporal_mlp_ratio: float = 0.25,
                 temporal_kernel_size: int = 3,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.norm = LayerNorm32(dim)
        self.mlp = TokenMLP(dim, round(dim * mlp_ratio))
        self.norm_temporal = LayerNorm32(dim)
        self.temporal_mlp = TemporalTokenMLP(dim,
                                             round(dim * temporal_mlp_ratio),
                                             temporal_kernel_size)

    def _input_weights(self) -> tuple:
        """Weight (H + c, C) and bias (H + c,) of ``[s * fc1(LN_a(.)),
        reduce(LN_b(.))]`` applied to the affine-free normalisation."""
        s = QUICK_GELU_SCALE
        fc1, reduce = self.mlp.fc1, self.temporal_mlp.reduce
        w_r = reduce.weight.flatten(1)
        weight = torch.cat([
            fc1.weight * (s * self.norm.weight),
            w_r * self.norm_temporal.weight
        ])
        bias = torch.cat([
            s * torch.addmv(fc1.bias, fc1.weight, self.norm.bias),
            torch.addmv(reduce.bias, w_r, self.norm_temporal.bias)
        ])
        return weight, bias

    def forward_plain(self, z: torch.Tensor, num_videos: int) -> torch.Tensor:
        """The I-Block as written: ``MLP(LN_a(z)) + TemporalMLP(LN_b(z))``.

        Args:
            z (torch.Tensor): (B*Ts, L, C_i), rows b-major.
            num_videos (int): B.

        Returns:
            torch.Tensor: (B*Ts, L, C_i).
        """
        return (self.mlp(self.norm(z)) +
                self.temporal_mlp(self.norm_temporal(z), num_videos))

    def forward(self, z: torch.Tensor, num_videos: int) -> torch.Tensor:
        """Compute the integration residual (fast path or
        :meth:`forward_plain`).

        Args:
            z (torch.Tensor): (B*Ts, L, C_i), rows b-major.
            num_videos (int): B.

        Returns:
            torch.Tensor: (B*Ts, L, C_i).
        """
        if not use_fast_path('integration_block'):
            return self.forward_plain(z, num_videos)
        bt, num_tokens, dim = z.shape
        s = QUICK_GELU_SCALE
        mlp, tmlp = self.mlp, self.temporal_mlp
        hidden = mlp.fc1.out_features
        if self.norm.eps != self.norm_temporal.eps:
            raise ValueError('the two I-Block LayerNorms must share eps')
        weight, bias = self._input_weights()
        # the products run in autocast's dtype under mixed precision (their
        # in-place accumulation is not autocast), else in z's
        dtype = autocast_dtype(z.device.type) or z.dtype
        h, g = normalized_linear(z, weight.to(dtype), bias.to(dtype),
                                 self.norm.eps).split(
                                     [hidden, weight.shape[0] - hidden], -1)
        # temporal MLP: conv along Ts per token; s folds into its weights
        g = g.reshape(num_videos, bt // num_videos, num_tokens, -1)
        g = F.conv2d(
            g.permute(0, 3, 1, 2),  # (B, c, Ts, L)
            tmlp.temporal.weight.squeeze(-1) * s,
            tmlp.temporal.bias * s,
            padding=(tmlp.temporal.padding[0], 0))
        g = g.permute(0, 2, 3, 1).reshape(bt * num_tokens, -1)
        # silu(s * x) / s = QuickGELU(x): the 1 / s folds into the output
        # weights; silu_linear keeps the pre-activations (not both them and
        # the activations) for backward
        out = silu_linear(g, (tmlp.expand.weight.flatten(1) / s).to(dtype),
                          (tmlp.expand.bias + mlp.fc2.bias).to(dtype))
        # token MLP: h = s * fc1(LN_a(z)), accumulated into the same output
        out = silu_linear(
            h.flatten(0, 1), (mlp.fc2.weight / s).to(dtype), accumulate=out)
        return out.view(bt, num_tokens, dim)
