# Copyright (c) DiST-MMAction2 contributors. Licensed under Apache-2.0.
"""Measure the input pipelines of a config on a folder of videos.

Runs the config's train and/or test pipeline (``train_dataloader`` /
``test_dataloader``) on every video of a folder, in one process, and prints
ONE JSON line per (split, variant) with clips/s per core (clips per CPU
second of the process) and per worker (clips per wall-clock second of this
one process, which is what one DataLoader worker delivers), and the CPU time
per clip split into ``decode`` (opening, frame sampling, decoding),
``resize_crop`` (every spatial step: crops, resizes, flips, grayscale) and
``format`` (``FormatShape``, ``PackActionInputs``).

Variants run interleaved (video by video, with the same random seed for
each variant on a video, so they sample the same frames and draw the same
crops), so their ratios come from the same run on a shared machine:

* ``config``: the pipeline as the config writes it;
* ``stock``: MMAction2's ``DecordInit`` / ``DecordDecode`` for the decoding
  steps, i.e. the recipes' pipelines before the DiST decoding steps;
* ``pyav``, ``decord``: ``DiSTVideoInit(backend=...)`` / ``DiSTVideoDecode``
  with the config's other steps;
* ``floor``: a LOWER BOUND on the cost of frame-accurate decoding with
  FFmpeg's decoders on one thread, not a usable backend (its frames are
  black): :class:`DecodeFloorInit` opens the
  file as ``pyav`` does (packet index, no decoding), then decodes, with the
  same PyAV build and thread count, exactly the packets a frame-accurate
  decoder cannot avoid for the sampled indices (every reference frame from
  the keyframe each wanted frame needs up to the wanted frame, and the
  wanted frames; no other non-reference frame), converts nothing to RGB and
  hands on black frames of the video's size, so the resize, crop and
  format steps cost what they cost after a real decoder.

A variant written ``VARIANT@DIR`` reads its videos from ``DIR`` instead
(the i-th file of each folder, sorted, pairs up), e.g. the re-encoded copies
of ``tools/data/reencode_videos.py`` against the originals, in one run::

    OMP_NUM_THREADS=1 python tools/analysis/benchmark_pipeline.py \
        configs/dist_vitb_k400.py data/bench_k400 \
        --variants stock,pyav,pyav@data/bench_k400_fast

Example (one core, as the docs' table)::

    python tools/data/generate_benchmark_videos.py data/bench_k400 --num 8
    OMP_NUM_THREADS=1 python tools/analysis/benchmark_pipeline.py \\
        configs/dist_vitb_k400.py data/bench_k400 \\
        --variants stock,config --rounds 3 --out pipeline.jsonl

The last line of a run (``"split": "summary"``) gives each variant's
clips/s per core as a ratio to the first variant's. Each record also has
``cpu_ms_per_step`` (CPU ms per video of every step, in pipeline order).
"""
import argparse
import copy
import glob
import json
import os
import os.path as osp
import platform
import random
import sys
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import projects.dist  # noqa: F401  -- registers the DiST transforms

# isort: split
from mmaction.registry import TRANSFORMS

from projects.dist.datasets.transforms.video_decode import DiSTVideoInit
from projects.dist.datasets.transforms.video_readers import PyAVReader

#: Video file extensions picked up from the folder.
VIDEO_EXTS = ('.mp4', '.webm', '.mkv', '.avi', '.mov')

#: Steps timed as ``decode`` (the rest before formatting is resize_crop).
DECODE_STEPS = ('DiSTVideoInit', 'DiSTVideoDecode', 'DecodeFloorInit',
                'DecordInit', 'DecordDecode', 'PyAVInit', 'PyAVDecode',
                'OpenCVInit', 'OpenCVDecode', 'UniformSample',
                'DiSTSegmentSample', 'SampleFrames', 'UntrimmedSampleFrames',
                'DenseSampleFrames')
#: Steps timed as ``format``.
FORMAT_STEPS = ('FormatShape', 'PackActionInputs', 'ToTensor')

#: Variants and what they do to the decoding steps.
VARIANTS = ('config', 'stock', 'pyav', 'decord', 'floor')


