"""The benchmark's output: one JSON object per mode, ratios between modes,
and a side-by-side table (``torch.utils.benchmark.Compare``) for people.

The keys of a result are documented in ``docs/benchmark.md``.
"""
import argparse
import json
import os
import platform
import statistics
from typing import List, Optional, Sequence, TextIO

import torch
from torch.utils.benchmark import Compare, Measurement, TaskSpec

from projects.dist.models.layers.fast_path import fast_groups
from .memory import process_peak_rss_mb
from .runners import ModeRunner


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


def mode_result(args: argparse.Namespace, runner: ModeRunner,
                device: torch.device, peak_mem_mb: Optional[float],
                mem_metric: Optional[str]) -> dict:
    """The JSON object of one mode after its timed iterations.

    The ratio fields are added by :func:`add_ratios` once every mode ran.

    Args:
        args (argparse.Namespace): The parsed command line.
        runner (ModeRunner): The mode, with its recorded times.
        device (torch.device): The benchmark device.
        peak_mem_mb (float, optional): The mode's peak memory, MiB.
        mem_metric (str, optional): What ``peak_mem_mb`` measures
            (``'cuda_max_allocated'`` or ``'rss_sampled_process'``).

    Returns:
        dict: The result, keys as documented in ``docs/benchmark.md``.
    """
    spec, cuda = runner.spec, device.type == 'cuda'
    mean = statistics.fmean(runner.times)
    return dict(
        mode=spec.mode,
        amp=spec.amp,
        variant=spec.variant,
        key=spec.key,
        fast_path=sorted(fast_groups(runner.fast_path)),
        config=args.config,
        device=str(device),
        device_name=(torch.cuda.get_device_name(device)
                     if cuda else platform.processor() or platform.machine()),
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
        peak_mem_mb=peak_mem_mb,
        mem_metric=mem_metric,
        process_peak_rss_mb=process_peak_rss_mb(),
        loadavg_1min=os.getloadavg()[0] if hasattr(os, 'getloadavg') else None,
        cpu_malloc=args.cpu_malloc_applied if not cuda else None,
        tf32=(dict(
            matmul=torch.backends.cuda.matmul.allow_tf32,
            cudnn=torch.backends.cudnn.allow_tf32) if cuda else None),
        cudnn_benchmark=torch.backends.cudnn.benchmark if cuda else None,
        cudnn_version=torch.backends.cudnn.version() if cuda else None,
        optimizer=describe_optimizer(runner.optim_wrapper),
        torch=torch.__version__)


def _paired_median(times: Sequence[float], ref: Sequence[float],
                   paired: bool) -> Optional[float]:
    """Median of per-round time ratios, None unless rounds were paired."""
    if not paired or len(times) != len(ref):
        return None
    return statistics.median(t / r for t, r in zip(times, ref))


def resolve_baseline(baseline: Optional[str],
                     keys: Sequence[str]) -> Optional[str]:
    """The mode key ``--baseline`` names.

    ``clip-only`` or ``test@v`` name a mode without its amp part; that is
    accepted when exactly one mode run matches.

    Args:
        baseline (str, optional): The ``--baseline`` value.
        keys (Sequence[str]): The keys of the modes run.

    Returns:
        str, optional: A key of ``keys``, or None without a baseline.
    """
    if baseline is None or baseline in keys:
        return baseline
    mode, _, variant = baseline.partition('@')
    matches = [
        k for k in keys if k.partition('@')[2] == variant
        and k.partition('@')[0].split(':')[0] == mode
    ]
    if ':' not in mode and len(matches) == 1:
        return matches[0]
    raise ValueError(f'--baseline {baseline!r} is not one of the modes '
                     f'run: {sorted(keys)}')


def add_ratios(results: List[dict], baseline: Optional[str]) -> None:
    """Add the ratio fields in place.

    ``ratio_to_clip_only`` divides a mode's s/iter by that of the clip-only
    mode with the same amp and variant (else the same amp, no variant);
    ``time_ratio_to_baseline`` by that of ``baseline``. The ``*_paired``
    variants are medians of the per-round ratios (iteration i of one mode
    against iteration i of the other), defined for interleaved runs only,
    where they cancel most of a slowly changing machine load.

    Args:
        results (list[dict]): Results of :func:`mode_result`.
        baseline (str, optional): The ``--baseline`` value.
    """
    by_key = {r['key']: r for r in results}
    baseline = resolve_baseline(baseline, list(by_key))
    base = by_key[baseline] if baseline is not None else None
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
        r['time_ratio_to_baseline'] = (
            r['s_per_iter'] / base['s_per_iter'] if base is not None else None)
        r['time_ratio_to_baseline_paired'] = (
            _paired_median(r['iter_times'], base['iter_times'], paired)
            if base is not None else None)


def compare_table(results: List[dict]) -> Compare:
    """The modes side by side, as ``torch.utils.benchmark.Compare``.

    Rows are the models (the config's own and each variant), columns the
    modes with their amp; each cell is the median time per iteration over
    the timed iterations.

    Args:
        results (list[dict]): Results with ``iter_times``.

    Returns:
        Compare: ``str()`` of it is the table.
    """
    measurements = [
        Measurement(
            number_per_run=1,
            raw_times=list(r['iter_times']),
            task_spec=TaskSpec(
                stmt=r['mode'],
                setup='',
                label=f"benchmark of {r['config']} on {r['device']}",
                sub_label=r['variant'] or '(config)',
                description=f"{r['mode']}:{r['amp']}",
                num_threads=r['threads'])) for r in results
    ]
    compare = Compare(measurements)
    compare.trim_significant_figures()
    return compare


def write_json_lines(results: List[dict], stream: TextIO) -> None:
    """Print one JSON object per result, one per line.

    Args:
        results (list[dict]): The results.
        stream (TextIO): Where to print (the tool's stdout).
    """
    for r in results:
        print(json.dumps(r), file=stream, flush=True)
