# Copyright (c) DiST-MMAction2 contributors. Licensed under Apache-2.0.
"""Write Kinetics-like or SSv2-like videos for the pipeline benchmark.

The files are encoded the way the real datasets are, so that decoding costs
what it costs on them: long GOPs (a keyframe every ``--keyint`` frames),
B-frames, a textured picture that pans, with a moving object::

    python tools/data/generate_benchmark_videos.py data/bench_k400 \
        --kind kinetics --num 8
    python tools/data/generate_benchmark_videos.py data/bench_sthv2 \
        --kind sthv2 --num 8

``kinetics``: H.264 (libx264, yuv420p) in MP4, 340 x 256, 30 fps, 10 s, a
keyframe every 250 frames (the short-side-256 copies of Kinetics that
MMAction2's recipes read). ``sthv2``: VP9 (libvpx-vp9) in WebM, 427 x 240,
12 fps, 4 s (the Something-Something v2 files). Every option can be
overridden. Also writes ``list.txt`` (``<file> <label>`` lines, labels
cycling over 10 classes) for a ``VideoDataset``.

Run it as its own process: once decord has opened a video in a process,
PyAV's ``libvpx-vp9`` encoder fails to open there (decord's bundled FFmpeg
libraries get in the way), so ``sthv2`` files cannot be written after it.
"""
import argparse
import os
import os.path as osp
import time
from fractions import Fraction
from typing import Dict, List, Optional, Sequence

import numpy as np

#: Encoding of each kind of file: container, codec, size, rate, duration.
KINDS: Dict[str, Dict] = {
    'kinetics':
    dict(
        ext='mp4',
        codec='libx264',
        size=(340, 256),
        fps=30,
        seconds=10.0,
        keyint=250,
        options=dict(preset='medium', crf='23')),
    'sthv2':
    dict(
        ext='webm',
        codec='libvpx-vp9',
        size=(427, 240),
        fps=12,
        seconds=4.0,
        keyint=128,
        options={
            'deadline': 'good',
            'cpu-used': '8',
            'crf': '33',
            'b': '0'
        }),
}


