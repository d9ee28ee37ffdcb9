"""Tests of the mmpretrain image tower (DiSTMMPretrainViT): DiST's side
network receives exactly mmpretrain's own ``out_type='raw'`` tokens, frozen
semantics, strict weight loading, refusal of other towers' checkpoints."""
import os.path as osp

import pytest
import torch
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.registry import MODELS as PRETRAIN_MODELS

from projects.dist.models.backbones import DiSTMMPretrainViT
from projects.dist.models.utils.state_checks import CheckpointMismatchError
from tests.helpers import REPO_ROOT, UNIT_CLIP
from tests.numerics import assert_close_rounding

#: a 3-block, 32-wide ViT on 28 px frames (2x2 patches of 14 px)
TINY_ARCH = dict(
    embed_dims=32, num_layers=3, num_heads=2, feedforward_channels=64)
MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]


def tiny_backbone(**kw) -> dict:
    """DINOv2-style tiny backbone config: patch 14, layer scale."""
    cfg = dict(
        type='mmpretrain.VisionTransformer',
        arch=TINY_ARCH,
        img_size=28,
        patch_size=14,
        layer_scale_init_value=0.1)
    cfg.update(kw)
    return cfg


def tiny_tower(**kw) -> DiSTMMPretrainViT:
    torch.manual_seed(0)
    enc = DiSTMMPretrainViT(backbone=tiny_backbone(**kw), mean=MEAN, std=STD)
    # non-trivial weights everywhere (mmpretrain zero-inits some tokens)
    with torch.no_grad():
        for p in enc.tower.parameters():
            p.normal_(0, 0.2)
    return enc


def reference(enc: DiSTMMPretrainViT, **kw):
    """mmpretrain's own backbone with the same weights, raw outputs of every
    block."""
    cfg = tiny_backbone(**kw)
    cfg.update(
        out_type='raw',
        final_norm=False,
        out_indices=list(range(TINY_ARCH['num_layers'])))
    ref = PRETRAIN_MODELS.build(cfg)
    ref.load_state_dict(enc.tower.state_dict())
    ref.eval()  # mmpretrain's train() returns None
    return ref


def tiny_dist(spatial_encoder: dict, **kw) -> torch.nn.Module:
    cfg = dict(
        type='DiST',
        spatial_encoder=spatial_encoder,
        num_frames=4,
        alpha=2,
        integration_dim=16,
        temporal_dim=8,
        temporal_patch_size=3,
        num_ada_layers=1,
        ada_heads=2)
    cfg.update(kw)
    return MODELS.build(cfg)


@pytest.mark.parametrize(
    'kw', [dict(), dict(pre_norm=True),
           dict(with_cls_token=False)])
def test_side_network_receives_mmpretrain_raw_tokens(kw):
    enc = tiny_tower(**kw)
    ref = reference(enc, **kw)
    model = tiny_dist(
        dict(
            type='DiSTMMPretrainViT',
            backbone=tiny_backbone(**kw),
            mean=MEAN,
            std=STD),
        selected_layers=(0, 2))
    model.spatial_encoder.load_state_dict(enc.state_dict())
    clips = torch.randn(2, 3, 4, 28, 28)
    feats = model.spatial_features(clips)
    frames = clips[:, :, ::2].transpose(1, 2).reshape(4, 3, 28, 28)
    want = ref(frames)
    assert len(feats) == 2
    for got, block in zip(feats, (0, 2)):
        w = want[block]
        assert got.shape == (4, 5, 32)
        if kw.get('with_cls_token', True):
            assert_close_rounding(got, w)
        else:  # no class token: mean patch token first, then the patches
            assert_close_rounding(got[:, 1:], w)
            assert_close_rounding(got[:, :1], w.mean(1, keepdim=True), 4)
    # the token path (subsample_before_embedding=False) gives the same
    model.subsample_before_embedding = False
    for got, w in zip(model.spatial_features(clips), feats):
        assert_close_rounding(got, w)


