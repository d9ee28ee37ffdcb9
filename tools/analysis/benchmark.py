# Copyright (c) DiST-MMAction2 contributors. Licensed under Apache-2.0.
"""Measure training/inference speed and peak memory of a DiST config.

Several modes run side by side in one process, so their ratios come from the
same run; each mode prints ONE JSON line. Modes (``--modes``, comma
separated, each ``MODE[:AMP][@VARIANT]``):

* ``train``: one optimizer step through ``model.train_step`` with an MMEngine
  optimizer wrapper (``AmpOptimWrapper`` for ``fp16``/``bf16`` on CUDA; on
  CPU ``bf16`` runs ``train_step`` inside ``torch.autocast('cpu')``);
* ``test``: ``model.test_step`` (preprocessing, backbone, head) under
  ``torch.no_grad()``, with ``torch.autocast`` for ``fp16``/``bf16``;
* ``clip-only``: the preprocessing and the frozen image tower alone on the
  frames the model feeds it (every ``alpha``-th frame, up to the last block
  it reads): the lower bound of inference.

``AMP`` is ``none``, ``fp16`` or ``bf16`` (default ``--amp``). ``VARIANT``
names a model built with extra config overrides given by
``--variant NAME KEY=VALUE ...``, e.g. the official-order reference::

    python tools/analysis/benchmark.py configs/dist_vitb_k400.py \\
        --device cpu --threads 2 --batch-size 1 --iters 5 --warmup 2 \\
        --modes test,clip-only,test@reference \\
        --variant reference model.backbone.subsample_before_embedding=False \\
            model.backbone.fused_attention=False \\
            model.backbone.spatial_encoder.fused_attention=False

The reserved override ``fast_path=False`` (or a list of the fusion groups
to keep fast, e.g. ``fast_path="[tower,aggregator]"``) is not a config key:
that variant's modes run with the plain formulas of the other blocks
(``projects.dist.models.layers.fast_path``), so the fast path and the plain
path are timed side by side in one process::

    python tools/analysis/benchmark.py configs/dist_vitb_k400.py \\
        --device cpu --threads 2 --batch-size 1 --iters 5 --warmup 2 \\
        --modes test,test@plain,train,train@plain --order interleave \\
        --variant plain fast_path=False

Inputs are synthetic (random uint8 clips already on the device, random
labels) unless ``--real-data`` is given; then batches come from the config's
``train_dataloader`` (train) / ``test_dataloader`` (test, clip-only) and the
time to fetch each batch is reported separately as ``data_time_s``. Weights
are left at their random construction-time values (no checkpoint is read):
speed does not depend on them.

Peak memory is ``torch.cuda.max_memory_allocated`` per mode on CUDA. On CPU
it is the largest resident set size sampled (every few ms) while the mode
ran, which is process-wide (it includes every model built in the process and
allocator caching); use ``--isolate`` to run each mode in its own process
for comparable CPU memory figures. ``process_peak_rss_mb`` is the process's
monotonic ``getrusage`` peak. On CUDA, ``tf32`` records whether float32
matrix products and cuDNN convolutions were allowed to use TF32 (PyTorch's
defaults: products no, convolutions yes), which decides what "fp32" means,
and ``cudnn_benchmark`` whether cuDNN autotuned its algorithms (from the
config's ``env_cfg`` as in training, or ``--cudnn-benchmark on|off``).
"""
import argparse
import copy
import json
import logging
import os
import os.path as osp
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
from contextlib import nullcontext, redirect_stdout
from dataclasses import dataclass
from typing import (Callable, Dict, Iterable, Iterator, List, Optional,
                    Sequence, Union)

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import projects.dist  # noqa: F401  -- compat fixes + registration

# projects.dist patches mmaction before its models load:
# isort: split
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample

from projects.dist.models.layers.fast_path import (GROUPS, fast_groups,
                                                   fast_path_mode)
from projects.dist.utils.cli import DictAction
from projects.dist.utils.cpu_allocator import tune_glibc_malloc
from projects.dist.utils.model_inputs import (default_clip_shape, tower_frames,
                                              tower_out_indices)

