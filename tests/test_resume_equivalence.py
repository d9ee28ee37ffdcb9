"""Kill-and-resume equals an uninterrupted run (tiny DiST, CPU).

Run A trains 3 epochs. Run B trains 1 epoch (its process "dies" after the
epoch-1 checkpoint), then a new Runner resumes it (``resume=True``, as
``tools/train.py --resume`` does) and trains to epoch 3. Weights, optimizer
state, LR and the order of the training samples of epochs 2-3 must match.

What makes a resumed run exact (see docs/reliability.md):

* the sampler: ``DefaultSampler`` shuffles with ``seed + epoch``;
* LR warm-up + cosine (iteration-based) and AdamW state are in the
  checkpoint (fused AdamW with merged parameter groups, as in the recipes);
* random data augmentation: MMEngine does NOT save RNG states. With
  ``num_workers >= 1`` and ``persistent_workers=False`` every epoch's
  workers are re-seeded from the config seed, so epoch e draws the same
  random numbers whether or not the run was resumed. With
  ``num_workers=0`` (main-process RNG) or persistent workers (RNG streams
  carried across epochs) a resumed run draws different random frame
  offsets; measured max |dweight| then ~6e-3 on this config.

``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` is needed for resume: torch >= 2.6
loads with ``weights_only=True`` by default, which cannot unpickle a full
MMEngine checkpoint (message hub, optimizer and scheduler states).
"""
import os
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from tests.video_utils import write_video_list

REPO_ROOT = osp.dirname(osp.abspath(__file__)).rsplit(os.sep, 1)[0]
TINY_MODEL = osp.join(REPO_ROOT, 'configs', '_base_', 'models', 'dist_tiny.py')
CLASS_NAMES = ['moving left', 'moving right', 'growing', 'shrinking']
MAX_EPOCHS = 3
KILLED_AFTER = 1
TOLERANCE = 1e-6


class RecordOrder(Hook):
    """Record the initial weights and (epoch, file names) of every batch."""

    def __init__(self) -> None:
        self.batches = []
        self.initial = None

    def before_train(self, runner) -> None:
        """Keep a copy of the weights training starts from."""
        self.initial = {
            k: v.detach().clone()
            for k, v in runner.model.state_dict().items()
        }

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        """Remember which files the batch holds."""
        names = [osp.basename(s.filename) for s in data_batch['data_samples']]
        self.batches.append((runner.epoch, names))


def write_videos(root: str, num: int = 8) -> str:
    """Write ``num`` tiny random clips (12 frames) and their list."""
    return write_video_list(root, num, len(CLASS_NAMES), 'train.txt')


def make_runner(work_dir: str,
                ann: str,
                max_epochs: int,
                resume: bool = False) -> tuple:
    """The deterministic tiny recipe; returns (runner, order recorder)."""
    cfg = Config.fromfile(TINY_MODEL)
    cfg.model.cls_head.num_classes = len(CLASS_NAMES)
    cfg.model.cls_head.class_names = list(CLASS_NAMES)
    pipeline = [
        dict(type='DecordInit'),
        # random frame offsets: data augmentation that must replay exactly
        dict(type='UniformSample', clip_len=8, num_clips=1),
        dict(type='DecordDecode'),
        dict(type='Resize', scale=(32, 32), keep_ratio=False),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs', meta_keys=('img_shape', 'filename'))
    ]
    cfg.merge_from_dict(
        dict(
            default_scope='mmaction',
            work_dir=work_dir,
            resume=resume,
            train_dataloader=dict(
                batch_size=4,
                num_workers=1,
                persistent_workers=False,
                sampler=dict(type='DefaultSampler', shuffle=True),
                dataset=dict(
                    type='DiSTRobustVideoDataset',
                    ann_file=ann,
                    data_prefix=dict(video=osp.dirname(ann)),
                    pipeline=pipeline)),
            train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=MAX_EPOCHS),
            # the recipes' optimizer: fused AdamW, merged parameter groups
            optim_wrapper=dict(
                constructor='DiSTOptimWrapperConstructor',
                optimizer=dict(
                    type='AdamW', lr=1e-3, weight_decay=0.05, fused=True),
                paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
                clip_grad=dict(max_norm=1.0)),
            param_scheduler=[
                dict(
                    type='LinearLR',
                    start_factor=0.1,
                    by_epoch=True,
                    begin=0,
                    end=1,
                    convert_to_iter_based=True),
                dict(
                    type='CosineAnnealingLR',
                    T_max=MAX_EPOCHS - 1,
                    eta_min=1e-5,
                    by_epoch=True,
                    begin=1,
                    end=MAX_EPOCHS,
                    convert_to_iter_based=True)
            ],
            default_hooks=dict(
                checkpoint=dict(type='DiSTSafeCheckpointHook', interval=1),
                logger=dict(type='LoggerHook', interval=100)),
            randomness=dict(seed=0),
            env_cfg=dict(dist_cfg=dict(backend='gloo')),
            log_level='WARNING'))
    # the scheduler spans MAX_EPOCHS; only the loop stops early
    cfg.train_cfg.max_epochs = max_epochs
    cfg.experiment_name = f'{osp.basename(work_dir)}_{max_epochs}_{resume}'
    runner = Runner.from_cfg(cfg)
    recorder = RecordOrder()
    runner.register_hook(recorder)
    return runner, recorder


def max_abs_diff(a: dict, b: dict) -> float:
    """Largest |a - b| over the tensors of two (nested) state dicts."""
    assert a.keys() == b.keys()
    worst = 0.0
    for k in a:
        if isinstance(a[k], dict):
            worst = max(worst, max_abs_diff(a[k], b[k]))
        elif isinstance(a[k], torch.Tensor):
            worst = max(worst,
                        (a[k].double() - b[k].double()).abs().max().item())
        else:
            assert a[k] == b[k], k
    return worst


def test_kill_and_resume_equals_uninterrupted(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    ann = write_videos(str(tmp_path / 'videos'))

    full, full_order = make_runner(str(tmp_path / 'a'), ann, MAX_EPOCHS)
    full.train()

    first, _ = make_runner(str(tmp_path / 'b'), ann, KILLED_AFTER)
    first.train()
    del first  # the "killed" process: only its work dir survives
    resumed, resumed_order = make_runner(
        str(tmp_path / 'b'), ann, MAX_EPOCHS, resume=True)
    resumed.train()

    assert resumed.epoch == MAX_EPOCHS and resumed.iter == full.iter == 6
    # data order of the epochs after the interruption
    assert resumed_order.batches == [
        b for b in full_order.batches if b[0] >= KILLED_AFTER
    ]
    # LR schedule
    assert resumed.optim_wrapper.get_lr() == full.optim_wrapper.get_lr()
    # optimizer state (AdamW moments, step counts)
    opt_diff = max_abs_diff(
        full.optim_wrapper.optimizer.state_dict()['state'],
        resumed.optim_wrapper.optimizer.state_dict()['state'])
    # weights
    weight_diff = max_abs_diff(full.model.state_dict(),
                               resumed.model.state_dict())
    print(f'resume vs uninterrupted: max |dweight| {weight_diff:.3e}, '
          f'max |doptimizer state| {opt_diff:.3e}')
    moved = max_abs_diff(full.model.state_dict(), full_order.initial)
    assert moved > 1e-3, 'training did not change the weights'
    assert weight_diff <= TOLERANCE
    assert opt_diff <= TOLERANCE
