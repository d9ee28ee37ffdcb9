"""Text-query search over a long video on the tiny model: a query's window
scores are the text classifier's own similarities, and the best ranges are
non-overlapping windows, best first."""
import pytest
import torch

from projects.dist.apis import SlidingWindowRecognizer, WindowResult
from projects.dist.apis.frame_source import DecordFrameSource
from projects.dist.apis.text_search import (best_ranges, query_text_features,
                                            search_text,
                                            window_query_similarity)
from tests.numerics import assert_close_model


@pytest.fixture(scope='module')
def windows(model, video):
    return list(
        SlidingWindowRecognizer(model, 2).run(DecordFrameSource(video)))


def test_class_name_query_equals_classifier(model, windows):
    head = model.cls_head
    names = list(head.class_names)
    text = query_text_features(head, names)
    emb = torch.stack([w.embedding for w in windows])
    sims = window_query_similarity(head, emb, text)
    with torch.no_grad():
        logits = head(emb)
    scale = head.text_encoder.logit_scale.exp().item()
    assert_close_model(sims * scale, logits)


def test_search_returns_best_non_overlapping_ranges(model, windows):
    queries = ['a square moving to the left', 'something else entirely']
    found = search_text(model, windows, queries, num_ranges=3)
    assert [f['query'] for f in found] == queries
    head = model.cls_head
    sims = window_query_similarity(head,
                                   torch.stack([w.embedding for w in windows]),
                                   query_text_features(head, queries))
    for i, item in enumerate(found):
        ranges = item['ranges']
        assert len(ranges) == 3
        scores = [r['score'] for r in ranges]
        assert scores == sorted(scores, reverse=True)
        assert ranges[0]['window'] == int(sims[:, i].argmax())
        assert scores[0] == pytest.approx(float(sims[:, i].max()))
        for a in ranges:
            for b in ranges:
                if a is not b:
                    assert (a['end_frame'] < b['start_frame']
                            or b['end_frame'] < a['start_frame'])


def _window(i, start, length=8):
    return WindowResult(i, start, start + length - 1, start / 8.0,
                        (start + length - 1) / 8.0, torch.zeros(2),
                        torch.zeros(2))


def test_best_ranges_skips_overlaps():
    # windows every 2 frames, 8 long: 0-7, 2-9, ..., 16-23
    results = [_window(i, 2 * i) for i in range(9)]
    sims = torch.tensor([0.1, 0.2, 0.9, 0.8, 0.3, 0.1, 0.7, 0.2, 0.6])
    ranges = best_ranges(results, sims, 5)
    # 2 (frames 4-11) first; 3 (6-13) overlaps it; 6 (12-19) does not;
    # every other window overlaps 4-11 or 12-19
    assert [r['window'] for r in ranges] == [2, 6]
    assert ranges[0]['start_time'] == 0.5


def test_bad_queries(model):
    with pytest.raises(ValueError, match='non-empty text queries'):
        query_text_features(model.cls_head, [])
    with pytest.raises(ValueError, match='identical text tokens'):
        query_text_features(model.cls_head, ['jump', 'Jump'])
    with pytest.raises(ValueError, match='needs the text classifier'):
        query_text_features(torch.nn.Linear(2, 2), ['jump'])
