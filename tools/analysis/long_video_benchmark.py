# Copyright (c) DiST-MMAction2 contributors. Licensed under Apache-2.0.
"""Time sliding-window inference with and without frozen-tower reuse, side
by side in one run, and compare peak memory on a video 4x as long.

Writes two generated videos (moving squares, low resolution; the model
resizes every frame to its input size), builds the config's model with
random weights (no download: both CLIP towers ``pretrained=None``; a
``--num-classes``-name label list keeps the one-off text-tower pass
short), then

1. times :class:`~projects.dist.apis.SlidingWindowRecognizer` over the
   short video with ``reuse_tower=False`` (the tower recomputed for every
   window, as MMAction2's long-video demo does) and ``reuse_tower=True``
   (``--batch-windows`` windows scored together, as
   ``tools/long_video_demo.py`` does for files), in the same process after
   one warm-up window, and
2. runs the reuse path on the short and on the long video, each in its own
   child process, and reports their peak resident memory (``ru_maxrss``).

::

    python tools/analysis/long_video_benchmark.py configs/dist_vitb_k400.py \\
        --seconds 180 --fps 4 --frame-interval 4 --out result.json

Prints one JSON object (also written to ``--out``). It also compares every
window's scores and embedding between the two paths
(``max_relative_difference``: the largest ``max|reuse - recompute| /
max|recompute|`` over the windows; the parity criterion is 1e-5).
"""
import argparse
import json
import os
import os.path as osp
import resource
import subprocess
import sys
import tempfile
import time
from typing import List, Optional

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import projects.dist  # noqa: F401  -- compat fixes + registration

# isort: split
from mmaction.apis import init_recognizer

from projects.dist.apis import SlidingWindowRecognizer, open_source
from projects.dist_tools.cpu_allocator import tune_glibc_malloc


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='config file (its model is used)')
    p.add_argument('--seconds', type=float, default=32, help='short video')
    p.add_argument('--fps', type=int, default=4, help='generated frame rate')
    p.add_argument(
        '--size',
        type=int,
        nargs=2,
        default=(96, 72),
        help='generated width and height')
    p.add_argument('--frame-interval', type=int, default=4)
    p.add_argument('--stride', type=int, help='default: window / 4')
    p.add_argument(
        '--batch-windows',
        type=int,
        help='reuse path: windows scored together (default: window / '
        'stride, as tools/long_video_demo.py does for files)')
    p.add_argument('--long-factor', type=int, default=4)
    p.add_argument('--num-classes', type=int, default=5)
    p.add_argument('--threads', type=int, help='torch threads')
    p.add_argument(
        '--cpu-malloc',
        choices=('tuned', 'default'),
        default='tuned',
        help='glibc malloc thresholds, as tools/analysis/benchmark.py '
        '(see projects/dist_tools/cpu_allocator.py)')
    p.add_argument('--out', help='also write the JSON here')
    p.add_argument('--child', help=argparse.SUPPRESS)  # video to run
    return p.parse_args(argv)


