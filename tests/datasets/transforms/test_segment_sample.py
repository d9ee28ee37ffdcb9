"""DiSTSegmentSample: the official segment-based frame positions."""
import numpy as np
import pytest
from mmaction.registry import TRANSFORMS

from projects.dist.datasets.transforms import DiSTSegmentSample


def official_positions(num_frames: int, clip_len: int, view: int,
                       num_views: int) -> list:
    """The official test-time rule, written out per segment (spec §3)."""
    edges = [num_frames * i / clip_len for i in range(clip_len + 1)]
    out = []
    for i in range(clip_len):
        lo, hi = edges[i], edges[i + 1]
        if num_views == 1:
            pos = (lo + hi) / 2
        else:
            pos = lo + (hi - lo) * (view + 1) / num_views
        out.append(int(round(min(max(pos, 0), num_frames - 1))))
    return out


def test_registered():
    assert TRANSFORMS.get('DiSTSegmentSample') is DiSTSegmentSample


@pytest.mark.parametrize('num_frames', [12, 37, 300])
@pytest.mark.parametrize('clip_len', [4, 16])
def test_three_view_offsets(num_frames, clip_len):
    sampler = DiSTSegmentSample(clip_len, num_clips=3, test_mode=True)
    results = sampler(dict(total_frames=num_frames, start_index=0))
    inds = results['frame_inds']
    assert inds.shape == (3 * clip_len, ) and inds.dtype == np.int32
    assert results['num_clips'] == 3 and results['clip_len'] == clip_len
    for view in range(3):
        expected = official_positions(num_frames, clip_len, view, 3)
        assert inds[view * clip_len:(view + 1) * clip_len].tolist() == (
            expected)


def test_offsets_are_thirds_of_each_segment():
    # 4 segments of 6 frames: views at 2, 4 and 6 (clipped to 23 at the end)
    sampler = DiSTSegmentSample(4, num_clips=3, test_mode=True)
    inds = sampler(dict(total_frames=24, start_index=0))['frame_inds']
    assert inds.reshape(3, 4).tolist() == [[2, 8, 14, 20], [4, 10, 16, 22],
                                           [6, 12, 18, 23]]


def test_single_view_takes_segment_centres():
    sampler = DiSTSegmentSample(4, num_clips=1, test_mode=True)
    inds = sampler(dict(total_frames=40, start_index=0))['frame_inds']
    assert inds.tolist() == [5, 15, 25, 35]
    assert inds.tolist() == official_positions(40, 4, 0, 1)


def test_start_index_and_short_video():
    sampler = DiSTSegmentSample(8, num_clips=1, test_mode=True)
    inds = sampler(dict(total_frames=3, start_index=1))['frame_inds']
    # fewer frames than segments: frames repeat, all within the video
    assert inds.min() >= 1 and inds.max() <= 3
    assert np.all(np.diff(inds) >= 0)


def test_training_draws_one_frame_per_segment():
    np.random.seed(0)
    sampler = DiSTSegmentSample(8)
    width = 100 / 8
    seen = np.zeros((8, 101), dtype=bool)
    for _ in range(300):
        inds = sampler(dict(total_frames=100, start_index=0))['frame_inds']
        assert inds.shape == (8, )
        for i, f in enumerate(inds):
            # frame i lies in segment i (up to rounding at its edges)
            assert i * width - 0.5 <= f <= (i + 1) * width + 0.5
            seen[i, f] = True
    # random, and covering each segment, not a fixed position
    assert all(row.sum() >= 12 for row in seen)


def test_view_offsets_override():
    sampler = DiSTSegmentSample(
        2, num_clips=2, test_mode=True, view_offsets=(0.0, 0.5))
    inds = sampler(dict(total_frames=20, start_index=0))['frame_inds']
    assert inds.tolist() == [0, 10, 5, 15]


@pytest.mark.parametrize(
    'kwargs,match',
    [(dict(clip_len=0), 'clip_len'),
     (dict(clip_len=4, num_clips=0), 'num_clips'),
     (dict(clip_len=4, num_clips=3), 'num_clips=1 when test_mode=False'),
     (dict(clip_len=4, num_clips=2, test_mode=True,
           view_offsets=(0.5, )), 'expected num_clips=2'),
     (dict(clip_len=4, num_clips=1, test_mode=True,
           view_offsets=(1.5, )), r'\[0, 1\]')])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DiSTSegmentSample(**kwargs)


def test_uniform_sample_differs_from_official_views():
    # why the recipe does not use UniformSample for testing: its 3 views sit
    # at 1/4, 2/4, 3/4 of segments of [0, N - 1], not at 1/3, 2/3, 3/3
    ours = DiSTSegmentSample(4, num_clips=3, test_mode=True)
    theirs = TRANSFORMS.build(
        dict(type='UniformSample', clip_len=4, num_clips=3, test_mode=True))
    res = dict(total_frames=24, start_index=0)
    assert ours(dict(res))['frame_inds'].tolist() != theirs(
        dict(res))['frame_inds'].tolist()
