"""DiSTVideoInit / DiSTVideoDecode and their backends: the frames returned
are FFmpeg's frames at the requested indices, in presentation order.

The reference is a plain sequential decode of the whole file with PyAV
(FFmpeg's decoder, every frame, no seeking): what ``ffmpeg -i`` shows.
"""
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from mmaction.registry import TRANSFORMS
from mmengine.dataset import Compose

from projects.dist.datasets.transforms.video_readers import (EditListError,
                                                             PyAVReader,
                                                             open_video)
from tests.helpers import load_tool
from tests.video_utils import (cut_with_stream_copy, frame_level,
                               write_pyav_video)

generator = load_tool('data/generate_benchmark_videos.py')
REPO_ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

BACKENDS = ('pyav', 'decord')


def ffmpeg_frames(path: str) -> list:
    """Every frame FFmpeg shows, decoded in order (the reference)."""
    import av
    with av.open(path) as container:
        stream = container.streams.video[0]
        return [f.to_ndarray(format='rgb24') for f in container.decode(stream)]


def textured_video(path: str, codec: str, num_frames: int, keyint: int,
                   options: dict) -> str:
    """A panning-texture video with real P- and B-frames."""
    frames = generator.render_frames(num_frames, (64, 48), seed=1)
    return generator.write_video(path, frames, codec, 15, keyint, options)


@pytest.fixture(scope='module')
def h264_long_gop(tmp_path_factory) -> str:
    """H.264 with B-frames (and B-pyramid) and a keyframe every 40."""
    path = str(tmp_path_factory.mktemp('vid') / 'k.mp4')
    return textured_video(path, 'libx264', 90, 40, dict(preset='medium'))


@pytest.fixture(scope='module')
def vp9_webm(tmp_path_factory) -> str:
    """VP9 in WebM (hidden alt-ref frames), a keyframe every 20.

    Written by the generator's command line in its own process: once decord
    has opened a video, its bundled FFmpeg makes PyAV's libvpx-vp9 encoder
    fail to open in that process.
    """
    root = tmp_path_factory.mktemp('vid')
    subprocess.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'data', 'generate_benchmark_videos.py'),
        str(root), '--kind', 'sthv2', '--num', '1', '--seconds', '3', '--size',
        '64', '48', '--fps', '15', '--keyint', '20'
    ],
                   check=True,
                   capture_output=True)
    return str(root / 'sthv2_0000.webm')


@pytest.fixture(scope='module')
def av1_mp4(tmp_path_factory) -> str:
    """AV1 (SVT-AV1's mini-GOPs: hidden frames shown by later packets)."""
    path = str(tmp_path_factory.mktemp('vid') / 'av1.mp4')
    return write_pyav_video(path, 'libsvtav1', num_frames=40)


