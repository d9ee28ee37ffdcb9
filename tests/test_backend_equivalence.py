"""Training and testing configs/dist_tiny_synthetic.py with each decoding
backend gives the same results: the backends decode the same frames, so
the same seeded run trains the same weights and predicts the same scores.

Reduced: 2 training videos per class, one epoch of 3 iterations.
"""
import os.path as osp

import numpy as np
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from projects.dist.datasets.transforms.video_readers import (VIDEO_BACKENDS,
                                                             open_video)

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(REPO_ROOT, 'configs', 'dist_tiny_synthetic.py')


def with_backend(pipeline: list, backend: str) -> list:
    """The pipeline with ``DiSTVideoInit(backend=backend)``."""
    out = []
    for step in pipeline:
        step = dict(step)
        if step['type'] == 'DiSTVideoInit':
            step['backend'] = backend
        out.append(step)
    return out


def tiny_run(root: str, backend: str) -> tuple:
    """Train 3 iterations and test.

    Returns:
        tuple: (state dict, test scores (6, 6), iterations, optimizer
        steps).
    """
    cfg = Config.fromfile(CONFIG)
    weights = osp.join(root, 'data', 'tiny_clip_seed0.pth')
    cfg.model.backbone.spatial_encoder.pretrained = weights
    cfg.model.cls_head.text_encoder.pretrained = weights
    cfg.model.cls_head.class_names = osp.join(REPO_ROOT,
                                              cfg.model.cls_head.class_names)
    for split in ('train', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.update(num_workers=0, persistent_workers=False, batch_size=4)
        dataset = loader.dataset
        dataset.data_root = osp.join(root, 'data')
        dataset.num_per_class = dict(train=2, val=1, test=1)
        dataset.clip_weights.path = weights
        dataset.pipeline = with_backend(dataset.pipeline, backend)
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator'):
        cfg[key] = None
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)
    cfg.param_scheduler = None
    cfg.custom_hooks = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1)
    cfg.work_dir = osp.join(root, f'work_{backend}')
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    runner.train()
    scores = []
    runner.test_evaluator.metrics[0].process = (
        lambda batch, samples: scores.extend(s['pred_score'] for s in samples))
    runner.test_evaluator.metrics[0].compute_metrics = lambda results: {}
    runner.test()
    state = {k: v.clone() for k, v in runner.model.state_dict().items()}
    optimizer = runner.optim_wrapper.optimizer
    steps = max(int(st['step']) for st in optimizer.state.values())
    return state, torch.stack(scores), runner.train_loop.iter, steps


def test_training_and_testing_agree_across_backends(tmp_path):
    runs = {b: tiny_run(str(tmp_path), b) for b in sorted(VIDEO_BACKENDS)}
    (state, scores, iters, steps), *others = runs.values()
    assert iters == 3  # 12 training videos, batch 4
    assert steps == 3  # the optimizer stepped: the side network trained
    assert scores.shape == (6, 6)
    for other_state, other_scores, _, _ in others:
        assert state.keys() == other_state.keys()
        for key in state:
            assert torch.equal(state[key], other_state[key]), key
        assert torch.equal(scores, other_scores)
    # the reason: every frame of the synthetic videos decodes alike
    videos = sorted((tmp_path / 'data').rglob('*.mp4'))
    assert videos
    for path in videos[:6]:
        readers = [open_video(str(path), b) for b in sorted(VIDEO_BACKENDS)]
        counts = {r.num_frames for r in readers}
        assert len(counts) == 1
        indices = np.arange(counts.pop())
        frames = [np.stack(r.get_frames(indices)) for r in readers]
        for other in frames[1:]:
            np.testing.assert_array_equal(frames[0], other)
