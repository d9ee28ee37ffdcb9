"""List the videos of an annotation list that cannot be used as they are.

Run it before a long training run::

    python tools/misc/check_videos.py \
        data/kinetics400/kinetics400_train_list_videos.txt \
        data/kinetics400/videos_train --num-workers 8 --out bad.txt \
        --config configs/dist_vitb_k400.py

The files are checked for the decoding backend that will read them
(``--backend``): by default the one of the config's decoding step
(``DiSTVideoInit(backend=...)``; ``'decord'`` for MMAction2's
``DecordInit``) when ``--config`` is given, else ``pyav`` (the recipes'
default). Every listed file is opened and decoded completely with that
backend (the same check as ``DiSTRobustVideoDataset(check_on_init=True)``),
and flagged when

* it cannot be decoded: the reason names the problem (file not found, empty,
  not a video, truncated, decoder error; with decord also an unsupported
  codec such as AV1, which PyAV decodes); with ``pyav``, also when a frame
  of the file's packet index does not come out of the decoder;
* with ``decord``, its frames are out of time order: decord's per-frame
  timestamps are missing (an AVI with B-frames: decord's seeks then return
  wrong frames), go backwards or start before 0 (an MP4 edit list from a
  stream-copy cut, which decord ignores), or decord returns more or fewer
  frames than FFmpeg shows (the video packets an edit list does not
  discard; needs PyAV). ``pyav`` honours edit lists and finds frames by
  their timestamps: these files decode correctly with it and are not
  flagged;
* with ``--config``, it has fewer frames than a sampling step of the config's
  train/val/test pipelines takes (``clip_len``, ``frame_interval``): its
  frames would be repeated to fill the clip.

Flagged files are printed as ``<path>: <reason>``, followed by one summary
line. The exit code is 0 when no file is flagged, 1 when any is (2 for usage
errors). ``--out`` writes the flagged paths (one per line) and
``--out-clean`` the annotation list without their lines.
"""
import argparse
import functools
import os.path as osp
import sys
from typing import Dict, List, Optional, Tuple

from projects.dist.datasets.robust_video_dataset import (AnnotationListError,
                                                         read_annotation_list)
# yapf: disable
from projects.dist.datasets.video_probe import (PROBE_BACKENDS, VideoReport,
                                                inspect_video,
                                                pipeline_backend,
                                                pipeline_sampling)

# yapf: enable

# the repository root, for a source checkout

#: The pipelines ``--config`` reads, by split.
SPLITS = ('train', 'val', 'test')


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
        'decoded, decode out of time order, or (with --config) are shorter '
        'than the clips the config samples.')
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
    p.add_argument(
        '--config',
        help='also flag videos with fewer frames than the sampling step '
        '(clip_len, frame_interval) of this config\'s train/val/test '
        'pipelines takes')
    p.add_argument(
        '--backend',
        choices=PROBE_BACKENDS,
        help='decoding backend to check for (default: the config\'s '
        "DiSTVideoInit backend with --config, else pyav)")
    p.add_argument('--out', help='write the flagged paths to this file')
    p.add_argument(
        '--out-clean',
        help='write the annotation list without the flagged entries to this '
        'file')
    return p.parse_args(argv)


def check_videos(paths: List[str],
                 num_workers: int = 1,
                 backend: str = 'pyav') -> List[VideoReport]:
    """Inspect and decode every file, showing a progress bar.

    Args:
        paths (list[str]): Video files.
        num_workers (int): Processes. Defaults to 1 (this process).
        backend (str): ``'pyav'`` or ``'decord'``. Defaults to 'pyav'.

    Returns:
        list[VideoReport]: One report per file (see
        :func:`~projects.dist.datasets.video_probe.inspect_video`), in the
        order of ``paths``.
    """
    from mmengine.utils import track_parallel_progress, track_progress
    if not paths:
        return []
    # inspect_video lives in an importable module, so worker processes can
    # unpickle it
    inspect = functools.partial(inspect_video, backend=backend)
    if num_workers > 1:
        return track_parallel_progress(
            inspect,
            paths,
            nproc=num_workers,
            keep_order=True,
            file=sys.stderr)
    return track_progress(inspect, paths, file=sys.stderr)


def config_pipelines(config: str) -> Dict[str, list]:
    """The train/val/test pipelines of a config.

    Args:
        config (str): Config file.

    Returns:
        dict[str, list]: For each split that has one, its pipeline (from
        ``{split}_dataloader.dataset``, also inside wrapped datasets, else
        ``{split}_pipeline``).
    """
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    pipelines = {}
    for split in SPLITS:
        pipeline = None
        loader = cfg.get(f'{split}_dataloader')
        if loader is not None and loader.get('dataset') is not None:
            dataset = loader['dataset']
            # wrapped datasets (e.g. RepeatDataset) keep theirs one level down
            while 'pipeline' not in dataset and 'dataset' in dataset:
                dataset = dataset['dataset']
            pipeline = dataset.get('pipeline')
        if pipeline is None:
            pipeline = cfg.get(f'{split}_pipeline')
        if pipeline is not None:
            pipelines[split] = pipeline
    return pipelines