def index_sets(num_frames: int) -> list:
    """Sparse, dense, unsorted, repeated, view-major and edge indices."""
    rng = np.random.default_rng(0)
    return [
        np.arange(num_frames),
        np.array([num_frames - 1, 0, num_frames // 2, 0]),
        rng.integers(0, num_frames, 16),
        np.sort(rng.integers(0, num_frames, 16)),
        np.concatenate([
            np.linspace(o, num_frames - 1, 8).round() for o in (0, 3, 6)
        ]).astype(int),
        np.array([num_frames - 1]),
    ]


@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('video', ['h264_long_gop', 'vp9_webm'])
def test_frames_equal_ffmpeg_at_the_indices(backend, video, request):
    path = request.getfixturevalue(video)
    reference = ffmpeg_frames(path)
    reader = open_video(path, backend)
    assert reader.num_frames == len(reference)
    for indices in index_sets(len(reference)):
        frames = reader.get_frames(indices)
        assert len(frames) == len(indices)
        for i, frame in zip(indices, frames):
            np.testing.assert_array_equal(frame, reference[i])


def test_pyav_av1_decodes_every_packet_and_equals_ffmpeg(av1_mp4):
    """decord cannot open AV1; PyAV decodes it (libdav1d), without
    skipping packets (the wrapper then loses shown frames)."""
    reference = ffmpeg_frames(av1_mp4)
    reader = open_video(av1_mp4, 'pyav')
    assert reader.num_frames == len(reference) == 40
    assert not reader.skip_unused
    for indices in index_sets(len(reference)):
        for i, frame in zip(indices, reader.get_frames(indices)):
            np.testing.assert_array_equal(frame, reference[i])
    with pytest.raises(RuntimeError, match='could not be decoded'):
        forced = PyAVReader(av1_mp4)
        forced.skip_unused = True
        forced.get_frames([1, 5, 7])


def test_pyav_skipping_unused_frames_changes_no_frame(h264_long_gop):
    """Non-reference frames that are not asked for are not decoded; the
    frames returned are the same as with every frame decoded."""
    indices = np.array([3, 17, 41, 42, 88])
    assert PyAVReader(h264_long_gop).skip_unused
    fast = PyAVReader(h264_long_gop).get_frames(indices)
    full = PyAVReader(h264_long_gop, skip_unused=False).get_frames(indices)
    for a, b in zip(fast, full):
        np.testing.assert_array_equal(a, b)


def test_pyav_reads_from_bytes(h264_long_gop):
    with open(h264_long_gop, 'rb') as f:
        data = f.read()
    reference = ffmpeg_frames(h264_long_gop)
    frames = open_video(data, 'pyav').get_frames([5, 60])
    np.testing.assert_array_equal(frames[0], reference[5])
    np.testing.assert_array_equal(frames[1], reference[60])


@pytest.fixture
def edit_list_cut(tmp_path) -> str:
    """30 frames with a keyframe every 10, cut at 1.5 s (frame 15) with
    stream copy: frames 10-14 stay in the file, hidden by an edit list."""
    src = write_pyav_video(
        str(tmp_path / 'src.mp4'), num_frames=30, options=dict(g='10'))
    return cut_with_stream_copy(src, str(tmp_path / 'cut.mp4'), 1.5)


def test_pyav_decodes_an_edit_list_file_in_time_order(edit_list_cut):
    reference = ffmpeg_frames(edit_list_cut)
    assert len(reference) == 15
    reader = open_video(edit_list_cut, 'pyav')
    assert reader.num_frames == 15
    frames = reader.get_frames(np.arange(15)[::-1])[::-1]
    levels = [int(round(f.mean())) for f in frames]
    expected = [frame_level(15 + i) for i in range(15)]
    assert np.abs(np.array(levels) - expected).max() <= 2
    for frame, ref in zip(frames, reference):
        np.testing.assert_array_equal(frame, ref)


def test_decord_rejects_an_edit_list_file(edit_list_cut):
    with pytest.raises(EditListError, match="edit list.*backend='pyav'"):
        open_video(edit_list_cut, 'decord')


def test_pyav_avi_with_b_frames_and_open_gops(tmp_path):
    """An AVI with B-frames (decord misplaces its frames): B-frames shown
    before a keyframe need the keyframe before it (frames 14, 15 here)."""
    path = write_pyav_video(
        str(tmp_path / 'b.avi'), 'mpeg4', num_frames=30, options=dict(bf='2'))
    reference = ffmpeg_frames(path)
    reader = open_video(path, 'pyav')
    assert reader.num_frames == len(reference) == 30
    for indices in index_sets(30) + [np.array([1, 14, 15, 22, 28])]:
        for i, frame in zip(indices, reader.get_frames(indices)):
            np.testing.assert_array_equal(frame, reference[i])


@pytest.mark.parametrize('backend', BACKENDS)
def test_out_of_range_index_is_named(backend, h264_long_gop):
    with pytest.raises(IndexError, match=r'\[0, 90\)'):
        open_video(h264_long_gop, backend).get_frames([0, 90])


def test_unknown_backend_is_named():
    with pytest.raises(ValueError, match="'opencv'.*'decord', 'pyav'"):
        TRANSFORMS.build(dict(type='DiSTVideoInit', backend='opencv'))
    with pytest.raises(ValueError, match='num_threads'):
        TRANSFORMS.build(dict(type='DiSTVideoInit', num_threads=0))


@pytest.mark.parametrize('backend', BACKENDS)
def test_pipeline_decodes_all_test_views_in_order(backend, h264_long_gop):
    """Three test views (view-major indices) in one decode, as the
    recipes' test pipeline samples them."""
    pipeline = Compose([
        dict(type='DiSTVideoInit', backend=backend),
        dict(
            type='DiSTSegmentSample', clip_len=8, num_clips=3, test_mode=True),
        dict(type='DiSTVideoDecode'),
    ])
    results = pipeline(
        dict(filename=h264_long_gop, start_index=0, modality='RGB'))
    reference = ffmpeg_frames(h264_long_gop)
    assert results['total_frames'] == 90
    assert 'video_reader' not in results
    assert len(results['imgs']) == 24
    assert results['img_shape'] == (48, 64)
    for i, frame in zip(results['frame_inds'], results['imgs']):
        np.testing.assert_array_equal(frame, reference[i])


def test_pyav_counts_frames_when_timestamps_are_missing(tmp_path):
    """Without packet timestamps the frames are counted in the decoder's
    output (presentation) order from the start."""
    path = write_pyav_video(
        str(tmp_path / 'b.avi'), 'mpeg4', num_frames=30, options=dict(bf='2'))
    reference = ffmpeg_frames(path)
    reader = open_video(path, 'pyav')
    reader._timed = False  # as for packets without a pts
    for indices in index_sets(30):
        for i, frame in zip(indices, reader.get_frames(indices)):
            np.testing.assert_array_equal(frame, reference[i])
