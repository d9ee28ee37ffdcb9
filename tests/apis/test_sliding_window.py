"""Sliding-window recognition with frozen-tower token reuse: every window's
scores and embedding equal the plain single-clip forward (``test_step``)
on the same frames, each spatial frame goes through the tower once, and
the caches stay bounded however long the video is."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmaction.apis import init_recognizer
from mmengine.dataset import Compose, pseudo_collate

from projects.dist.apis import (CaptureFrameSource, DecordFrameSource,
                                PyAVFrameSource, SlidingWindowRecognizer,
                                VideoSourceError, open_source)
from projects.dist.datasets.transforms.video_readers import PyAVReader
from tests.helpers import REPO_ROOT
from tests.numerics import assert_close_model
from tests.video_utils import (cut_with_stream_copy, write_pyav_video,
                               write_random_video)


def reference(model, frame_inds, video=None, array=None):
    """``test_step`` scores and the backbone embedding of the clip of
    ``frame_inds`` made by the test pipeline (decord), or from ``array``
    (frames decoded elsewhere)."""
    steps = [s for s in model.cfg.test_pipeline if 'Sample' not in s['type']]
    data = dict(
        frame_inds=np.array(frame_inds),
        clip_len=len(frame_inds),
        num_clips=1,
        frame_interval=None,
        start_index=0,
        modality='RGB',
        label=-1)
    if array is None:
        data['filename'] = video
    else:
        steps = [dict(type='ArrayDecode')] + [
            s for s in steps
            if 'Init' not in s['type'] and 'Decode' not in s['type']
        ]
        data['array'] = array
        data['total_frames'] = len(array)
    batch = pseudo_collate([Compose(steps)(data)])
    with torch.no_grad():
        scores = model.test_step(batch)[0].pred_score
        inputs = model.data_preprocessor(batch, False)['inputs']
        embedding = model.backbone(inputs.flatten(0, 1))[0]
    return scores, embedding


def check_windows(results, model, num_sampled, stride, interval, **ref):
    """Every window equals its reference; windows tile the sampled frames
    as documented."""
    window = model.backbone.num_frames
    assert len(results) == (num_sampled - window) // stride + 1
    for w, result in enumerate(results):
        inds = [(w * stride + j) * interval for j in range(window)]
        assert (result.index, result.start_frame,
                result.end_frame) == (w, inds[0], inds[-1])
        scores, embedding = reference(model, inds, **ref)
        assert_close_model(result.embedding, embedding, f'window {w} emb')
        assert_close_model(result.scores, scores, f'window {w} scores')


@pytest.mark.parametrize('stride,interval', [(2, 1), (4, 2), (3, 1)])
def test_windows_equal_plain_forward(model, video, stride, interval):
    runner = SlidingWindowRecognizer(model, stride, interval)
    results = list(runner.run(DecordFrameSource(video)))
    num_sampled = len(range(0, 41, interval))
    check_windows(results, model, num_sampled, stride, interval, video=video)
    # every spatial frame went through the tower exactly once
    alpha, window = model.backbone.alpha, model.backbone.num_frames
    spatial = {
        w * stride + j
        for w in range(len(results))
        for j in range(0, window, alpha)
    }
    assert runner.tower_frames == len(spatial)
    assert runner.peak_cached_frames <= runner.max_cached_frames
    if stride % alpha == 0:  # aligned: the cache holds one window's frames
        assert runner.peak_cached_frames == window // alpha


def test_recompute_path_matches_reuse_path(model, video):
    reuse = SlidingWindowRecognizer(model, 2)
    plain = SlidingWindowRecognizer(model, 2, reuse_tower=False)
    got = list(reuse.run(DecordFrameSource(video)))
    want = list(plain.run(DecordFrameSource(video)))
    assert len(got) == len(want) == 17
    for a, b in zip(got, want):
        assert_close_model(a.scores, b.scores)
    # 4 spatial frames per window without reuse; with it, the first
    # window's 4, then one new one per window (stride 2 = alpha)
    assert plain.tower_frames == 4 * 17
    assert reuse.tower_frames == 4 + 16


def test_cache_bound_independent_of_length(model, tmp_path):
    short = write_random_video(str(tmp_path / 's.mp4'), num_frames=16)
    long = write_random_video(str(tmp_path / 'l.mp4'), num_frames=64)
    peaks = []
    for path in (short, long):
        runner = SlidingWindowRecognizer(model, 2)
        buffered = []
        results = list(
            runner.run(
                DecordFrameSource(path),
                frame_callback=lambda f: buffered.append(len(runner._tokens))))
        assert len(results) == (len(DecordFrameSource(path)) - 8) // 2 + 1
        peaks.append(runner.peak_cached_frames)
        assert max(buffered) <= runner.max_cached_frames
    assert peaks == [4, 4]


def test_pyav_source_is_the_pyav_backend_frame_by_frame(model, tmp_path):
    """The default file source yields the frames the recipes' pyav
    backend returns for the same indices, also for a stream-copy cut whose
    edit list hides frames, and its windows equal the plain forward."""
    src = write_pyav_video(
        str(tmp_path / 'src.mp4'), num_frames=40, options=dict(g='10'))
    cut = cut_with_stream_copy(src, str(tmp_path / 'cut.mp4'), 1.5)
    for path in (src, cut):
        source = open_source(path)
        assert isinstance(source, PyAVFrameSource)
        reader = PyAVReader(path)
        frames = list(source.frames(3))
        assert [f.index for f in frames] == list(range(0, len(reader), 3))
        for frame, want in zip(frames,
                               reader.get_frames([f.index for f in frames])):
            np.testing.assert_array_equal(frame.rgb, want)
    results = list(SlidingWindowRecognizer(model, 2).run(open_source(cut)))
    check_windows(results, model, len(PyAVReader(cut)), 2, 1, video=cut)


def test_file_read_as_live_stream(model, video):
    """The live-source path (cv2.VideoCapture, frames as they arrive)."""
    capture = cv2.VideoCapture(video)
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    array = np.stack(frames)
    source = open_source(video, backend='opencv', max_frames=30)
    assert isinstance(source, CaptureFrameSource)
    results = list(SlidingWindowRecognizer(model, 2).run(source))
    check_windows(results, model, 30, 2, 1, array=array)
    assert results[1].start_time == pytest.approx(2 / 8)  # 8 fps


def test_too_short_and_bad_sources(model, tmp_path):
    short = write_random_video(str(tmp_path / 's.mp4'), num_frames=7)
    with pytest.raises(ValueError, match='7 sampled frames .* needs 8'):
        list(SlidingWindowRecognizer(model).run(open_source(short)))
    with pytest.raises(FileNotFoundError, match='video source not found'):
        open_source(str(tmp_path / 'missing.mp4'))
    text = tmp_path / 'text.mp4'
    text.write_text('not a video')
    with pytest.raises(VideoSourceError, match='PyAV cannot open'):
        open_source(str(text))
    with pytest.raises(VideoSourceError, match='decord cannot open'):
        open_source(str(text), backend='decord')
    with pytest.raises(VideoSourceError, match='OpenCV cannot open'):
        open_source(str(text), backend='opencv')
    for bad in (dict(stride=0), dict(frame_interval=1.5),
                dict(batch_windows=0)):
        with pytest.raises(ValueError, match='must be an integer >= 1'):
            SlidingWindowRecognizer(model, **bad)


@pytest.mark.parametrize('stride,batch_windows', [(2, 4), (3, 2), (2, 40)])
def test_batched_windows_equal_single_windows(model, video, stride,
                                              batch_windows):
    """Scoring windows in batches (their new spatial frames through the
    tower in one call) changes nothing but the batch size: same windows,
    same scores, each spatial frame once, caches within their bound."""
    single = SlidingWindowRecognizer(model, stride)
    want = list(single.run(DecordFrameSource(video)))
    batched = SlidingWindowRecognizer(
        model, stride, batch_windows=batch_windows)
    calls = []
    backbone = model.backbone
    original = backbone.spatial_features
    backbone.spatial_features = lambda x: calls.append(len(x)) or original(x)
    try:
        got = list(batched.run(DecordFrameSource(video)))
    finally:
        del backbone.spatial_features
    assert [r[:5] for r in got] == [r[:5] for r in want]
    for a, b in zip(got, want):
        assert_close_model(a.embedding, b.embedding)
        assert_close_model(a.scores, b.scores)
    assert batched.tower_frames == single.tower_frames == sum(calls)
    num_batches = -(-len(want) // batch_windows)
    assert len(calls) == num_batches
    assert batched.peak_cached_frames <= batched.max_cached_frames
    assert batched.max_buffered_frames == 8 + (batch_windows - 1) * stride


def test_frame_callback_follows_the_windows_ending_at_or_before_it(
        model, video):
    """Every sampled frame reaches the callback once, in order, after all
    windows ending at or before it were yielded and before any later
    window: an annotated video shows each frame with the label of the
    latest window that ended by then, whatever the batching."""
    for batch_windows in (1, 3):
        runner = SlidingWindowRecognizer(model, 2, batch_windows=batch_windows)
        events = []
        for result in runner.run(
                DecordFrameSource(video),
                frame_callback=lambda f: events.append(('frame', f.index))):
            events.append(('window', result.end_frame))
        frames = [i for kind, i in events if kind == 'frame']
        assert frames == list(range(41))
        ends = [i for kind, i in events if kind == 'window']
        assert len(ends) == 17
        for p, (kind, i) in enumerate(events):
            if kind == 'frame':
                before = [e for k, e in events[:p] if k == 'window']
                assert before == [e for e in ends
                                  if e <= i], (batch_windows, i)


def test_an_mmpretrain_tower_and_a_linear_head(video):
    """Reuse works for any frozen tower DiST takes and any head on its
    embedding: the mmpretrain ViT tower with a linear head."""
    torch.manual_seed(0)
    config = osp.join(REPO_ROOT, 'configs',
                      'dist_tiny_synthetic_mmpretrain.py')
    model = init_recognizer(config, None, device='cpu')
    model.init_weights()
    model.eval()
    runner = SlidingWindowRecognizer(model, 2, batch_windows=3)
    results = list(runner.run(open_source(video)))
    check_windows(results, model, 41, 2, 1, video=video)
