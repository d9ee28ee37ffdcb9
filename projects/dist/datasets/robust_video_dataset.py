"""A ``VideoDataset`` that survives videos which cannot be opened or decoded.

Large video datasets (Kinetics in particular) always hold a few files that are
missing, empty, truncated or otherwise undecodable. With MMAction2's stock
``VideoDataset`` the first such file stops a multi-day training run with a
decoder error. :class:`DiSTRobustVideoDataset` skips such a sample in
training (MMEngine's ``BaseDataset.__getitem__`` then draws another one) and,
in validation and testing, returns a flagged stand-in that
:class:`~projects.dist.evaluation.DiSTSkipBrokenMetric` leaves out of the
metric. It warns once per file with its path and counts the files; with
:class:`~projects.dist.engine.DiSTVideoReportHook` the count is taken over
the whole job (all DataLoader workers and ranks) and the run stops with one
summary error once more than ``max_broken`` files failed. Errors raised by
any other transform (a bug in a config or a transform) are never swallowed.

Each returned sample carries in its data sample's metainfo what the process
that loaded it found (keys :data:`META_BROKEN`, :data:`META_STANDIN`,
:data:`META_PADDED`); the hook and the metric read them in the main process.

:func:`probe_video` (decodes a file completely) and
:func:`read_annotation_list` are shared with ``tools/misc/check_videos.py``;
:func:`is_padded` tells whether a clip repeats frames because its video is
shorter than the sampled frame count.
"""
import logging
import math
import os
import os.path as osp
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.logging import print_log

from mmaction.datasets import VideoDataset
from mmaction.registry import DATASETS
from .seeded_augmentation import SeededAugmentationMixin

from .video_probe import pipeline_backend, probe_video

#: Names of the MMAction2 transforms that open or decode the video file.
#: Any exception raised inside one of these marks the sample's file broken.
DECODE_TRANSFORMS = ('DiSTVideoInit', 'DiSTVideoDecode', 'DecordInit',
                     'DecordDecode', 'PyAVInit', 'PyAVDecode',
                     'PyAVDecodeMotionVector', 'OpenCVInit', 'OpenCVDecode')

#: Metainfo key: ``[(filename, reason), ...]`` of the files the loading
#: process found broken since the last sample it returned.
META_BROKEN = 'dist_broken_found'
#: Metainfo key: the unreadable file this sample stands in for (test mode);
#: its prediction must not be scored.
META_STANDIN = 'dist_standin_for'
#: Metainfo key: ``dict(filename, total_frames, clip_len)`` when the clip
#: repeats frames because the video is shorter than ``clip_len``.
META_PADDED = 'dist_padded'

#: How many file names a summary error lists before eliding the rest.
_SUMMARY_LIMIT = 20


class BrokenVideoError(RuntimeError):
    """Too many videos could not be decoded, or one failed at test time."""


class AnnotationListError(ValueError):
    """An annotation list is empty, unreadable or has a malformed line."""


def summarize_names(names: Sequence[str], limit: int = _SUMMARY_LIMIT) -> str:
    """Format file names for a summary, eliding all but the first ``limit``.

    Args:
        names (Sequence[str]): File names.
        limit (int): How many to show. Defaults to 20.

    Returns:
        str: ``"['a.mp4', 'b.mp4'] ... (+3 more)"``.
    """
    names = list(names)
    more = f' ... (+{len(names) - limit} more)' if len(names) > limit else ''
    return f'{names[:limit]}{more}'


def _split_line(line: str, delimiter: Optional[str],
                multi_class: bool) -> Tuple[str, List[str]]:
    """Split a list line into the path and the label fields."""
    on_space = delimiter is None or not delimiter.strip()
    sep = None if on_space else delimiter
    if multi_class:
        fields = [f.strip() for f in line.split(sep)]
        return fields[0], [f for f in fields[1:] if f]
    fields = line.rsplit(sep, 1)
    if len(fields) == 1:
        return fields[0].strip(), []
    return fields[0].strip(), [fields[1].strip()]


