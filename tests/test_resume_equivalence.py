"""Kill-and-resume equals an uninterrupted run (tiny DiST, CPU).

Run A trains 3 epochs. Run B trains 1 epoch (its process "dies" after the
epoch-1 checkpoint), then a new Runner resumes it (``resume=True``, as
``tools/train.py --resume`` does) and trains to epoch 3. Weights, optimizer
state, LR and the order of the training samples of epochs 2-3 must match.

The runs use the shipped recipes' settings, read from the config files:

* the data loader of ``configs/dist_tiny_synthetic.py`` (the built-in default):
  ``DiSTSeededSampler``, ``num_workers=1``, ``persistent_workers=True``;
* the random augmentation of the Kinetics recipe
  (``configs/_base_/datasets/kinetics400_dist.py``: random frame offsets,
  ``RandomResizedCrop``, ``Flip``, ``RandomGrayscale``), only scaled to the
  tiny model's 8 frames of 32 px, and its Mixup/CutMix batch blending in
  the data preprocessor, with ``DiSTIterationSeedHook``;
* fused AdamW with merged parameter groups, gradient clipping, linear
  warm-up and an iteration-based cosine schedule.

What makes a resumed run exact (see docs/reliability.md, "Exact resume"):

* the sampler shuffles with ``seed + epoch``;
* LR schedule and AdamW state are in the checkpoint;
* random augmentation: MMEngine does NOT save RNG states, and persistent
  workers carry their RNG streams across epochs. ``DiSTSeededSampler``
  hands each index to the dataset with ``(seed, epoch)``, and the DiST
  datasets seed python/numpy/torch RNGs from ``(seed, epoch, index)`` for
  that sample. The stock ``DefaultSampler`` with persistent workers is
  shown here NOT to be exact (the check can fail);
* random operations in the training process (Mixup/CutMix): MMEngine
  seeds its RNGs once per process; ``DiSTIterationSeedHook`` re-seeds them
  from ``(seed, iteration)`` before every step.

``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` is needed for resume: torch >= 2.6
loads with ``weights_only=True`` by default, which cannot unpickle a full
MMEngine checkpoint (message hub, optimizer and scheduler states).
"""
import copy
import glob
import os
import os.path as osp

import pytest
import torch
from mmaction.registry import DATASETS
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from projects.dist.datasets.seeded_augmentation import SeededAugmentationMixin
from tests.video_utils import write_video_list

REPO_ROOT = osp.dirname(osp.abspath(__file__)).rsplit(os.sep, 1)[0]
TINY_MODEL = osp.join(REPO_ROOT, 'configs', '_base_', 'models', 'dist_tiny.py')
#: the shipped config whose train_dataloader settings the runs use
RECIPE = osp.join(REPO_ROOT, 'configs', 'dist_tiny_synthetic.py')
#: the shipped dataset config whose train augmentation the runs use
RECIPE_AUGMENTATION = osp.join(REPO_ROOT, 'configs', '_base_', 'datasets',
                               'kinetics400_dist.py')
CLASS_NAMES = ['moving left', 'moving right', 'growing', 'shrinking']
MAX_EPOCHS = 3
KILLED_AFTER = 1


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


def recipe_loader() -> dict:
    """``train_dataloader`` settings of :data:`RECIPE` (not its dataset).

    Returns:
        dict: ``num_workers``, ``persistent_workers`` and ``sampler``.
    """
    loader = Config.fromfile(RECIPE).train_dataloader
    return dict(
        num_workers=loader.num_workers,
        persistent_workers=loader.persistent_workers,
        sampler=loader.sampler.to_dict())


def recipe_pipeline() -> list:
    """The Kinetics recipe's train pipeline, for 8 frames of 32 px.

    Returns:
        list[dict]: Transform configs (random frame offsets, random
        resized crop, flip and grayscale, as shipped).
    """
    pipeline = copy.deepcopy(
        Config.fromfile(RECIPE_AUGMENTATION).to_dict()['train_pipeline'])
    types = [t['type'] for t in pipeline]
    assert {
        'UniformSample', 'RandomResizedCrop', 'Flip', 'TorchVisionWrapper'
    } <= set(types), types
    for t in pipeline:
        if t['type'] == 'UniformSample':
            t['clip_len'] = 8
        elif t['type'] == 'Resize':
            t['scale'] = (32, 32)
        elif t['type'] == 'PackActionInputs':
            t['meta_keys'] = ('img_shape', 'filename')
    return pipeline


def recipe_blending() -> dict:
    """The Kinetics recipe's Mixup/CutMix batch blending, for 4 classes.

    Returns:
        dict: ``RandomBatchAugment`` config for the data preprocessor.
    """
    blending = Config.fromfile(RECIPE_AUGMENTATION).to_dict()['blending']
    for augment in blending['augments']:
        augment['num_classes'] = len(CLASS_NAMES)
    return blending


