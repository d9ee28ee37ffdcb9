"""DiSTFrameAverageBaseline: order-blind by construction, frozen tower."""
import pytest
import torch
from mmaction.registry import MODELS

from projects.dist.models.backbones.frame_average import \
    DiSTFrameAverageBaseline
from tests.helpers import tiny_clip_arch

# 16-dim embeddings: the output sizes asserted below
TINY_ARCH = tiny_clip_arch(embed_dim=16)


def _model(**kwargs):
    cfg = dict(
        type='DiSTFrameAverageBaseline',
        spatial_encoder=dict(type='DiSTCLIPVisual', arch=TINY_ARCH),
        num_frames=4,
        hidden_dim=8)
    cfg.update(kwargs)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def test_output_shape_and_embedding_size():
    model = _model()
    assert isinstance(model, DiSTFrameAverageBaseline)
    out = model(torch.randn(2, 3, 4, 32, 32))
    assert out.shape == (2, 16) and model.output_dim == 16
    assert _model(output_dim=5)(torch.randn(1, 3, 4, 32, 32)).shape == (1, 5)


def test_frame_order_does_not_change_the_output():
    model = _model().eval()
    x = torch.randn(2, 3, 4, 32, 32)
    shuffled = x[:, :, torch.tensor([2, 0, 3, 1])]
    assert torch.allclose(model(x), model(shuffled), atol=1e-6)
    # but the frames themselves matter
    assert not torch.allclose(model(x), model(x.flip(-1)), atol=1e-4)


def test_only_the_mlp_is_trained():
    model = _model().train()
    model(torch.randn(2, 3, 4, 32, 32)).sum().backward()
    assert all(p.grad is not None for p in model.mlp.parameters())
    assert all(not p.requires_grad and p.grad is None
               for p in model.spatial_encoder.parameters())
    assert not model.spatial_encoder.visual.training  # stays in eval mode


def test_frame_stride_uses_every_other_frame():
    model = _model(frame_stride=2).eval()
    x = torch.randn(1, 3, 4, 32, 32)
    y = x.clone()
    y[:, :, 1::2] = 0  # frames the stride skips
    assert torch.allclose(model(x), model(y))


def test_bad_input_is_refused():
    with pytest.raises(
            ValueError,
            match=r'num_frames \(4\) must be a '
            r'positive multiple of frame_stride \(3\)'):
        _model(frame_stride=3)
    model = _model()
    with pytest.raises(
            ValueError,
            match='clip has 5 frames but the '
            'baseline was configured with num_frames=4'):
        model(torch.randn(1, 3, 5, 32, 32))
    with pytest.raises(
            ValueError, match=r'\(B, 3, T, H, W\), got '
            r'\(1, 4, 32, 32\)'):
        model(torch.randn(1, 4, 32, 32))
