# Copyright (c) DiST-MMAction2 contributors. Licensed under Apache-2.0.
"""Classify a long video, or a live camera or stream, window by window.

A window of the config's clip length (``model.backbone.num_frames``
sampled frames) slides over the source with ``--stride`` sampled frames
between window starts; each spatial frame's frozen-tower tokens are
computed once and reused by every window containing it
(``projects/dist/apis/sliding_window.py``), so only the side network runs
per window. Files are scored ``--batch-windows`` windows at a time (their
new frames through the tower in one batch); live sources window by
window. Frames are prepared with the config's test pipeline (resize and
crop, one view) and data preprocessor::

    python tools/long_video_demo.py VIDEO CONFIG CHECKPOINT \\
        --stride 4 --out-json windows.json --out-csv windows.csv
    python tools/long_video_demo.py 0 CONFIG CHECKPOINT --max-frames 600
    python tools/long_video_demo.py VIDEO CONFIG CHECKPOINT \\
        --query "a person jumping" --query "a dog running"

SOURCE is a video file (decoded with PyAV), a camera index or a stream URL
(read with OpenCV; ``--backend opencv`` reads a file the same way).
``--smooth N`` ranks each window by the mean of its scores and the N - 1
windows before it. ``--out-video`` writes the sampled frames with the top
class of the latest finished window. ``--query`` (repeatable) also
returns, per text query, the best non-overlapping time ranges.
"""
import argparse
import json
import os.path as osp
from typing import List, Optional

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import projects.dist  # noqa: F401  -- compat fixes + registration

# projects.dist patches mmaction before its models load:
# isort: split
from mmaction.apis import init_recognizer

from projects.dist.apis import SlidingWindowRecognizer, open_source
from projects.dist.apis.text_search import search_text
from projects.dist.apis.window_outputs import (ScoreSmoother, window_record,
                                               write_csv, write_json)
from projects.dist.models.utils.class_names import load_class_names
from projects.dist.utils import allow_full_unpickling_if_needed
from projects.dist.utils.cli import DictAction


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    p = argparse.ArgumentParser(
        description='Per-window top-k over a long video or a live source, '
        'with frozen-tower tokens reused across windows')
    p.add_argument('source', help='video file, camera index or stream URL')
    p.add_argument('config', help='config file')
    p.add_argument('checkpoint', help='checkpoint file')
    p.add_argument(
        '--stride',
        type=int,
        help='sampled frames between window starts (default: window/4); '
        'a multiple of the backbone alpha shares every spatial frame')
    p.add_argument(
        '--frame-interval',
        type=int,
        default=1,
        help='use every N-th source frame (default: 1)')
    p.add_argument(
        '--batch-windows',
        type=int,
        help='windows scored together, their new frames through the tower '
        'in one batch (default: window/stride for files, 1 for cameras and '
        'streams, where a window then waits for no later frames)')
    p.add_argument('--topk', type=int, default=5, help='classes per window')
    p.add_argument(
        '--smooth',
        type=int,
        default=1,
        help='rank by the moving average over this many windows')
    p.add_argument('--class-names', help='label file replacing the config\'s')
    p.add_argument(
        '--query',
        action='append',
        default=[],
        help='free-text query to locate in the video (repeatable)')
    p.add_argument(
        '--num-ranges',
        type=int,
        default=3,
        help='best time ranges per query (default: 3)')
    p.add_argument('--out-json', help='write the windows (and queries) here')
    p.add_argument('--out-csv', help='write one row per window and rank')
    p.add_argument('--out-video', help='write an annotated video (.mp4)')
    p.add_argument(
        '--backend',
        choices=('auto', 'pyav', 'decord', 'opencv'),
        default='auto',
        help='reader: PyAV for files (frames as the pyav pipeline backend '
        'counts them), OpenCV for cameras and streams')
    p.add_argument(
        '--max-frames',
        type=int,
        help='OpenCV sources: stop after this many source frames')
    p.add_argument(
        '--no-reuse',
        action='store_true',
        help='recompute the tower for every window (for comparison)')
    p.add_argument(
        '--device',
        default='cuda:0' if torch.cuda.is_available() else 'cpu',
        help='device (default: cuda:0 if available)')
    p.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries (key=value)')
    return p.parse_args(argv)


