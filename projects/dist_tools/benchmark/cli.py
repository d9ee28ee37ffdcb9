"""The benchmark's command line: flags, ``--modes`` and ``--variant``.

:func:`parse_args` reads the command line; :func:`child_argv` writes one
back from the parsed arguments, for the one-mode child processes of
``--isolate``.
"""
import argparse
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

from projects.dist.models.layers.fast_path import fast_groups
from projects.dist.utils.cli import DictAction

MODES = ('train', 'test', 'clip-only')
AMPS = ('none', 'fp16', 'bf16')
#: ``--variant`` override that picks the plain/fast path, not a config key.
FAST_PATH_KEY = 'fast_path'


@dataclass(frozen=True)
class ModeSpec:
    """One benchmark mode.

    Attributes:
        mode (str): ``'train'``, ``'test'`` or ``'clip-only'``.
        amp (str): ``'none'``, ``'fp16'`` or ``'bf16'``.
        variant (str, optional): Name of a ``--variant`` model, None for the
            config's own model.
    """

    mode: str
    amp: str
    variant: Optional[str] = None

    @property
    def key(self) -> str:
        """str: ``MODE:AMP[@VARIANT]``, the mode's name in the output."""
        key = f'{self.mode}:{self.amp}'
        return f'{key}@{self.variant}' if self.variant else key


def parse_modes(text: Optional[str], default_mode: str, default_amp: str,
                variants: Sequence[str]) -> List[ModeSpec]:
    """Parse ``--modes`` (``MODE[:AMP][@VARIANT]``, comma separated).

    Args:
        text (str, optional): The ``--modes`` value; None gives one mode from
            ``default_mode`` and ``default_amp``.
        default_mode (str): Mode used when ``text`` is None.
        default_amp (str): AMP used where a mode names none.
        variants (Sequence[str]): Names defined with ``--variant``.

    Returns:
        list[ModeSpec]: The modes, in order, without duplicates.
    """
    if text is None:
        text = default_mode
    specs = []
    for item in text.split(','):
        item = item.strip()
        if not item:
            continue
        variant = None
        if '@' in item:
            item, variant = item.split('@', 1)
            if variant not in variants:
                raise ValueError(
                    f'mode uses variant {variant!r} but only '
                    f'{sorted(variants)} are defined with --variant')
        mode, _, amp = item.partition(':')
        amp = amp or default_amp
        if mode not in MODES:
            raise ValueError(f'unknown mode {mode!r}; expected one of '
                             f'{list(MODES)}')
        if amp not in AMPS:
            raise ValueError(f'unknown amp {amp!r} in mode {item!r}; '
                             f'expected one of {list(AMPS)}')
        spec = ModeSpec(mode, amp, variant)
        if spec not in specs:
            specs.append(spec)
    if not specs:
        raise ValueError(f'--modes {text!r} names no mode')
    return specs


def parse_variants(items: Optional[List[List[str]]]) -> Dict[str, dict]:
    """Parse ``--variant NAME KEY=VALUE ...`` options.

    Args:
        items (list[list[str]], optional): One list per ``--variant``.

    Returns:
        dict[str, dict]: Name to config overrides (dotted keys), plus the
        reserved key ``fast_path`` (a frozenset of fusion groups) where
        given.
    """
    variants = {}
    for item in items or []:
        if len(item) < 2:
            raise ValueError('--variant needs a name and at least one '
                             f'KEY=VALUE override, got {item}')
        name, options = item[0], item[1:]
        if '=' in name or name in variants:
            raise ValueError(f'bad or repeated variant name {name!r}')
        parser = argparse.ArgumentParser(prog=f'--variant {name}')
        parser.add_argument('options', nargs='+', action=DictAction)
        variants[name] = parser.parse_args(options).options
        if FAST_PATH_KEY in variants[name]:
            fast = variants[name][FAST_PATH_KEY]
            fast = [fast] if isinstance(fast, str) else fast
            try:
                variants[name][FAST_PATH_KEY] = fast_groups(fast)
            except (TypeError, ValueError) as exc:
                raise ValueError(f'--variant {name}: {FAST_PATH_KEY}: '
                                 f'{exc}') from None
    return variants


