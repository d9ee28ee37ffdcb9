# Copyright (c) DiST-MMAction2 contributors. Licensed under Apache-2.0.
"""Re-encode a folder of videos for fast training-time decoding.

Every video below ``IN_DIR`` is decoded (frames in presentation order, MP4
edit lists honoured: a stream-copy cut loses its hidden frames), resized to
a short side (``--short-side``, 0 keeps the size), and written below
``OUT_DIR`` at the same relative path as H.264 MP4 (``.mp4``), without
audio, at the source's average frame rate::

    python tools/data/reencode_videos.py data/kinetics400/videos_train \
        data/kinetics400/videos_train_fast --short-side 256 --keyint 32 \
        --num-workers 16

What makes the copies fast to decode (measured in docs/data_pipeline.md):

* ``--tune fastdecode`` (the default): x264 without CABAC, the in-loop
  deblocking filter and weighted prediction, the most expensive decoding
  steps, at a somewhat larger file;
* ``--keyint``: a keyframe every N frames (default 32), so the decoder can
  jump close to each sampled frame instead of decoding from a keyframe up
  to 10 s away;
* ``--short-side``: the recipes crop 224 px from a short side of 256; larger
  sources (e.g. Kinetics' originals) are decoded at their full size for
  nothing.

Already converted files (same name, newer than the source) are skipped, so
an interrupted run can be restarted. Files that cannot be decoded are listed
at the end and the exit code is 1.
"""
import argparse
import os
import os.path as osp
import sys
import time
from fractions import Fraction
from multiprocessing import Pool
from typing import List, Optional, Sequence, Tuple

#: Extensions taken as videos.
VIDEO_EXTS = ('.mp4', '.webm', '.mkv', '.avi', '.mov', '.m4v', '.flv')


def target_size(width: int, height: int, short_side: int) -> Tuple[int, int]:
    """The output size: short side ``short_side`` (0: unchanged), aspect
    kept, both sides even (H.264 4:2:0 needs it).

    Args:
        width (int): Source width.
        height (int): Source height.
        short_side (int): Short side of the output, 0 to keep the size.

    Returns:
        tuple[int, int]: (width, height).
    """
    if short_side > 0:
        scale = short_side / min(width, height)
        width, height = width * scale, height * scale
    return (max(2,
                int(round(width / 2)) * 2), max(2,
                                                int(round(height / 2)) * 2))


def reencode(src: str,
             dst: str,
             short_side: int = 256,
             keyint: int = 32,
             crf: int = 23,
             preset: str = 'medium',
             tune: Optional[str] = 'fastdecode') -> int:
    """Re-encode one video (see the module docstring).

    Args:
        src (str): Source video.
        dst (str): Output MP4 (its folder is created).
        short_side (int): Short side of the output, 0 to keep the size.
            Defaults to 256.
        keyint (int): Keyframe interval in frames. Defaults to 32.
        crf (int): x264 constant rate factor (quality). Defaults to 23.
        preset (str): x264 preset. Defaults to 'medium'.
        tune (str, optional): x264 tune, None for none. Defaults to
            'fastdecode'.

    Returns:
        int: Frames written.
    """
    import av
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    tmp = dst + '.part.mp4'
    written = 0
    with av.open(src) as source:
        stream = source.streams.video[0]
        stream.codec_context.thread_count = 1
        rate = stream.average_rate or stream.guessed_rate or Fraction(30)
        width, height = target_size(stream.codec_context.width,
                                    stream.codec_context.height, short_side)
        with av.open(tmp, 'w', format='mp4') as target:
            out = target.add_stream('libx264', rate=Fraction(rate))
            out.width, out.height, out.pix_fmt = width, height, 'yuv420p'
            out.codec_context.gop_size = keyint
            options = dict(g=str(keyint), crf=str(crf), preset=preset)
            if tune:
                options['tune'] = tune
            out.options = options
            for frame in source.decode(stream):
                image = frame.reformat(
                    width, height, 'yuv420p', interpolation='AREA')
                image.pts, image.time_base = written, 1 / Fraction(rate)
                target.mux(out.encode(image))
                written += 1
            target.mux(out.encode())
    if written == 0:
        os.remove(tmp)
        raise ValueError(f'{src}: no decodable frame')
    os.replace(tmp, dst)
    return written


