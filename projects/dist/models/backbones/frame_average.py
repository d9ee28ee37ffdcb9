"""Frame-order-blind baseline: frozen CLIP per frame, features averaged."""
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmaction.registry import MODELS
from .spatial_encoder import check_spatial_encoder


@MODELS.register_module()
class DiSTFrameAverageBaseline(BaseModule):
    """Average the frozen CLIP's per-frame CLS features over time.

    The control experiment for DiST's temporal modelling: the same frozen
    image tower, but the clip is reduced to the **mean over frames** of each
    frame's CLS token (last block's residual stream) before anything is
    trained. A trainable MLP then maps that mean into the CLIP joint space
    for the text head. Whatever it learns, the output is invariant to any
    permutation of the frames, so it cannot use frame order::

        clip (B,3,T,H,W) -> frames (B*T,3,H,W) -> frozen CLIP (no grad)
          -> CLS of the last block (B,T,D) -> mean over T (B,D)
          -> LN -> Linear(D,hidden) -> GELU -> Linear(hidden,E) -> (B,E)

    Args:
        spatial_encoder (dict): Config of the frozen image tower, e.g.
            ``dict(type='DiSTCLIPVisual', arch=..., pretrained=...)``.
        num_frames (int): Frames T of the input clip. Defaults to 16.
        frame_stride (int): Use every ``frame_stride``-th frame. Defaults to
            1 (all frames).
        hidden_dim (int): Hidden size of the trainable MLP. Defaults to 256.
        output_dim (int, optional): Embedding size E; None uses the CLIP
            joint embedding size (required by the text head).
        init_cfg (dict, optional): MMEngine init config. Defaults to None.
    """

    def __init__(self,
                 spatial_encoder: dict,
                 num_frames: int = 16,
                 frame_stride: int = 1,
                 hidden_dim: int = 256,
                 output_dim: Optional[int] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if frame_stride < 1 or num_frames % frame_stride:
            raise ValueError(f'num_frames ({num_frames}) must be a positive '
                             f'multiple of frame_stride ({frame_stride})')
        self.spatial_encoder = MODELS.build(spatial_encoder)
        check_spatial_encoder(self.spatial_encoder)
        self.num_frames = num_frames
        self.frame_stride = frame_stride
        width = self.spatial_encoder.width
        out = output_dim or self.spatial_encoder.embed_dim
        self.mlp = nn.Sequential(
            nn.LayerNorm(width), nn.Linear(width, hidden_dim), nn.GELU(),
            nn.Linear(hidden_dim, out))

    @property
    def output_dim(self) -> int:
        """int: Size E of the video embedding."""
        return self.mlp[-1].out_features

    def init_weights(self) -> None:
        """Initialise the MLP, then load the spatial encoder's weights."""
        for m in self.mlp.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        self.spatial_encoder.init_weights()
        self._is_init = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode a batch of clips, ignoring frame order.

        Args:
            x (torch.Tensor): Clips, (B, 3, T, H, W), CLIP-normalised, with
                ``T == num_frames``.

        Returns:
            torch.Tensor: Video embeddings, (B, E).
        """
        if x.dim() != 5 or x.shape[1] != 3:
            raise ValueError('expected clips of shape (B, 3, T, H, W), got '
                             f'{tuple(x.shape)}')
        b, _, t, h, w = x.shape
        if t != self.num_frames:
            raise ValueError(f'clip has {t} frames but the baseline was '
                             f'configured with num_frames={self.num_frames}')
        x = x[:, :, ::self.frame_stride]
        ts = x.shape[2]
        frames = x.transpose(1, 2).reshape(b * ts, 3, h, w)
        last = self.spatial_encoder.num_layers - 1
        tokens = self.spatial_encoder(frames, [last])[0]  # (B*Ts, L, D)
        cls = tokens[:, 0].float().view(b, ts, -1)  # (B, Ts, D)
        return self.mlp(cls.mean(dim=1))