def read_annotation_list(ann_file: str,
                         delimiter: Optional[str] = ' ',
                         multi_class: bool = False,
                         num_classes: Optional[int] = None,
                         require_labels: bool = False) -> List[tuple]:
    """Parse a ``VideoDataset`` annotation list and check its labels.

    Each non-blank line is ``<relative/path.mp4> <label>``. With a blank
    ``delimiter`` (the default ``' '``, or None) fields are separated by any
    run of whitespace (spaces, tabs); otherwise by ``delimiter``. The label
    is the LAST field and the path is the rest of the line, so file names
    may contain spaces. With ``multi_class`` a line holds several labels
    after the path (the path then cannot contain the delimiter).

    A list either gives every line a label or none (then every label is
    -1); a list that mixes both is an error, as is a list without labels
    when ``require_labels`` or ``num_classes`` is set.

    Args:
        ann_file (str): Path of the annotation list.
        delimiter (str, optional): Field separator; blank or None means
            any whitespace. Defaults to ``' '``.
        multi_class (bool): Lines hold several integer labels.
            Defaults to False.
        num_classes (int, optional): Class count; every label must be in
            ``[0, num_classes)``. Defaults to None (not checked).
        require_labels (bool): Every line must have a label (test lists).
            Defaults to False.

    Returns:
        list[tuple[str, int | list[int]]]: ``(filename, label)`` in file
        order, ``filename`` as written in the list.

    Raises:
        FileNotFoundError: ``ann_file`` does not exist.
        AnnotationListError: the file cannot be read as text, holds no
            entry, a label is not an integer or out of range, or a label
            is missing (see above). The message names ``file:line``.
    """
    if num_classes is not None and (isinstance(num_classes, bool)
                                    or not isinstance(num_classes, int)
                                    or num_classes < 1):
        raise ValueError('num_classes must be a positive int (the class '
                         f'count of the labels), got {num_classes!r}')
    if not osp.exists(ann_file):
        raise FileNotFoundError(f'annotation list not found: {ann_file!r}; '
                                'expected a text file with one '
                                '"<video path> <label>" line per sample')
    try:
        with open(ann_file, encoding='utf-8') as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise AnnotationListError(
            f'annotation list {ann_file!r} cannot be read as UTF-8 text '
            f'({type(exc).__name__}: {exc}); expected one '
            '"<video path> <label>" line per sample') from None
    shown_sep = ' ' if delimiter is None or not delimiter.strip() \
        else delimiter
    expected = f'expected "<video path>{shown_sep}<label>"'
    entries, unlabelled, labelled = [], [], 0
    for lineno, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        filename, labels = _split_line(line, delimiter, multi_class)
        try:
            label = [int(v) for v in labels]
        except ValueError:
            raise AnnotationListError(
                f'{ann_file}:{lineno}: labels {labels} in line {line!r} are '
                f'not integers; {expected}') from None
        if num_classes is not None:
            for value in label:
                if not 0 <= value < num_classes:
                    raise AnnotationListError(
                        f'{ann_file}:{lineno}: label {value} in line '
                        f'{line!r} is out of range for num_classes='
                        f'{num_classes}; expected a class id in 0..'
                        f'{num_classes - 1} (is this the list of another '
                        'dataset, or is num_classes wrong?)')
        if label:
            labelled += 1
        else:
            unlabelled.append((lineno, line))
        if not multi_class:
            label = label[0] if label else -1
        entries.append((filename, label))
    if not entries:
        raise AnnotationListError(
            f'annotation list {ann_file!r} holds no samples (it is empty or '
            'blank); expected one "<video path> <label>" line per sample')
    if unlabelled and (labelled or require_labels or num_classes is not None):
        lineno, line = unlabelled[0]
        why = ('while other lines have one' if labelled else
               'and labels are needed to train or score the model')
        raise AnnotationListError(
            f'{ann_file}:{lineno}: line {line!r} has no label {why} '
            f'({len(unlabelled)} of {len(entries)} lines lack one); '
            f'{expected}')
    return entries


def load_video_list(dataset: VideoDataset) -> List[dict]:
    """``VideoDataset.load_data_list`` with the checks of
    :func:`read_annotation_list`.

    Uses the dataset's ``ann_file``, ``data_prefix['video']``,
    ``delimiter``, ``multi_class`` and ``num_classes``; labels are required
    in ``test_mode``.

    Args:
        dataset (VideoDataset): The dataset being loaded.

    Returns:
        list[dict]: ``dict(filename=..., label=...)`` per sample.
    """
    entries = read_annotation_list(
        dataset.ann_file,
        dataset.delimiter,
        multi_class=dataset.multi_class,
        num_classes=dataset.num_classes,
        require_labels=dataset.test_mode)
    prefix = dataset.data_prefix.get('video')
    return [
        dict(filename=osp.join(prefix, name) if prefix else name, label=label)
        for name, label in entries
    ]


