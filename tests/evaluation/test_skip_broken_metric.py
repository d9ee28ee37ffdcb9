"""DiSTSkipBrokenMetric: stand-ins for unreadable videos are left out of the
wrapped metric (same value as without them) and reported by name."""
import pytest
import torch
from mmengine.evaluator import Evaluator

import projects.dist  # noqa: F401  -- registration

# projects.dist patches mmaction before its models load:
# isort: split
from mmaction.registry import METRICS

from projects.dist.datasets.robust_video_dataset import (META_STANDIN,
                                                         BrokenVideoError)
from projects.dist.evaluation import skip_broken_metric


def make_samples(num: int, standins: dict) -> list:
    """``num`` prediction dicts; ``standins`` maps index -> broken name.

    A stand-in's prediction is right, every fourth other one is wrong, so
    scoring the stand-ins would change the accuracy.
    """
    gen = torch.Generator().manual_seed(0)
    samples = []
    for i in range(num):
        label = i % 4
        score = torch.rand(4, generator=gen)
        pred = label if i in standins or i % 4 else (label + 1) % 4
        score[pred] = 2.0
        sample = dict(pred_score=score, gt_label=torch.tensor([label]))
        if i in standins:
            sample[META_STANDIN] = standins[i]
        samples.append(sample)
    return samples


def evaluate(metric_cfg: dict, samples: list, batch: int = 3) -> dict:
    evaluator = Evaluator(METRICS.build(metric_cfg))
    for start in range(0, len(samples), batch):
        evaluator.process(samples[start:start + batch], None)
    return evaluator.evaluate(len(samples))


def test_stand_ins_are_dropped_and_reported(monkeypatch):
    messages = []
    monkeypatch.setattr(skip_broken_metric, 'print_log',
                        lambda msg, **kw: messages.append(msg))
    acc = dict(
        type='AccMetric',
        metric_list=('top_k_accuracy', 'mean_class_accuracy'),
        metric_options=dict(top_k_accuracy=dict(topk=(1, 2))))
    samples = make_samples(12, {2: 'v/b2.mp4', 9: 'v/b9.mp4'})
    wrapped = evaluate(dict(type='DiSTSkipBrokenMetric', metric=acc), samples)
    readable = [s for s in samples if META_STANDIN not in s]
    assert wrapped == evaluate(acc, readable)
    assert list(wrapped) == ['acc/top1', 'acc/top2', 'acc/mean1']
    assert wrapped != evaluate(acc, samples)  # scoring them would differ
    assert messages == [
        "2 of 12 videos skipped (unreadable; left out of the metric, which "
        "is over the other 10): ['v/b2.mp4', 'v/b9.mp4']"
    ]


def test_all_unreadable_is_an_error():
    samples = make_samples(2, {0: 'a.mp4', 1: 'b.mp4'})
    with pytest.raises(BrokenVideoError, match='none of the 2 videos'):
        evaluate(
            dict(type='DiSTSkipBrokenMetric', metric=dict(type='AccMetric')),
            samples)


@pytest.mark.parametrize('metric', [
    dict(type='DiSTSkipBrokenMetric', metric=dict(type='AccMetric')),
    torch.nn.Identity()
])
def test_wraps_one_plain_metric(metric):
    with pytest.raises(TypeError, match='DiSTSkipBrokenMetric wraps'):
        METRICS.build(dict(type='DiSTSkipBrokenMetric', metric=metric))
