"""List the videos of an annotation list that decord cannot decode.

Run it before a long training run::

    python tools/misc/check_videos.py \
        data/kinetics400/kinetics400_train_list_videos.txt \
        data/kinetics400/videos_train --num-workers 8 --out bad.txt

Every listed file is opened and decoded completely (the same check as
``DiSTRobustVideoDataset(check_on_init=True)``). Unreadable files are printed
as ``<path>: <reason>``, followed by one summary line. The exit code is 0
when every file decodes, 1 when any does not (2 for usage errors).
``--out`` writes the unreadable paths (one per line) and ``--out-clean`` the
annotation list without their lines.
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

# the repository root, for a source checkout
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from projects.dist.datasets.robust_video_dataset import (  # noqa: E402
    AnnotationListError, probe_video, read_annotation_list)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse command-line arguments.

    Args:
        argv (list[str], optional): Arguments without the program name.
            Defaults to None, which reads ``sys.argv``.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    p = argparse.ArgumentParser(
        description='List the videos of an annotation list that cannot be '
        'opened or decoded.')
    p.add_argument('annotation', help='annotation list ("<path> <label>")')
    p.add_argument(
        'root',
        help='folder the listed paths are relative to '
        "(the dataset's data_prefix.video)")
    p.add_argument(
        '--num-workers',
        type=int,
        default=1,
        help='parallel decoding processes (default 1)')
    p.add_argument(
        '--delimiter',
        default=' ',
        help='field separator of the list (default: space)')
    p.add_argument(
        '--multi-class',
        action='store_true',
        help='lines hold several labels (VideoDataset '
        'multi_class=True)')
    p.add_argument('--out', help='write the unreadable paths to this file')
    p.add_argument(
        '--out-clean',
        help='write the annotation list without the unreadable '
        'entries to this file')
    return p.parse_args(argv)


def check_videos(paths: List[str], num_workers: int = 1) -> List[tuple]:
    """Decode every file, showing a progress bar.

    Args:
        paths (list[str]): Video files.
        num_workers (int): Processes. Defaults to 1 (this process).

    Returns:
        list[tuple[str, str]]: ``(path, reason)`` of each unreadable file,
        in the order of ``paths``.
    """
    from mmengine.utils import track_parallel_progress, track_progress
    if not paths:
        return []
    # probe_video lives in an importable module, so worker processes can
    # unpickle it
    if num_workers > 1:
        reasons = track_parallel_progress(
            probe_video,
            paths,
            nproc=num_workers,
            keep_order=True,
            file=sys.stderr)
    else:
        reasons = track_progress(probe_video, paths, file=sys.stderr)
    return [(p, r) for p, r in zip(paths, reasons) if r is not None]


def usage_error(message: str) -> None:
    """Print ``message`` to stderr and exit with status 2 (as argparse)."""
    print(f'check_videos.py: error: {message}', file=sys.stderr)
    raise SystemExit(2)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the check.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        int: The exit code (0: all readable, 1: some unreadable).
    """
    args = parse_args(argv)
    if args.num_workers < 1:
        usage_error(f'--num-workers must be >= 1, got {args.num_workers}')
    if not osp.isdir(args.root):
        usage_error(f'video root {args.root!r} is not a folder')
    try:
        entries = read_annotation_list(args.annotation, args.delimiter,
                                       args.multi_class)
    except (FileNotFoundError, AnnotationListError) as exc:
        usage_error(str(exc))
    paths = [osp.join(args.root, name) for name, _ in entries]
    bad = check_videos(paths, args.num_workers)
    for path, reason in bad:
        print(f'{path}: {reason}')
    bad_paths = {p for p, _ in bad}
    if args.out:
        with open(args.out, 'w', encoding='utf-8') as f:
            f.writelines(p + '\n' for p, _ in bad)
    if args.out_clean:
        with open(args.annotation, encoding='utf-8') as f:
            lines = [ln for ln in f.read().splitlines() if ln.strip()]
        # read_annotation_list yields one entry per non-blank line, in order
        with open(args.out_clean, 'w', encoding='utf-8') as f:
            f.writelines(line + '\n' for line, path in zip(lines, paths)
                         if path not in bad_paths)
    total = len(paths)
    print(f'checked {total} videos listed in {args.annotation}: '
          f'{len(bad)} unreadable ({100.0 * len(bad) / total:.1f} %)')
    return 1 if bad else 0


if __name__ == '__main__':
    from projects.dist.utils.cli import run_tool  # repository root on path
    run_tool(main)