MODES = ('train', 'test', 'clip-only')
#: ``--variant`` override that picks the plain/fast path, not a config key.
FAST_PATH_KEY = 'fast_path'
AMPS = ('none', 'fp16', 'bf16')
_AMP_DTYPES = dict(fp16=torch.float16, bf16=torch.bfloat16)


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
        reserved key ``fast_path`` (bool) where given.
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


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments without the program name.
            Defaults to None, which reads ``sys.argv``.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
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
        'iteration (see projects/dist/utils/cpu_allocator.py); "default" '
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


class RssSampler:
    """Sample this process's resident set size in a background thread.

    Reads ``/proc/self/statm`` (Linux) every ``interval`` seconds and keeps
    the largest value seen per label (the mode running at the time).

    Args:
        interval (float): Seconds between samples. Defaults to 0.005.
    """

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.label: Optional[str] = None
        self.peaks: Dict[str, int] = {}
        self._stop = threading.Event()
        self._page = os.sysconf('SC_PAGE_SIZE')
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def available() -> bool:
        """bool: Whether ``/proc/self/statm`` can be read."""
        return osp.exists('/proc/self/statm')

    def current(self) -> int:
        """int: The resident set size now, in bytes."""
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * self._page

    def _run(self) -> None:
        while not self._stop.is_set():
            label = self.label
            if label is not None:
                rss = self.current()
                if rss > self.peaks.get(label, 0):
                    self.peaks[label] = rss
            self._stop.wait(self.interval)

    def mark(self, label: Optional[str]) -> None:
        """Attribute the following samples to ``label`` (None pauses).

        Args:
            label (str, optional): The running mode's key.
        """
        if label is not None:  # sample at least once per label
            rss = self.current()
            self.peaks[label] = max(self.peaks.get(label, 0), rss)
        self.label = label

    def __enter__(self) -> 'RssSampler':
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def process_peak_rss_mb() -> float:
    """float: The process's peak RSS so far (``getrusage``), in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes
    return peak / 2**20 if platform.system() == 'Darwin' else peak / 2**10


def build_model(cfg: Config, device: torch.device) -> torch.nn.Module:
    """Build the recognizer of ``cfg`` on ``device`` (weights not loaded).

    Args:
        cfg (Config): The config.
        device (torch.device): Target device.

    Returns:
        torch.nn.Module: The model.
    """
    model = MODELS.build(cfg.model)
    return model.to(device)


def synthetic_batch(shape: Sequence[int], batch_size: int, num_clips: int,
                    num_classes: int, device: torch.device,
                    generator: torch.Generator) -> dict:
    """A random batch as a dataloader would give it, already on ``device``.

    Args:
        shape (Sequence[int]): (C, T, H, W) of one clip.
        batch_size (int): Videos B.
        num_clips (int): Views per video.
        num_classes (int): Label range.
        device (torch.device): Where the clips are placed.
        generator (torch.Generator): CPU random generator.

    Returns:
        dict: ``inputs`` (list of B uint8 tensors (num_clips, C, T, H, W))
        and ``data_samples`` (B ActionDataSamples with ``gt_label``).
    """
    inputs, samples = [], []
    for _ in range(batch_size):
        clip = torch.randint(
            0,
            256, (num_clips, *shape),
            dtype=torch.uint8,
            generator=generator)
        inputs.append(clip.to(device))
        label = int(torch.randint(0, num_classes, (1, ), generator=generator))
        samples.append(ActionDataSample().set_gt_label(label))
    return dict(inputs=inputs, data_samples=samples)


def optim_wrapper_cfg(cfg: Config, amp: str, device: torch.device) -> dict:
    """The optimizer wrapper config for a train mode.

    Uses the config's ``optim_wrapper`` (AdamW if it has none) with the type
    set from ``amp``: ``AmpOptimWrapper`` with that dtype on CUDA,
    ``OptimWrapper`` otherwise.

    Args:
        cfg (Config): The config.
        amp (str): ``'none'``, ``'fp16'`` or ``'bf16'``.
        device (torch.device): The benchmark device.

    Returns:
        dict: Config for ``build_optim_wrapper``.
    """
    default = dict(optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4))
    wrapper = copy.deepcopy(cfg.get('optim_wrapper', None) or default)
    wrapper = dict(wrapper)
    for key in ('type', 'loss_scale', 'dtype'):
        wrapper.pop(key, None)
    if amp != 'none' and device.type == 'cuda':
        wrapper.update(
            type='AmpOptimWrapper',
            dtype=dict(fp16='float16', bf16='bfloat16')[amp],
            loss_scale='dynamic')
    else:
        wrapper['type'] = 'OptimWrapper'
    return wrapper


def autocast_context(amp: str, device: torch.device):
    """``torch.autocast`` for ``amp`` on ``device``, or a null context."""
    if amp == 'none':
        return nullcontext()
    return torch.autocast(device.type, dtype=_AMP_DTYPES[amp])


class ModeRunner:
    """Runs single iterations of one mode and records their times.

    Args:
        spec (ModeSpec): The mode.
        model (torch.nn.Module): The (possibly compiled) recognizer.
        tower (Callable): The frozen tower to call in clip-only mode.
        backbone (torch.nn.Module): The uncompiled backbone (frame choice).
        batches (Iterator[dict]): Endless source of batches.
        optim_wrapper: MMEngine optimizer wrapper (train mode only).
        device (torch.device): The benchmark device.
        fast_path (bool | Iterable[str]): The fusion groups that run fast
            (see ``projects.dist.models.layers.fast_path``); True for all.
            Defaults to True.
    """

    def __init__(self,
                 spec: ModeSpec,
                 model: torch.nn.Module,
                 tower: Callable,
                 backbone: torch.nn.Module,
                 batches: Iterator[dict],
                 optim_wrapper,
                 device: torch.device,
                 fast_path: Union[bool, Iterable[str]] = True) -> None:
        self.spec = spec
        self.fast_path = fast_path
        self.model = model
        self.tower = tower
        self.backbone = backbone
        self.batches = batches
        self.optim_wrapper = optim_wrapper
        self.device = device
        self.out_indices = tower_out_indices(backbone)
        self.times: List[float] = []
        self.cpu_times: List[float] = []
        self.data_times: List[float] = []
        self.clips_per_iter: Optional[int] = None
        self.peak_cuda = 0

    def _sync(self) -> None:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)

    def _step(self, data: dict) -> None:
        spec = self.spec
        amp = autocast_context(spec.amp, self.device)
        if spec.mode == 'train':
            self.model.train()
            if self.device.type == 'cuda':  # AmpOptimWrapper autocasts
                self.model.train_step(data, self.optim_wrapper)
            else:
                with amp:
                    self.model.train_step(data, self.optim_wrapper)
            return
        self.model.eval()
        with torch.no_grad(), amp:
            if spec.mode == 'test':
                self.model.test_step(data)
            else:
                inputs = self.model.data_preprocessor(data, False)['inputs']
                clips = inputs.flatten(0, 1)  # (B*views, C, T, H, W)
                frames = tower_frames(self.backbone, clips)
                self.tower(frames, self.out_indices)

    def run(self, timed: bool) -> None:
        """Run one iteration (fetch a batch, step, synchronise).

        Args:
            timed (bool): Record its time (False for warm-up).
        """
        t0 = time.perf_counter()
        data = next(self.batches)
        data_time = time.perf_counter() - t0
        clips = sum(x.shape[0] for x in data['inputs'])
        if self.device.type == 'cuda' and timed:
            torch.cuda.reset_peak_memory_stats(self.device)
        c1 = time.process_time()
        t1 = time.perf_counter()
        with fast_path_mode(self.fast_path):
            self._step(data)
            self._sync()
        t2 = time.perf_counter()
        c2 = time.process_time()
        if timed:
            self.data_times.append(data_time)
            self.times.append(t2 - t1)
            self.cpu_times.append(c2 - c1)
            self.clips_per_iter = clips
            if self.device.type == 'cuda':
                self.peak_cuda = max(
                    self.peak_cuda,
                    torch.cuda.max_memory_allocated(self.device))


def _endless(loader) -> Iterator[dict]:
    while True:
        yield from loader


def _batches(args: argparse.Namespace, cfg: Config, spec: ModeSpec,
             model: torch.nn.Module, backbone: torch.nn.Module,
             device: torch.device,
             generator: torch.Generator) -> Iterator[dict]:
    """Endless batches for one mode (synthetic or from the config)."""
    if args.real_data:
        from mmengine.runner import Runner
        key = 'train_dataloader' if spec.mode == 'train' else \
            'test_dataloader'
        if key not in cfg:
            raise ValueError(f'--real-data needs {key} in the config')
        loader_cfg = copy.deepcopy(cfg[key])
        loader_cfg['batch_size'] = args.batch_size
        loader_cfg.pop('persistent_workers', None)
        loader = Runner.build_dataloader(loader_cfg, seed=args.seed)
        return _endless(loader)
    shape = tuple(args.shape) if args.shape else default_clip_shape(backbone)
    num_classes = getattr(model.cls_head, 'num_classes', 2)
    # training takes one clip per video (as the train pipeline gives)
    num_clips = 1 if spec.mode == 'train' else args.num_clips
    # a few distinct batches, reused, so data creation is not timed
    pool = [
        synthetic_batch(shape, args.batch_size, num_clips, num_classes, device,
                        generator) for _ in range(2)
    ]

    def cycle() -> Iterator[dict]:
        while True:
            yield from pool

    return cycle()


def run_benchmark(args: argparse.Namespace) -> List[dict]:
    """Run every mode of ``args`` in this process.

    Args:
        args (argparse.Namespace): Parsed command line.

    Returns:
        list[dict]: One result per mode, in ``--modes`` order.
    """
    variants = parse_variants(args.variant)
    specs = parse_modes(args.modes, args.mode, args.amp, list(variants))
    device = torch.device(
        args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise RuntimeError(f'--device {args.device} but CUDA is not '
                           'available')
    for spec in specs:
        if spec.amp == 'fp16' and device.type == 'cpu':
            raise ValueError(f'mode {spec.key}: fp16 autocast is not '
                             'supported on CPU here; use bf16')
    if args.threads is not None and args.threads < 1:
        raise ValueError(f'--threads must be >= 1, got {args.threads}')
    args.cpu_malloc_applied = 'default'
    if device.type == 'cpu' and args.cpu_malloc == 'tuned':
        if tune_glibc_malloc():
            args.cpu_malloc_applied = 'tuned'
        else:
            print(
                'benchmark: could not tune malloc (not glibc?); timings '
                'use the C library defaults',
                file=sys.stderr)
    # thread count, cuDNN autotuning and RNG are process-global: restore
    # them afterwards
    threads = torch.get_num_threads()
    cudnn_benchmark = torch.backends.cudnn.benchmark
    try:
        with torch.random.fork_rng(devices=[]):
            if args.threads is not None:
                torch.set_num_threads(args.threads)
            torch.manual_seed(args.seed)
            return _run_modes(args, specs, variants, device)
    finally:
        torch.set_num_threads(threads)
        torch.backends.cudnn.benchmark = cudnn_benchmark


def resolve_cudnn_benchmark(cfg: Config, choice: str) -> bool:
    """Whether cuDNN autotunes its algorithms (``cudnn.benchmark``).

    ``--cudnn-benchmark config`` takes the config's
    ``env_cfg.cudnn_benchmark``, as MMEngine's Runner does (False when the
    config has none); ``on`` and ``off`` override it.

    Args:
        cfg (Config): The config (``--cfg-options`` merged).
        choice (str): ``'config'``, ``'on'`` or ``'off'``.

    Returns:
        bool: The setting to run with.
    """
    if choice != 'config':
        return choice == 'on'
    return bool(cfg.get('env_cfg', {}).get('cudnn_benchmark', False))


def _run_modes(args: argparse.Namespace, specs: List[ModeSpec],
               variants: Dict[str, dict], device: torch.device) -> List[dict]:
    """Build the models and run the modes (see :func:`run_benchmark`)."""
    generator = torch.Generator().manual_seed(args.seed)
    base_cfg = Config.fromfile(args.config)
    if args.cfg_options:
        base_cfg.merge_from_dict(args.cfg_options)
    if device.type == 'cuda':  # restored by run_benchmark
        torch.backends.cudnn.benchmark = resolve_cudnn_benchmark(
            base_cfg, args.cudnn_benchmark)
    init_default_scope(base_cfg.get('default_scope', 'mmaction'))

    models, cfgs, backbones, towers, fast = {}, {}, {}, {}, {}
    for name in sorted({s.variant for s in specs}, key=str):
        cfg = copy.deepcopy(base_cfg)
        overrides = dict(variants[name]) if name is not None else {}
        fast[name] = overrides.pop(FAST_PATH_KEY, frozenset(GROUPS))
        if overrides:
            cfg.merge_from_dict(overrides)
        model = build_model(cfg, device)
        backbone = model.backbone
        tower = backbone.spatial_encoder
        if args.compile:
            model.backbone = torch.compile(
                backbone, backend=args.compile_backend)
            tower = torch.compile(tower, backend=args.compile_backend)
        models[name], cfgs[name] = model, cfg
        backbones[name], towers[name] = backbone, tower

    runners = []
    for spec in specs:
        model, cfg = models[spec.variant], cfgs[spec.variant]
        wrapper = None
        if spec.mode == 'train':
            wrapper = build_optim_wrapper(
                model, optim_wrapper_cfg(cfg, spec.amp, device))
        runners.append(
            ModeRunner(
                spec, model, towers[spec.variant], backbones[spec.variant],
                _batches(args, cfg, spec, model, backbones[spec.variant],
                         device, generator), wrapper, device,
                fast[spec.variant]))

    use_rss = device.type == 'cpu' and RssSampler.available()
    sampler = RssSampler() if use_rss else None
    with sampler if sampler is not None else nullcontext():
        for runner in runners:
            if sampler is not None:
                sampler.mark(runner.spec.key)
            for _ in range(args.warmup):
                runner.run(timed=False)
        if args.order == 'interleave':
            schedule = [r for _ in range(args.iters) for r in runners]
        else:
            schedule = [r for r in runners for _ in range(args.iters)]
        for runner in schedule:
            if sampler is not None:
                sampler.mark(runner.spec.key)
            runner.run(timed=True)
        if sampler is not None:
            sampler.mark(None)
    profiles = {
        runner.spec.key: profile_ops(runner, args.profile_ops)
        for runner in runners
    } if args.profile_ops else {}
    saved = {
        runner.spec.key: saved_activations_mb(runner)
        for runner in runners if runner.spec.mode == 'train'
    } if args.saved_activations else {}

    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else None
    results = []
    for runner in runners:
        spec = runner.spec
        if device.type == 'cuda':
            peak, metric = runner.peak_cuda / 2**20, 'cuda_max_allocated'
        elif sampler is not None:
            peak, metric = sampler.peaks.get(spec.key, 0) / 2**20, \
                'rss_sampled_process'
        else:
            peak, metric = None, None
        mean = statistics.fmean(runner.times)
        result = dict(
            mode=spec.mode,
            amp=spec.amp,
            variant=spec.variant,
            key=spec.key,
            fast_path=sorted(fast_groups(runner.fast_path)),
            config=args.config,
            device=str(device),
            device_name=(torch.cuda.get_device_name(device)
                         if device.type == 'cuda' else platform.processor()
                         or platform.machine()),
            threads=torch.get_num_threads(),
            batch_size=args.batch_size,
            clips_per_iter=runner.clips_per_iter,
            data='real' if args.real_data else 'synthetic',
            compile=args.compile,
            order=args.order,
            iters=args.iters,
            warmup=args.warmup,
            s_per_iter=mean,
            s_per_iter_median=statistics.median(runner.times),
            s_per_iter_min=min(runner.times),
            s_per_iter_max=max(runner.times),
            iter_times=[round(t, 6) for t in runner.times],
            clips_per_s=runner.clips_per_iter / mean,
            cpu_s_per_iter=statistics.fmean(runner.cpu_times),
            data_time_s=(statistics.fmean(runner.data_times)
                         if args.real_data else None),
            peak_mem_mb=peak,
            mem_metric=metric,
            process_peak_rss_mb=process_peak_rss_mb(),
            loadavg_1min=load,
            cpu_malloc=(args.cpu_malloc_applied
                        if device.type == 'cpu' else None),
            tf32=(dict(
                matmul=torch.backends.cuda.matmul.allow_tf32,
                cudnn=torch.backends.cudnn.allow_tf32)
                  if device.type == 'cuda' else None),
            cudnn_benchmark=(torch.backends.cudnn.benchmark
                             if device.type == 'cuda' else None),
            cudnn_version=(torch.backends.cudnn.version()
                           if device.type == 'cuda' else None),
            optimizer=describe_optimizer(runner.optim_wrapper),
            torch=torch.__version__)
        if args.profile_ops:
            result['top_ops'], result['profile_totals'] = profiles[spec.key]
        if args.saved_activations:
            result['saved_activations_mb'] = saved.get(spec.key)
        results.append(result)
    _add_ratios(results, args.baseline)
    return results


def describe_optimizer(optim_wrapper) -> Optional[str]:
    """Name a train mode's optimizer and its update implementation.

    Args:
        optim_wrapper: MMEngine optimizer wrapper, or None (not a train
            mode).

    Returns:
        str, optional: e.g. ``'AmpOptimWrapper/AdamW(fused=True,
        foreach=None)'``; options of the first parameter group.
    """
    if optim_wrapper is None:
        return None
    optimizer = optim_wrapper.optimizer
    group = optimizer.param_groups[0]
    impl = ', '.join(f'{k}={group[k]}' for k in ('fused', 'foreach')
                     if k in group)
    return (f'{type(optim_wrapper).__name__}/'
            f'{type(optimizer).__name__}({impl})')


def profile_ops(runner: 'ModeRunner', k: int) -> tuple:
    """Profile one untimed iteration of a mode; its ``k`` costliest ops.

    Prints the profiler's table (sorted by self time) to stderr.

    Args:
        runner (ModeRunner): The mode, already warmed up.
        k (int): How many operators to report.

    Returns:
        tuple[list[dict], dict]: The ``k`` operators with the largest self
        time (device time on CUDA), costliest first: ``op``, ``calls``,
        ``self_ms`` (self CPU time) and, on CUDA, ``self_device_ms``. And
        the iteration's totals: ``wall_ms`` (profiled, so slower than
        timed iterations), ``op_calls`` and ``self_cpu_ms`` of all
        operators, and on CUDA ``device_ms``, the summed duration of the
        device's own events (kernels, copies); a ``device_ms`` well below
        ``wall_ms`` means the device waited for the host.
    """
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile
    cuda = runner.device.type == 'cuda'
    activities = [ProfilerActivity.CPU]
    if cuda:
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        t0 = time.perf_counter()
        runner.run(timed=False)  # ends with a device synchronisation
        wall = time.perf_counter() - t0
    events = prof.key_averages()
    cpu_ops = [e for e in events if e.device_type == DeviceType.CPU]
    # device time as torch's own table sums it: the device's events, not
    # the GPU-side spans of user annotations (they cover counted kernels)
    device_events = [
        e for e in events if e.device_type == DeviceType.CUDA
        and not getattr(e, 'is_user_annotation', False)
    ]
    totals = dict(
        wall_ms=wall * 1e3,
        op_calls=sum(e.count for e in cpu_ops),
        self_cpu_ms=sum(e.self_cpu_time_total for e in cpu_ops) / 1e3,
        device_ms=(sum(e.self_device_time_total
                       for e in device_events) / 1e3 if cuda else None))
    sort_by = 'self_device_time_total' if cuda else 'self_cpu_time_total'
    print(
        f'== profile of {runner.spec.key}: {k} costliest operators ==',
        file=sys.stderr)
    print(events.table(sort_by=sort_by, row_limit=k), file=sys.stderr)
    top = sorted(events, key=lambda e: getattr(e, sort_by), reverse=True)[:k]
    rows = []
    for e in top:
        row = dict(
            op=e.key, calls=e.count, self_ms=e.self_cpu_time_total / 1e3)
        if cuda:
            row['self_device_ms'] = e.self_device_time_total / 1e3
        rows.append(row)
    return rows, totals


def saved_activations_mb(runner: 'ModeRunner') -> float:
    """Memory autograd keeps for backward in one untimed training step.

    Every tensor saved for backward during the step's forward is recorded
    (``torch.autograd.graph.saved_tensors_hooks``); the sizes of their
    distinct storages are summed. All are alive together when backward
    starts, so this is the activation memory of the step on any device,
    without weights, gradients, optimizer state or temporaries. Frozen
    weights cast by autocast and saved by a product count too.

    Args:
        runner (ModeRunner): A train mode, already warmed up.

    Returns:
        float: MiB.
    """
    storages = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[(storage.device, storage.data_ptr())] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        runner.run(timed=False)
    return sum(storages.values()) / 2**20


def _paired_median(times: Sequence[float], ref: Sequence[float],
                   paired: bool) -> Optional[float]:
    """Median of per-round time ratios, None unless rounds were paired."""
    if not paired or len(times) != len(ref):
        return None
    return statistics.median(t / r for t, r in zip(times, ref))


def _add_ratios(results: List[dict], baseline: Optional[str]) -> None:
    """Add the ratio fields in place.

    ``ratio_to_clip_only`` divides a mode's s/iter by that of the clip-only
    mode with the same amp and variant (else the same amp, no variant);
    ``time_ratio_to_baseline`` by that of ``baseline``. The ``*_paired``
    variants are medians of the per-round ratios (iteration i of one mode
    against iteration i of the other), defined for interleaved runs only,
    where they cancel most of a slowly changing machine load.
    """
    by_key = {r['key']: r for r in results}
    if baseline is not None and baseline not in by_key:
        # 'clip-only' or 'test@v' name the mode without its amp part
        mode, _, variant = baseline.partition('@')
        matches = [
            k for k in by_key if k.partition('@')[2] == variant
            and k.partition('@')[0].split(':')[0] == mode
        ]
        if ':' not in mode and len(matches) == 1:
            baseline = matches[0]
    if baseline is not None and baseline not in by_key:
        raise ValueError(f'--baseline {baseline!r} is not one of the modes '
                         f'run: {sorted(by_key)}')
    for r in results:
        ref = None
        for variant in (r['variant'], None):
            key = f"clip-only:{r['amp']}" + (f'@{variant}' if variant else '')
            if key in by_key:
                ref = by_key[key]
                break
        paired = r['order'] == 'interleave'
        r['ratio_to_clip_only'] = (
            r['s_per_iter'] / ref['s_per_iter'] if ref is not None else None)
        r['ratio_to_clip_only_paired'] = (
            _paired_median(r['iter_times'], ref['iter_times'], paired)
            if ref is not None else None)
        base = by_key[baseline] if baseline is not None else None
        r['time_ratio_to_baseline'] = (
            r['s_per_iter'] / base['s_per_iter'] if base is not None else None)
        r['time_ratio_to_baseline_paired'] = (
            _paired_median(r['iter_times'], base['iter_times'], paired)
            if base is not None else None)


def _child_argv(argv: Sequence[str]) -> List[str]:
    """Drop ``--isolate``, ``--mode(s)`` and ``--baseline`` from ``argv``.

    Args:
        argv (Sequence[str]): The parent's arguments.

    Returns:
        list[str]: Arguments for a child that runs one mode.
    """
    child, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ('--modes', '--mode', '--baseline'):
            skip = True
            continue
        value_flags = ('--modes=', '--mode=', '--baseline=')
        if a == '--isolate' or a.startswith(value_flags):
            continue
        child.append(a)
    return child


def run_isolated(args: argparse.Namespace, argv: Sequence[str]) -> List[dict]:
    """Run each mode in its own subprocess and collect the results.

    Args:
        args (argparse.Namespace): Parsed command line.
        argv (Sequence[str]): The original arguments.

    Returns:
        list[dict]: One result per mode, in order.
    """
    variants = parse_variants(args.variant)
    specs = parse_modes(args.modes, args.mode, args.amp, list(variants))
    child_argv = _child_argv(argv)
    results = []
    for spec in specs:
        cmd = [sys.executable, osp.abspath(__file__)
               ] + child_argv + ['--modes', spec.key]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f'mode {spec.key} failed (exit '
                               f'{proc.returncode}):\n{proc.stderr[-4000:]}')
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('{')]
        result = json.loads(lines[-1])
        result['order'] = 'isolated'  # one process per mode: no pairing
        results.append(result)
    _add_ratios(results, args.baseline)
    return results


def _mmengine_logs_to_stderr() -> None:
    """Point the stdout handlers of existing MMEngine loggers at stderr."""
    for logger in getattr(MMLogger, '_instance_dict', {}).values():
        for handler in logger.handlers:
            if (isinstance(handler, logging.StreamHandler)
                    and handler.stream is sys.stdout):
                handler.setStream(sys.stderr)


def main(argv: Optional[List[str]] = None) -> List[dict]:
    """Entry point: print one JSON line per mode.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        list[dict]: The results (also printed).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    stdout = sys.stdout
    # stdout carries only the JSON lines; logs (e.g. the optimizer
    # constructor's) go to stderr
    _mmengine_logs_to_stderr()
    with redirect_stdout(sys.stderr):
        results = (
            run_isolated(args, argv) if args.isolate else run_benchmark(args))
    for r in results:
        print(json.dumps(r), file=stdout, flush=True)
    return results


if __name__ == '__main__':
    from projects.dist.utils.cli import run_tool  # repository root on path
    run_tool(main)
