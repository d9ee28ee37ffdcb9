"""Ada-pooling aggregator: shapes, frame-count check, every layer reads F."""
import pytest
import torch

from projects.dist.models.layers import AdaPoolingAggregator


def test_shapes_and_shortcut():
    torch.manual_seed(0)
    agg = AdaPoolingAggregator(16, clip_dim=24, output_dim=8,
                               num_spatial_frames=3, num_layers=2,
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