class DecodeFloorReader(PyAVReader):
    """The least decoding a frame-accurate decoder must do; black frames.

    A measuring device for the ``floor`` variant, NOT a backend: it returns
    black frames. Opening is :class:`PyAVReader`'s (the packet index, which
    gives the presentation order). :meth:`read_sorted` decodes the packets
    from the keyframe each wanted frame needs (see
    :meth:`PyAVReader._start_for`) up to the wanted frame's packet; runs that
    overlap or touch are decoded as one, and the decoder starts afresh at
    the keyframe of a run only where it lies past the previous run's end.
    Packets of frames that are not wanted are sent with
    ``skip_frame='NONREF'`` (the decoder drops the non-reference ones after
    reading their header; leaving them out measured no faster; not for
    codecs outside :data:`SKIP_SAFE_CODECS`, e.g. AV1), the decoder
    is drained after each run instead of being fed later packets, and no
    frame is converted to RGB.

    Attributes:
        sent (int): Packets sent to the decoder by the last
            :meth:`read_sorted`.
        runs (list[tuple[int, int]]): Its decoded ``[start, stop)`` ranges
            of decode positions.
    """

    name = 'floor'

    def __init__(self, source, num_threads: int = 1) -> None:
        super().__init__(source, num_threads, skip_unused=True)
        self.sent = 0
        self.runs: List[tuple] = []

    def read_sorted(self, indices: np.ndarray) -> List[np.ndarray]:
        """Decode what the frames need; ``K`` black ``(H, W, 3)`` frames.

        Raises:
            ValueError: the file has packets without timestamps (the floor
                is only defined where :class:`PyAVReader` seeks by them).
            RuntimeError: a wanted frame did not come out of the decoder.
        """
        if not self._timed:
            raise ValueError('the decode floor needs packet timestamps; '
                             'this file has packets without pts')
        packets = self._packets
        codec = self._stream.codec_context
        wanted = {self._pts[i] for i in indices.tolist()}
        runs: List[List[int]] = []
        for start, pos in sorted((self._start_for(i), self._decode_pos[i])
                                 for i in indices.tolist()):
            if runs and start <= runs[-1][1]:
                runs[-1][1] = max(runs[-1][1], pos + 1)
            else:
                runs.append([start, pos + 1])
        seen, size, sent = set(), None, 0

        def note(decoded) -> None:
            nonlocal size
            for frame in decoded:
                if frame.pts in wanted:
                    seen.add(frame.pts)
                    size = (frame.height, frame.width)

        for start, stop in runs:
            codec.flush_buffers()
            for packet in packets[start:stop]:
                # codecs where skipping loses frames (AV1) decode everything
                codec.skip_frame = ('DEFAULT' if packet.pts in wanted
                                    or not self.skip_unused else 'NONREF')
                note(codec.decode(packet))
            sent += stop - start
            codec.skip_frame = 'DEFAULT'
            note(codec.decode(None))  # drain: the frames it holds back
        codec.flush_buffers()
        self.sent, self.runs = sent, [tuple(r) for r in runs]
        if seen != wanted:
            raise RuntimeError(f'{len(wanted - seen)} of {len(wanted)} wanted '
                               'frames did not come out of the decoder')
        # one written array per frame, as a decoder would hand on
        return [np.full((*size, 3), 0, np.uint8) for _ in range(len(indices))]


class DecodeFloorInit(DiSTVideoInit):
    """``DiSTVideoInit`` opening a :class:`DecodeFloorReader`.

    Only for the ``floor`` variant of this tool (not registered: configs
    cannot select it).

    Args:
        num_threads (int): Decoder threads. Defaults to 1.
    """

    def __init__(self, num_threads: int = 1) -> None:
        super().__init__(backend='pyav', num_threads=num_threads)

    def transform(self, results: Dict) -> Dict:
        """Open ``results['filename']`` (see :class:`DiSTVideoInit`)."""
        reader = DecodeFloorReader(
            results['filename'], num_threads=self.num_threads)
        results['video_reader'] = reader
        results['total_frames'] = reader.num_frames
        results['avg_fps'] = reader.fps
        return results


#: Steps of this tool that are built here, not from the registry.
LOCAL_STEPS = {'DecodeFloorInit': DecodeFloorInit}


