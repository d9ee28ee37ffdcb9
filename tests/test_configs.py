"""Every config under configs/ parses and builds; the recipe configs (those
reproducing a published result) have the official trainable-parameter
counts and consistent frame counts, and take a training step with a tiny
model swapped in."""
import glob
import os.path as osp

import pytest
import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from tests.helpers import REPO_ROOT, tiny_model_options
from tests.models.backbones.tiny_towers import \
    IMAGE_SIZE as TINY_OPEN_CLIP_SIZE
from tests.models.backbones.tiny_towers import register_open_clip_configs

CONFIGS = sorted(
    osp.relpath(p, REPO_ROOT)
    for p in glob.glob(osp.join(REPO_ROOT, 'configs', '*.py')))

# official dist_net counts (spec section 1.9) less the 36,960 parameters of
# the last layer's never-used integration->temporal projection
EXPECTED_TRAINABLE = {
    'dist_vitb_k400.py': 26_068_224,
    'dist_vitb_f16_k400.py': 26_117_376,
    'dist_vitb_f32_k400.py': 26_215_680,
    'dist_vitl_f32_k400.py': 39_830_784,
    'dist_vitl_f32_k710_k400.py': 39_830_784,
    'dist_vitl_f32_k710_pretrain.py': 39_830_784,
    'dist_vitb_sthv2.py': 18_964_224,
    'dist_vitb_f16_sthv2.py': 19_007_232,
    'dist_vitb_f32_sthv2.py': 19_093_248,
    'dist_vitl_f32_sthv2.py': 32_708_352,
    'dist_vitb_k700.py': 26_068_224,
    'dist_vitb_ucf101.py': 26_068_224,
    'dist_vitb_hmdb51.py': 26_068_224,
    'dist_vitb_k400_zeroshot_ucf101.py': 26_068_224,
    'dist_vitb_k400_zeroshot_hmdb51.py': 26_068_224,
}
RECIPE_CONFIGS = sorted(EXPECTED_TRAINABLE)
# configs on other frozen towers (no paper result): trainable parameters as
# tools/analysis/get_flops.py counts them (side network + linear head)
TOWER_TRAINABLE = {
    'dist_dinov2_vitb14_k400.py': 26_387_728,
    'dist_dinov2_vitb14_sthv2.py': 19_109_934,
    'dist_openclip_vitb16_laion2b_k400.py': 26_273_424,
    'dist_openclip_vitb16_laion2b_sthv2.py': 19_053_486,
}


def load(name: str) -> Config:
    return Config.fromfile(osp.join(REPO_ROOT, name))


def test_every_recipe_config_is_listed():
    leaves = {osp.basename(c) for c in CONFIGS if 'tiny' not in c}
    assert leaves == set(EXPECTED_TRAINABLE) | set(TOWER_TRAINABLE)


@pytest.mark.parametrize('name', CONFIGS)
def test_config_parses_with_plugin_imports(name):
    cfg = load(name)
    assert 'projects.dist' in cfg.custom_imports['imports']
    assert cfg.default_scope == 'mmaction'
    assert osp.basename(name)[:-3].isidentifier()
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader',
                'optim_wrapper', 'train_cfg', 'val_evaluator'):
        assert key in cfg, f'{name} lacks {key}'


@pytest.mark.parametrize('name', CONFIGS)
def test_runtime_base_and_top_level_pipelines(name):
    cfg = load(name)
    # atomic checkpoint writes everywhere (configs/_base_/default_runtime.py)
    assert cfg.default_hooks.checkpoint.type == 'DiSTSafeCheckpointHook'
    # tools (demo.py, misc/check_videos.py) read the top-level pipelines: a
    # leaf that changes a pipeline changes it in its loader too
    for split in ('train', 'val', 'test'):
        ds = cfg[f'{split}_dataloader'].dataset
        for sub in ds.get('datasets', [ds]):
            assert sub.pipeline == cfg[f'{split}_pipeline'], f'{name} {split}'


def build_on_meta(cfg: Config) -> tuple:
    """Build a config's backbone and head on the meta device (no weights
    allocated or loaded); return them and their trainable parameter
    count."""
    with torch.device('meta'):
        backbone = MODELS.build(cfg.model.backbone)
        head = MODELS.build(cfg.model.cls_head)
    trainable = sum(p.numel() for m in (backbone, head)
                    for p in m.parameters() if p.requires_grad)
    return backbone, head, trainable


@pytest.mark.parametrize('name', RECIPE_CONFIGS)
def test_full_size_build_and_official_counts(name):
    cfg = load(osp.join('configs', name))
    backbone, head, trainable = build_on_meta(cfg)
    assert trainable == EXPECTED_TRAINABLE[name]
    assert head.num_classes == len(head.class_names)
    assert cfg.model.data_preprocessor.blending.augments[0].num_classes == \
        head.num_classes
    pre = MODELS.build(cfg.model.data_preprocessor)
    assert pre.format_shape == 'NCTHW'
    frames = backbone.num_frames
    for loader, views in (('train_dataloader', 1), ('val_dataloader', 1),
                          ('test_dataloader', 3)):
        ds = cfg[loader].dataset
        for sub in ds.get('datasets', [ds]):
            samplers = [p for p in sub.pipeline if 'clip_len' in p]
            assert [(p.clip_len, p.num_clips)
                    for p in samplers] == [(frames, views)], f'{name} {loader}'


