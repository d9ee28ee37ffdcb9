"""The README's "DiST inside your own MMAction2 config" snippet works as
written: it loads, builds (CLIP weights aside) and takes a training step
with the recipe's own optimizer settings."""
import os.path as osp
import re

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def readme_snippet(tag: str) -> str:
    """The python block that follows ``<!-- readme-snippet: tag -->``."""
    with open(osp.join(REPO_ROOT, 'README.md'), encoding='utf-8') as f:
        text = f.read()
    m = re.search(
        r'<!-- readme-snippet: ' + re.escape(tag) +
        r' -->\s*```python\n(.*?)```', text, re.S)
    assert m, f'README has no snippet {tag!r}'
    return m.group(1)


def test_own_config_snippet_builds_and_trains(tmp_path):
    path = tmp_path / 'my_dist_config.py'
    path.write_text(readme_snippet('own-config'))
    cfg = Config.fromfile(str(path))
    assert cfg.model.backbone.type == 'DiST'
    assert 't_size' not in cfg.model.backbone  # _delete_ dropped UniFormerV2's
    # no download in tests: the snippet's 'openai' weights are not loaded
    cfg.model.backbone.spatial_encoder.pretrained = None
    cfg.model.cls_head.text_encoder.pretrained = None
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    held = {id(p) for g in wrapper.optimizer.param_groups for p in g['params']}
    assert held == {id(p) for p in model.parameters() if p.requires_grad}
    frames = cfg.model.backbone.num_frames
    data = dict(
        inputs=[torch.randint(0, 256, (1, 3, frames, 224, 224),
                              dtype=torch.uint8)],
        data_samples=[ActionDataSample().set_gt_label(3)])
    before = model.backbone.temporal_stem.weight.detach().clone()
    losses = model.train_step(data, wrapper)
    assert torch.isfinite(losses['loss_cls'])
    assert not torch.equal(before, model.backbone.temporal_stem.weight)
