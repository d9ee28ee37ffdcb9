# Copyright (c) DiST-MMAction2 contributors. Licensed under Apache-2.0.
"""Test (and evaluate) a checkpoint with MMEngine's Runner.

Same command-line interface as MMAction2 1.2.0's ``tools/test.py``::

    python tools/test.py configs/dist_tiny_synthetic.py work_dirs/x/epoch_1.pth
    bash tools/dist_test.sh configs/dist_tiny_synthetic.py CKPT 2 --dump r.pkl

As in ``tools/train.py``: ``projects.dist`` is imported before the Runner is
built, and without CUDA a distributed launcher uses ``gloo`` and a CPU DDP
wrapper.

Checkpoint loading is safe by default: released, published
(``tools/misc/publish_checkpoint.py``) and converted checkpoints hold plain
tensors and load with ``torch.load(weights_only=True)``. Only a full MMEngine
training checkpoint (``epoch_N.pth``: message hub, numpy scalars) needs the
full unpickler; for such a file the script says so and allows it, as the
file is the user's own training output. Setting
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` explicitly overrides the check.

``--dump`` predictions carry the ``filename`` (or ``frame_dir``) of their
video, as datasets that drop unreadable videos shift every later position.
A mistake in the input ends in one ``tools/test.py: error: ...`` line and
exit code 2 (``--debug`` shows the traceback).
"""
import argparse
import inspect
import logging

from mmengine.config import Config
from mmengine.logging import print_log

import projects.dist  # noqa: F401  -- compat fixes + registration

# projects.dist patches mmaction before its models load:
# isort: split
from mmaction.datasets.transforms import PackActionInputs

from projects.dist.utils import allow_full_unpickling_if_needed
from projects.dist.utils.cli import run_tool
from projects.dist.utils.launch import (apply_launch_args, launch_parser,
                                        parse_launch_args, runner_from_args)

#: Data-info keys that name a sample's video (``VideoDataset``) or frame
#: folder (``RawframeDataset``); ``--dump`` packs them into every
#: prediction.
IDENTITY_KEYS = ('filename', 'frame_dir')


def parse_args(argv: list = None) -> argparse.Namespace:
    """Parse ``argv`` (arguments without the program name; None reads
    ``sys.argv``) with MMAction2 1.2.0's ``tools/test.py`` flags.
    """
    parser = launch_parser(
        description='Test (and evaluate) an MMAction2 recognizer (DiST '
        'plugin)',
        config_help='test config file path',
        work_dir_help='where the evaluation metrics and logs go',
        cfg_options_example='test_dataloader.batch_size=1')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--dump',
        type=str,
        help='dump the predictions to this .pkl file for offline '
        "evaluation; each one names its video ('filename' or 'frame_dir')")
    parser.add_argument(
        '--show-dir', help='directory where visualizations are saved')
    parser.add_argument(
        '--show',
        action='store_true',
        help='display the predictions in a window')
    parser.add_argument(
        '--interval', type=int, default=1, help='visualize every n-th sample')
    parser.add_argument(
        '--wait-time',
        type=float,
        default=2,
        help='how long each window stays open, in seconds')
    return parse_launch_args(parser, argv)


def add_video_identity(dataset_cfg: dict) -> int:
    """Make every ``PackActionInputs`` of a dataset config keep the keys
    that name a sample's video (:data:`IDENTITY_KEYS`) in its metainfo, so
    that dumped predictions say which video they belong to. Datasets that
    drop unreadable videos shift positions; a name does not move.

    Args:
        dataset_cfg (dict): A dataset config, changed in place; wrappers
            (``dataset``/``datasets`` entries) are followed.

    Returns:
        int: How many ``PackActionInputs`` steps were updated.
    """
    if not isinstance(dataset_cfg, dict):
        return 0
    default_keys = inspect.signature(
        PackActionInputs).parameters['meta_keys'].default
    updated = 0
    for step in dataset_cfg.get('pipeline') or []:
        if isinstance(step, dict) and str(step.get(
                'type', '')).split('.')[-1] == 'PackActionInputs':
            keys = tuple(step.get('meta_keys', default_keys))
            step['meta_keys'] = keys + tuple(
                k for k in IDENTITY_KEYS if k not in keys)
            updated += 1
    updated += add_video_identity(dataset_cfg.get('dataset'))
    for inner in dataset_cfg.get('datasets') or []:
        updated += add_video_identity(inner)
    return updated


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Merge ``--show``/``--show-dir`` and ``--dump``, then the launch flags
    (:func:`~projects.dist.utils.launch.apply_launch_args`) and the
    checkpoint to test, into the config.

    Args:
        cfg (Config): The config read from ``args.config``.
        args (argparse.Namespace): Output of :func:`parse_args`.

    Returns:
        Config: The same config, updated.
    """
    if args.show or args.show_dir is not None:
        visualization = cfg.get('default_hooks', {}).get('visualization')
        if visualization is None:
            raise SystemExit(
                'tools/test.py: error: --show/--show-dir need '
                "default_hooks.visualization=dict(type='VisualizationHook') "
                'in the config, which has none.')
        visualization.enable = True
        visualization.show = args.show
        visualization.wait_time = args.wait_time
        visualization.out_dir = args.show_dir
        visualization.interval = args.interval

    if args.dump is not None:
        if not args.dump.endswith(('.pkl', '.pickle')):
            raise SystemExit(
                'tools/test.py: error: --dump must name a .pkl or .pickle '
                f'file, got {args.dump!r}.')
        dump_metric = dict(type='DumpResults', out_file_path=args.dump)
        if not add_video_identity(cfg.test_dataloader.get('dataset')):
            print_log(
                '--dump: the test pipeline has no PackActionInputs step, so '
                'the dumped predictions may not name their videos; match '
                'them by position only if no video was skipped',
                logger='current',
                level=logging.WARNING)
        if isinstance(cfg.test_evaluator, (list, tuple)):
            cfg.test_evaluator = [*cfg.test_evaluator, dump_metric]
        else:
            cfg.test_evaluator = [cfg.test_evaluator, dump_metric]

    apply_launch_args(cfg, args)
    cfg.load_from = args.checkpoint
    return cfg


def main(argv: list = None) -> None:
    """Build the Runner from the config and run the test loop.

    Args:
        argv (list[str], optional): Arguments without the program name.
            Defaults to None, which reads ``sys.argv``.
    """
    args = parse_args(argv)
    allow_full_unpickling_if_needed(args.checkpoint)
    runner_from_args(args, merge_args).test()


if __name__ == '__main__':
    run_tool(main)
