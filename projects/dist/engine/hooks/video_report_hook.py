"""Counts broken and padded videos over the whole job and reports them.

:class:`~projects.dist.datasets.DiSTRobustVideoDataset` runs in DataLoader
worker processes, on every rank: no single process sees every broken file.
Each sample it returns carries, in its data sample's metainfo, the files
its process found broken since its previous sample (``dist_broken_found``)
and, for a clip that repeats frames because its video is too short, the
video's name and frame counts (``dist_padded``). :class:`DiSTVideoReportHook`
reads them from every batch in the main process, gathers them over the
ranks, warns once per file, stops the run on every rank at once when the
job-wide number of broken files exceeds the datasets' ``max_broken``, and
logs a summary at the end of every epoch, validation and test.

Before validation and testing it also checks that a robust dataset in test
mode is paired with :class:`~projects.dist.evaluation.DiSTSkipBrokenMetric`
(a stock metric would score the stand-ins of unreadable videos) and then
lets the dataset return stand-ins.
"""
import logging
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.dist import all_gather_object, all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmaction.registry import HOOKS
from ...datasets.robust_video_dataset import (META_BROKEN, META_PADDED,
                                              BrokenVideoError, broken_summary,
                                              iter_robust_datasets,
                                              summarize_names)
from ...evaluation import DiSTSkipBrokenMetric

#: Metrics that score nothing and may see stand-ins: ``DumpResults`` (as
#: added by ``tools/test.py --dump``) writes them with their
#: ``dist_standin_for`` flag.
UNSCORED_METRICS = ('DumpResults', )


class _Tally:
    """What one mode (train/val/test) has seen; the same on every rank."""

    def __init__(self, datasets: List) -> None:
        self.datasets = datasets
        self.total = sum(len(ds) for ds in datasets)
        self.ceiling = sum(ds.broken_ceiling() for ds in datasets)
        limits = [ds.max_broken for ds in datasets]
        self.max_broken = limits[0] if len(set(limits)) == 1 else limits
        self.source = ', '.join(str(ds.ann_file) for ds in datasets)
        #: job-wide broken files -> reason
        self.broken: Dict[str, str] = {}
        #: this process's finds since the last sync
        self.new_broken: List[Tuple[str, str]] = []
        self.new_padded: Dict[str, Tuple[int, int]] = {}
        #: job-wide padded videos of the current epoch / pass
        self.padded: Dict[str, Tuple[int, int]] = {}
        self.warned_padded: set = set()


