"""Tests of the DiST backbone: shapes, configuration errors, freezing,
gradients and the official parameter counts."""
import pytest
import torch
from mmaction.registry import MODELS

from tests.helpers import UNIT_CLIP, unit_backbone_cfg, unit_model_cfg
from tests.numerics import assert_close_model


def build(**overrides):
    torch.manual_seed(0)
    model = MODELS.build(unit_backbone_cfg(**overrides))
    model.init_weights()
    return model


@pytest.mark.parametrize('overrides, batch', [
    (dict(), 2),
    (dict(num_frames=8, alpha=4, selected_layers=(0, 2)), 1),
    (dict(
        selected_layers=(1, ),
        num_ada_layers=1,
        temporal_kernel_size=1,
        integration_kernel_size=3,
        integration_mlp_ratio=2.0), 3),
])
def test_output_shape(overrides, batch):
    model = build(**overrides)
    t = model.num_frames
    out = model(torch.randn(batch, 3, t, 32, 32))
    assert out.shape == (batch, UNIT_CLIP['embed_dim'])
    assert torch.isfinite(out).all()


def test_unselected_trailing_blocks_are_not_run():
    model = build(selected_layers=(0, ))
    calls = []
    blocks = model.spatial_encoder.visual.transformer.resblocks
    for i, blk in enumerate(blocks):
        blk.register_forward_hook(lambda m, i_, o, i=i: calls.append(i))
    model(torch.randn(1, 3, 4, 32, 32))
    assert calls == [0]


@pytest.mark.parametrize('shape, match', [
    ((1, 3, 6, 32, 32), r'6 frames .* num_frames=4'),
    ((1, 3, 4, 48, 48), r'frame size \(48, 48\).*\(32, 32\)'),
    ((1, 4, 32, 32), r'\(B, 3, T, H, W\)'),
])
def test_bad_input_raises(shape, match):
    model = build()
    with pytest.raises(ValueError, match=match):
        model(torch.randn(*shape))


@pytest.mark.parametrize('overrides, match', [
    (dict(num_frames=6, alpha=4), r'num_frames \(6\).*alpha \(4\)'),
    (dict(selected_layers=(2, 1)), r'ascending.*\[2, 1\]'),
    (dict(selected_layers=(0, 3)), r'\[0, 2\].*\[0, 3\]'),
    (dict(spatial_patch_size=16), r'patch 16 .* 2-wide .* 4-wide'),
    (dict(temporal_patch_size=4), r'temporal_patch_size must be odd'),
    (dict(spatial_encoder=dict(type='DiSTCLIPVisual', arch='ViT-X/3')),
     r"unknown CLIP arch 'ViT-X/3'"),
])
def test_bad_config_raises(overrides, match):
    with pytest.raises((ValueError, KeyError), match=match):
        MODELS.build(unit_backbone_cfg(**overrides))


def test_frozen_tower_survives_train_and_gets_no_grad():
    model = MODELS.build(unit_model_cfg())
    model.init_weights()
    model.train()
    enc = model.backbone.spatial_encoder
    assert not enc.visual.training
    assert not model.cls_head.text_encoder.text.training
    assert model.backbone.temporal_stem.training
    frozen = list(enc.parameters()) + list(
        model.cls_head.text_encoder.parameters())
    assert all(not p.requires_grad for p in frozen)
    clip = torch.randn(2, 3, 4, 32, 32)
    loss = model.cls_head(model.backbone(clip)).logsumexp(-1).mean()
    loss.backward()
    assert all(p.grad is None for p in frozen)
    trainable = [(n, p) for n, p in model.named_parameters()
                 if p.requires_grad]
    missing = [n for n, p in trainable if p.grad is None]
    assert trainable and not missing, missing


def test_frozen_forward_keeps_no_autograd_graph():
    model = build()
    feats = model.spatial_encoder(torch.randn(2, 3, 32, 32), (0, 1))
    assert all(not f.requires_grad and f.grad_fn is None for f in feats)


