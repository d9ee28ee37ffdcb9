"""What ``tools/train.py`` and ``tools/test.py`` share: the launcher and
work-dir arguments, the work-dir choice, running MMEngine's distributed
launchers on machines without CUDA, and building the Runner."""
import argparse
import logging
import os
import os.path as osp
from typing import Callable, List, Optional

import torch
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log
from mmengine.runner import Runner

from .cli import DEBUG_ENV, DEBUG_FLAG, DictAction

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


def launch_parser(description: str, config_help: str, work_dir_help: str,
                  cfg_options_example: str) -> argparse.ArgumentParser:
    """A tool's parser with the config file as first positional argument
    and ``--work-dir``, ``--cfg-options``, ``--launcher`` and
    ``--local-rank`` (MMAction2 1.2.0's flags).

    Args:
        description (str): What the tool does.
        config_help (str): Help text of the config argument.
        work_dir_help (str): Help text of ``--work-dir``.
        cfg_options_example (str): A ``key=value`` example for the help of
            ``--cfg-options``.

    Returns:
        argparse.ArgumentParser: The parser; the tool adds its own flags.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('config', help=config_help)
    parser.add_argument('--work-dir', help=work_dir_help)
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, as key=value pairs merged into the '
        f'config, e.g. {cfg_options_example} or key="[a,b]"; quote lists, '
        'tuples and values with spaces')
    parser.add_argument(
        '--launcher',
        choices=list(LAUNCHERS),
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.epilog = (
        f'A mistake in the input (a missing file, a bad config value) is '
        f'reported in one line; add {DEBUG_FLAG} (or set {DEBUG_ENV}=1) to '
        'see its traceback.')
    return parser


def parse_launch_args(parser: argparse.ArgumentParser,
                      argv: Optional[List[str]]) -> argparse.Namespace:
    """Parse a tool's command line and export ``LOCAL_RANK``.

    Args:
        parser (argparse.ArgumentParser): The tool's parser, made by
            :func:`launch_parser`.
        argv (list[str], optional): Arguments without the program name;
            None reads ``sys.argv``.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    args = parser.parse_args(argv)
    export_local_rank(args)
    return args


def apply_launch_args(cfg: Config, args: argparse.Namespace) -> None:
    """Merge the arguments of :func:`launch_parser` into a config.

    In this order: ``cfg.launcher``, the ``--cfg-options`` entries, the
    work dir (:func:`choose_work_dir`), then the launcher's adaptation to a
    machine without CUDA (:func:`adapt_launcher`). Tools apply their own
    flags before, so that ``--cfg-options`` can still override them.

    Args:
        cfg (Config): The config, changed in place.
        args (argparse.Namespace): Parsed arguments with ``launcher``,
            ``cfg_options``, ``work_dir`` and ``config``.
    """
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    choose_work_dir(cfg, args.work_dir, args.config)
    adapt_launcher(cfg)


def export_local_rank(args: argparse.Namespace) -> None:
    """Set ``LOCAL_RANK`` from ``--local-rank`` unless a launcher set it.

    Args:
        args (argparse.Namespace): Parsed arguments with ``local_rank``.
    """
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)


def choose_work_dir(cfg: Config, work_dir: str, config_path: str) -> None:
    """Set ``cfg.work_dir``: command line > config > config file name.

    Args:
        cfg (Config): The config, changed in place.
        work_dir (str | None): ``--work-dir``.
        config_path (str): The config file; without the two others, the work
            dir is ``./work_dirs/<config name>``.
    """
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config_path))[0])


def adapt_launcher(cfg: Config) -> None:
    """Adapt a distributed ``cfg.launcher`` to a machine without CUDA (see
    :func:`use_cpu_distributed`); nothing to do otherwise.

    Args:
        cfg (Config): The config with ``launcher`` set, changed in place.
    """
    if cfg.launcher != 'none' and not torch.cuda.is_available():
        use_cpu_distributed(cfg)


def runner_from_args(
        args: argparse.Namespace,
        merge_args: Callable[[Config, argparse.Namespace], Config]) -> Runner:
    """Read ``args.config``, merge the command line into it and build the
    Runner.

    Args:
        args (argparse.Namespace): The tool's parsed arguments.
        merge_args (Callable): The tool's ``merge_args(cfg, args)``, which
            returns the updated config.

    Returns:
        Runner: The runner.
    """
    return build_runner(merge_args(Config.fromfile(args.config), args))


def build_runner(cfg: Config) -> Runner:
    """Build MMEngine's Runner, or the ``runner_type`` the config names.

    Args:
        cfg (Config): The complete config.

    Returns:
        Runner: The runner.
    """
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    from mmaction.registry import RUNNERS
    return RUNNERS.build(cfg)


def use_cpu_distributed(cfg: Config) -> None:
    """Make a distributed run work on a machine without CUDA.

    Sets the ``gloo`` backend and a DDP wrapper without ``device_ids`` (the
    model stays on the CPU). Keys the config already sets are kept, except
    the backend, which must be ``gloo`` without CUDA. ``broadcast_buffers``
    defaults to False and ``find_unused_parameters`` is passed on only when
    the config sets it, as in MMEngine's own default wrapper.

    Args:
        cfg (Config): The config, changed in place.
    """
    env_cfg = cfg.setdefault('env_cfg', ConfigDict())
    dist_cfg = env_cfg.setdefault('dist_cfg', ConfigDict())
    if dist_cfg.get('backend', 'gloo') != 'gloo':
        print_log(
            f'No CUDA device: using the gloo backend instead of '
            f'{dist_cfg.backend!r}.',
            logger='current',
            level=logging.WARNING)
    dist_cfg.backend = 'gloo'

    wrapper = cfg.get('model_wrapper_cfg')
    if wrapper is None:
        wrapper = ConfigDict(broadcast_buffers=False)
        if 'find_unused_parameters' in cfg:
            wrapper.find_unused_parameters = cfg.find_unused_parameters
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    if wrapper.type == 'MMDistributedDataParallel':
        wrapper.setdefault('device_ids', None)
    cfg.model_wrapper_cfg = wrapper
