"""The README's "DiST inside your own MMAction2 config" snippet works as
written: it loads, builds (CLIP weights aside), takes a training step with
the optimizer it states, and trains through its recipe's own data pipeline
with the MMEngine Runner."""
import os.path as osp
import re

import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.runner import Runner

from tests.helpers import REPO_ROOT, tiny_clip_arch
from tests.video_utils import write_video_list

# the tiny CLIP towers on the recipe's 224 px crops (7 x 7 patches)
TINY_CLIP_224 = tiny_clip_arch(image_size=224, patch_size=32)


def readme_snippet(tag: str) -> str:
    """The python block that follows ``<!-- readme-snippet: tag -->``."""
    with open(osp.join(REPO_ROOT, 'README.md'), encoding='utf-8') as f:
        text = f.read()
    m = re.search(
        r'<!-- readme-snippet: ' + re.escape(tag) +
        r' -->\s*```python\n(.*?)```', text, re.S)
    assert m, f'README has no snippet {tag!r}'
    return m.group(1)


def snippet_config(tmp_path) -> Config:
    """The README snippet as a config file, loaded."""
    path = tmp_path / 'my_dist_config.py'
    path.write_text(readme_snippet('own-config'))
    return Config.fromfile(str(path))


def stated_lr() -> float:
    """The learning rate the snippet writes out (``lr=...``)."""
    found = re.findall(r'\blr=([0-9.e-]+)', readme_snippet('own-config'))
    assert len(found) == 1, found  # stated once, explicitly
    return float(found[0])


def test_own_config_snippet_builds_and_trains(tmp_path):
    cfg = snippet_config(tmp_path)
    assert cfg.model.backbone.type == 'DiST'
    # _delete_ dropped TimeSformer's backbone keywords
    assert 'attention_type' not in cfg.model.backbone
    # the recipe's optimizer is replaced, not merged into
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.optim_wrapper.optimizer.lr == stated_lr()
    assert 'momentum' not in cfg.optim_wrapper.optimizer
    assert 'clip_grad' not in cfg.optim_wrapper
    # no download in tests: the snippet's 'openai' weights are not loaded
    cfg.model.backbone.spatial_encoder.pretrained = None
    cfg.model.cls_head.text_encoder.pretrained = None
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    held = {id(p) for g in wrapper.optimizer.param_groups for p in g['params']}
    assert held == {id(p) for p in model.parameters() if p.requires_grad}
    assert {g['lr'] for g in wrapper.optimizer.param_groups} == {stated_lr()}
    frames = cfg.model.backbone.num_frames
    data = dict(
        inputs=[
            torch.randint(0, 256, (1, 3, frames, 224, 224), dtype=torch.uint8)
        ],
        data_samples=[ActionDataSample().set_gt_label(3)])
    before = model.backbone.temporal_stem.weight.detach().clone()
    losses = model.train_step(data, wrapper)
    assert torch.isfinite(losses['loss_cls'])
    assert not torch.equal(before, model.backbone.temporal_stem.weight)


def test_own_config_snippet_trains_with_the_recipe_pipeline(tmp_path):
    """The snippet's config, as ``tools/train.py`` would run it, on two tiny
    videos: the recipe's decord pipeline, the stated optimizer, one step.
    Only the CLIP towers are shrunk (no weights are downloaded here)."""
    cfg = snippet_config(tmp_path)
    for tower in (cfg.model.backbone.spatial_encoder,
                  cfg.model.cls_head.text_encoder):
        tower.arch = dict(TINY_CLIP_224)
        tower.pretrained = None
    cfg.model.cls_head.in_channels = TINY_CLIP_224['embed_dim']
    ann = write_video_list(
        str(tmp_path / 'videos'), 2, 400, num_frames=12, size=(40, 32))
    cfg.train_dataloader.update(
        batch_size=2, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.update(
        ann_file=ann, data_prefix=dict(video=str(tmp_path / 'videos')))
    pipeline = [t.type for t in cfg.train_dataloader.dataset.pipeline]
    assert pipeline[:3] == ['DecordInit', 'SampleFrames', 'DecordDecode']
    cfg.train_cfg.max_epochs = 1
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator',
                'test_dataloader', 'test_cfg', 'test_evaluator'):
        cfg[key] = None
    cfg.work_dir = str(tmp_path / 'work')
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1)
    cfg.log_level = 'WARNING'

    runner = Runner.from_cfg(cfg)
    model = runner.model
    torch.manual_seed(0)
    trainable = {
        n: p.detach().clone()
        for n, p in model.named_parameters() if p.requires_grad
    }
    frozen = model.backbone.spatial_encoder.state_dict()
    frozen = {k: v.clone() for k, v in frozen.items()}
    runner.train()

    assert runner.iter == 1
    optimizer = runner.optim_wrapper.optimizer
    assert isinstance(optimizer, torch.optim.AdamW)
    assert {g['lr'] for g in optimizer.param_groups} == {stated_lr()}
    params = dict(model.named_parameters())
    changed = [
        n for n, v in trainable.items() if not torch.equal(v, params[n])
    ]
    assert 'backbone.temporal_stem.weight' in changed
    after = model.backbone.spatial_encoder.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in frozen.items())