def test_distilled_deit_drops_the_distillation_token():
    kw = dict(type='mmpretrain.DistilledVisionTransformer')
    enc = tiny_tower(**kw)
    ref = reference(enc, **kw)
    assert enc.num_prefix_tokens == 2 and not enc.supports_token_path
    frames = torch.randn(3, 3, 28, 28)
    got = enc(frames, [1])[0]
    want = ref(frames)[1]  # (N, 2 + h*w, D): class, distillation, patches
    assert got.shape == (3, 5, 32)
    assert_close_rounding(got[:, :1], want[:, :1])
    assert_close_rounding(got[:, 1:], want[:, 2:])


def test_frozen_semantics():
    model = tiny_dist(
        dict(
            type='DiSTMMPretrainViT',
            backbone=tiny_backbone(drop_path_rate=0.5),
            mean=MEAN,
            std=STD))
    enc = model.spatial_encoder
    assert not any(p.requires_grad for p in enc.parameters())
    model.train()
    assert model.training and not any(m.training for m in enc.tower.modules())
    clips = torch.randn(1, 3, 4, 28, 28)
    feats = model.spatial_features(clips)
    assert not any(f.requires_grad for f in feats)
    # eval mode: drop path off, so two calls agree
    for a, b in zip(feats, model.spatial_features(clips)):
        assert torch.equal(a, b)
    model(clips).sum().backward()
    assert all(p.grad is None for p in enc.parameters())
    assert model.temporal_stem.weight.grad is not None


def test_no_text_tower_output_dim_is_width_and_linear_head_fits():
    model = MODELS.build(
        dict(
            type='Recognizer3D',
            backbone=dict(
                type='DiST',
                spatial_encoder=dict(
                    type='DiSTMMPretrainViT',
                    backbone=tiny_backbone(),
                    mean=MEAN,
                    std=STD),
                num_frames=4,
                integration_dim=16,
                temporal_dim=8,
                temporal_patch_size=3,
                num_ada_layers=1,
                ada_heads=2),
            cls_head=dict(
                type='TimeSformerHead', num_classes=3, in_channels=32),
            data_preprocessor=dict(
                type='ActionDataPreprocessor',
                mean=MEAN,
                std=STD,
                format_shape='NCTHW')))
    model.init_weights()
    backbone = model.backbone
    assert backbone.output_dim == 32 == backbone.spatial_encoder.width
    scores = model.cls_head(model.backbone(torch.randn(2, 3, 4, 28, 28)))
    assert scores.shape == (2, 3)


def _classifier_checkpoint(enc, path, **extra):
    """An mmpretrain model-zoo style file: 'backbone.' keys, final norm and
    a head."""
    state = {f'backbone.{k}': v for k, v in enc.tower.state_dict().items()}
    state['backbone.ln1.weight'] = torch.ones(32)
    state['backbone.ln1.bias'] = torch.zeros(32)
    state['head.fc.weight'] = torch.zeros(5, 32)
    state.update(extra)
    torch.save({'state_dict': state, 'meta': {}}, path)


def test_pretrained_loads_strictly_in_init_weights(tmp_path):
    src = tiny_tower()
    path = tmp_path / 'vit.pth'
    _classifier_checkpoint(src, path)
    enc = DiSTMMPretrainViT(
        backbone=tiny_backbone(), mean=MEAN, std=STD, pretrained=str(path))
    key = 'layers.0.attn.qkv.weight'
    assert not torch.equal(enc.tower.state_dict()[key],
                           src.tower.state_dict()[key])  # not at build
    enc.init_weights()
    for k, v in src.tower.state_dict().items():
        assert torch.equal(enc.tower.state_dict()[k], v), k
    assert not any(p.requires_grad for p in enc.parameters())
    # a checkpoint of another architecture is refused, naming the keys
    other = DiSTMMPretrainViT(
        backbone=tiny_backbone(layer_scale_init_value=0.),
        mean=MEAN,
        std=STD,
        pretrained=str(path))
    with pytest.raises(CheckpointMismatchError, match='unexpected.*gamma'):
        other.init_weights()