def to_variant(pipeline: Sequence[dict], variant: str) -> List[dict]:
    """Rewrite a pipeline's decoding steps for a variant.

    Args:
        pipeline (Sequence[dict]): Transform configs.
        variant (str): One of :data:`VARIANTS`, optionally followed by
            ``@DIR`` (ignored here).

    Returns:
        list[dict]: The rewritten copy.
    """
    variant = variant.split('@', 1)[0]
    if variant not in VARIANTS:
        raise ValueError(f'unknown variant {variant!r}; expected one of '
                         f'{list(VARIANTS)}')
    out = []
    for step in copy.deepcopy(list(pipeline)):
        kind = step.get('type')
        if variant == 'config':
            out.append(step)
        elif kind in ('DiSTVideoInit', 'DecordInit'):
            if variant == 'stock':
                out.append(dict(type='DecordInit'))
            elif variant == 'floor':
                out.append(dict(type='DecodeFloorInit'))
            else:
                out.append(dict(type='DiSTVideoInit', backend=variant))
        elif kind in ('DiSTVideoDecode', 'DecordDecode'):
            out.append(
                dict(type='DecordDecode' if variant ==
                     'stock' else 'DiSTVideoDecode'))
        else:
            out.append(step)
    return out


def build_step(step: dict):
    """Build a transform: this tool's own steps, else from the registry."""
    if step.get('type') in LOCAL_STEPS:
        args = dict(step)
        return LOCAL_STEPS[args.pop('type')](**args)
    return TRANSFORMS.build(step)


def step_group(step: dict) -> str:
    """``'decode'``, ``'resize_crop'`` or ``'format'`` for a step config."""
    kind = step.get('type')
    if kind in DECODE_STEPS:
        return 'decode'
    if kind in FORMAT_STEPS:
        return 'format'
    return 'resize_crop'


class TimedPipeline:
    """A pipeline whose steps are timed in CPU and wall-clock seconds.

    Args:
        pipeline (Sequence[dict]): Transform configs.
    """

    def __init__(self, pipeline: Sequence[dict]) -> None:
        self.steps = [(build_step(step), step_group(step))
                      for step in pipeline]
        self.cpu = dict(decode=0.0, resize_crop=0.0, format=0.0)
        self.step_cpu = [0.0] * len(self.steps)
        self.wall = 0.0
        self.videos = 0
        self.clips = 0

    def __call__(self, results: Dict) -> Dict:
        """Run the steps on one sample, adding their times."""
        wall = time.perf_counter()
        for i, (transform, group) in enumerate(self.steps):
            start = time.process_time()
            results = transform(results)
            spent = time.process_time() - start
            self.cpu[group] += spent
            self.step_cpu[i] += spent
        self.wall += time.perf_counter() - wall
        self.videos += 1
        self.clips += int(results['inputs'].shape[0]) \
            if 'inputs' in results else 1
        return results


def list_videos(folder: str, limit: Optional[int] = None) -> List[str]:
    """The video files of a folder, sorted.

    Raises:
        FileNotFoundError: no video file in ``folder``.
    """
    files = sorted(
        f for f in glob.glob(osp.join(folder, '*'))
        if f.lower().endswith(VIDEO_EXTS))
    if not files:
        raise FileNotFoundError(f'no video files ({", ".join(VIDEO_EXTS)}) '
                                f'in {folder!r}')
    return files[:limit] if limit else files