def tiny_overrides(cfg: Config) -> None:
    """Swap a tiny CLIP/DiST into a full config, keeping its structure."""
    cfg.merge_from_dict(tiny_model_options(num_frames=4))


@pytest.mark.parametrize('name', RECIPE_CONFIGS)
def test_tiny_training_step(name):
    cfg = load(osp.join('configs', name))
    tiny_overrides(cfg)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    k = model.cls_head.num_classes
    inputs = [
        torch.randint(0, 256, (1, 3, 4, 32, 32), dtype=torch.uint8)
        for _ in range(2)
    ]
    samples = [ActionDataSample().set_gt_label(i % k) for i in range(2)]
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), training=True)
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['loss_cls'])
    # the recipe's optimizer (fused AdamW) takes the step
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert all(g['fused'] for g in wrapper.optimizer.param_groups)
    before = model.backbone.temporal_stem.weight.detach().clone()
    wrapper.backward(losses['loss_cls'])
    assert model.backbone.temporal_stem.weight.grad is not None
    wrapper.step()
    assert not torch.equal(model.backbone.temporal_stem.weight, before)


@pytest.mark.parametrize('name', sorted(TOWER_TRAINABLE))
def test_tower_config_build_counts_and_linear_head(name):
    cfg = load(osp.join('configs', name))
    backbone, head, trainable = build_on_meta(cfg)
    assert trainable == TOWER_TRAINABLE[name]
    tower = backbone.spatial_encoder
    assert not any(p.requires_grad for p in tower.parameters())
    # the video embedding has the tower's embed_dim (its joint image-text
    # size, or its width without a text tower), and the linear head takes it
    assert backbone.output_dim == tower.embed_dim == head.in_channels
    if 'model_config' in cfg.model.backbone.spatial_encoder:  # mmpretrain
        assert tower.embed_dim == tower.width
    assert cfg.model.data_preprocessor.blending.augments[0].num_classes == \
        head.num_classes
    # the data preprocessor normalises as the tower expects
    pre = cfg.model.data_preprocessor
    # (configs write the 0-255 values to 7 decimals)
    assert tuple(pre.mean) == pytest.approx(tower.mean, abs=1e-6)
    assert tuple(pre.std) == pytest.approx(tower.std, abs=1e-6)
    assert tower.image_size == cfg.input_size == \
        tower.grid_size[0] * tower.patch_size
    frames = backbone.num_frames
    for loader, views in (('train_dataloader', 1), ('val_dataloader', 1),
                          ('test_dataloader', 3)):
        samplers = [p for p in cfg[loader].dataset.pipeline if 'clip_len' in p]
        assert [(p.clip_len, p.num_clips)
                for p in samplers] == [(frames, views)], f'{name} {loader}'


def tiny_tower_overrides(cfg: Config) -> int:
    """Put a tiny random tower of the config's own family in place of its
    full-size tower; return the frame size."""
    bb = cfg.model.backbone
    tower = bb.spatial_encoder
    if tower.type == 'DiSTMMPretrainViT':  # a tiny ViT of mmpretrain
        tower.backbone.update(
            arch=dict(
                embed_dims=32,
                num_layers=2,
                num_heads=2,
                feedforward_channels=64),
            img_size=28)
        size = 28
    else:  # a tiny GELU open_clip ViT registered as an open_clip model
        register_open_clip_configs()
        tower.model_name = 'DiSTTiny-ViT'
        size = TINY_OPEN_CLIP_SIZE
        bb.spatial_patch_size = None  # the tiny tower's 8 px patches
    tower.pretrained = None
    bb.update(
        num_frames=4,
        integration_dim=16,
        temporal_dim=8,
        ada_heads=2,
        output_dim=None)
    cfg.model.cls_head.in_channels = 32
    return size


@pytest.mark.parametrize('name', sorted(TOWER_TRAINABLE))
def test_tower_config_tiny_training_step(name):
    cfg = load(osp.join('configs', name))
    size = tiny_tower_overrides(cfg)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    k = model.cls_head.num_classes
    inputs = [
        torch.randint(0, 256, (1, 3, 4, size, size), dtype=torch.uint8)
        for _ in range(2)
    ]
    samples = [ActionDataSample().set_gt_label(i % k) for i in range(2)]
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), training=True)
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['loss_cls'])
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    before = model.backbone.temporal_stem.weight.detach().clone()
    wrapper.backward(losses['loss_cls'])
    assert all(p.grad is None
               for p in model.backbone.spatial_encoder.parameters())
    wrapper.step()
    assert not torch.equal(model.backbone.temporal_stem.weight, before)