def find_videos(root: str) -> List[str]:
    """Video files below ``root``, relative to it, sorted."""
    found = []
    for folder, _, files in os.walk(root):
        for name in files:
            if name.lower().endswith(VIDEO_EXTS) and '.part.' not in name:
                found.append(osp.relpath(osp.join(folder, name), root))
    return sorted(found)


def _job(args: tuple) -> Tuple[str, Optional[str]]:
    """Pool worker: ``(relative path, error or None)``."""
    rel, src, dst, kwargs = args
    try:
        reencode(src, dst, **kwargs)
        return rel, None
    except Exception as exc:  # PyAV's FFmpegError family, bad files
        return rel, f'{type(exc).__name__}: {exc}'


def convert_folder(in_dir: str,
                   out_dir: str,
                   num_workers: int = 1,
                   **kwargs) -> Tuple[List[str], List[Tuple[str, str]]]:
    """Re-encode every video of ``in_dir`` into ``out_dir``.

    Args:
        in_dir (str): Source folder (searched recursively).
        out_dir (str): Output folder; same relative paths, ``.mp4``.
        num_workers (int): Parallel processes. Defaults to 1.
        **kwargs: Passed to :func:`reencode`.

    Returns:
        tuple: (converted relative paths, [(relative path, error), ...]).

    Raises:
        FileNotFoundError: ``in_dir`` holds no video.
    """
    videos = find_videos(in_dir)
    if not videos:
        raise FileNotFoundError(f'no video files ({", ".join(VIDEO_EXTS)}) '
                                f'below {in_dir!r}')
    jobs = []
    for rel in videos:
        src = osp.join(in_dir, rel)
        dst = osp.join(out_dir, osp.splitext(rel)[0] + '.mp4')
        if osp.exists(dst) and osp.getmtime(dst) >= osp.getmtime(src):
            continue
        jobs.append((rel, src, dst, kwargs))
    if num_workers > 1:
        with Pool(num_workers) as pool:
            results = pool.map(_job, jobs, chunksize=1)
    else:
        results = [_job(job) for job in jobs]
    done = [rel for rel, err in results if err is None]
    failed = [(rel, err) for rel, err in results if err is not None]
    return done, failed


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    p = argparse.ArgumentParser(
        description='Re-encode videos as H.264 MP4 that decode fast '
        '(short side, keyframe interval, x264 fastdecode).')
    p.add_argument('in_dir', help='source folder (recursive)')
    p.add_argument('out_dir', help='output folder (same relative paths)')
    p.add_argument(
        '--short-side',
        type=int,
        default=256,
        help='short side in pixels, 0 keeps the size (default 256)')
    p.add_argument(
        '--keyint', type=int, default=32, help='keyframe interval (32)')
    p.add_argument('--crf', type=int, default=23, help='x264 CRF (23)')
    p.add_argument('--preset', default='medium', help='x264 preset')
    p.add_argument(
        '--tune',
        default='fastdecode',
        help="x264 tune (default fastdecode; 'none' for none)")
    p.add_argument('--num-workers', type=int, default=1)
    args = p.parse_args(argv)
    if args.keyint < 1:
        p.error(f'--keyint must be >= 1, got {args.keyint}')
    if args.short_side < 0:
        p.error(f'--short-side must be >= 0, got {args.short_side}')
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Convert and report; exit code 1 when a file failed."""
    args = parse_args(argv)
    start = time.perf_counter()
    done, failed = convert_folder(
        args.in_dir,
        args.out_dir,
        args.num_workers,
        short_side=args.short_side,
        keyint=args.keyint,
        crf=args.crf,
        preset=args.preset,
        tune=None if args.tune == 'none' else args.tune)
    for rel, err in failed:
        print(f'{rel}: {err}', file=sys.stderr)
    print(f're-encoded {len(done)} videos into {args.out_dir} in '
          f'{time.perf_counter() - start:.1f} s; {len(failed)} failed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