def make_runner(work_dir: str,
                ann: str,
                max_epochs: int,
                loader: dict,
                resume: bool = False) -> tuple:
    """The deterministic tiny recipe; returns (runner, order recorder).

    Args:
        work_dir (str): Work dir of the run.
        ann (str): Annotation list of the training videos.
        max_epochs (int): Epoch at which the loop stops.
        loader (dict): ``num_workers``, ``persistent_workers`` and
            ``sampler`` of the training data loader.
        resume (bool): Resume from ``work_dir``. Defaults to False.
    """
    cfg = Config.fromfile(TINY_MODEL)
    cfg.model.cls_head.num_classes = len(CLASS_NAMES)
    cfg.model.cls_head.class_names = list(CLASS_NAMES)
    cfg.model.data_preprocessor.blending = recipe_blending()
    cfg.merge_from_dict(
        dict(
            default_scope='mmaction',
            work_dir=work_dir,
            resume=resume,
            train_dataloader=dict(
                batch_size=4,
                **copy.deepcopy(loader),
                dataset=dict(
                    type='DiSTRobustVideoDataset',
                    ann_file=ann,
                    data_prefix=dict(video=osp.dirname(ann)),
                    pipeline=recipe_pipeline())),
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
            # seeds the training process's RNGs (Mixup/CutMix) per step
            custom_hooks=[dict(type='DiSTIterationSeedHook')],
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


def kill_and_resume(root: str, loader: dict) -> dict:
    """Train uninterrupted and killed-then-resumed; compare.

    Args:
        root (str): Folder for the videos and both work dirs.
        loader (dict): Training data loader settings, see
            :func:`make_runner`.

    Returns:
        dict: ``full`` and ``resumed`` runners, their recorders
        (``full_order``, ``resumed_order``), ``weight_diff``, ``opt_diff``
        (max |difference| of weights / optimizer state) and ``moved``
        (max |change| of the weights by training).
    """
    ann = write_videos(osp.join(root, 'videos'))

    full, full_order = make_runner(
        osp.join(root, 'a'), ann, MAX_EPOCHS, loader)
    full.train()

    first, _ = make_runner(osp.join(root, 'b'), ann, KILLED_AFTER, loader)
    first.train()
    del first  # the "killed" process: only its work dir survives
    resumed, resumed_order = make_runner(
        osp.join(root, 'b'), ann, MAX_EPOCHS, loader, resume=True)
    resumed.train()

    return dict(
        full=full,
        resumed=resumed,
        full_order=full_order,
        resumed_order=resumed_order,
        # optimizer state (AdamW moments, step counts)
        opt_diff=max_abs_diff(
            full.optim_wrapper.optimizer.state_dict()['state'],
            resumed.optim_wrapper.optimizer.state_dict()['state']),
        weight_diff=max_abs_diff(full.model.state_dict(),
                                 resumed.model.state_dict()),
        moved=max_abs_diff(full.model.state_dict(), full_order.initial))


def assert_same_schedule_and_order(run: dict) -> None:
    """Same iterations, data order after the kill, and LR."""
    full, resumed = run['full'], run['resumed']
    assert resumed.epoch == MAX_EPOCHS and resumed.iter == full.iter == 6
    # data order of the epochs after the interruption
    assert run['resumed_order'].batches == [
        b for b in run['full_order'].batches if b[0] >= KILLED_AFTER
    ]
    # LR schedule
    assert resumed.optim_wrapper.get_lr() == full.optim_wrapper.get_lr()
    assert run['moved'] > 1e-3, 'training did not change the weights'


def test_recipe_loader_settings_are_the_shipped_ones():
    # what the other tests run: persistent workers, the seeded sampler
    loader = recipe_loader()
    assert loader['persistent_workers'] is True
    assert loader['num_workers'] >= 1
    assert loader['sampler']['type'] == 'DiSTSeededSampler'


@pytest.mark.parametrize(
    'num_workers', [None, 0], ids=['recipe_workers', 'num_workers0'])
def test_kill_and_resume_equals_uninterrupted(tmp_path, monkeypatch,
                                              num_workers):
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    loader = recipe_loader()
    if num_workers is not None:
        # the main process runs the pipeline; persistent needs workers
        loader.update(num_workers=num_workers, persistent_workers=False)
    run = kill_and_resume(str(tmp_path), loader)

    assert_same_schedule_and_order(run)
    print(f'resume vs uninterrupted ({loader}): max |dweight| '
          f'{run["weight_diff"]:.3e}, max |doptimizer state| '
          f'{run["opt_diff"]:.3e}')
    assert run['weight_diff'] == 0.0
    assert run['opt_diff'] == 0.0


def test_stock_sampler_with_persistent_workers_is_not_exact(
        tmp_path, monkeypatch):
    # the recipe's loader with MMEngine's DefaultSampler: the persistent
    # workers' RNG streams run on in the uninterrupted run but restart in
    # the resumed one, so epochs 2-3 are augmented differently
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    loader = recipe_loader()
    assert loader['persistent_workers'] and loader['num_workers'] >= 1
    loader['sampler']['type'] = 'DefaultSampler'
    run = kill_and_resume(str(tmp_path), loader)

    assert_same_schedule_and_order(run)
    print(f'stock DefaultSampler: max |dweight| {run["weight_diff"]:.3e}')
    assert run['weight_diff'] > 1e-5


def test_every_shipped_config_trains_with_seeded_augmentation():
    # every shipped config: the seeded sampler, and datasets (also inside
    # a ConcatDataset) that seed their augmentation from what it yields
    configs = sorted(glob.glob(osp.join(REPO_ROOT, 'configs', '*.py')))
    assert len(configs) >= 2
    for path in configs:
        loader = Config.fromfile(path).train_dataloader
        assert loader.sampler.type == 'DiSTSeededSampler', path
        dataset = loader.dataset
        leaves = (
            dataset.datasets if dataset.type == 'ConcatDataset' else [dataset])
        for leaf in leaves:
            assert issubclass(
                DATASETS.get(leaf.type),
                SeededAugmentationMixin), (path, leaf.type)
        # batch blending (Mixup/CutMix) draws in the training process: it
        # is exact on resume only with the per-iteration seed hook
        cfg = Config.fromfile(path)
        if cfg.model.data_preprocessor.get('blending'):
            hooks = [h['type'] for h in cfg.get('custom_hooks', [])]
            assert 'DiSTIterationSeedHook' in hooks, path
