"""CrossAttention equals nn.MultiheadAttention with the same weights."""
import pytest
import torch
import torch.nn as nn

from projects.dist.models.layers import CrossAttention
from tests.numerics import assert_close_rounding


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


@pytest.mark.parametrize('q_len, heads', [(1, 4), (2, 2), (3, 8)])
def test_folded_queries_match_standard_attention(q_len, heads):
    # (3, 8): Q * heads >= C, the standard path runs in both
    torch.manual_seed(0)
    folded = CrossAttention(16, heads)
    nn.init.normal_(folded.in_proj_bias)
    standard = CrossAttention(16, heads, fold_queries=False)
    standard.load_state_dict(folded.state_dict())
    q = torch.randn(3, q_len, 16, requires_grad=True)
    kv = torch.randn(3, 7, 16, requires_grad=True)
    out_f, out_s = folded(q, kv), standard(q, kv)
    assert_close_rounding(out_f, out_s, reduction=16)
    grads_f = torch.autograd.grad(out_f.square().sum(),
                                  [q, kv, *folded.parameters()])
    grads_s = torch.autograd.grad(out_s.square().sum(),
                                  [q, kv, *standard.parameters()])
    for g_f, g_s in zip(grads_f, grads_s):
        # parameter gradients sum over batch x (queries + keys)
        assert_close_rounding(g_f, g_s, reduction=3 * (q_len + 7))


def test_folded_queries_skip_the_token_projection():
    from projects.dist_tools.flops import count_macs
    n, length, c, heads = 4, 50, 64, 4
    q = torch.randn(n, 1, c, device='meta')
    kv = torch.randn(n, length, c, device='meta')
    folded = CrossAttention(c, heads).to('meta')
    standard = CrossAttention(c, heads, fold_queries=False).to('meta')
    # standard: q/out projections + k/v of every token + two attention bmms
    assert count_macs(standard, q,
                      kv).total == (2 * n * c * c + 2 * n * length * c * c +
                                    2 * n * length * c)
    # folded: q/out projections, W_k and W_v per head, attention on C-wide
    # normalised tokens for every head
    assert count_macs(folded, q,
                      kv).total == (4 * n * c * c + 2 * n * heads * length * c)
