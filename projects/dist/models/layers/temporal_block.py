"""T-Block: the 3D-convolutional block of DiST's temporal encoder."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from ..utils.precision import autocast_dtype
from .fast_path import use_fast_path
from .norm import (QUICK_GELU_SCALE, LayerNorm32, QuickGELU,
                   channel_norm_conv3d)
from .silu_ops import silu_conv3d


class TemporalBlock(BaseModule):
    """One T-Block of the temporal encoder.

    Computes ``y = QuickGELU(x + conv2(QuickGELU(conv1(LN(x)))))``. Note the
    activation *after* the residual sum (DiST's design, kept for parity):

    - ``norm``: LayerNorm over channels;
    - ``conv1``: temporal convolution, kernel ``(temporal_kernel_size, 1, 1)``;
    - ``conv2``: spatial convolution, kernel ``(1, 3, 3)``.

    The stream keeps its resolution: (B, C, T, H, W) in and out.
    :meth:`forward_plain` is the formula as written; :meth:`forward` runs it
    unless the fast path is off (:mod:`.fast_path`). The fast path
    folds QuickGELU's 1.702 into the convolutions, so both activations run
    as single SiLUs (same result up to float rounding, fewer passes over the
    stream). For backward it keeps three stream-sized tensors (the input,
    the first convolution's output and the residual sum): the normalised
    input and the hidden activation are recomputed there
    (:func:`channel_norm_conv3d`, :func:`silu_conv3d`).

    Args:
        dim (int): Channels C of the temporal stream.
        mlp_ratio (float): Hidden channels of the block as a multiple of
            ``dim``. Defaults to 1.0.
        temporal_kernel_size (int): Temporal kernel of ``conv1``; odd, padded
            to keep T. Defaults to 3.
        init_cfg (dict, optional): MMEngine init config. Defaults to None.
    """

    def __init__(self,
                 dim: int,
                 mlp_ratio: float = 1.0,
                 temporal_kernel_size: int = 3,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if temporal_kernel_size % 2 != 1:
            raise ValueError('temporal_kernel_size must be odd to keep the '
                             f'frame count, got {temporal_kernel_size}')
        hidden = round(dim * mlp_ratio)
        self.norm = LayerNorm32(dim)
        self.conv1 = nn.Conv3d(
            dim,
            hidden,
            kernel_size=(temporal_kernel_size, 1, 1),
            padding=(temporal_kernel_size // 2, 0, 0))
        self.conv2 = nn.Conv3d(
            hidden, dim, kernel_size=(1, 3, 3), padding=(0, 1, 1))
        self.act = QuickGELU()

    def forward_plain(self, x: torch.Tensor) -> torch.Tensor:
        """The T-Block as written: ``QuickGELU(x + conv2(QuickGELU(
        conv1(LN(x)))))``, LN over channels.

        Args:
            x (torch.Tensor): Temporal stream of shape (B, C, T, H, W).

        Returns:
            torch.Tensor: Shape (B, C, T, H, W).
        """
        y = self.norm(x.movedim(1, -1)).movedim(-1, 1)  # LN over channels
        y = self.conv2(self.act(self.conv1(y)))
        return self.act(x + y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block (fast path, or :meth:`forward_plain`).

        Args:
            x (torch.Tensor): Temporal stream of shape (B, C, T, H, W).

        Returns:
            torch.Tensor: Shape (B, C, T, H, W).
        """
        if not use_fast_path('temporal_block'):
            return self.forward_plain(x)
        s = QUICK_GELU_SCALE
        c1, c2 = self.conv1, self.conv2
        # products in autocast's dtype under mixed precision, else x's
        dtype = autocast_dtype(x.device.type) or x.dtype
        # s * conv1(LN(x)), LayerNorm over channels; keeps only x for backward
        y = channel_norm_conv3d(x, self.norm.weight, self.norm.bias,
                                self.norm.eps, (c1.weight * s).to(dtype),
                                (c1.bias * s).to(dtype), c1.padding)
        # SiLU(s * conv1(.)) = s * QuickGELU(conv1(.)), so conv2 with its
        # weight as is and bias * s gives s * conv2(QuickGELU(conv1(.)));
        # keeps the pre-activation only
        y = silu_conv3d(y, c2.weight.to(dtype), (c2.bias * s).to(dtype),
                        c2.padding)
        # the sum below takes its first operand's layout: keep the stream's
        # (a no-op where the convolution already returns channels-last)
        if x.is_contiguous(memory_format=torch.channels_last_3d):
            y = y.contiguous(memory_format=torch.channels_last_3d)
        # QuickGELU(x + y) = SiLU(s * x + s * y) / s
        return F.silu(torch.add(y, x, alpha=s)).div_(s)
