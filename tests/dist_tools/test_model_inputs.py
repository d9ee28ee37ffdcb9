"""Tests of projects/dist_tools/model_inputs.py: a backbone's clip shape and
its frozen tower's part of the forward, from public attributes only."""

import pytest
import torch
from mmaction.registry import MODELS

from projects.dist.utils.errors import DiSTUserError
from projects.dist_tools.model_inputs import (UnsupportedBackboneError,
                                              default_clip_shape,
                                              spatial_features_fn)
from tests.helpers import tiny_clip_arch, tiny_model_cfg


def test_dist_shape_and_spatial_features():
    torch.manual_seed(0)
    backbone = MODELS.build(tiny_model_cfg()['backbone'])
    assert default_clip_shape(backbone) == (3, 8, 32, 32)
    clips = torch.randn(2, 3, 8, 32, 32)
    feats = spatial_features_fn(backbone)(clips)
    expected = backbone.spatial_features(clips)
    assert len(feats) == len(backbone.selected_layers)
    for got, want in zip(feats, expected):
        assert got.shape == (2 * 4, 1 + 16, 64)  # alpha 2 of 8 frames
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_frame_average_shape_and_spatial_features():
    torch.manual_seed(0)
    backbone = MODELS.build(
        dict(
            type='DiSTFrameAverageBaseline',
            spatial_encoder=dict(type='DiSTCLIPVisual', arch=tiny_clip_arch()),
            num_frames=8,
            frame_stride=4))
    assert default_clip_shape(backbone) == (3, 8, 32, 32)
    clips = torch.randn(2, 3, 8, 32, 32)
    (feats, ) = spatial_features_fn(backbone)(clips)
    frames = clips[:, :, ::4].transpose(1, 2).reshape(4, 3, 32, 32)
    (expected, ) = backbone.spatial_encoder(frames, [1])  # last of 2 blocks
    torch.testing.assert_close(feats, expected, rtol=0, atol=0)


def test_unknown_backbone_is_a_user_error():
    backbone = torch.nn.Linear(2, 2)
    with pytest.raises(
            UnsupportedBackboneError,
            match=r"Linear: expected a backbone of type \['DiST'"):
        default_clip_shape(backbone)
    with pytest.raises(DiSTUserError, match='clip-only mode needs'):
        spatial_features_fn(backbone)
