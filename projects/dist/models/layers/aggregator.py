"""DiST's ada-pooling aggregator: learned queries pool space, then time."""
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch.utils.checkpoint import checkpoint

from .cross_attention import CrossAttention
from .fast_path import use_fast_path
from .integration_block import TokenMLP
from .norm import LayerNorm32, layer_norm_fp32


class AdaPoolingLayer(BaseModule):
    """One ada-pooling layer: spatial pooling per frame, then temporal.

    1. ``s <- s + Attn_s(s, F)``; ``s <- s + MLP_s(LN(s))``: each frame's
       query attends to that frame's integration tokens (CLS included).
    2. ``u = s + positional_embedding`` per frame.
    3. ``v <- v + Attn_t(v, u)``; ``v <- v + MLP_t(LN(v))``.

    Args:
        dim (int): C_i.
        num_heads (int): Attention heads.
        num_spatial_frames (int): Ts (size of the positional embedding).
        mlp_ratio (float): MLP hidden size / dim. Defaults to 4.
        fused_attention (bool): Fused attention kernels. Defaults to True.
        fold_queries (bool): Few-query attention without key/value
            projections (see :class:`CrossAttention`). Defaults to True.
        init_cfg (dict, optional): MMEngine init config. Defaults to None.
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 num_spatial_frames: int,
                 mlp_ratio: float = 4.0,
                 fused_attention: bool = True,
                 fold_queries: bool = True,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        hidden = round(dim * mlp_ratio)
        self.spatial_attn = CrossAttention(dim, num_heads, fused_attention,
                                           fold_queries)
        self.spatial_norm = LayerNorm32(dim)
        self.spatial_mlp = TokenMLP(dim, hidden)
        self.positional_embedding = nn.Parameter(
            torch.zeros(1, num_spatial_frames, dim))
        self.temporal_attn = CrossAttention(dim, num_heads, fused_attention,
                                            fold_queries)
        self.temporal_norm = LayerNorm32(dim)
        self.temporal_mlp = TokenMLP(dim, hidden)

    def forward(self,
                frame_query: torch.Tensor,
                video_query: torch.Tensor,
                tokens: torch.Tensor,
                normalized_tokens: Optional[torch.Tensor] = None) -> tuple:
        """Refine the frame and video queries.

        Args:
            frame_query (torch.Tensor): (B*Ts, 1, C).
            video_query (torch.Tensor): (B, 1, C).
            tokens (torch.Tensor): Integration output F, (B*Ts, L, C).
            normalized_tokens (torch.Tensor, optional): F after an
                affine-free LayerNorm with the spatial attention's eps,
                shared by all layers (see :class:`CrossAttention`).

        Returns:
            tuple[torch.Tensor, torch.Tensor]: Updated frame query
            (B*Ts, 1, C) and video query (B, 1, C).
        """
        s = frame_query + self.spatial_attn(frame_query, tokens,
                                            normalized_tokens)
        s = s + self.spatial_mlp(self.spatial_norm(s))
        b = video_query.shape[0]
        ts = s.shape[0] // b
        if ts != self.positional_embedding.shape[1]:
            raise ValueError(
                f'got {ts} spatial frames per video but the ada-pooling '
                'positional embedding has '
                f'{self.positional_embedding.shape[1]}')
        u = s.view(b, ts, -1) + self.positional_embedding.to(s.dtype)
        v = video_query + self.temporal_attn(video_query, u)
        v = v + self.temporal_mlp(self.temporal_norm(v))
        return s, v


class AdaPoolingAggregator(BaseModule):
    """Stacked ada-pooling layers plus the CLIP-CLS shortcut and projection.

    ``h = LN(v_last + Linear(mean_s CLS_s))``; output ``h @ proj``, where
    ``CLS_s`` is the CLS token of the last selected CLIP block (raw residual
    stream) of spatial frame ``s``. Every layer reads the same F, which is
    normalised once for all of them.

    Args:
        dim (int): C_i.
        clip_dim (int): Width D of the CLIP tower (CLS shortcut input).
        output_dim (int): Dimension E of the video embedding (CLIP's joint
            embedding size, so it can be compared with text features).
        num_spatial_frames (int): Ts.
        num_layers (int): Number of ada-pooling layers. Defaults to 4.
        num_heads (int, optional): Attention heads; ``dim // 64`` if None.
        mlp_ratio (float): MLP hidden size / dim. Defaults to 4.
        fused_attention (bool): Fused attention kernels. Defaults to True.
        fold_queries (bool): Few-query attention without key/value
            projections (see :class:`CrossAttention`). Defaults to True.
        with_cp (bool): Activation checkpointing of each layer in training.
            Defaults to False.
        init_cfg (dict, optional): MMEngine init config. Defaults to None.
    """

    def __init__(self,
                 dim: int,
                 clip_dim: int,
                 output_dim: int,
                 num_spatial_frames: int,
                 num_layers: int = 4,
                 num_heads: Optional[int] = None,
                 mlp_ratio: float = 4.0,
                 fused_attention: bool = True,
                 fold_queries: bool = True,
                 with_cp: bool = False,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.with_cp = with_cp
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}')
        num_heads = num_heads or max(dim // 64, 1)
        self.layers = nn.ModuleList(
            AdaPoolingLayer(dim, num_heads, num_spatial_frames, mlp_ratio,
                            fused_attention, fold_queries)
            for _ in range(num_layers))
        self.spatial_query = nn.Parameter(torch.zeros(1, 1, dim))
        self.video_query = nn.Parameter(torch.zeros(1, 1, dim))
        self.cls_proj = nn.Linear(clip_dim, dim)
        self.ln_post = LayerNorm32(dim)
        self.proj = nn.Parameter(torch.randn(dim, output_dim) * dim**-0.5)

    def forward(self, tokens: torch.Tensor,
                clip_cls: torch.Tensor) -> torch.Tensor:
        """Pool the integration tokens into one embedding per video.

        Args:
            tokens (torch.Tensor): F, (B*Ts, L, C_i).
            clip_cls (torch.Tensor): CLS of the last selected CLIP block,
                (B, Ts, D).

        Returns:
            torch.Tensor: Video embeddings, (B, E).
        """
        b = clip_cls.shape[0]
        s = self.spatial_query.to(tokens.dtype).expand(tokens.shape[0], -1, -1)
        v = self.video_query.to(tokens.dtype).expand(b, -1, -1)
        # fast path: every layer's spatial attention reads the same tokens,
        # so normalise them once (each layer's LayerNorm affine is applied
        # on its queries); plain: each layer normalises them itself
        eps = {layer.spatial_attn.norm.eps for layer in self.layers}
        normalized = None
        if use_fast_path('aggregator') and len(eps) == 1:
            normalized = layer_norm_fp32(
                tokens, tokens.shape[-1:], eps=eps.pop())
        for layer in self.layers:
            if self.with_cp and self.training and tokens.requires_grad:
                s, v = checkpoint(
                    layer, s, v, tokens, normalized, use_reentrant=False)
            else:
                s, v = layer(s, v, tokens, normalized)
        shortcut = self.cls_proj(clip_cls.mean(dim=1).to(tokens.dtype))
        h = self.ln_post(v[:, 0] + shortcut)  # (B, C_i)
        return h @ self.proj.to(h.dtype)
