# Copyright (c) DiST-MMAction2 contributors. Licensed under Apache-2.0.
"""Train a recognizer with MMEngine's Runner.

Same command-line interface as MMAction2 1.2.0's ``tools/train.py``, so
``mim train mmaction`` habits carry over::

    python tools/train.py configs/dist_tiny_synthetic.py --work-dir work_dirs/x
    bash tools/dist_train.sh configs/dist_tiny_synthetic.py 2

Differences, all for running the pinned stack (see docs/install.md):

* ``projects.dist`` (installed by ``tools/install.sh`` or
  ``pip install -e .``) is imported before the Runner is built (compat
  fixes + registration);
* ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` is set unless the user set it, so
  ``--resume`` and ``load_from`` can read MMEngine checkpoints with torch>=2.6;
* on a machine without CUDA, a distributed launcher uses the ``gloo``
  backend and a CPU ``MMDistributedDataParallel`` (``device_ids=None``);
* ``--amp`` without an accelerator stops with a clear error instead of
  MMEngine's assertion deep inside the Runner;
* a mistake in the input ends in one ``tools/train.py: error: ...`` line
  and exit code 2 (``--debug`` shows the traceback), and
  ``train_cfg.max_epochs=0`` is refused before anything is built;
* with ``DiSTSafeCheckpointHook`` (every shipped config) a second training
  into a live work dir, and a ``--resume`` with no epoch left to train, are
  refused (see ``projects/dist/utils/work_dir.py``).
"""
import argparse
import os

import mmengine.device as mm_device
from mmengine.config import Config

import projects.dist  # noqa: F401  -- compat fixes + registration
from projects.dist.utils.cli import run_tool
from projects.dist.utils.launch import (apply_launch_args, launch_parser,
                                        parse_launch_args, runner_from_args)
from projects.dist.utils.work_dir import check_train_schedule

# torch>=2.6 defaults torch.load(weights_only=True), which cannot unpickle
# MMEngine checkpoints (message hub, numpy scalars). The checkpoints this
# script resumes from are the user's own, so the full unpickler is trusted
# here. torch reads the variable at every torch.load call; an explicit user
# setting wins.
os.environ.setdefault('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')


def parse_args(argv: list = None) -> argparse.Namespace:
    """Parse ``argv`` (arguments without the program name; None reads
    ``sys.argv``) with MMAction2 1.2.0's ``tools/train.py`` flags.
    """
    parser = launch_parser(
        description='Train an MMAction2 recognizer (DiST plugin)',
        config_help='train config file path',
        work_dir_help='where logs and checkpoints go; one live training '
        'per work dir',
        cfg_options_example='train_cfg.max_epochs=1')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint; without a path, resume from the '
        'latest checkpoint in the work directory')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='automatic mixed precision (needs a GPU, NPU, MLU or MUSA)')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='do not evaluate checkpoints during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the actual total batch size '
        'relative to auto_scale_lr.base_batch_size')
    parser.add_argument('--seed', type=int, default=None, help='random seed')
    parser.add_argument(
        '--diff-rank-seed',
        action='store_true',
        help='use a different seed on every rank')
    parser.add_argument(
        '--deterministic',
        action='store_true',
        help='set deterministic options for the CUDNN backend')
    return parse_launch_args(parser, argv)


def has_amp_device() -> bool:
    """Whether ``AmpOptimWrapper`` can run here (GPU, NPU, MLU or MUSA).

    Returns:
        bool: True if MMEngine's AMP optimizer wrapper supports this machine.
    """
    return (mm_device.is_cuda_available() or mm_device.is_npu_available()
            or mm_device.is_mlu_available() or mm_device.is_musa_available())


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Merge the training flags (``--no-validate``, ``--amp``, ``--resume``,
    ``--auto-scale-lr``, the seed flags), then the launch flags
    (:func:`~projects.dist.utils.launch.apply_launch_args`), into the config.

    Args:
        cfg (Config): The config read from ``args.config``.
        args (argparse.Namespace): Output of :func:`parse_args`.

    Returns:
        Config: The same config, updated.
    """
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    if args.amp:
        if not has_amp_device():
            raise SystemExit(
                'tools/train.py: error: --amp needs a GPU (or NPU/MLU/MUSA), '
                'but torch.cuda.is_available() is False on this machine; '
                'drop --amp to train in fp32 on the CPU.')
        wrapper_type = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper_type not in ('OptimWrapper', 'AmpOptimWrapper'):
            raise SystemExit(
                'tools/train.py: error: --amp works with optim_wrapper.type '
                f"'OptimWrapper' or 'AmpOptimWrapper', got {wrapper_type!r}.")
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise SystemExit(
                'tools/train.py: error: --auto-scale-lr needs '
                '`auto_scale_lr = dict(enable=False, base_batch_size=...)` '
                'in the config, which has none.')
        cfg.auto_scale_lr.enable = True

    if cfg.get('randomness', None) is None:
        cfg.randomness = dict(
            seed=args.seed,
            diff_rank_seed=args.diff_rank_seed,
            deterministic=args.deterministic)

    apply_launch_args(cfg, args)
    check_train_schedule(cfg.get('train_cfg'))
    return cfg


def main(argv: list = None) -> None:
    """Build the Runner from the config and train.

    Args:
        argv (list[str], optional): Arguments without the program name.
            Defaults to None, which reads ``sys.argv``.
    """
    runner_from_args(parse_args(argv), merge_args).train()


if __name__ == '__main__':
    run_tool(main)
