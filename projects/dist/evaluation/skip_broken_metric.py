"""A metric wrapper that leaves stand-ins for unreadable videos unscored.

In validation and testing :class:`~projects.dist.datasets.
DiSTRobustVideoDataset` returns, for a video it cannot decode, a stand-in
sample (another video of the list) flagged with the broken file's name in
its metainfo (``dist_standin_for``). :class:`DiSTSkipBrokenMetric` wraps
any per-sample metric (e.g. ``AccMetric``): the stand-ins' predictions are
dropped after the results of all ranks are gathered, the wrapped metric is
computed over the readable videos only (the same value as over a list
without the unreadable files), and one warning reports
``N of M videos skipped (unreadable): [names]``.
"""
import logging
from typing import Any, List, Optional, Sequence, Union

from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from mmaction.registry import METRICS
from ..datasets.robust_video_dataset import (META_STANDIN, BrokenVideoError,
                                             summarize_names)


@METRICS.register_module()
class DiSTSkipBrokenMetric(BaseMetric):
    """Score only readable videos; report the skipped ones.

    Each sample is passed on its own to the wrapped metric's ``process``;
    what that appends to its ``results`` is kept per sample, together with
    the sample's stand-in flag. MMEngine's ``collect_results`` then gathers
    one entry per sample from all ranks in dataset order (and drops the
    sampler's padding); stand-in entries are removed before the wrapped
    metric's ``compute_metrics`` runs. Metric names keep the wrapped
    metric's prefix (e.g. ``acc/top1``).

    Args:
        metric (dict | BaseMetric): The wrapped metric (config or object).
            It must append its results per data sample (as ``AccMetric``
            does) and not rely on ``data_batch``.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to 'cpu'.
        prefix (str, optional): Metric name prefix. Defaults to the
            wrapped metric's prefix.
        collect_dir (str, optional): Folder for ``collect_device='cpu'``.
            Defaults to None.

    Attributes:
        skipped (list[str]): The unreadable files of the last evaluation
            (main process).
    """

    def __init__(self,
                 metric: Union[dict, BaseMetric],
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        inner = METRICS.build(metric) if isinstance(metric, dict) else metric
        if not isinstance(inner, BaseMetric):
            raise TypeError('DiSTSkipBrokenMetric wraps a metric (a config '
                            'dict or a BaseMetric), got '
                            f'{type(inner).__name__}')
        if isinstance(inner, DiSTSkipBrokenMetric):
            raise TypeError('DiSTSkipBrokenMetric wraps a metric that is '
                            'already a DiSTSkipBrokenMetric; wrap it once')
        super().__init__(
            collect_device=collect_device,
            prefix=prefix or inner.prefix,
            collect_dir=collect_dir)
        self.metric = inner
        self.skipped: List[str] = []

    @property
    def dataset_meta(self) -> Optional[dict]:
        """dict | None: The dataset's metainfo, shared with the wrapped
        metric."""
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, dataset_meta: Optional[dict]) -> None:
        self._dataset_meta = dataset_meta
        self.metric.dataset_meta = dataset_meta

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Keep the wrapped metric's results per sample, with the flag.

        Args:
            data_batch (Any): The batch from the dataloader.
            data_samples (Sequence[dict]): The model's outputs as dicts
                (``ActionDataSample.to_dict()``).
        """
        for sample in data_samples:
            standin = sample.get(META_STANDIN)
            kept = []
            if standin is None:
                start = len(self.metric.results)
                self.metric.process(data_batch, [sample])
                kept = self.metric.results[start:]
                del self.metric.results[start:]
            self.results.append(dict(standin=standin, results=kept))

    def compute_metrics(self, results: List[dict]) -> dict:
        """Drop the stand-ins, report them, run the wrapped metric.

        Args:
            results (list[dict]): One entry per sample of the whole
                dataset (all ranks).

        Returns:
            dict: The wrapped metric's values over the readable videos.
        """
        skipped = [r['standin'] for r in results if r['standin'] is not None]
        self.skipped = skipped
        if skipped:
            print_log(
                f'{len(skipped)} of {len(results)} videos skipped '
                '(unreadable; left out of the metric, which is over the '
                f'other {len(results) - len(skipped)}): '
                f'{summarize_names(skipped)}',
                logger='current',
                level=logging.WARNING)
        if len(skipped) == len(results):
            raise BrokenVideoError(
                f'none of the {len(results)} videos could be decoded: '
                f'{summarize_names(skipped)}; nothing to score')
        kept = [
            x for r in results if r['standin'] is None for x in r['results']
        ]
        return self.metric.compute_metrics(kept)
