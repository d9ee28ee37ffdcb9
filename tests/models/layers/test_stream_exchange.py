"""The two exchange paths map frames and tokens in the documented order."""
import pytest
import torch

from projects.dist.models.layers import (IntegrationToTemporal,
                                         TemporalToIntegration)
from projects.dist.models.layers.stream_exchange import token_grid


def test_integration_to_temporal_repeats_each_frame_alpha_times():
    m = IntegrationToTemporal(4, 3, alpha=2)
    z = torch.randn(2 * 3, 1 + 4, 4)  # B=2, Ts=3, 2x2 grid
    y = m(z, num_videos=2)
    assert y.shape == (2, 3, 3, 2, 2)
    x = torch.randn(2, 3, 6, 2, 2)
    out = m.add_to(x, y)
    assert out.shape == (2, 3, 6, 2, 2)
    proj = m.proj(z[:, 1:])  # (6, 4, 3)
    b, s, r, c = 1, 2, 1, 0  # video 1, spatial frame 2, patch row 1, col 0
    for t in (2 * s, 2 * s + 1):
        torch.testing.assert_close(out[b, :, t, r, c],
                                   x[b, :, t, r, c] + proj[b * 3 + s, 2])


def test_integration_to_temporal_keeps_channels_last_without_copy():
    m = IntegrationToTemporal(4, 3, alpha=2)
    x = torch.randn(1, 3, 4, 2,
                    2).contiguous(memory_format=torch.channels_last_3d)
    out = m.add_to(x, m(torch.randn(2, 5, 4), num_videos=1))
    assert out.is_contiguous(memory_format=torch.channels_last_3d)
    with pytest.raises(ValueError, match='6 frames, expected alpha'):
        m.add_to(torch.randn(1, 3, 6, 2, 2), m(torch.randn(2, 5, 4), 1))


def test_temporal_to_integration_pairs_frames_and_adds_cls():
    m = TemporalToIntegration(3, 4, alpha=2, num_spatial_frames=2)
    torch.nn.init.normal_(m.cls_token)
    x = torch.randn(1, 3, 4, 2, 2)
    out = m(x)
    assert out.shape == (2, 5, 4)
    torch.testing.assert_close(out[:, 0], m.cls_token[0, 0])
    w = m.conv.weight[:, :, :, 0, 0]  # (4, 3, 2)
    ref = torch.einsum('oct,ct->o', w, x[0, :, 2:4, 0, 1]) + m.conv.bias
    torch.testing.assert_close(out[1, 2], ref)  # frame 1, patch (0, 1)


def test_frame_count_mismatch_is_named():
    m = TemporalToIntegration(3, 4, alpha=2, num_spatial_frames=2)
    with pytest.raises(ValueError, match='6 spatial frames .* built for 2'):
        m(torch.randn(1, 3, 12, 2, 2))


def test_token_grid_requires_square():
    assert token_grid(17) == (4, 4)
    with pytest.raises(ValueError, match='got 11'):
        token_grid(11)