def render_frames(num_frames: int,
                  size: Sequence[int],
                  seed: int = 0) -> np.ndarray:
    """Frames of a slowly rotating, zooming texture with a moving disk.

    The rotation and zoom keep the encoder's motion search busy, so the
    bitrate (about 240 kbit/s for the Kinetics-like files) and the decoding
    cost are those of real footage rather than of a static picture.

    Args:
        num_frames (int): Frame count ``T``.
        size (Sequence[int]): (width ``W``, height ``H``).
        seed (int): Seed of the texture and the motion. Defaults to 0.

    Returns:
        np.ndarray: uint8 RGB frames of shape ``(T, H, W, 3)``.
    """
    import cv2
    w, h = size
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (2 * h, 2 * w, 3), dtype=np.uint8)
    texture = cv2.GaussianBlur(noise, (0, 0), 1.5)
    texture = cv2.normalize(texture, None, 0, 255, cv2.NORM_MINMAX)
    frames = np.empty((num_frames, h, w, 3), np.uint8)
    cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
    vx, vy = rng.uniform(-2, 2), rng.uniform(-2, 2)
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    for t in range(num_frames):
        # 0.1 degree and 0.2 % zoom per frame about the texture's centre,
        # which lands on the frame's centre
        warp = cv2.getRotationMatrix2D((w, h), 0.1 * t, 1.0 + 0.002 * t)
        warp[:, 2] -= (w / 2, h / 2)
        frame = cv2.warpAffine(
            texture, warp, (w, h), borderMode=cv2.BORDER_REFLECT)
        px = int((cx + vx * t) % w)
        py = int((cy + vy * t) % h)
        cv2.circle(frame, (px, py), max(4, h // 10), colour, -1)
        frames[t] = frame
    return frames


def write_video(path: str,
                frames: np.ndarray,
                codec: str,
                fps: int,
                keyint: int,
                options: Optional[Dict[str, str]] = None) -> str:
    """Encode RGB frames with PyAV (its bundled FFmpeg).

    Args:
        path (str): Output file; the extension picks the container.
        frames (np.ndarray): uint8 frames of shape ``(T, H, W, 3)``.
        codec (str): FFmpeg encoder, e.g. ``'libx264'``, ``'libvpx-vp9'``.
        fps (int): Frame rate.
        keyint (int): Largest distance between keyframes (``-g``).
        options (dict[str, str], optional): More encoder options.

    Returns:
        str: ``path``.
    """
    import av
    _, h, w, _ = frames.shape
    with av.open(path, 'w') as container:
        stream = container.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = w, h, 'yuv420p'
        stream.codec_context.gop_size = keyint
        stream.options = dict(options or {}, g=str(keyint))
        stream.codec_context.thread_count = 1
        for image in frames:
            frame = av.VideoFrame.from_ndarray(image, format='rgb24')
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def generate(out_dir: str,
             kind: str = 'kinetics',
             num: int = 8,
             seconds: Optional[float] = None,
             size: Optional[Sequence[int]] = None,
             fps: Optional[int] = None,
             keyint: Optional[int] = None,
             seed: int = 0,
             num_classes: int = 10) -> List[str]:
    """Write ``num`` videos of ``kind`` and their annotation list.

    Args:
        out_dir (str): Output folder (created).
        kind (str): ``'kinetics'`` or ``'sthv2'`` (see :data:`KINDS`).
        num (int): Number of videos. Defaults to 8.
        seconds (float, optional): Duration. Defaults to the kind's.
        size (Sequence[int], optional): (width, height). Defaults to the
            kind's.
        fps (int, optional): Frame rate. Defaults to the kind's.
        keyint (int, optional): Keyframe interval. Defaults to the kind's.
        seed (int): Video ``i`` uses seed ``seed + i``. Defaults to 0.
        num_classes (int): Labels of the list cycle over this many.
            Defaults to 10.

    Returns:
        list[str]: Paths of the written videos.
    """
    if kind not in KINDS:
        raise ValueError(f'unknown kind {kind!r}; expected one of '
                         f'{sorted(KINDS)}')
    if num < 1:
        raise ValueError(f'num must be >= 1, got {num}')
    spec = KINDS[kind]
    seconds = spec['seconds'] if seconds is None else seconds
    size = tuple(spec['size'] if size is None else size)
    fps = spec['fps'] if fps is None else fps
    keyint = spec['keyint'] if keyint is None else keyint
    num_frames = max(1, int(round(seconds * fps)))
    os.makedirs(out_dir, exist_ok=True)
    paths, lines = [], []
    for i in range(num):
        name = f'{kind}_{i:04d}.{spec["ext"]}'
        frames = render_frames(num_frames, size, seed + i)
        paths.append(
            write_video(
                osp.join(out_dir, name), frames, spec['codec'], fps, keyint,
                spec['options']))
        lines.append(f'{name} {i % num_classes}')
    with open(osp.join(out_dir, 'list.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return paths


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    p = argparse.ArgumentParser(
        description='Write Kinetics-like (H.264 MP4) or SSv2-like (VP9 '
        'WebM) videos with long GOPs, for the pipeline benchmark.')
    p.add_argument('out_dir', help='output folder')
    p.add_argument('--kind', choices=sorted(KINDS), default='kinetics')
    p.add_argument('--num', type=int, default=8, help='videos (default 8)')
    p.add_argument('--seconds', type=float, help='duration (s)')
    p.add_argument(
        '--size', type=int, nargs=2, metavar=('W', 'H'), help='frame size')
    p.add_argument('--fps', type=int, help='frame rate')
    p.add_argument('--keyint', type=int, help='keyframe interval (frames)')
    p.add_argument('--seed', type=int, default=0)
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    """Write the videos and print where they are."""
    args = parse_args(argv)
    start = time.perf_counter()
    paths = generate(
        args.out_dir,
        args.kind,
        args.num,
        seconds=args.seconds,
        size=args.size,
        fps=args.fps,
        keyint=args.keyint,
        seed=args.seed)
    print(f'wrote {len(paths)} {args.kind}-like videos and list.txt to '
          f'{args.out_dir} in {time.perf_counter() - start:.1f} s')


if __name__ == '__main__':
    main()
