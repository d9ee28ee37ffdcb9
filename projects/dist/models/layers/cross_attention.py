"""Pre-norm cross-attention with fused scaled-dot-product attention."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

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
        init_cfg (dict, optional): MMEngine init config. Defaults to None.
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 fused: bool = True,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.fused = fused
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

    def forward(self, query: torch.Tensor,
                tokens: torch.Tensor) -> torch.Tensor:
        """Attend from ``query`` to ``tokens``.

        Args:
            query (torch.Tensor): (N, Q, C).
            tokens (torch.Tensor): (N, L, C); keys and values.

        Returns:
            torch.Tensor: (N, Q, C).
        """
        n, q_len, c = query.shape
        w_q, w_kv = self.in_proj_weight.split([c, 2 * c])
        b_q, b_kv = self.in_proj_bias.split([c, 2 * c])
        q = F.linear(self.norm(query), w_q, b_q)
        k, v = F.linear(self.norm(tokens), w_kv, b_kv).chunk(2, dim=-1)
        h = self.num_heads
        # (N, len, C) -> (N, heads, len, C/heads)
        q, k, v = (t.unflatten(-1, (h, c // h)).transpose(1, 2)
                   for t in (q, k, v))
        if self.fused:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            w = (q @ k.transpose(-2, -1)) * (c // h)**-0.5
            out = w.softmax(dim=-1) @ v
        out = out.transpose(1, 2).reshape(n, q_len, c)
        return self.out_proj(out)