def is_padded(results: dict) -> bool:
    """Tell whether a sampled clip repeats frames of a too-short video.

    Frame samplers (``SampleFrames``, ``UniformSample``,
    ``DiSTSegmentSample``) pad a video with fewer frames than a clip needs
    by taking some frames more than once (or by looping over it). This
    looks at the pipeline results after sampling: the video has fewer than
    ``clip_len * frame_interval`` frames (``total_frames``, when known)
    and some clip's ``frame_inds`` repeat an index (or wrap around).

    Args:
        results (dict): Pipeline results with ``frame_inds`` (int array of
            shape ``(num_clips * clip_len,)``) and ``clip_len`` (int), e.g.
            after the sampling transform.

    Returns:
        bool: True if a clip repeats a frame; False also when the results
        hold no frame indices.
    """
    inds, clip_len = results.get('frame_inds'), results.get('clip_len')
    if inds is None or not isinstance(clip_len, (int, np.integer)) \
            or clip_len < 2:
        return False
    total = results.get('total_frames')
    interval = results.get('frame_interval') or 1
    if total is not None and total >= clip_len * interval:
        return False  # long enough: a repeat is the sampler's own choice
    inds = np.asarray(inds).reshape(-1)
    if inds.size == 0 or inds.size % clip_len:
        return False
    clips = inds.reshape(-1, int(clip_len))
    # repeated (or, with out_of_bound_opt='loop', wrapped) indices
    return bool((clips[:, 1:] <= clips[:, :-1]).any())


def _one_line(exc: BaseException, limit: int = 200) -> str:
    text = ' '.join(str(exc).split())
    text = text if len(text) <= limit else text[:limit] + '...'
    return f'{type(exc).__name__}: {text}'


class _DecodeFailure(Exception):
    """Internal: a decode transform raised; ``__cause__`` holds why."""


