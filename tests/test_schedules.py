"""configs/_base_/schedules/dist_adamw_cosine_36e.py: LR curve and groups.

The LR is compared with the official DiST/SlowFast policy written out below:
one cosine over all epochs, lr(e) = peak * (1 + cos(pi * e / E)) / 2, whose
first W epochs are replaced by a straight line from the warm-up start LR to
lr(W). The optimizer groups are checked on a module with DiST's parameter
names and on the full-size ViT-B/16 model (built on the meta device).
"""
import copy
import logging
import math
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import PARAM_SCHEDULERS

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SCHEDULE = osp.join(REPO_ROOT, 'configs', '_base_', 'schedules',
                    'dist_adamw_cosine_36e.py')


@pytest.fixture(scope='module')
def cfg() -> Config:
    return Config.fromfile(SCHEDULE)


@pytest.fixture
def quiet_logger():
    """Silence MMEngine's per-parameter optimizer log lines."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


def official_lr(epoch: float, peak: float, start: float, warmup: int,
                total: int) -> float:
    """LR of the official lr_policy at a fractional epoch."""

    def cosine(e):
        return peak * (1 + math.cos(math.pi * e / total)) / 2

    if epoch < warmup:
        return start + (cosine(warmup) - start) * epoch / warmup
    return cosine(epoch)


def simulate(cfg: Config, epoch_length: int) -> list:
    """LR of every iteration under the config's schedulers."""
    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([param], lr=cfg.optim_wrapper.optimizer.lr)
    schedulers = [
        PARAM_SCHEDULERS.build(
            copy.deepcopy(s),
            default_args=dict(optimizer=optimizer, epoch_length=epoch_length))
        for s in cfg.param_scheduler
    ]
    lrs = []
    for _ in range(cfg.train_cfg.max_epochs * epoch_length):
        lrs.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        for s in schedulers:
            s.step()
    return lrs


def test_recipe_values(cfg):
    opt = cfg.optim_wrapper.optimizer
    assert opt.type == 'AdamW' and opt.lr == 3.2e-4
    assert tuple(opt.betas) == (0.9, 0.999) and opt.weight_decay == 1e-4
    assert 'clip_grad' not in cfg.optim_wrapper
    assert cfg.train_cfg.max_epochs == 36 and cfg.warmup_epochs == 6
    assert cfg.train_cfg.val_interval == 4
    assert cfg.auto_scale_lr.base_batch_size == 256
    assert all(s.convert_to_iter_based for s in cfg.param_scheduler)


@pytest.mark.parametrize('epoch_length', [50, 200])
def test_lr_follows_warmup_and_cosine(cfg, epoch_length):
    lrs = simulate(cfg, epoch_length)
    peak, start = cfg.base_lr, cfg.warmup_start_lr
    warm, total = cfg.warmup_epochs, cfg.train_cfg.max_epochs

    def ref(it):
        return official_lr(it / epoch_length, peak, start, warm, total)

    # warm-up starts at the official 8e-7 ...
    assert lrs[0] == pytest.approx(start, rel=1e-9)
    # ... rises monotonically, a little above the straight line, ...
    warm_iters = warm * epoch_length
    assert all(a < b for a, b in zip(lrs[:warm_iters], lrs[1:warm_iters]))
    for it in range(warm_iters):
        assert ref(it) * (1 - 1e-9) <= lrs[it] <= ref(it) + 0.03 * peak
    # ... and from epoch 6 on is exactly the official cosine, down to 0
    for it in range(warm_iters, len(lrs)):
        assert lrs[it] == pytest.approx(ref(it), rel=1e-9, abs=1e-15)
    assert lrs[warm_iters] == pytest.approx(
        peak * (1 + math.cos(math.pi / 6)) / 2, rel=1e-9)
    mid = 21 * epoch_length
    assert lrs[mid] == pytest.approx(
        peak * (1 + math.cos(math.pi * 21 / 36)) / 2, rel=1e-9)
    assert lrs[-1] < 1e-4 * peak


class _FakeCLIP(nn.Module):
    """Frozen stand-in with CLIP's parameter names."""

    def __init__(self) -> None:
        super().__init__()
        self.class_embedding = nn.Parameter(torch.zeros(8))
        self.positional_embedding = nn.Parameter(torch.zeros(5, 8))
        self.conv1 = nn.Conv2d(3, 8, 2, bias=False)
        self.ln_pre = nn.LayerNorm(8)
        self.proj = nn.Parameter(torch.zeros(8, 4))
        self.requires_grad_(False)


