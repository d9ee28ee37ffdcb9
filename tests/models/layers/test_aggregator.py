"""Ada-pooling aggregator: shapes, frame-count check, every layer reads F."""
import pytest
import torch

from projects.dist.models.layers import AdaPoolingAggregator
from tests.numerics import assert_close_rounding


def test_shapes_and_shortcut():
    torch.manual_seed(0)
    agg = AdaPoolingAggregator(
        16,
        clip_dim=24,
        output_dim=8,
        num_spatial_frames=3,
        num_layers=2,
        num_heads=2)
    tokens, cls = torch.randn(2 * 3, 5, 16), torch.randn(2, 3, 24)
    out = agg(tokens, cls)
    assert out.shape == (2, 8)
    # the shortcut uses the frame mean of the CLS features
    cls2 = cls.clone()
    cls2[:, 0] += 1.0
    cls2[:, 1] -= 1.0
    torch.testing.assert_close(agg(tokens, cls2), out)


def test_frame_count_mismatch_is_named():
    agg = AdaPoolingAggregator(16, 24, 8, num_spatial_frames=3, num_heads=2)
    with pytest.raises(ValueError, match='got 4 spatial frames .* has 3'):
        agg(torch.randn(8, 5, 16), torch.randn(2, 4, 24))
    with pytest.raises(ValueError, match='num_layers must be >= 1, got 0'):
        AdaPoolingAggregator(16, 24, 8, 3, num_layers=0)


def _per_layer_reference(agg, tokens, cls):
    """The aggregator with every layer normalising the tokens itself."""
    s = agg.spatial_query.expand(tokens.shape[0], -1, -1)
    v = agg.video_query.expand(cls.shape[0], -1, -1)
    for layer in agg.layers:
        s, v = layer(s, v, tokens)
    h = agg.ln_post(v[:, 0] + agg.cls_proj(cls.mean(dim=1)))
    return h @ agg.proj


@pytest.mark.parametrize('fold', [True, False])
def test_tokens_normalised_once_for_all_layers(fold):
    """Sharing one normalisation of F across layers (each layer's LayerNorm
    affine applied to its queries) gives the per-layer formula's values and
    gradients, and keeps one normalised copy of F for backward."""
    torch.manual_seed(0)
    agg = AdaPoolingAggregator(
        16,
        clip_dim=24,
        output_dim=8,
        num_spatial_frames=3,
        num_layers=3,
        num_heads=2,
        fold_queries=fold)
    with torch.no_grad():  # non-trivial affines everywhere
        for p in agg.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    tokens = torch.randn(2 * 3, 50, 16, requires_grad=True)
    cls = torch.randn(2, 3, 24)
    results = []
    for fn in (_per_layer_reference, lambda a, t, c: a(t, c)):
        agg.zero_grad()
        tokens.grad = None
        out = fn(agg, tokens, cls)
        out.square().sum().backward()
        results.append([out, tokens.grad] + [p.grad for p in agg.parameters()])
    for got, want in zip(results[1], results[0]):
        # parameter gradients sum over all 2 x 3 x 50 tokens
        assert_close_rounding(got, want, reduction=tokens.shape[:2].numel())
    if fold:
        saved = {}
        with torch.autograd.graph.saved_tensors_hooks(
                lambda t: saved.setdefault(t.untyped_storage().data_ptr(), t),
                lambda t: t):
            agg(tokens, cls)
        big = [t for t in saved.values() if t.numel() >= tokens.numel()]
        assert len(big) == 2  # F itself and its one normalised copy
