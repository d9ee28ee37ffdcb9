"""Run the benchmark: build the models, run the modes, report.

:func:`main` is the command line's entry point (``tools/analysis/
benchmark.py``). :func:`run_benchmark` runs every mode in this process, their
timed iterations interleaved or one mode after the other; :func:`run_isolated`
runs each mode in a child process of its own (``--isolate``).
"""
import argparse
import copy
import json
import logging
import subprocess
import sys
from contextlib import nullcontext, redirect_stdout
from typing import Dict, Iterator, List, Optional

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

import projects.dist  # noqa: F401  -- compat fixes + registration

# projects.dist patches mmaction before its models load:
# isort: split
from mmaction.registry import MODELS

from projects.dist.models.layers.fast_path import GROUPS
from ..cpu_allocator import tune_glibc_malloc
from ..model_inputs import default_clip_shape
from .cli import (FAST_PATH_KEY, ModeSpec, child_argv, parse_args, parse_modes,
                  parse_variants)
from .data import dataloader_batches, synthetic_batches
from .memory import RssSampler, saved_activations_mb
from .profiling import profile_ops
from .report import add_ratios, compare_table, mode_result, write_json_lines
from .runners import RUNNERS, VariantModel


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


def resolve_device(name: Optional[str]) -> torch.device:
    """The ``--device`` to run on (CUDA if available when not given).

    Args:
        name (str, optional): ``cpu`` or ``cuda[:N]``.

    Returns:
        torch.device: The device.
    """
    device = torch.device(
        name or ('cuda' if torch.cuda.is_available() else 'cpu'))
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise RuntimeError(f'--device {name} but CUDA is not available')
    return device


def _batches(args: argparse.Namespace, spec: ModeSpec, variant: VariantModel,
             device: torch.device,
             generator: torch.Generator) -> Iterator[dict]:
    """Endless batches for one mode (synthetic or from the config)."""
    if args.real_data:
        return dataloader_batches(variant.cfg, spec.mode, args.batch_size,
                                  args.seed)
    shape = tuple(args.shape) if args.shape else default_clip_shape(
        variant.backbone)
    num_classes = getattr(variant.model.cls_head, 'num_classes', 2)
    # training takes one clip per video (as the train pipeline gives)
    num_clips = 1 if spec.mode == 'train' else args.num_clips
    return synthetic_batches(shape, args.batch_size, num_clips, num_classes,
                             device, generator)


def run_benchmark(args: argparse.Namespace) -> List[dict]:
    """Run every mode of ``args`` in this process.

    Args:
        args (argparse.Namespace): Parsed command line.

    Returns:
        list[dict]: One result per mode, in ``--modes`` order.
    """
    variants = parse_variants(args.variant)
    specs = parse_modes(args.modes, args.mode, args.amp, list(variants))
    device = resolve_device(args.device)
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


def _build_models(args: argparse.Namespace, specs: List[ModeSpec],
                  variants: Dict[str, dict],
                  device: torch.device) -> Dict[Optional[str], VariantModel]:
    """One model per variant the modes use (None: the config's own)."""
    base_cfg = Config.fromfile(args.config)
    if args.cfg_options:
        base_cfg.merge_from_dict(args.cfg_options)
    if device.type == 'cuda':  # restored by run_benchmark
        torch.backends.cudnn.benchmark = resolve_cudnn_benchmark(
            base_cfg, args.cudnn_benchmark)
    init_default_scope(base_cfg.get('default_scope', 'mmaction'))
    models = {}
    for name in sorted({s.variant for s in specs}, key=str):
        cfg = copy.deepcopy(base_cfg)
        overrides = dict(variants[name]) if name is not None else {}
        fast_path = overrides.pop(FAST_PATH_KEY, frozenset(GROUPS))
        if overrides:
            cfg.merge_from_dict(overrides)
        model = MODELS.build(cfg.model).to(device)  # weights not loaded
        models[name] = VariantModel(
            cfg, model, fast_path,
            args.compile_backend if args.compile else None)
    return models


def _run_modes(args: argparse.Namespace, specs: List[ModeSpec],
               variants: Dict[str, dict], device: torch.device) -> List[dict]:
    """Build the models and run the modes (see :func:`run_benchmark`)."""
    generator = torch.Generator().manual_seed(args.seed)
    models = _build_models(args, specs, variants, device)
    runners = []
    for spec in specs:
        variant = models[spec.variant]
        batches = _batches(args, spec, variant, device, generator)
        runners.append(RUNNERS[spec.mode].for_variant(spec, variant, batches,
                                                      device))
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

    results = []
    for runner in runners:
        key = runner.spec.key
        if device.type == 'cuda':
            peak, metric = runner.peak_cuda / 2**20, 'cuda_max_allocated'
        elif sampler is not None:
            peak, metric = sampler.peaks.get(key, 0) / 2**20, \
                'rss_sampled_process'
        else:
            peak, metric = None, None
        result = mode_result(args, runner, device, peak, metric)
        if args.profile_ops:
            result['top_ops'], result['profile_totals'] = profiles[key]
        if args.saved_activations:
            result['saved_activations_mb'] = saved.get(key)
        results.append(result)
    add_ratios(results, args.baseline)
    return results


def run_isolated(args: argparse.Namespace) -> List[dict]:
    """Run each mode in its own subprocess and collect the results.

    Each child is ``python -m projects.dist_tools.benchmark`` with the
    command line :func:`~.cli.child_argv` writes from ``args`` for that
    mode.

    Args:
        args (argparse.Namespace): Parsed command line.

    Returns:
        list[dict]: One result per mode, in order.
    """
    variants = parse_variants(args.variant)
    specs = parse_modes(args.modes, args.mode, args.amp, list(variants))
    results = []
    for spec in specs:
        cmd = [sys.executable, '-m', __package__] + child_argv(args, spec.key)
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f'mode {spec.key} failed (exit '
                               f'{proc.returncode}):\n{proc.stderr[-4000:]}')
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('{')]
        result = json.loads(lines[-1])
        result['order'] = 'isolated'  # one process per mode: no pairing
        results.append(result)
    add_ratios(results, args.baseline)
    return results


def _mmengine_logs_to_stderr() -> None:
    """Point the stdout handlers of existing MMEngine loggers at stderr."""
    # MMEngine keeps its loggers in a private registry; none is there yet
    # when nothing has logged
    for logger in getattr(MMLogger, '_instance_dict', {}).values():
        for handler in logger.handlers:
            if (isinstance(handler, logging.StreamHandler)
                    and handler.stream is sys.stdout):
                handler.setStream(sys.stderr)


def main(argv: Optional[List[str]] = None) -> List[dict]:
    """Entry point: print one JSON line per mode on stdout.

    Everything else (logs, the side-by-side table, profiles) goes to
    stderr.

    Args:
        argv (list[str], optional): Arguments without the program name;
            None reads ``sys.argv``.

    Returns:
        list[dict]: The results (also printed).
    """
    args = parse_args(argv)
    stdout = sys.stdout
    # stdout carries only the JSON lines; logs (e.g. the optimizer
    # constructor's) go to stderr
    _mmengine_logs_to_stderr()
    with redirect_stdout(sys.stderr):
        results = run_isolated(args) if args.isolate else run_benchmark(args)
        print(compare_table(results))
    write_json_lines(results, stdout)
    return results