def config_sampling(config: str) -> Dict[str, Tuple[int, str]]:
    """Frames per clip that the config's pipelines sample.

    Args:
        config (str): Config file.

    Returns:
        dict[str, tuple[int, str]]: For each split (``train``, ``val``,
        ``test``) whose pipeline has a sampling step: the frames one clip
        needs and the step, see
        :func:`~projects.dist.datasets.video_probe.sampled_frames`.

    Raises:
        ValueError: No pipeline of the config has a sampling step.
    """
    needs = {}
    for split, pipeline in config_pipelines(config).items():
        sampling = pipeline_sampling(pipeline)
        if sampling is not None:
            needs[split] = sampling
    if not needs:
        raise ValueError(
            f'config {config}: none of the {"/".join(SPLITS)} pipelines has '
            'a frame-sampling step (a transform with clip_len, e.g. '
            'SampleFrames or UniformSample); expected a video recognition '
            'config')
    return needs


def config_backend(config: str) -> Optional[str]:
    """The backend the config's pipelines decode with.

    Args:
        config (str): Config file.

    Returns:
        str | None: See
        :func:`~projects.dist.datasets.video_probe.pipeline_backend`; None
        when no pipeline has a decoding step it knows.

    Raises:
        ValueError: The pipelines decode with different backends.
    """
    found = {}
    for split, pipeline in config_pipelines(config).items():
        backend = pipeline_backend(pipeline)
        if backend is not None:
            found[split] = backend
    if len(set(found.values())) > 1:
        used = ', '.join(f'{split} {b}' for split, b in found.items())
        raise ValueError(
            f'config {config}: its pipelines decode with different backends '
            f'({used}); expected one: pass --backend '
            f'{" or --backend ".join(PROBE_BACKENDS)} to choose')
    return next(iter(found.values()), None)


def short_video_reason(num_frames: int,
                       needs: Dict[str, Tuple[int, str]]) -> Optional[str]:
    """Say which pipelines sample more frames than a video has.

    Args:
        num_frames (int): The video's frame count (the backend's).
        needs (dict[str, tuple[int, str]]): :func:`config_sampling`.

    Returns:
        str | None: The reason, None if no pipeline needs more frames.
    """
    short = [
        f'{split} pipeline\'s {step} needs {need}'
        for split, (need, step) in needs.items() if num_frames < need
    ]
    if not short:
        return None
    return (f'too short for the config: {num_frames} frames, but the '
            f'{"; the ".join(short)} (its frames would be repeated to fill '
            'the clip)')


def report_reasons(
        report: VideoReport,
        needs: Optional[Dict[str, Tuple[int, str]]] = None) -> List[str]:
    """Every reason to flag one file.

    Args:
        report (VideoReport): The file's report.
        needs (dict, optional): :func:`config_sampling` of ``--config``.

    Returns:
        list[str]: The unreadable reason alone (``report.problem``), else
        the reasons prefixed by their class (``out of time order: ...``,
        ``too short for the config: ...``); empty if the file passes.
    """
    if report.problem is not None:
        return [report.problem]
    reasons = [f'out of time order: {p}' for p in report.order]
    if needs:
        short = short_video_reason(report.num_frames, needs)
        if short is not None:
            reasons.append(short)
    return reasons


def usage_error(message: str) -> None:
    """Print ``message`` to stderr and exit with status 2 (as argparse)."""
    print(f'check_videos.py: error: {message}', file=sys.stderr)
    raise SystemExit(2)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the check.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        int: The exit code (0: no file flagged, 1: some flagged).
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
    needs, backend = None, args.backend
    if args.config is not None:
        if not osp.isfile(args.config):
            usage_error(f'config not found: {args.config!r}')
        try:
            needs = config_sampling(args.config)
            if backend is None:
                backend = config_backend(args.config)
        except ValueError as exc:
            usage_error(str(exc))
    backend = backend or 'pyav'
    paths = [osp.join(args.root, name) for name, _ in entries]
    print(
        f'checking {len(paths)} videos for the {backend!r} backend',
        file=sys.stderr)
    reports = check_videos(paths, args.num_workers, backend)
    flagged = [(r.path, report_reasons(r, needs)) for r in reports]
    flagged = [(path, reasons) for path, reasons in flagged if reasons]
    for path, reasons in flagged:
        print(f'{path}: {"; ".join(reasons)}')
    flagged_paths = {p for p, _ in flagged}
    if args.out:
        with open(args.out, 'w', encoding='utf-8') as f:
            f.writelines(p + '\n' for p, _ in flagged)
    if args.out_clean:
        with open(args.annotation, encoding='utf-8') as f:
            lines = [ln for ln in f.read().splitlines() if ln.strip()]
        # read_annotation_list yields one entry per non-blank line, in order
        with open(args.out_clean, 'w', encoding='utf-8') as f:
            f.writelines(line + '\n' for line, path in zip(lines, paths)
                         if path not in flagged_paths)
    total = len(paths)
    unreadable = sum(r.problem is not None for r in reports)
    summary = (f'checked {total} videos listed in {args.annotation}: '
               f'{unreadable} unreadable ({100.0 * unreadable / total:.1f} %)')
    disordered = sum(r.problem is None and bool(r.order) for r in reports)
    if disordered:
        summary += f', {disordered} out of time order'
    if needs is not None:
        short = sum(
            r.problem is None
            and short_video_reason(r.num_frames, needs) is not None
            for r in reports)
        summary += f', {short} too short for {args.config}'
    print(summary)
    return 1 if flagged else 0


if __name__ == '__main__':
    from projects.dist.utils.cli import run_tool  # repository root on path
    run_tool(main)
