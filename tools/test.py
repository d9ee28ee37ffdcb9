# Copyright (c) DiST-MMAction2 contributors. Licensed under Apache-2.0.
"""Test (and evaluate) a checkpoint with MMEngine's Runner.

Same command-line interface as MMAction2 1.2.0's ``tools/test.py``::

    python tools/test.py configs/dist_tiny_synthetic.py work_dirs/x/epoch_1.pth
    bash tools/dist_test.sh configs/dist_tiny_synthetic.py CKPT 2 --dump r.pkl

As in ``tools/train.py``: the repository root goes on ``sys.path``,
``projects.dist`` is imported before the Runner is built, and without CUDA a
distributed launcher uses ``gloo`` and a CPU DDP wrapper.

Checkpoint loading is safe by default: released, published
(``tools/misc/publish_checkpoint.py``) and converted checkpoints hold plain
tensors and load with ``torch.load(weights_only=True)``. Only a full MMEngine
training checkpoint (``epoch_N.pth``: message hub, numpy scalars) needs the
full unpickler; for such a file the script says so and allows it, as the
file is the user's own training output. Setting
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` explicitly overrides the check.
"""
import argparse
import os
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import projects.dist  # noqa: E402,F401  -- compat fixes + registration
from projects.dist.utils.launch import use_cpu_distributed  # noqa: E402,E501
from projects.dist.utils import \
    allow_full_unpickling_if_needed  # noqa: E402
from mmaction.registry import RUNNERS  # noqa: E402


def parse_args(argv: list = None) -> argparse.Namespace:
    """Parse the command line (MMAction2 1.2.0's ``tools/test.py`` flags).

    Args:
        argv (list[str], optional): Arguments without the program name.
            Defaults to None, which reads ``sys.argv``.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) an MMAction2 recognizer (DiST plugin)'
    )
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir', help='where the evaluation metrics and logs go')
    parser.add_argument(
        '--dump',
        type=str,
        help='dump the predictions to this .pkl file for offline evaluation')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, as key=value pairs merged into the '
        'config, e.g. test_dataloader.batch_size=1 or key="[a,b]"; quote '
        'lists and tuples, and use no white space')
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
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Merge the command-line arguments into the config.

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
        if isinstance(cfg.test_evaluator, (list, tuple)):
            cfg.test_evaluator = [*cfg.test_evaluator, dump_metric]
        else:
            cfg.test_evaluator = [cfg.test_evaluator, dump_metric]

    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    # work_dir priority: command line > config > config file name.
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    cfg.load_from = args.checkpoint

    if cfg.launcher != 'none' and not torch.cuda.is_available():
        use_cpu_distributed(cfg)
    return cfg


def main(argv: list = None) -> None:
    """Build the Runner from the config and run the test loop.

    Args:
        argv (list[str], optional): Arguments without the program name.
            Defaults to None, which reads ``sys.argv``.
    """
    args = parse_args(argv)
    allow_full_unpickling_if_needed(args.checkpoint)
    cfg = Config.fromfile(args.config)
    cfg = merge_args(cfg, args)

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    runner.test()


if __name__ == '__main__':
    main()