@HOOKS.register_module()
class DiSTVideoReportHook(Hook):
    """Job-wide count and report of broken and padded videos.

    Add it to ``custom_hooks`` of any config with a
    ``DiSTRobustVideoDataset`` (plain or inside ``ConcatDataset`` /
    ``RepeatDataset``); the shipped recipe configs do.

    * Broken videos: one warning per file (job-wide, logged by rank 0);
      once the job-wide count exceeds the ceiling (the sum of the datasets'
      ``max_broken`` as counts), every rank raises
      :class:`~projects.dist.datasets.robust_video_dataset.BrokenVideoError`
      with the summary, at the latest at the end of the first epoch in
      which it is exceeded.
    * Padded clips (video shorter than the sampled frame count): one
      warning per file, and per epoch / validation / test the count and
      names.
    * Validation / test: a robust test-mode dataset must be scored through
      ``DiSTSkipBrokenMetric`` (else a ``ValueError`` before the first
      batch; ``DumpResults`` scores nothing and is allowed, its entries
      for stand-ins carry ``dist_standin_for``); the dataset then returns
      flagged stand-ins for unreadable videos, which the metric leaves out
      and reports.

    Args:
        interval (int): Gather over the ranks every ``interval``
            iterations (and at the end of each epoch / pass); one scalar
            all-reduce, plus a gather only when something new was found.
            Defaults to 1.
    """

    priority = 'NORMAL'  # before CheckpointHook (VERY_LOW) saves an epoch

    def __init__(self, interval: int = 1) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int) \
                or interval < 1:
            raise ValueError('DiSTVideoReportHook: interval must be a '
                             f'positive int, got {interval!r}')
        self.interval = interval
        self._tallies: Dict[str, _Tally] = {}

    # ------------------------------------------------------------ set-up
    def _attach(self, mode: str, dataset, evaluator=None) -> None:
        datasets = iter_robust_datasets(dataset)
        if mode != 'train' and evaluator is not None:
            stock = [
                type(m).__name__ for m in getattr(evaluator, 'metrics', [])
                if not isinstance(m, DiSTSkipBrokenMetric)
                and type(m).__name__ not in UNSCORED_METRICS
            ]
            testing = [ds for ds in datasets if ds.test_mode]
            if testing and stock:
                raise ValueError(
                    f'{mode}_evaluator: {stock} would score the stand-ins '
                    'that DiSTRobustVideoDataset returns for unreadable '
                    f'videos in {mode}; wrap each metric as '
                    "dict(type='DiSTSkipBrokenMetric', metric=dict(type="
                    f"'{stock[0]}', ...)) so that they are left out and "
                    'reported')
        for ds in datasets:
            ds.report_hook_attached = True
            if ds.test_mode:
                ds.standins_enabled = True
        if mode not in self._tallies or \
                self._tallies[mode].datasets != datasets:
            self._tallies[mode] = _Tally(datasets)

    def before_train(self, runner) -> None:
        """Attach to the training dataset(s)."""
        self._attach('train', runner.train_dataloader.dataset)

    def before_val(self, runner) -> None:
        """Check the evaluator; attach to the validation dataset(s)."""
        loop = runner.val_loop
        self._attach('val', loop.dataloader.dataset, loop.evaluator)

    def before_test(self, runner) -> None:
        """Check the evaluator; attach to the test dataset(s)."""
        loop = runner.test_loop
        self._attach('test', loop.dataloader.dataset, loop.evaluator)

    # ------------------------------------------------------------ per batch
    def _collect(self, mode: str, data_batch) -> None:
        tally = self._tallies.get(mode)
        if tally is None or not isinstance(data_batch, dict):
            return
        for sample in data_batch.get('data_samples') or []:
            meta = getattr(sample, 'metainfo', None) or {}
            for name, reason in meta.get(META_BROKEN, ()):
                tally.new_broken.append((name, reason))
            padded = meta.get(META_PADDED)
            if padded:
                tally.new_padded[padded['filename']] = (padded['total_frames'],
                                                        padded['clip_len'])

    def _sync(self, mode: str) -> None:
        """Gather the new finds of all ranks; warn; enforce the ceiling."""
        tally = self._tallies.get(mode)
        if tally is None:
            return
        new = (tally.new_broken, tally.new_padded)
        tally.new_broken, tally.new_padded = [], {}
        parts = [new]
        if get_world_size() > 1:
            count = torch.tensor([len(new[0]) + len(new[1])],
                                 dtype=torch.int64)
            all_reduce(count)
            if int(count.item()) == 0:
                return
            parts = all_gather_object(new)
        for broken, padded in parts:
            for name, reason in broken:
                if name not in tally.broken:
                    tally.broken[name] = reason
                    print_log(
                        f'skipping undecodable video {name} ({reason}); '
                        f'{len(tally.broken)} of {tally.total} broken so far '
                        f'in {mode}, at most {tally.ceiling} tolerated '
                        f'(max_broken={tally.max_broken})',
                        logger='current',
                        level=logging.WARNING)
            for name, frames in padded.items():
                tally.padded[name] = frames
                if name not in tally.warned_padded:
                    tally.warned_padded.add(name)
                    print_log(
                        f'video {name} has {frames[0]} frames, fewer than '
                        f'the {frames[1]} a clip samples: frames are '
                        'repeated',
                        logger='current',
                        level=logging.WARNING)
        if len(tally.broken) > tally.ceiling:
            raise BrokenVideoError(
                broken_summary(
                    list(tally.broken), tally.total, tally.source,
                    tally.max_broken, tally.ceiling) +
                f' (counted over all workers and ranks, in {mode})')

    def _after_iter(self, mode: str, batch_idx: int, data_batch) -> None:
        self._collect(mode, data_batch)
        if (batch_idx + 1) % self.interval == 0:
            self._sync(mode)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        """Collect the batch's flags; gather every ``interval`` iters."""
        self._after_iter('train', batch_idx, data_batch)

    def after_val_iter(self,
                       runner,
                       batch_idx: int,
                       data_batch=None,
                       outputs: Optional[Sequence] = None) -> None:
        """Collect the batch's flags; gather every ``interval`` iters."""
        self._after_iter('val', batch_idx, data_batch)

    def after_test_iter(self,
                        runner,
                        batch_idx: int,
                        data_batch=None,
                        outputs: Optional[Sequence] = None) -> None:
        """Collect the batch's flags; gather every ``interval`` iters."""
        self._after_iter('test', batch_idx, data_batch)

    # ------------------------------------------------------------ summaries
    def _start_pass(self, mode: str) -> None:
        tally = self._tallies.get(mode)
        if tally is not None:
            tally.padded = {}

    def _summary(self, mode: str, what: str) -> None:
        self._sync(mode)
        tally = self._tallies.get(mode)
        if tally is None:
            return
        if tally.padded:
            print_log(
                f'{what}: {len(tally.padded)} of {tally.total} videos are '
                'shorter than the sampled frame count and were padded by '
                f'repeating frames: {summarize_names(list(tally.padded))}',
                logger='current',
                level=logging.WARNING)
        if tally.broken:
            print_log(
                f'{what}: {len(tally.broken)} of {tally.total} videos could '
                f'not be decoded so far (at most {tally.ceiling} tolerated, '
                f'max_broken={tally.max_broken}): '
                f'{summarize_names(list(tally.broken))}',
                logger='current',
                level=logging.WARNING)

    def before_train_epoch(self, runner) -> None:
        """Start the epoch's count of padded videos."""
        self._start_pass('train')

    def before_val_epoch(self, runner) -> None:
        """Start the pass's count of padded videos."""
        self._start_pass('val')

    def before_test_epoch(self, runner) -> None:
        """Start the pass's count of padded videos."""
        self._start_pass('test')

    def after_train_epoch(self, runner) -> None:
        """Gather, enforce the ceiling, log the epoch's summary."""
        self._summary('train', f'epoch {runner.epoch + 1}')

    def after_val_epoch(self, runner, metrics=None) -> None:
        """Gather, enforce the ceiling, log the validation summary."""
        self._summary('val', 'validation')

    def after_test_epoch(self, runner, metrics=None) -> None:
        """Gather, enforce the ceiling, log the test summary."""
        self._summary('test', 'test')
