"""CrossAttention equals nn.MultiheadAttention with the same weights."""
import pytest
import torch
import torch.nn as nn

from projects.dist.models.layers import CrossAttention


def test_matches_multihead_attention():
    torch.manual_seed(0)
    attn = CrossAttention(16, 4)
    ref = nn.MultiheadAttention(16, 4, batch_first=True)
    ref.load_state_dict({
        'in_proj_weight': attn.in_proj_weight,
        'in_proj_bias': torch.randn(48),
        'out_proj.weight': attn.out_proj.weight,
        'out_proj.bias': attn.out_proj.bias
    })
    attn.in_proj_bias.data.copy_(ref.in_proj_bias)
    q, kv = torch.randn(3, 1, 16), torch.randn(3, 7, 16)
    nq, nkv = attn.norm(q), attn.norm(kv)
    torch.testing.assert_close(attn(q, kv), ref(nq, nkv, nkv)[0])


def test_heads_must_divide_dim():
    with pytest.raises(ValueError, match='dim=16, num_heads=3'):
        CrossAttention(16, 3)