def build_parser() -> argparse.ArgumentParser:
    """argparse.ArgumentParser: The benchmark's command line."""
    parser = argparse.ArgumentParser(
        description='Speed and peak memory of a DiST config, one JSON line '
        'per mode')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--mode',
        choices=MODES,
        default='test',
        help='the mode to run when --modes is not given (default: test)')
    parser.add_argument(
        '--modes',
        default=None,
        help='comma-separated MODE[:AMP][@VARIANT] list run side by side, '
        'e.g. "test:none,test:bf16,clip-only:none,train:bf16"')
    parser.add_argument(
        '--amp',
        choices=AMPS,
        default='none',
        help='mixed precision for modes that name none (default: none)')
    parser.add_argument(
        '--variant',
        nargs='+',
        action='append',
        metavar='NAME KEY=VALUE',
        help='define a model variant: a name then config overrides; select '
        'it with MODE@NAME in --modes (repeatable)')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument(
        '--num-clips',
        type=int,
        default=1,
        help='views per video in synthetic test/clip-only batches (train '
        'batches always hold one clip per video) (default: 1)')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=4,
        default=None,
        metavar=('C', 'T', 'H', 'W'),
        help='synthetic clip shape; default 3 num_frames S S from the model')
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument(
        '--order',
        choices=['interleave', 'sequential'],
        default='interleave',
        help='interleave: timed iterations alternate between modes, so a '
        'change in machine load affects all modes alike (default); '
        'sequential: all iterations of one mode, then the next')
    parser.add_argument(
        '--device',
        default=None,
        help='cpu or cuda[:N] (default: cuda if available, else cpu)')
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='torch intra-op threads (torch.set_num_threads)')
    parser.add_argument(
        '--compile',
        action='store_true',
        help='torch.compile the backbone (and the tower for clip-only)')
    parser.add_argument(
        '--compile-backend',
        default='inductor',
        help='backend for --compile (default: inductor)')
    parser.add_argument(
        '--real-data',
        action='store_true',
        help="use the config's dataloaders instead of synthetic input")
    parser.add_argument(
        '--baseline',
        default=None,
        help='a mode key (e.g. test:none); every line then reports '
        'time_ratio_to_baseline = its s/iter / the baseline s/iter')
    parser.add_argument(
        '--isolate',
        action='store_true',
        help='run each mode in its own subprocess (clean per-mode memory; '
        'no interleaving)')
    parser.add_argument(
        '--cpu-malloc',
        choices=['tuned', 'default'],
        default='tuned',
        help='CPU runs: "tuned" fixes glibc malloc thresholds so freed '
        'activations are reused instead of being paged in again every '
        'iteration (see projects/dist_tools/cpu_allocator.py); "default" '
        'keeps glibc\'s adaptive behaviour (default: tuned)')
    parser.add_argument(
        '--cudnn-benchmark',
        choices=['config', 'on', 'off'],
        default='config',
        help='CUDA runs: let cuDNN autotune its convolution algorithms; '
        '"config" follows env_cfg.cudnn_benchmark as the Runner does '
        '(default: config)')
    parser.add_argument(
        '--profile-ops',
        type=int,
        default=0,
        metavar='K',
        help='after timing, run one more iteration of each mode under '
        'torch.profiler and report its K most expensive operators (by self '
        'time) as "top_ops" in the JSON line and as a table on stderr '
        '(default: 0, off)')
    parser.add_argument(
        '--saved-activations',
        action='store_true',
        help='train modes: after timing, run one more step and report the '
        'memory autograd keeps for backward (distinct storages of the saved '
        'tensors, device-independent) as "saved_activations_mb"')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, as in tools/train.py')
    return parser


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments without the program name.
            Defaults to None, which reads ``sys.argv``.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.profile_ops < 0:
        parser.error(f'--profile-ops must be >= 0, got {args.profile_ops}')
    for name in ('batch_size', 'num_clips', 'iters'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got '
                         f'{getattr(args, name)}')
    if args.warmup < 0:
        parser.error(f'--warmup must be >= 0, got {args.warmup}')
    return args


def format_option_value(value: Any) -> str:
    """Write a ``--cfg-options`` value as ``DictAction`` reads it back.

    Args:
        value: A value ``DictAction`` produced: int, float, bool, None, a
            string, or a list/tuple of these (nested).

    Returns:
        str: Text that ``DictAction`` parses to an equal value.
    """
    if isinstance(value, list):
        return '[' + ','.join(format_option_value(v) for v in value) + ']'
    if isinstance(value, tuple):
        return '(' + ','.join(format_option_value(v) for v in value) + ')'
    if isinstance(value, (bool, type(None))):
        return str(value)
    if isinstance(value, (int, float, str)):
        return repr(value) if isinstance(value, float) else str(value)
    raise TypeError(f'cannot write --cfg-options value {value!r} of type '
                    f'{type(value).__name__} (expected what DictAction '
                    'reads: numbers, bools, None, strings, lists, tuples)')


def child_argv(args: argparse.Namespace, mode_key: str) -> List[str]:
    """The command line of a child that runs one mode of ``args``.

    Every option of ``args`` is written out except the parent's own:
    ``--isolate``, ``--baseline`` and ``--mode``/``--modes``, which become
    ``--modes mode_key``.

    Args:
        args (argparse.Namespace): What :func:`parse_args` returned.
        mode_key (str): The child's mode, ``MODE:AMP[@VARIANT]``.

    Returns:
        list[str]: Arguments (without the program) that :func:`parse_args`
        reads back to ``args`` with ``modes=mode_key``, ``isolate=False``
        and ``baseline=None``.
    """
    argv = [args.config, '--modes', mode_key, '--amp', args.amp]
    for item in args.variant or []:
        argv += ['--variant', *item]
    argv += [
        '--batch-size',
        str(args.batch_size), '--num-clips',
        str(args.num_clips), '--iters',
        str(args.iters), '--warmup',
        str(args.warmup), '--order', args.order, '--compile-backend',
        args.compile_backend, '--cpu-malloc', args.cpu_malloc,
        '--cudnn-benchmark', args.cudnn_benchmark, '--profile-ops',
        str(args.profile_ops), '--seed',
        str(args.seed)
    ]
    if args.shape is not None:
        argv += ['--shape', *(str(s) for s in args.shape)]
    if args.device is not None:
        argv += ['--device', args.device]
    if args.threads is not None:
        argv += ['--threads', str(args.threads)]
    for flag, on in (('--compile', args.compile), ('--real-data',
                                                   args.real_data),
                     ('--saved-activations', args.saved_activations)):
        if on:
            argv.append(flag)
    if args.cfg_options:
        argv += ['--cfg-options'] + [
            f'{key}={format_option_value(value)}'
            for key, value in args.cfg_options.items()
        ]
    return argv