def seed_all(seed: int) -> None:
    """Seed Python's, NumPy's and torch's random generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def run(config: str,
        video_dir: str,
        splits: Sequence[str] = ('train', 'test'),
        variants: Sequence[str] = ('stock', 'config'),
        rounds: int = 2,
        num_videos: Optional[int] = None,
        warmup: int = 1) -> List[dict]:
    """Time the pipelines; returns the JSON records (see module doc).

    Args:
        config (str): Config file.
        video_dir (str): Folder of videos.
        splits (Sequence[str]): ``'train'``, ``'val'``, ``'test'``.
        variants (Sequence[str]): Of :data:`VARIANTS`; the first one is the
            reference of the summary's ratios.
        rounds (int): Passes over the videos. Defaults to 2.
        num_videos (int, optional): Use only the first videos.
        warmup (int): Untimed samples per variant first. Defaults to 1.

    Returns:
        list[dict]: One record per (split, variant), then a summary.
    """
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    videos = list_videos(video_dir, num_videos)
    folders = {v: v.split('@', 1)[1] for v in variants if '@' in v}
    sources = {
        v: list_videos(folders[v], num_videos) if v in folders else videos
        for v in variants
    }
    for v, found in sources.items():
        if len(found) != len(videos):
            raise ValueError(f'variant {v!r} has {len(found)} videos, '
                             f'expected {len(videos)} as in {video_dir!r}')
    records, summary = [], dict(split='summary', reference=variants[0])
    for split in splits:
        pipeline = cfg[f'{split}_dataloader']['dataset']['pipeline']
        timed = {v: TimedPipeline(to_variant(pipeline, v)) for v in variants}
        for variant, pipe in timed.items():  # warm up, untimed
            for path in sources[variant][:warmup]:
                seed_all(0)
                pipe(
                    dict(
                        filename=path, label=0, start_index=0, modality='RGB'))
            pipe.cpu = dict.fromkeys(pipe.cpu, 0.0)
            pipe.step_cpu = [0.0] * len(pipe.steps)
            pipe.wall, pipe.videos, pipe.clips = 0.0, 0, 0
        for r in range(rounds):
            for i in range(len(videos)):
                for variant in variants:
                    seed_all(r * len(videos) + i)
                    timed[variant](
                        dict(
                            filename=sources[variant][i],
                            label=0,
                            start_index=0,
                            modality='RGB'))
        for variant, pipe in timed.items():
            cpu = sum(pipe.cpu.values())
            steps = [step['type'] for step in to_variant(pipeline, variant)]
            rec = dict(
                split=split,
                variant=variant,
                config=config,
                video_dir=folders.get(variant, video_dir),
                num_videos=len(videos),
                rounds=rounds,
                videos=pipe.videos,
                clips=pipe.clips,
                cpu_s=round(cpu, 4),
                wall_s=round(pipe.wall, 4),
                clips_per_core_s=round(pipe.clips / cpu, 3),
                videos_per_core_s=round(pipe.videos / cpu, 3),
                clips_per_worker_s=round(pipe.clips / pipe.wall, 3),
                videos_per_worker_s=round(pipe.videos / pipe.wall, 3),
                cpu_ms_per_video={
                    k: round(1000 * v / pipe.videos, 3)
                    for k, v in pipe.cpu.items()
                },
                steps=steps,
                cpu_ms_per_step=[
                    round(1000 * t / pipe.videos, 3) for t in pipe.step_cpu
                ],
                omp_num_threads=os.environ.get('OMP_NUM_THREADS'),
                torch_threads=torch.get_num_threads(),
                python=platform.python_version(),
                loadavg_1min=round(os.getloadavg()[0], 2))
            records.append(rec)
        ref = records[-len(variants)]['clips_per_core_s']
        summary[split] = {
            rec['variant']: round(rec['clips_per_core_s'] / ref, 3)
            for rec in records[-len(variants):]
        }
    records.append(summary)
    return records


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    p = argparse.ArgumentParser(
        description='Clips/s per core and per worker of the input '
        'pipelines of a config on a folder of videos, by variant.')
    p.add_argument('config')
    p.add_argument('video_dir', help='folder of videos')
    p.add_argument(
        '--splits',
        default='train,test',
        help='comma-separated of train, val, test (default train,test)')
    p.add_argument(
        '--variants',
        default='stock,config',
        help=f'comma-separated of {", ".join(VARIANTS)}, each optionally '
        '@DIR (its videos from DIR); the first is the reference of the '
        'ratios (default stock,config)')
    p.add_argument('--rounds', type=int, default=2, help='passes (default 2)')
    p.add_argument('--num-videos', type=int, help='use the first N videos')
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--out', help='also append the JSON lines to this file')
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Run and print one JSON line per record."""
    args = parse_args(argv)
    splits = [s for s in args.splits.split(',') if s]
    variants = [v for v in args.variants.split(',') if v]
    for s in splits:
        if s not in ('train', 'val', 'test'):
            print(
                f'error: unknown split {s!r}; expected train, val or test',
                file=sys.stderr)
            return 2
    for v in variants:
        if v.split('@', 1)[0] not in VARIANTS:
            print(
                f'error: unknown variant {v!r}; expected one of '
                f'{", ".join(VARIANTS)}, optionally @DIR',
                file=sys.stderr)
            return 2
    if torch.get_num_threads() > 1 and 'OMP_NUM_THREADS' not in os.environ:
        torch.set_num_threads(1)
    records = run(args.config, args.video_dir, splits, variants, args.rounds,
                  args.num_videos, args.warmup)
    lines = [json.dumps(rec) for rec in records]
    print('\n'.join(lines))
    if args.out:
        with open(args.out, 'a') as f:
            f.write('\n'.join(lines) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