class AnnotatedVideoWriter:
    """Write sampled frames with the top class of the latest window.

    Args:
        path (str): Output file (.mp4, mp4v codec).
        fps (float): Frame rate of the written (sampled) frames.
    """

    def __init__(self, path: str, fps: float) -> None:
        import cv2
        self._cv2 = cv2
        self.path, self.fps = path, fps
        self._writer = None
        self.label = ''

    def __call__(self, frame) -> None:
        """Write one :class:`~projects.dist.apis.Frame`."""
        cv2 = self._cv2
        bgr = cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR)
        if self._writer is None:
            h, w = bgr.shape[:2]
            self._writer = cv2.VideoWriter(self.path,
                                           cv2.VideoWriter_fourcc(*'mp4v'),
                                           self.fps, (w, h))
            if not self._writer.isOpened():
                raise OSError(f'cannot write the video {self.path}')
        scale = max(bgr.shape[0] / 480, 0.3)
        cv2.putText(bgr, self.label, (5, int(20 * scale) + 2),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (255, 255, 255),
                    max(1, int(2 * scale)), cv2.LINE_AA)
        self._writer.write(bgr)

    def close(self) -> None:
        """Finish the file."""
        if self._writer is not None:
            self._writer.release()


def run(args: argparse.Namespace) -> dict:
    """Score the windows of ``args.source``.

    Args:
        args (argparse.Namespace): From :func:`parse_args`.

    Returns:
        dict: ``source``, ``fps``, ``window``, ``stride``,
        ``frame_interval``, ``smooth``, ``reuse_tower``, ``tower_frames``,
        ``windows`` (records of
        :func:`~projects.dist.apis.window_outputs.window_record`) and, with
        queries, ``queries`` (see
        :func:`~projects.dist.apis.text_search.search_text`).
    """
    if args.topk < 1:
        raise ValueError(f'--topk must be >= 1, got {args.topk}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.class_names is not None:
        cfg.model.cls_head.class_names = args.class_names
        cfg.model.cls_head.num_classes = len(
            load_class_names(args.class_names))
    source = open_source(args.source, args.backend, args.max_frames)
    smoother = ScoreSmoother(args.smooth)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    allow_full_unpickling_if_needed(args.checkpoint)
    model = init_recognizer(cfg, args.checkpoint, device=args.device)
    names = getattr(model.cls_head, 'class_names', None)
    runner = SlidingWindowRecognizer(
        model,
        stride=args.stride,
        frame_interval=args.frame_interval,
        reuse_tower=not args.no_reuse,
        batch_windows=(args.batch_windows if args.batch_windows is not None
                       else None if osp.isfile(str(args.source)) else 1))
    writer = None
    if args.out_video:
        writer = AnnotatedVideoWriter(args.out_video, (source.fps or 25.0) /
                                      args.frame_interval)
    results, records = [], []
    try:
        for result in runner.run(source, writer):
            record = window_record(result, smoother(result.scores), args.topk,
                                   names)
            records.append(record)
            results.append(result)
            best = record['topk'][0]
            print(f"[{result.start_time:9.2f}s - {result.end_time:9.2f}s] "
                  f"{best['name']} ({best['score']:.3f})")
            if writer is not None:
                writer.label = f"{best['name']} {best['score']:.2f}"
    finally:
        if writer is not None:
            writer.close()
    out = dict(
        source=str(args.source),
        fps=source.fps,
        window=runner.window,
        stride=runner.stride,
        frame_interval=runner.frame_interval,
        smooth=args.smooth,
        reuse_tower=runner.reuse_tower,
        batch_windows=runner.batch_windows,
        tower_frames=runner.tower_frames)
    if args.query:
        out['queries'] = search_text(model, results, args.query,
                                     args.num_ranges)
        for item in out['queries']:
            print(f"query {item['query']!r}: " +
                  ', '.join(f"{r['start_time']:.2f}-{r['end_time']:.2f}s "
                            f"({r['score']:.3f})" for r in item['ranges']))
    if args.out_json:
        write_json(args.out_json, out, records)
    if args.out_csv:
        write_csv(args.out_csv, records)
    out['windows'] = records
    return out


def main(argv: Optional[List[str]] = None) -> int:
    """Run the tool.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        int: Exit status (0 on success).
    """
    args = parse_args(argv)
    out = run(args)
    print(f"{len(out['windows'])} windows, {out['tower_frames']} frames "
          'through the tower' +
          (f'; written to {args.out_json}' if args.out_json else ''))
    if args.out_json is None and not args.out_csv:
        print(json.dumps(out['windows'][-1:], indent=1))
    return 0


if __name__ == '__main__':
    from projects.dist.utils.cli import run_tool  # repository root on path
    run_tool(main)
