"""I-Block: the integration branch's per-layer block."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from .norm import LayerNorm32, QuickGELU


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
        bt, num_tokens, _ = x.shape
        # 1x1x1 convolutions are linear maps on channels-last tokens
        y = F.linear(x, self.reduce.weight.flatten(1), self.reduce.bias)
        y = y.view(num_videos, bt // num_videos, num_tokens, -1)
        y = y.permute(0, 3, 1, 2)  # (B, c, Ts, L)
        w = self.temporal.weight.squeeze(-1)  # (c, c, k, 1)
        y = F.conv2d(y, w, self.temporal.bias,
                     padding=(self.temporal.padding[0], 0))
        y = self.act(y).permute(0, 2, 3, 1).reshape(bt, num_tokens, -1)
        return F.linear(y, self.expand.weight.flatten(1), self.expand.bias)


class IntegrationBlock(BaseModule):
    """I-Block: ``r = MLP(LN_a(z)) + TemporalMLP(LN_b(z))``.

    There is no identity term: the output is a residual that DiST adds to the
    next layer's projected CLIP features (CLIP's own residual stream is the
    skip connection).

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
        self.temporal_mlp = TemporalTokenMLP(
            dim, round(dim * temporal_mlp_ratio), temporal_kernel_size)

    def forward(self, z: torch.Tensor, num_videos: int) -> torch.Tensor:
        """Compute the integration residual.

        Args:
            z (torch.Tensor): (B*Ts, L, C_i).
            num_videos (int): B.

        Returns:
            torch.Tensor: (B*Ts, L, C_i).
        """
        return self.mlp(self.norm(z)) + self.temporal_mlp(
            self.norm_temporal(z), num_videos)