def test_checkpoint_of_another_tower_is_refused_by_name():
    mm_cfg = dict(
        type='DiSTMMPretrainViT',
        backbone=tiny_backbone(img_size=32, patch_size=8),
        mean=MEAN,
        std=STD)
    clip_cfg = dict(type='DiSTCLIPVisual', arch=UNIT_CLIP)
    mm = tiny_dist(mm_cfg)
    clip = tiny_dist(clip_cfg)
    with pytest.raises(
            CheckpointMismatchError,
            match='mmpretrain VisionTransformer.*DiSTCLIPVisual'):
        clip.load_state_dict(mm.state_dict(), strict=False)
    with pytest.raises(
            CheckpointMismatchError,
            match='DiSTCLIPVisual.*mmpretrain VisionTransformer'):
        mm.load_state_dict(clip.state_dict(), strict=False)
    # a DINOv2-style tower (patch 14) is another tower: refused by name
    dino = tiny_dist(dict(mm_cfg, backbone=tiny_backbone()))
    with pytest.raises(CheckpointMismatchError, match='patch=8.*patch=14'):
        dino.load_state_dict(mm.state_dict(), strict=False)
    # its own checkpoint loads
    fresh = tiny_dist(mm_cfg)
    fresh.load_state_dict(mm.state_dict())
    for k, v in mm.state_dict().items():
        if torch.is_tensor(v):
            assert torch.equal(fresh.state_dict()[k], v), k


def test_normalisation_from_the_mmpretrain_config():
    with torch.device('meta'):
        enc = DiSTMMPretrainViT(
            model_config='mmpretrain::dinov2/'
            'vit-base-p14_dinov2-pre_headless.py',
            backbone=dict(img_size=224))
    assert enc.mean == tuple(MEAN) and enc.std == tuple(STD)
    assert (enc.width, enc.num_layers, enc.patch_size, enc.grid_size,
            enc.image_size, enc.embed_dim) == (768, 12, 14, (16, 16), 224, 768)
    assert enc.frame_token == 'class'
    with pytest.raises(
            ValueError,
            match=r'mean=\[0.0, 0.0, 0.0\] '
            'contradicts the data_preprocessor mean'):
        with torch.device('meta'):
            DiSTMMPretrainViT(
                model_config='mmpretrain::dinov2/'
                'vit-base-p14_dinov2-pre_headless.py',
                backbone=dict(img_size=224),
                mean=[0, 0, 0])


@pytest.mark.parametrize('kw, match', [
    (dict(backbone=tiny_backbone(out_type='featmap')),
     "sets out_type='raw' itself"),
    (dict(backbone=tiny_backbone(final_norm=True)),
     'sets final_norm=False itself'),
    (dict(backbone=tiny_backbone(), mean=None), 'needs the input mean'),
    (dict(backbone=tiny_backbone(type='mmpretrain.MAEViT')),
     'MAEViT has its own forward'),
    (dict(backbone=tiny_backbone(type='BEiTViT')),
     "'BEiTViT' is not a VisionTransformer"),
    (dict(backbone=tiny_backbone(init_cfg=dict(type='Pretrained'))),
     'pretrained=...'),
    (dict(backbone=tiny_backbone(img_size=30)), 'square input covered'),
])
def test_bad_configs_are_refused(kw, match):
    args = dict(mean=MEAN, std=STD)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        DiSTMMPretrainViT(**args)


def test_one_epoch_tiny_training_on_synthetic_data(tmp_path):
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'dist_tiny_synthetic_mmpretrain.py'))
    data_root = str(tmp_path / 'data')
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.update(num_workers=0, persistent_workers=False)
        loader.dataset.update(
            data_root=data_root,
            num_per_class=dict(train=2, val=1, test=1),
            clip_weights=dict(
                loader.dataset.clip_weights,
                path=data_root + '/tiny_clip_seed0.pth'))
    cfg.train_cfg.max_epochs = 1
    cfg.custom_hooks = []
    cfg.work_dir = str(tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    tower = runner.model.backbone.spatial_encoder
    assert isinstance(tower, DiSTMMPretrainViT)
    frozen = {
        k: v.clone()
        for k, v in tower.state_dict().items() if torch.is_tensor(v)
    }
    stem = runner.model.backbone.temporal_stem.weight.detach().clone()
    runner.train()
    assert runner.train_loop.iter == 1  # 12 videos, batch 16
    assert osp.isfile(osp.join(cfg.work_dir, 'epoch_1.pth'))
    for k, v in tower.state_dict().items():
        if torch.is_tensor(v):
            assert torch.equal(v, frozen[k]), k
    assert not torch.equal(runner.model.backbone.temporal_stem.weight, stem)
    metrics = runner.val_loop.run()
    assert 0 <= metrics['acc/top1'] <= 1
