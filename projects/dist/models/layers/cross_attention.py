"""Pre-norm cross-attention with fused scaled-dot-product attention."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from .fast_path import use_fast_path
from .norm import LayerNorm32


class CrossAttention(BaseModule):
    """Multi-head attention of queries over a token set, one shared LayerNorm.

    The same LayerNorm is applied to queries, keys and values; only the
    attention output is returned (the caller adds the residual). Parameter
    names follow ``nn.MultiheadAttention`` (``in_proj_weight``,
    ``in_proj_bias``, ``out_proj``) so checkpoints map one to one, while the
    computation uses ``F.scaled_dot_product_attention`` (fused kernels).

    Args:
        dim (int): Channels C.
        num_heads (int): Attention heads; must divide ``dim``.
        fused (bool): Use ``F.scaled_dot_product_attention``; False uses
            explicit matrix products (for measurements). Defaults to True.
        fold_queries (bool): With few queries (``Q * heads < C``, as in
            ada-pooling), fold the key projection into the queries and apply
            the value projection after pooling (:meth:`_pool`): the same
            result without projecting every token. Used with ``fused`` and
            the fast path (:mod:`.fast_path`) only. Defaults to True.
        init_cfg (dict, optional): MMEngine init config. Defaults to None.
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 fused: bool = True,
                 fold_queries: bool = True,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.fused = fused
        self.fold_queries = fold_queries
        if num_heads < 1 or dim % num_heads:
            raise ValueError(f'num_heads must divide dim: dim={dim}, '
                             f'num_heads={num_heads}')
        self.num_heads = num_heads
        self.norm = LayerNorm32(dim)
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def init_weights(self) -> None:
        """Xavier-uniform input projection, zero input bias (MHA default)."""
        super().init_weights()
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.in_proj_bias)

    def forward(
            self,
            query: torch.Tensor,
            tokens: torch.Tensor,
            normalized_tokens: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Attend from ``query`` to ``tokens``.

        Args:
            query (torch.Tensor): (N, Q, C).
            tokens (torch.Tensor): (N, L, C); keys and values.
            normalized_tokens (torch.Tensor, optional): ``tokens`` after an
                affine-free LayerNorm with this module's ``eps``, for callers
                that attend to the same tokens several times (computed once,
                kept once for backward). This module's LayerNorm affine is
                then applied to the queries and the pooled result instead of
                to every token (few-query path), or to the tokens (standard
                path). Same result up to float rounding.

        Returns:
            torch.Tensor: (N, Q, C).
        """
        n, q_len, c = query.shape
        h = self.num_heads
        if (self.fused and self.fold_queries and q_len * h < c
                and use_fast_path('aggregator')):
            return self.out_proj(self._pool(query, tokens, normalized_tokens))
        w_q, w_kv = self.in_proj_weight.split([c, 2 * c])
        b_q, b_kv = self.in_proj_bias.split([c, 2 * c])
        q = F.linear(self.norm(query), w_q, b_q)
        if normalized_tokens is None:
            kv = self.norm(tokens)
        else:
            kv = torch.addcmul(
                self.norm.bias.to(normalized_tokens.dtype), normalized_tokens,
                self.norm.weight.to(normalized_tokens.dtype))
        k, v = F.linear(kv, w_kv, b_kv).chunk(2, dim=-1)
        # (N, len, C) -> (N, heads, len, C/heads)
        q, k, v = (
            t.unflatten(-1, (h, c // h)).transpose(1, 2) for t in (q, k, v))
        if self.fused:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            w = (q @ k.transpose(-2, -1)) * (c // h)**-0.5
            out = w.softmax(dim=-1) @ v
        out = out.transpose(1, 2).reshape(n, q_len, c)
        return self.out_proj(out)

    def _pool(
            self,
            query: torch.Tensor,
            tokens: torch.Tensor,
            normalized_tokens: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Few-query attention without projecting keys and values.

        The same result as the standard path, rearranged for few queries
        (ada-pooling has one per frame or video): per head,
        ``q_h . (W_k,h t + b_k,h) = (W_k,h^T q_h) . t + const`` and the
        constant cancels in the softmax, so the key projection is folded
        into the query; and since the attention weights sum to 1,
        ``sum_j a_j (W_v,h t_j + b_v,h) = W_v,h (sum_j a_j t_j) + b_v,h``, so
        the value projection is applied after pooling. The keys/values are
        then the normalised tokens themselves (one "head" of width C), and
        the (L x C x 2C) projection of all tokens is never computed. With
        ``normalized_tokens`` the LayerNorm affine moves out of the tokens
        the same way: ``q . (gamma * n + beta) = (gamma * q) . n + const``
        and ``sum_j a_j (gamma * n_j + beta) = gamma * sum_j a_j n_j + beta``.

        Args:
            query (torch.Tensor): (N, Q, C).
            tokens (torch.Tensor): (N, L, C).
            normalized_tokens (torch.Tensor, optional): Affine-free
                LayerNorm of ``tokens`` (see :meth:`forward`).

        Returns:
            torch.Tensor: Attention output before ``out_proj``, (N, Q, C).
        """
        n, q_len, c = query.shape
        h = self.num_heads
        d = c // h
        w_q, w_k, w_v = self.in_proj_weight.split([c, c, c])
        b_q, _, b_v = self.in_proj_bias.split([c, c, c])
        q = F.linear(self.norm(query), w_q, b_q).view(n, q_len, h, d)
        # fold W_k into the queries: (N, Q, h, d) x (h, d, C) -> (N, h*Q, C)
        q = torch.einsum('nqhd,hdc->nhqc', q, w_k.view(h, d, c))
        if normalized_tokens is None:
            kv = self.norm(tokens)
        else:
            kv = normalized_tokens
            q = q * self.norm.weight.to(q.dtype)
        kv = kv.unsqueeze(1)  # (N, 1, L, C)
        pooled = F.scaled_dot_product_attention(
            q.reshape(n, 1, h * q_len, c), kv, kv, scale=d**-0.5)
        pooled = pooled.view(n, h, q_len, c)
        if normalized_tokens is not None:
            pooled = torch.addcmul(
                self.norm.bias.to(pooled.dtype), pooled,
                self.norm.weight.to(pooled.dtype))
        # per-head value projection after pooling -> (N, Q, h, d)
        out = torch.einsum('nhqc,hdc->nqhd', pooled, w_v.view(h, d, c))
        return (out + b_v.view(h, d)).reshape(n, q_len, c)
