"""The two exchange paths between DiST's temporal and integration streams.

Token layout in the integration stream is batch-first: (B*Ts, L, C_i) with
``L = 1 + h*w`` (CLS first, then patches row-major) and rows ordered b-major
(row ``b*Ts + s``). The temporal stream is (B, C_t, T, h, w) with
``T = alpha * Ts``: temporal frames ``alpha*s ... alpha*s + alpha - 1`` belong
to spatial frame ``s``.
"""
import math
from typing import Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule


def token_grid(num_tokens: int) -> Tuple[int, int]:
    """Return the square patch grid (h, w) of a token sequence with CLS.

    Args:
        num_tokens (int): L = 1 + h*w.

    Returns:
        tuple[int, int]: (h, w).
    """
    side = math.isqrt(num_tokens - 1)
    if side * side != num_tokens - 1:
        raise ValueError(f'expected 1 + a square number of tokens, got '
                         f'{num_tokens} ({num_tokens - 1} patch tokens)')
    return side, side


class IntegrationToTemporal(BaseModule):
    """Integration -> temporal: project patch tokens, upsample time by alpha.

    The module returns one value per *spatial* frame; :meth:`add_to` adds it
    to each of that frame's ``alpha`` temporal frames by broadcasting (the
    official code materialises the repeat).

    Args:
        integration_dim (int): C_i.
        temporal_dim (int): C_t.
        alpha (int): Temporal frames per spatial frame.
        init_cfg (dict, optional): MMEngine init config. Defaults to None.
    """

    def __init__(self,
                 integration_dim: int,
                 temporal_dim: int,
                 alpha: int,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.alpha = alpha
        self.proj = nn.Linear(integration_dim, temporal_dim)

    def forward(self, z: torch.Tensor, num_videos: int) -> torch.Tensor:
        """Map integration tokens to a temporal-stream residual.

        Args:
            z (torch.Tensor): Integration tokens, (B*Ts, L, C_i).
            num_videos (int): B.

        Returns:
            torch.Tensor: (B, C_t, Ts, h, w), the residual of spatial frame
            ``s`` (for temporal frames ``alpha*s ... alpha*s + alpha - 1``).
            A strided view; CLS is dropped.
        """
        bt, num_tokens, _ = z.shape
        h, w = token_grid(num_tokens)
        # project every token and drop CLS afterwards: the slice of the
        # output is a view, while slicing the input would copy it
        y = self.proj(z)[:, 1:]  # (B*Ts, h*w, C_t)
        y = y.unflatten(0, (num_videos, bt // num_videos)).unflatten(2, (h, w))
        return y.permute(0, 4, 1, 2, 3)  # (B, C_t, Ts, h, w)

    def add_to(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Add a residual from :meth:`forward` to the temporal stream.

        Args:
            x (torch.Tensor): Temporal stream, (B, C_t, alpha*Ts, h, w).
            y (torch.Tensor): Residual, (B, C_t, Ts, h, w).

        Returns:
            torch.Tensor: ``x + y`` repeated ``alpha`` times along time,
            (B, C_t, alpha*Ts, h, w), in the memory format of ``x``.
        """
        ts = y.shape[2]
        if x.shape[2] != ts * self.alpha:
            raise ValueError(f'temporal stream has {x.shape[2]} frames, '
                             f'expected alpha*Ts = {self.alpha * ts}')
        return (x.unflatten(2,
                            (ts, self.alpha)) + y.unsqueeze(3)).flatten(2, 3)


class TemporalToIntegration(BaseModule):
    """Temporal -> integration: stride-alpha temporal conv + per-frame CLS.

    The convolution maps temporal frames ``alpha*s ... alpha*s + alpha - 1``
    to spatial frame ``s``; a learned vector per spatial frame fills the CLS
    position.

    Args:
        temporal_dim (int): C_t.
        integration_dim (int): C_i.
        alpha (int): Temporal frames per spatial frame.
        num_spatial_frames (int): Ts; the CLS vectors are per frame, so the
            module is tied to this frame count.
        init_cfg (dict, optional): MMEngine init config. Defaults to None.
    """

    def __init__(self,
                 temporal_dim: int,
                 integration_dim: int,
                 alpha: int,
                 num_spatial_frames: int,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.alpha = alpha
        self.conv = nn.Conv3d(
            temporal_dim,
            integration_dim,
            kernel_size=(alpha, 1, 1),
            stride=(alpha, 1, 1))
        self.cls_token = nn.Parameter(
            torch.zeros(1, 1, num_spatial_frames, integration_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map the temporal stream to integration tokens.

        Args:
            x (torch.Tensor): Temporal stream, (B, C_t, T, h, w).

        Returns:
            torch.Tensor: (B*Ts, 1 + h*w, C_i) with Ts = T / alpha.
        """
        y = self.conv(x)  # (B, C_i, Ts, h, w)
        b, c, ts, h, w = y.shape
        if ts != self.cls_token.shape[2]:
            raise ValueError(
                f'temporal stream gives {ts} spatial frames but the per-frame '
                f'CLS vectors were built for {self.cls_token.shape[2]}')
        y = y.permute(0, 2, 3, 4, 1).reshape(b * ts, h * w, c)
        cls = self.cls_token.to(y.dtype).expand(b, -1, -1, -1)
        cls = cls.reshape(b * ts, 1, c)  # (B*Ts, 1, C_i)
        return torch.cat([cls, y], dim=1)