def write_video(path: str, num_frames: int, fps: int, size) -> str:
    """Squares moving across a dark background (mp4v)."""
    import cv2
    w, h = size
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             (w, h))
    if not writer.isOpened():
        raise OSError(f'cannot write {path}')
    rng = np.random.default_rng(0)
    colours = rng.integers(64, 256, (3, 3)).tolist()
    for i in range(num_frames):
        frame = np.full((h, w, 3), 20, np.uint8)
        for j, colour in enumerate(colours):
            x = (i * (j + 1) * 3) % (w - 12)
            y = (j * h // 3 + i) % (h - 12)
            frame[y:y + 12, x:x + 12] = colour
        writer.write(frame)
    writer.release()
    return path


def build_model(config: str, num_classes: int) -> torch.nn.Module:
    """The config's recognizer with random weights and generic names."""
    cfg = Config.fromfile(config)
    cfg.model.backbone.spatial_encoder.pretrained = None
    head = cfg.model.cls_head
    if head.get('text_encoder') is not None:
        head.text_encoder.pretrained = None
    head.class_names = [f'action {i}' for i in range(num_classes)]
    head.num_classes = num_classes
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    torch.manual_seed(0)
    return init_recognizer(cfg, None, device='cpu')


def rss_mib() -> float:
    """Current resident memory of this process, MiB."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return float('nan')


def child(args: argparse.Namespace) -> dict:
    """Run the reuse path over ``args.child``; report memory."""
    model = build_model(args.config, args.num_classes)
    after_build = rss_mib()
    runner = SlidingWindowRecognizer(
        model,
        args.stride,
        args.frame_interval,
        reuse_tower=True,
        batch_windows=args.batch_windows)
    start = time.perf_counter()
    windows = sum(1 for _ in runner.run(open_source(args.child)))
    return dict(
        video=osp.basename(args.child),
        windows=windows,
        tower_frames=runner.tower_frames,
        peak_cached_frames=runner.peak_cached_frames,
        seconds=time.perf_counter() - start,
        rss_after_build_mib=after_build,
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def timed(model, video: str, args, reuse: bool) -> tuple:
    """Time one pass over ``video``.

    Returns:
        tuple[dict, list]: The timing record and the windows'
        :class:`~projects.dist.apis.WindowResult`.
    """
    runner = SlidingWindowRecognizer(
        model,
        args.stride,
        args.frame_interval,
        reuse_tower=reuse,
        batch_windows=args.batch_windows if reuse else 1)
    start = time.perf_counter()
    results = list(runner.run(open_source(video)))
    seconds = time.perf_counter() - start
    return dict(
        reuse_tower=reuse,
        stride=runner.stride,
        batch_windows=runner.batch_windows,
        windows=len(results),
        tower_frames=runner.tower_frames,
        seconds=seconds,
        seconds_per_window=seconds / len(results)), results


def largest_difference(got: list, want: list, field: str) -> float:
    """max over windows of ``max|got - want| / max|want|`` for one field of
    :class:`~projects.dist.apis.WindowResult` (the parity criterion's
    ratio: at most 1e-5 means equal)."""
    return max(
        float((getattr(a, field) - getattr(b, field)).abs().max() /
              getattr(b, field).abs().max()) for a, b in zip(got, want))


def main(argv: Optional[List[str]] = None) -> dict:
    """Run the benchmark (or, with ``--child``, one memory run)."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.cpu_malloc == 'tuned':
        tune_glibc_malloc()
    if args.child:
        print(json.dumps(child(args)))
        return 0
    tmp = tempfile.mkdtemp(prefix='long_video_bench_')
    n = int(round(args.seconds * args.fps))
    short = write_video(osp.join(tmp, 'short.mp4'), n, args.fps, args.size)
    long = write_video(
        osp.join(tmp, 'long.mp4'), n * args.long_factor, args.fps, args.size)
    load_before = os.getloadavg()[0]
    model = build_model(args.config, args.num_classes)
    bb = model.backbone
    # warm-up: one window (and the one-off text features of the names)
    with torch.no_grad():
        size = bb.spatial_encoder.arch['image_size']
        x = torch.zeros(1, 3, bb.num_frames, size, size)
        model.cls_head(bb(x))
    recompute, want = timed(model, short, args, reuse=False)
    reuse, got = timed(model, short, args, reuse=True)
    if [r[:5] for r in got] != [r[:5] for r in want]:
        raise RuntimeError('the two paths scored different windows')
    # every window's scores and embedding against the plain forward's
    difference = {
        field: largest_difference(got, want, field)
        for field in ('scores', 'embedding')
    }
    memory = []
    for video in (short, long):
        cmd = [
            sys.executable,
            osp.abspath(__file__), args.config, '--child', video,
            '--frame-interval',
            str(args.frame_interval), '--num-classes',
            str(args.num_classes), '--cpu-malloc', args.cpu_malloc
        ]
        if args.stride:
            cmd += ['--stride', str(args.stride)]
        if args.batch_windows:
            cmd += ['--batch-windows', str(args.batch_windows)]
        if args.threads:
            cmd += ['--threads', str(args.threads)]
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            check=True,
            env=dict(os.environ))
        memory.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    out = dict(
        config=args.config,
        command=' '.join(['python', 'tools/analysis/long_video_benchmark.py'] +
                         (argv if argv is not None else sys.argv[1:])),
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        cpu_count=os.cpu_count(),
        window=bb.num_frames,
        alpha=bb.alpha,
        stride=reuse['stride'],
        frame_interval=args.frame_interval,
        cpu_malloc=args.cpu_malloc,
        loadavg_1min_before_after=[load_before,
                                   os.getloadavg()[0]],
        video_seconds=[args.seconds, args.seconds * args.long_factor],
        video_fps=args.fps,
        video_size=list(args.size),
        recompute=recompute,
        reuse=reuse,
        speedup=recompute['seconds'] / reuse['seconds'],
        max_relative_difference=difference,
        memory=memory,
        peak_rss_ratio_long_to_short=memory[1]['peak_rss_mib'] /
        memory[0]['peak_rss_mib'],
        weights='random (pretrained=None), no download')
    print(json.dumps(out, indent=1))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == '__main__':
    from projects.dist.utils.cli import run_tool  # repository root on path
    run_tool(main)