def test_init_weights_is_truncated_normal_and_deterministic():
    a, b = build(), build()
    for (na, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(pa, pb), na
    w = a.input_projs[0].weight
    assert w.abs().max() <= 2 and 0.01 < w.std() < 0.03
    assert torch.count_nonzero(a.input_projs[0].bias) == 0
    assert a.aggregator.layers[0].positional_embedding.std() > 0


@pytest.mark.parametrize(
    'arch, frames, ada, patch, expected',
    [
        ('ViT-B/16', 16, 4, None, 26_068_224),  # official K400 less 36,960
        ('ViT-B/16', 16, 2, None, 18_964_224),  # official SSv2 less 36,960
        ('ViT-B/16', 32, 4, None, 26_117_376),
        ('ViT-B/16', 64, 4, None, 26_215_680),
        ('ViT-L/14', 64, 4, 14, 39_830_784),
        ('ViT-L/14', 64, 2, 14, 32_708_352),
    ])
def test_full_size_trainable_parameters(arch, frames, ada, patch, expected):
    with torch.device('meta'):
        model = MODELS.build(
            dict(
                type='DiST',
                spatial_encoder=dict(type='DiSTCLIPVisual', arch=arch),
                num_frames=frames,
                num_ada_layers=ada,
                spatial_patch_size=patch))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == expected


def test_temporal_stream_is_channels_last():
    model = build().eval()
    seen = []
    model.temporal_blocks[0].register_forward_hook(
        lambda m, a, out: seen.append(
            out.is_contiguous(memory_format=torch.channels_last_3d)))
    with torch.no_grad():
        model(torch.randn(1, 3, 4, 32, 32))
    assert seen == [True]


def test_speed_switches_do_not_change_results():
    ref = build()
    x = torch.randn(2, 3, 4, 32, 32)
    variants = [
        dict(
            subsample_before_embedding=False,
            fused_attention=False,
            spatial_encoder=dict(
                type='DiSTCLIPVisual', arch=UNIT_CLIP, fused_attention=False)),
        dict(with_cp=True),
        dict(ada_fold_queries=False, channels_last=False),
    ]
    ref.train()
    out_ref = ref(x)
    out_ref.square().sum().backward()
    for overrides in variants:
        model = build(**overrides)
        model.load_state_dict(ref.state_dict())
        model.train()
        out = model(x)
        assert_close_model(out, out_ref)
        out.square().sum().backward()
        for (name, p), p_ref in zip(model.named_parameters(),
                                    ref.parameters()):
            if p.requires_grad:
                assert_close_model(p.grad, p_ref.grad, msg=name)


@pytest.mark.parametrize('overrides, match', [
    (dict(num_frames=8), r'trained with 2 spatial frames \(num_frames=4 at '
     r'alpha=2\) .* num_frames=8'),
    (dict(selected_layers=(0, 1)), r'3 DiST layers .* configured with 2'),
    (dict(num_ada_layers=1), r'2 ada-pooling layers .* configured with 1'),
])
@pytest.mark.parametrize('strict', [True, False])
def test_mismatched_checkpoint_is_refused(tmp_path, overrides, match, strict):
    from mmengine.runner import load_checkpoint

    from projects.dist.models.utils.state_checks import CheckpointMismatchError
    path = tmp_path / 'ckpt.pth'
    torch.save({'state_dict': build().state_dict()}, path)
    other = build(**overrides)
    with pytest.raises(CheckpointMismatchError, match=match):
        load_checkpoint(other, str(path), strict=strict)


def test_clip_depth_mismatch_is_refused():
    from projects.dist.models.backbones import DiSTCLIPVisual
    from projects.dist.models.utils.state_checks import CheckpointMismatchError
    state = DiSTCLIPVisual(arch=UNIT_CLIP).state_dict()
    other = DiSTCLIPVisual(arch=dict(UNIT_CLIP, layers=2))
    with pytest.raises(
            CheckpointMismatchError,
            match=r'3 CLIP blocks .* configured with 2'):
        other.load_state_dict(state, strict=False)


def test_init_weights_leaves_the_clip_tower_untouched():
    torch.manual_seed(0)
    model = MODELS.build(unit_backbone_cfg())
    before = {
        k: v.clone()
        for k, v in model.spatial_encoder.state_dict().items()
    }
    model.init_weights()
    after = model.spatial_encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_bf16_tower_features_reach_the_side_network_uncast():
    """Under autocast the bf16 CLIP features go to the input projections as
    they are (no float32 copy of every layer); without autocast they are
    cast to the side network's float32."""
    model = build(
        spatial_encoder=dict(
            type='DiSTCLIPVisual', arch=UNIT_CLIP, dtype='bf16')).eval()
    seen = []

    def spy(module, args):
        seen.append(args[0].dtype)

    model.input_projs[0].register_forward_pre_hook(spy)
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out_amp = model(x)
        out_fp32 = model(x)
    assert seen == [torch.bfloat16, torch.float32]
    assert out_fp32.dtype == torch.float32
    torch.testing.assert_close(out_amp.float(), out_fp32, rtol=0.05, atol=0.05)


def test_input_projection_hooks_run():
    model = build().eval()
    x = torch.randn(1, 3, 4, 32, 32)
    seen = []
    handles = [
        p.register_forward_hook(lambda m, a, o: seen.append(o.shape))
        for p in model.input_projs
    ]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    assert len(seen) == len(model.input_projs)


def test_inference_traces_as_one_graph():
    """torch.compile sees the whole backbone's inference (the frozen tower's
    no-autograd blocks and the side network's plain paths) as one graph."""
    torch.manual_seed(0)
    model = MODELS.build(unit_backbone_cfg())
    model.eval()
    with torch.no_grad():
        explained = torch._dynamo.explain(model)(torch.randn(1, 3, 4, 32, 32))
    assert explained.graph_break_count == 0, explained.break_reasons


def test_projected_features_of_single_frames_give_the_clip_forward():
    """The per-frame part (tower + input projections) computed one spatial
    frame at a time and stacked into clips gives the plain forward: what
    long-video inference caches per frame."""
    model = build(num_frames=8, alpha=2).eval()
    x = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        want = model(x)
        frames = x[:, :, ::2].transpose(1, 2).flatten(0, 1)  # (B*Ts, 3,H,W)
        single = [
            model.project_features(model.spatial_features(f[None, :, None]))
            for f in frames
        ]
        stacked = type(single[0])(
            [
                torch.cat([s.tokens[i] for s in single])
                for i in range(len(model.input_projs))
            ],
            torch.cat([s.cls for s in single]),
        )
        got = model.forward_projected(x, stacked)
        got_side = model.forward_side_network(x, model.spatial_features(x))
    assert_close_model(got, want)
    assert torch.equal(got_side, want)
    assert single[0].tokens[0].shape[-1] == model.input_projs[0].out_features


def test_projected_features_need_one_tensor_per_selected_layer():
    model = build().eval()
    x = torch.randn(1, 3, model.num_frames, 32, 32)
    with torch.no_grad():
        feats = model.spatial_features(x)
        with pytest.raises(ValueError, match='one per selected layer'):
            model.project_features(feats[:-1])
        projected = model.project_features(feats)
        with pytest.raises(ValueError, match='one per selected layer'):
            model.forward_projected(
                x, projected._replace(tokens=projected.tokens[:-1]))
