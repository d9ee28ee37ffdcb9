"""A ``VideoDataset`` that survives videos which cannot be opened or decoded.

Large video datasets (Kinetics in particular) always hold a few files that are
missing, empty, truncated or otherwise undecodable. With MMAction2's stock
``VideoDataset`` the first such file stops a multi-day training run with a
decoder error. :class:`DiSTRobustVideoDataset` skips such a sample (MMEngine's
``BaseDataset.__getitem__`` then draws another one), warns once per file with
its path, counts the files, and stops with one summary error once more than
``max_broken`` files failed. Errors raised by any other transform (a bug in a
config or a transform) are never swallowed.

:func:`probe_video` (decodes a file completely) and
:func:`read_annotation_list` are shared with ``tools/misc/check_videos.py``.
"""
import io
import logging
import math
import os
import os.path as osp
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List, Optional, Sequence, Union

from mmengine.logging import print_log

from mmaction.datasets import VideoDataset
from mmaction.registry import DATASETS
from .seeded_augmentation import SeededAugmentationMixin

#: Names of the MMAction2 transforms that open or decode the video file.
#: Any exception raised inside one of these marks the sample's file broken.
DECODE_TRANSFORMS = ('DecordInit', 'DecordDecode', 'PyAVInit', 'PyAVDecode',
                     'PyAVDecodeMotionVector', 'OpenCVInit', 'OpenCVDecode')

#: How many file names a summary error lists before eliding the rest.
_SUMMARY_LIMIT = 20


class BrokenVideoError(RuntimeError):
    """Too many videos could not be decoded, or one failed at test time."""


class AnnotationListError(ValueError):
    """An annotation list is empty, unreadable or has a malformed line."""


def read_annotation_list(ann_file: str,
                         delimiter: str = ' ',
                         multi_class: bool = False) -> List[tuple]:
    """Parse a ``VideoDataset`` annotation list.

    Each non-blank line is ``<relative/path.mp4><delimiter><label>`` (the
    label may be omitted: -1). With ``multi_class`` a line holds several
    labels. For single-label lists the label is the text after the LAST
    delimiter, so file names may contain the delimiter (e.g. spaces).

    Args:
        ann_file (str): Path of the annotation list.
        delimiter (str): Field separator. Defaults to ``' '``.
        multi_class (bool): Lines hold several integer labels.
            Defaults to False.

    Returns:
        list[tuple[str, int | list[int]]]: ``(filename, label)`` in file
        order, ``filename`` as written in the list.

    Raises:
        FileNotFoundError: ``ann_file`` does not exist.
        AnnotationListError: the file cannot be read as text, holds no
            entry, or a line has a non-integer label.
    """
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
    entries = []
    for lineno, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        if multi_class:
            fields = line.split(delimiter)
            filename, labels = fields[0], fields[1:]
        else:
            fields = line.rsplit(delimiter, 1)
            filename, labels = fields[0], fields[1:]
        try:
            label = [int(v) for v in labels]
        except ValueError:
            raise AnnotationListError(
                f'{ann_file}:{lineno}: labels {labels} in line {line!r} are '
                f'not integers; expected "<video path>{delimiter}<label>"'
            ) from None
        if not multi_class:
            label = label[0] if label else -1
        entries.append((filename, label))
    if not entries:
        raise AnnotationListError(
            f'annotation list {ann_file!r} holds no samples (it is empty or '
            'blank); expected one "<video path> <label>" line per sample')
    return entries