@DATASETS.register_module()
class DiSTRobustVideoDataset(SeededAugmentationMixin, VideoDataset):
    """``VideoDataset`` that skips, counts and reports undecodable videos.

    Same annotation format and arguments as MMAction2's ``VideoDataset``,
    plus the clear errors of :func:`read_annotation_list` (missing, empty or
    malformed list; label missing or outside ``[0, num_classes)``).

    Training (``test_mode=False``): when one of the ``decode_transforms``
    (decord/PyAV/OpenCV init or decode) raises for a sample, the file is
    marked broken, a warning naming it is logged once per process
    (``print_log``, ``logger='current'``), and ``None`` is returned, so
    MMEngine's ``BaseDataset.__getitem__`` draws another sample. A file
    already marked broken is skipped without decoding it again.

    Validation and testing (``test_mode=True``): replacing a sample by
    another one would change the metric. With
    :class:`~projects.dist.engine.DiSTVideoReportHook` in ``custom_hooks``
    and the evaluator wrapped in
    :class:`~projects.dist.evaluation.DiSTSkipBrokenMetric` (the hook
    checks this and sets :attr:`standins_enabled`), an undecodable file
    gives a stand-in sample (the next readable video of the list) whose
    metainfo :data:`META_STANDIN` names the broken file; the metric leaves
    it out and reports it. Without them, an undecodable file raises
    :class:`BrokenVideoError` naming it. ``check_on_init=True`` drops
    unreadable files up front instead.

    The ceiling ``max_broken``: every returned sample carries the broken
    files its process found since its previous sample (:data:`META_BROKEN`).
    :class:`~projects.dist.engine.DiSTVideoReportHook` (main process) adds
    them up over all workers and ranks and stops the run once more than
    ``max_broken`` files are broken, on every rank at once. Without the
    hook, each process checks only the files it met itself (a later stop).

    Clips that repeat frames because their video is shorter than the
    sampled frame count (:func:`is_padded`) are flagged
    (:data:`META_PADDED`) for the hook to report; without the hook the
    dataset warns once per file and process.

    Args:
        ann_file (str): Annotation list, see :func:`read_annotation_list`.
        pipeline (list[dict | callable]): Data transforms.
        max_broken (int | float): Ceiling on broken files: an ``int`` is a
            count, a ``float`` in [0, 1] a fraction of the dataset size
            (rounded down). The run stops once the number of broken files
            exceeds it; 0 stops at the first one. Defaults to 0.05.
        decode_transforms (Sequence[str]): Class names of the transforms
            whose failures mean "broken file". Defaults to
            :data:`DECODE_TRANSFORMS`.
        check_on_init (bool): Decode every file completely when the
            annotation list is loaded (threads, see ``check_workers``) and
            drop the unreadable ones (counted against ``max_broken``), with
            the backend of the pipeline's decoding step
            (:attr:`probe_backend`). Costs a full pass over the data on
            every rank. Defaults to False.
        check_workers (int): Threads for ``check_on_init``. Defaults to 4.
        broken_list_file (str, optional): Append the path of each newly
            found broken file to this text file (one per line; safe for
            concurrent workers). Defaults to None.
        **kwargs: Passed to :class:`mmaction.datasets.VideoDataset`
            (``data_prefix``, ``test_mode``, ``num_classes``,
            ``delimiter``, ...). Give ``num_classes`` so that labels are
            checked when the list is read.
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: List[Union[dict, Callable]],
                 max_broken: Union[int, float] = 0.05,
                 decode_transforms: Sequence[str] = DECODE_TRANSFORMS,
                 check_on_init: bool = False,
                 check_workers: int = 4,
                 broken_list_file: Optional[str] = None,
                 **kwargs) -> None:
        if isinstance(max_broken,
                      bool) or not isinstance(max_broken, (int, float)):
            raise TypeError('max_broken must be an int (count) or a float '
                            f'(fraction), got {max_broken!r}')
        if max_broken < 0 or (isinstance(max_broken, float)
                              and max_broken > 1):
            raise ValueError('max_broken must be a count >= 0 or a fraction '
                             f'in [0, 1], got {max_broken!r}')
        self.max_broken = max_broken
        self.decode_transforms = tuple(decode_transforms)
        self.check_on_init = check_on_init
        self.check_workers = check_workers
        self.broken_list_file = broken_list_file
        #: broken file -> reason, in the order found (this process only)
        self.broken_files: Dict[str, str] = {}
        #: set by DiSTVideoReportHook: it counts broken files over the job
        #: and reports padded clips, so this process does not
        self.report_hook_attached = False
        #: set by DiSTVideoReportHook once the evaluator skips stand-ins:
        #: test mode then returns flagged stand-ins for broken files
        self.standins_enabled = False
        self._pending: List[Tuple[str, str]] = []
        self._padded_warned: set = set()
        super().__init__(ann_file=ann_file, pipeline=pipeline, **kwargs)

    # ------------------------------------------------------------ loading
    def load_data_list(self) -> List[dict]:
        """Read and check the annotation list; optionally drop unreadable
        videos.

        Returns:
            list[dict]: ``dict(filename=..., label=...)`` per sample.
        """
        data_list = load_video_list(self)
        if self.check_on_init:
            data_list = self._drop_unreadable(data_list)
        return data_list

    @property
    def probe_backend(self) -> str:
        """The backend ``check_on_init`` decodes with: the pipeline's
        (``DiSTVideoInit(backend=...)``, ``'decord'`` for ``DecordInit``),
        ``'decord'`` for a pipeline with neither."""
        transforms = getattr(self.pipeline, 'transforms', [])
        return pipeline_backend(transforms) or 'decord'

    def _drop_unreadable(self, data_list: List[dict]) -> List[dict]:
        names = [d['filename'] for d in data_list]
        backend = self.probe_backend
        with ThreadPoolExecutor(max(1, self.check_workers)) as pool:
            reasons = list(
                pool.map(lambda name: probe_video(name, backend=backend),
                         names))
        bad = {n: r for n, r in zip(names, reasons) if r is not None}
        if not bad:
            return data_list
        for name, reason in bad.items():
            self._record(name, reason, total=len(data_list), pending=False)
        kept = [d for d in data_list if d['filename'] not in bad]
        print_log(
            f'{type(self).__name__}: dropped {len(bad)} unreadable of '
            f'{len(data_list)} videos listed in {self.ann_file}; using the '
            f'other {len(kept)}',
            logger='current',
            level=logging.WARNING)
        return kept

    # ------------------------------------------------------------ fetching
    def prepare_data(self, idx: int) -> Optional[dict]:
        """Run the pipeline on sample ``idx``; None if its video is broken.

        Args:
            idx (int): Sample index.

        Returns:
            dict | None: The transformed sample; in training None when the
            video cannot be decoded (so that another is drawn), in test
            mode a flagged stand-in (see the class docstring).
        """
        data_info = self.get_data_info(idx)
        filename = data_info.get('filename')
        if filename in self.broken_files:
            return self._on_broken(idx, filename, self.broken_files[filename])
        try:
            data, padded = self._apply_pipeline(data_info)
        except _DecodeFailure as failure:
            reason = _one_line(failure.__cause__)
            if self.test_mode and not self.standins_enabled:
                raise BrokenVideoError(
                    f'cannot decode {filename!r} ({reason}) in test mode, '
                    'where skipping would change the metric; remove it from '
                    f'{self.ann_file} (list all with tools/misc/'
                    'check_videos.py), set check_on_init=True to drop '
                    'unreadable files up front, or wrap the evaluator in '
                    "dict(type='DiSTSkipBrokenMetric', metric=...) and add "
                    "dict(type='DiSTVideoReportHook') to custom_hooks to "
                    'skip and report them') from failure.__cause__
            self._record(filename, reason, total=len(self))
            return self._on_broken(idx, filename, reason)
        return self._finish(data, filename, padded)

    def _apply_pipeline(
            self, data: dict) -> Tuple[Optional[dict], Union[bool, tuple]]:
        """Run the transforms.

        Returns:
            tuple: The result and, for a padded clip (:func:`is_padded`),
            ``(total_frames, clip_len)``, else False.
        """
        transforms = getattr(self.pipeline, 'transforms', [self.pipeline])
        padded, frames = False, None
        for transform in transforms:
            if isinstance(data, dict) and 'frame_inds' in data:
                padded = is_padded(data)
                frames = (data.get('total_frames'), data.get('clip_len'))
            if type(transform).__name__ in self.decode_transforms:
                try:
                    data = transform(data)
                except Exception as exc:
                    raise _DecodeFailure() from exc
            else:
                data = transform(data)
            if data is None:
                return None, False
        if isinstance(data, dict) and 'frame_inds' in data:
            padded = is_padded(data)
            frames = (data.get('total_frames'), data.get('clip_len'))
        return data, (frames if padded else False)

    def _on_broken(self, idx: int, filename: str,
                   reason: str) -> Optional[dict]:
        """None in training; a flagged stand-in (or an error) in test mode.
        """
        if not self.test_mode:
            return None
        if not self.standins_enabled:
            raise BrokenVideoError(
                f'cannot decode {filename!r} in test mode: {reason}')
        for step in range(1, len(self)):
            info = self.get_data_info((idx + step) % len(self))
            name = info.get('filename')
            if name in self.broken_files:
                continue
            try:
                data, _ = self._apply_pipeline(info)
            except _DecodeFailure as failure:
                self._record(name, _one_line(failure.__cause__), len(self))
                continue
            data = self._finish(data, name, False)
            sample = data.get('data_samples') if isinstance(data,
                                                            dict) else None
            if not hasattr(sample, 'set_metainfo'):
                raise BrokenVideoError(
                    f'cannot flag a stand-in for {filename!r}: the pipeline '
                    'must end with PackActionInputs')
            sample.set_metainfo({META_STANDIN: filename})
            return data
        raise BrokenVideoError(
            f'cannot decode {filename!r} ({reason}), and no other video of '
            f'{self.ann_file} is readable to stand in for it')

    def _finish(self, data: Optional[dict], filename: str,
                padded: Union[bool, tuple]) -> Optional[dict]:
        """Attach the pending broken files and the padding flag."""
        sample = data.get('data_samples') if isinstance(data, dict) else None
        if not hasattr(sample, 'set_metainfo'):
            return data
        meta = {}
        if self._pending:
            meta[META_BROKEN] = list(self._pending)
            self._pending.clear()
        if padded:
            total, clip_len = padded
            meta[META_PADDED] = dict(
                filename=filename, total_frames=total, clip_len=clip_len)
            if not self.report_hook_attached and \
                    filename not in self._padded_warned:
                self._padded_warned.add(filename)
                print_log(
                    f'video {filename} has {total} frames, fewer than the '
                    f'{clip_len} a clip samples: frames are repeated',
                    logger='current',
                    level=logging.WARNING)
        if meta:
            sample.set_metainfo(meta)
        return data

    # ------------------------------------------------------------ bookkeeping
    def broken_ceiling(self, total: Optional[int] = None) -> int:
        """Return the largest number of broken files that is tolerated.

        Args:
            total (int, optional): Dataset size a fractional ``max_broken``
                refers to. Defaults to ``len(self)``.

        Returns:
            int: The ceiling as a file count.
        """
        if isinstance(self.max_broken, float):
            total = len(self) if total is None else total
            return int(math.floor(self.max_broken * total + 1e-9))
        return int(self.max_broken)

    def _record(self,
                filename: str,
                reason: str,
                total: int,
                pending: bool = True) -> None:
        """Mark ``filename`` broken, warn once, enforce the ceiling.

        With the report hook attached, the hook enforces the ceiling over
        the whole job (on every rank at once); this process only records.
        """
        if filename not in self.broken_files:
            self.broken_files[filename] = reason
            if pending:
                self._pending.append((filename, reason))
            ceiling = self.broken_ceiling(total)
            # with the hook attached, the hook warns (job-wide count)
            quiet = self.report_hook_attached and pending
            print_log(
                f'skipping undecodable video {filename} ({reason}); '
                f'{len(self.broken_files)} broken so far in process '
                f'{os.getpid()}, at most {ceiling} tolerated (max_broken='
                f'{self.max_broken!r})',
                logger='current',
                level=logging.DEBUG if quiet else logging.WARNING)
            if self.broken_list_file:
                # one write per line in append mode: atomic for short lines
                with open(self.broken_list_file, 'a', encoding='utf-8') as f:
                    f.write(filename + '\n')
        ceiling = self.broken_ceiling(total)
        if len(self.broken_files) > ceiling and (not self.report_hook_attached
                                                 or not pending):
            raise BrokenVideoError(
                broken_summary(
                    list(self.broken_files), total, self.ann_file,
                    self.max_broken, ceiling) + f'; last error: {reason}')


def broken_summary(names: Sequence[str], total: int, source: str,
                   max_broken: Union[int, float], ceiling: int) -> str:
    """The one message of a stop at the broken-video ceiling.

    Args:
        names (Sequence[str]): The broken files.
        total (int): Number of videos listed.
        source (str): Where they are listed (annotation file(s)).
        max_broken (int | float): The configured ceiling.
        ceiling (int): ``max_broken`` as a file count.

    Returns:
        str: Count, percentage, names and what to do.
    """
    return (f'{len(names)} of {total} videos in {source} could not be '
            f'decoded ({100.0 * len(names) / max(total, 1):.1f} %), more '
            f'than max_broken={max_broken!r} allows ({ceiling}): '
            f'{summarize_names(names)}. List all unreadable files with '
            'tools/misc/check_videos.py, fix or remove them, or raise '
            'max_broken')


def iter_robust_datasets(dataset) -> List[DiSTRobustVideoDataset]:
    """The :class:`DiSTRobustVideoDataset` s in a (wrapped) dataset.

    Looks through ``ConcatDataset`` (``.datasets``) and ``RepeatDataset`` /
    ``ClassBalancedDataset`` (``.dataset``).

    Args:
        dataset: A dataset, possibly wrapped.

    Returns:
        list[DiSTRobustVideoDataset]: Found datasets, in order.
    """
    if isinstance(dataset, DiSTRobustVideoDataset):
        return [dataset]
    found = []
    for sub in getattr(dataset, 'datasets', None) or []:
        found += iter_robust_datasets(sub)
    inner = getattr(dataset, 'dataset', None)
    if inner is not None and inner is not dataset:
        found += iter_robust_datasets(inner)
    return found