class _FakeDiST(nn.Module):
    """Trainable parts named as in projects/dist/models (DiST backbone)."""

    def __init__(self) -> None:
        super().__init__()
        self.spatial_encoder = _FakeCLIP()
        self.temporal_stem = nn.Conv3d(3, 4, (3, 2, 2))  # 144 + 4
        self.to_integration = nn.ModuleList([nn.Module()])
        self.to_integration[0].cls_token = nn.Parameter(
            torch.zeros(1, 1, 2, 6))  # 12
        self.to_integration[0].conv = nn.Conv3d(4, 6, (2, 1, 1))  # 48 + 6
        self.aggregator = nn.Module()
        agg = self.aggregator
        agg.spatial_query = nn.Parameter(torch.zeros(1, 1, 6))  # 6
        agg.video_query = nn.Parameter(torch.zeros(1, 1, 6))  # 6
        agg.cls_proj = nn.Linear(8, 6)  # 48 + 6
        agg.proj = nn.Parameter(torch.zeros(6, 4))  # 24
        agg.ln_post = nn.LayerNorm(6)  # 6 + 6
        agg.layers = nn.ModuleList([nn.Module()])
        layer = agg.layers[0]
        layer.positional_embedding = nn.Parameter(torch.zeros(1, 2, 6))  # 12
        layer.spatial_attn = nn.MultiheadAttention(6, 2)  # 108 + 18, 36 + 6


DECAYED = {
    'temporal_stem.weight', 'to_integration.0.conv.weight',
    'aggregator.cls_proj.weight', 'aggregator.proj',
    'aggregator.layers.0.spatial_attn.in_proj_weight',
    'aggregator.layers.0.spatial_attn.out_proj.weight'
}
NOT_DECAYED = {
    'temporal_stem.bias', 'to_integration.0.cls_token',
    'to_integration.0.conv.bias', 'aggregator.spatial_query',
    'aggregator.video_query', 'aggregator.cls_proj.bias',
    'aggregator.ln_post.weight', 'aggregator.ln_post.bias',
    'aggregator.layers.0.positional_embedding',
    'aggregator.layers.0.spatial_attn.in_proj_bias',
    'aggregator.layers.0.spatial_attn.out_proj.bias'
}


def split_groups(model: nn.Module, cfg: Config) -> tuple:
    """Names of the parameters with / without weight decay."""
    wrapper = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    names = {id(p): n for n, p in model.named_parameters()}
    decayed, not_decayed = set(), set()
    for group in wrapper.optimizer.param_groups:
        target = decayed if group['weight_decay'] > 0 else not_decayed
        if group['weight_decay'] > 0:
            assert group['weight_decay'] == pytest.approx(1e-4)
        target.update(names[id(p)] for p in group['params'])
    return decayed, not_decayed


def test_param_groups_on_dist_names(cfg, quiet_logger):
    model = _FakeDiST()
    decayed, not_decayed = split_groups(model, cfg)
    assert decayed == DECAYED
    assert not_decayed == NOT_DECAYED
    # no frozen (CLIP) parameter is handed to the optimizer
    in_optimizer = decayed | not_decayed
    assert not any(n.startswith('spatial_encoder') for n in in_optimizer)


def test_full_size_vitb16_counts(cfg, quiet_logger):
    # K400 ViT-B/16 8+16: the official trainable tensors less the 36,960
    # never-used ones; decayed = weights of all layers except the tokens
    with torch.device('meta'):
        backbone = MODELS.build(
            dict(
                type='DiST',
                spatial_encoder=dict(
                    type='DiSTCLIPVisual', arch='ViT-B/16', pretrained=None),
                num_frames=16,
                num_ada_layers=4))
    decayed, not_decayed = split_groups(backbone, cfg)
    params = dict(backbone.named_parameters())
    assert sum(params[n].numel() for n in decayed) == 25_927_680
    assert sum(params[n].numel() for n in not_decayed) == 140_544
    trainable = {n for n, p in params.items() if p.requires_grad}
    assert decayed | not_decayed == trainable
    assert not any(n.startswith('spatial_encoder') for n in trainable)


def test_recognizer_optimizer_holds_no_clip_parameter(cfg, quiet_logger,
                                                      tiny_model):
    model = tiny_model
    decayed, not_decayed = split_groups(model, cfg)
    in_optimizer = decayed | not_decayed
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert in_optimizer == trainable
    clip_params = [
        n for n, _ in model.named_parameters()
        if 'spatial_encoder' in n or 'text_encoder' in n
    ]
    assert clip_params and not set(clip_params) & in_optimizer
