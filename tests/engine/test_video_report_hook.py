"""DiSTVideoReportHook: refuses a stock metric on a robust val/test set,
merges the broken files that samples carry, warns once, stops past the
ceiling and sums up padded clips (single process; the 4-worker and 2-rank
runs are in tests/datasets/test_robust_video_dataset.py)."""
import logging
from types import SimpleNamespace

import pytest
from mmengine.evaluator import Evaluator

import projects.dist  # noqa: F401  -- registration

# projects.dist patches mmaction before its models load:
# isort: split
from mmaction.registry import DATASETS, HOOKS, METRICS
from mmaction.structures import ActionDataSample

from projects.dist.datasets.robust_video_dataset import (META_BROKEN,
                                                         META_PADDED,
                                                         BrokenVideoError)
from projects.dist.engine.hooks import video_report_hook
from tests.video_utils import write_video_list


@pytest.fixture
def dataset(tmp_path):
    """A robust test-mode dataset over 10 listed videos (max_broken=2)."""
    ann = write_video_list(str(tmp_path), 10, 4, num_frames=2)
    return DATASETS.build(
        dict(
            type='DiSTRobustVideoDataset',
            ann_file=ann,
            data_prefix=dict(video=str(tmp_path)),
            pipeline=[],
            test_mode=True,
            max_broken=2))


@pytest.fixture
def messages(monkeypatch):
    logged = []
    monkeypatch.setattr(
        video_report_hook,
        'print_log',
        lambda msg, level=logging.INFO, **kw: logged.append((level, msg)))
    return logged


def fake_runner(dataset, metric: dict) -> SimpleNamespace:
    loop = SimpleNamespace(
        dataloader=SimpleNamespace(dataset=dataset),
        evaluator=Evaluator(METRICS.build(metric)))
    return SimpleNamespace(val_loop=loop, test_loop=loop, epoch=0)


def batch(**meta) -> dict:
    sample = ActionDataSample()
    sample.set_metainfo(meta)
    return dict(inputs=[None], data_samples=[sample])


@pytest.mark.parametrize('stage', ['val', 'test'])
def test_stock_metric_on_robust_set_is_an_error(dataset, stage):
    hook = HOOKS.build(dict(type='DiSTVideoReportHook'))
    runner = fake_runner(dataset, dict(type='AccMetric'))
    with pytest.raises(
            ValueError,
            match=rf"{stage}_evaluator: \['AccMetric'\] would "
            'score the stand-ins .*DiSTSkipBrokenMetric'):
        getattr(hook, f'before_{stage}')(runner)
    assert not dataset.standins_enabled
    runner = fake_runner(
        dataset,
        dict(type='DiSTSkipBrokenMetric', metric=dict(type='AccMetric')))
    getattr(hook, f'before_{stage}')(runner)
    assert dataset.standins_enabled and dataset.report_hook_attached
    # tools/test.py --dump adds DumpResults, which scores nothing
    runner.val_loop.evaluator = Evaluator([
        METRICS.build(
            dict(type='DiSTSkipBrokenMetric', metric=dict(type='AccMetric'))),
        METRICS.build(dict(type='DumpResults', out_file_path='r.pkl'))
    ])
    getattr(hook, f'before_{stage}')(runner)


def test_merges_warns_once_and_stops_past_the_ceiling(dataset, messages):
    hook = HOOKS.build(dict(type='DiSTVideoReportHook'))
    runner = fake_runner(
        dataset,
        dict(type='DiSTSkipBrokenMetric', metric=dict(type='AccMetric')))
    hook.before_val(runner)
    hook.before_val_epoch(runner)
    short = dict(filename='s.mp4', total_frames=3, clip_len=8)
    # two workers both met a.mp4; s.mp4 is padded in two samples
    hook.after_val_iter(runner, 0, batch(**{META_BROKEN: [('a.mp4', 'x')]}))
    hook.after_val_iter(
        runner, 1,
        batch(**{
            META_BROKEN: [('a.mp4', 'x'), ('b.mp4', 'y')],
            META_PADDED: short
        }))
    hook.after_val_iter(runner, 2, batch(**{META_PADDED: short}))
    hook.after_val_epoch(runner)
    warnings = [m for level, m in messages if level == logging.WARNING]
    assert sum('undecodable video a.mp4' in m for m in warnings) == 1
    assert sum('undecodable video b.mp4' in m for m in warnings) == 1
    assert sum('video s.mp4 has 3 frames' in m for m in warnings) == 1
    assert any('validation: 1 of 10 videos are shorter' in m for m in warnings)
    assert any("validation: 2 of 10 videos could not be decoded so far (at "
               "most 2 tolerated, max_broken=2): ['a.mp4', 'b.mp4']" in m
               for m in warnings)
    with pytest.raises(
            BrokenVideoError,
            match=r"3 of 10 videos .* allows \(2\): \['a.mp4', "
            r"'b.mp4', 'c.mp4'\].*counted over all workers"):
        hook.after_val_iter(runner, 3,
                            batch(**{META_BROKEN: [('c.mp4', 'z')]}))


def test_interval_is_checked():
    with pytest.raises(ValueError, match='interval must be a positive int'):
        HOOKS.build(dict(type='DiSTVideoReportHook', interval=0))