def probe_video(filename: str, chunk: int = 64) -> Optional[str]:
    """Open a video with decord and decode every frame.

    Args:
        filename (str): Video file path.
        chunk (int): Frames decoded per batch (bounds memory).
            Defaults to 64.

    Returns:
        str | None: None if every frame decodes, else a one-line reason.
    """
    import decord
    if not osp.isfile(filename):
        return 'file not found'
    if osp.getsize(filename) == 0:
        return 'empty file (0 bytes)'
    try:
        with open(filename, 'rb') as f:
            reader = decord.VideoReader(io.BytesIO(f.read()), num_threads=1)
        total = len(reader)
        if total == 0:
            return 'no decodable frames'
        for start in range(0, total, chunk):
            reader.get_batch(list(range(start, min(start + chunk,
                                                   total)))).asnumpy()
    except Exception as exc:  # decord raises RuntimeError and DECORDError
        return _one_line(exc)
    return None


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
    plus the clear errors of :func:`read_annotation_list` for a missing,
    empty or malformed annotation list.

    Training (``test_mode=False``): when one of the ``decode_transforms``
    (decord/PyAV/OpenCV init or decode) raises for a sample, the file is
    marked broken, a warning naming it is logged once (``print_log``,
    ``logger='current'``), and ``None`` is returned, so MMEngine's
    ``BaseDataset.__getitem__`` draws another random sample. A file already
    marked broken is skipped without decoding it again. Once more than
    ``max_broken`` files are broken, :class:`BrokenVideoError` is raised
    with a summary (count, fraction, file names, last error).

    Testing (``test_mode=True``): a silently replaced sample would change
    the metric, so an undecodable file raises :class:`BrokenVideoError`
    naming it. Use ``check_on_init=True`` to drop unreadable files up front
    instead; the metric is then computed over the readable files only.

    Counts are per process: each DataLoader worker (and each rank) keeps its
    own set of broken files, and the ceiling is checked against the files
    that process has met. With ``persistent_workers=False`` workers restart
    every epoch, so a file may be reported again in a later epoch. Set
    ``broken_list_file`` to collect every broken path from all workers and
    ranks in one file.

    Args:
        ann_file (str): Annotation list, see :func:`read_annotation_list`.
        pipeline (list[dict | callable]): Data transforms.
        max_broken (int | float): Ceiling on broken files: an ``int`` is a
            count, a ``float`` in [0, 1] a fraction of the dataset size
            (rounded down). Training stops once the number of broken files
            exceeds it; 0 stops at the first one. Defaults to 0.05.
        decode_transforms (Sequence[str]): Class names of the transforms
            whose failures mean "broken file". Defaults to
            :data:`DECODE_TRANSFORMS`.
        check_on_init (bool): Decode every file completely when the
            annotation list is loaded (threads, see ``check_workers``) and
            drop the unreadable ones (counted against ``max_broken``).
            Costs a full pass over the data on every rank. Defaults to False.
        check_workers (int): Threads for ``check_on_init``. Defaults to 4.
        broken_list_file (str, optional): Append the path of each newly
            found broken file to this text file (one per line; safe for
            concurrent workers). Defaults to None.
        **kwargs: Passed to :class:`mmaction.datasets.VideoDataset`
            (``data_prefix``, ``test_mode``, ``delimiter``, ...).
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
        super().__init__(ann_file=ann_file, pipeline=pipeline, **kwargs)

    # ------------------------------------------------------------ loading
    def load_data_list(self) -> List[dict]:
        """Read the annotation list; optionally drop unreadable videos.

        Returns:
            list[dict]: ``dict(filename=..., label=...)`` per sample.
        """
        entries = read_annotation_list(
            self.ann_file, self.delimiter, multi_class=self.multi_class)
        prefix = self.data_prefix.get('video')
        data_list = [
            dict(
                filename=osp.join(prefix, name) if prefix else name,
                label=label) for name, label in entries
        ]
        if self.check_on_init:
            data_list = self._drop_unreadable(data_list)
        return data_list

    def _drop_unreadable(self, data_list: List[dict]) -> List[dict]:
        names = [d['filename'] for d in data_list]
        with ThreadPoolExecutor(max(1, self.check_workers)) as pool:
            reasons = list(pool.map(probe_video, names))
        bad = {n: r for n, r in zip(names, reasons) if r is not None}
        if not bad:
            return data_list
        for name, reason in bad.items():
            self._record(name, reason, total=len(data_list))
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
            dict | None: The transformed sample, or None (training only)
            when the video cannot be decoded, so that another is drawn.
        """
        data_info = self.get_data_info(idx)
        filename = data_info.get('filename')
        if filename in self.broken_files:
            return self._skip(filename)
        try:
            return self._apply_pipeline(data_info)
        except _DecodeFailure as failure:
            reason = _one_line(failure.__cause__)
            if self.test_mode:
                raise BrokenVideoError(
                    f'cannot decode {filename!r} ({reason}) in test mode, '
                    'where skipping would change the metric; remove it from '
                    f'{self.ann_file} (list all with tools/misc/'
                    'check_videos.py) or set check_on_init=True to drop '
                    'unreadable files up front') from failure.__cause__
            self._record(filename, reason, total=len(self))
            return None

    def _apply_pipeline(self, data: dict) -> Optional[dict]:
        transforms = getattr(self.pipeline, 'transforms', [self.pipeline])
        for transform in transforms:
            if type(transform).__name__ in self.decode_transforms:
                try:
                    data = transform(data)
                except Exception as exc:
                    raise _DecodeFailure() from exc
            else:
                data = transform(data)
            if data is None:
                return None
        return data

    def _skip(self, filename: str) -> None:
        if self.test_mode:
            raise BrokenVideoError(f'cannot decode {filename!r} in test mode: '
                                   f'{self.broken_files[filename]}')
        return None

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

    def _record(self, filename: str, reason: str, total: int) -> None:
        """Mark ``filename`` broken, warn once, enforce the ceiling."""
        if filename not in self.broken_files:
            self.broken_files[filename] = reason
            ceiling = self.broken_ceiling(total)
            print_log(
                f'skipping undecodable video {filename} ({reason}); '
                f'{len(self.broken_files)} broken so far in process '
                f'{os.getpid()}, at most {ceiling} tolerated (max_broken='
                f'{self.max_broken!r})',
                logger='current',
                level=logging.WARNING)
            if self.broken_list_file:
                # one write per line in append mode: atomic for short lines
                with open(self.broken_list_file, 'a', encoding='utf-8') as f:
                    f.write(filename + '\n')
        ceiling = self.broken_ceiling(total)
        if len(self.broken_files) > ceiling:
            names = list(self.broken_files)
            shown = names[:_SUMMARY_LIMIT]
            more = (f' ... (+{len(names) - _SUMMARY_LIMIT} more)'
                    if len(names) > _SUMMARY_LIMIT else '')
            raise BrokenVideoError(
                f'{len(names)} of {total} videos in {self.ann_file} could '
                f'not be decoded ({100.0 * len(names) / max(total, 1):.1f} '
                f'%), more than max_broken={self.max_broken!r} allows '
                f'({ceiling}): {shown}{more}; last error: {reason}. List '
                'all unreadable files with tools/misc/check_videos.py, fix '
                'or remove them, or raise max_broken')
