"""Tests of projects/dist/datasets/video_probe.py: each kind of unusable file
gets a reason that names it; stream-copy cuts (MP4 edit lists) and
frames out of time order are found; AV1 is named as an unsupported codec."""
import re
import struct
import sys

import cv2
import decord
import numpy as np
import pytest

from projects.dist.datasets import robust_video_dataset
# yapf: disable
from projects.dist.datasets.transforms.video_readers import PyAVReader
from projects.dist.datasets.video_probe import (VideoFileError, identify_codec,
                                                inspect_video, mp4_truncation,
                                                pipeline_backend,
                                                pipeline_sampling, probe_video,
                                                sampled_frames,
                                                sniff_not_video,
                                                time_order_problems)
# yapf: enable
from tests.video_utils import (cut_with_stream_copy, frame_level,
                               write_pyav_video, write_random_video)


def test_robust_dataset_module_still_exports_probe_video():
    assert robust_video_dataset.probe_video is probe_video


def test_readable_video_passes(tmp_path):
    path = write_pyav_video(str(tmp_path / 'ok.mp4'), num_frames=12)
    assert probe_video(path) is None
    report = inspect_video(path)
    assert report.problem is None and report.order == []
    assert (report.num_frames, report.fps, report.codec,
            report.declared_frames) == (12, 10.0, 'h264', 12)


NOT_A_VIDEO = '; expected a video file (e.g. MP4, MKV, WebM, AVI)'


@pytest.mark.parametrize('content, reason', [
    (None, 'file not found'),
    (b'', 'empty file (0 bytes)'),
    (b'label 1\nlabel 2\n', 'not a video: a text file (starts with "label '
     '1 label 2")' + NOT_A_VIDEO),
    (cv2.imencode('.png', np.zeros(
        (8, 8, 3),
        np.uint8))[1].tobytes(), 'not a video: a PNG image' + NOT_A_VIDEO),
    (cv2.imencode('.jpg', np.zeros(
        (8, 8, 3),
        np.uint8))[1].tobytes(), 'not a video: a JPEG image' + NOT_A_VIDEO),
])
@pytest.mark.parametrize('backend', ['decord', 'pyav'])
def test_unusable_file_is_named(tmp_path, content, reason, backend):
    path = tmp_path / 'clip.mp4'
    if content is not None:
        path.write_bytes(content)
    assert probe_video(str(path), backend=backend) == reason


def test_text_file_is_not_opened_by_decord(tmp_path):
    """decord "opens" a text file as a 1-frame video (the check above must
    come first for the reason to be right)."""
    path = tmp_path / 'notes.txt'
    path.write_text('hello\n')
    assert len(decord.VideoReader(str(path))) == 1
    assert probe_video(str(path)).startswith('not a video: a text file')


@pytest.mark.parametrize('backend', ['decord', 'pyav'])
def test_truncated_mp4_names_the_cut_box(tmp_path, backend):
    path = write_random_video(str(tmp_path / 'v.mp4'), num_frames=10)
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) * 9 // 10])
    reason = probe_video(path, backend=backend)
    found = re.match(
        r"truncated: the MP4 box '(?:mdat|moov)' at byte (\d+) needs (\d+) "
        r'bytes but the file ends after (\d+);', reason)
    assert found, reason
    start, needs, left = map(int, found.groups())
    assert start + left == len(data) * 9 // 10 < start + needs
    assert reason.endswith('re-download or re-encode the file')


def test_mp4_without_index_is_truncated(tmp_path):
    path = tmp_path / 'v.mp4'
    ftyp = struct.pack('>I4s4sI', 16, b'ftyp', b'isom', 0)
    mdat = struct.pack('>I4s', 24, b'mdat') + bytes(16)
    path.write_bytes(ftyp + mdat)
    assert mp4_truncation(str(path)) == (
        'the MP4 has no "moov" box (the index written when recording ends)')
    assert probe_video(str(path)).startswith('truncated: the MP4 has no')


def test_av1_is_an_unsupported_codec(tmp_path):
    """decord 0.6.0 cannot decode AV1 and says "cannot find video stream"."""
    path = write_pyav_video(str(tmp_path / 'av1.mp4'), 'libsvtav1')
    with pytest.raises(decord.DECORDError, match='cannot find video stream'):
        decord.VideoReader(path)
    reason = probe_video(path)
    assert reason.startswith(
        "unsupported codec: the video stream is 'av1', which decord cannot "
        'decode (DECORDError: cannot find video stream')
    assert reason.endswith('re-encode it to H.264, e.g. ffmpeg -i IN -c:v '
                           'libx264 -pix_fmt yuv420p OUT.mp4')


def test_codec_named_by_opencv_without_pyav(tmp_path, monkeypatch):
    av1 = write_pyav_video(str(tmp_path / 'av1.mp4'), 'libsvtav1')
    mp4v = write_random_video(str(tmp_path / 'mp4v.mp4'))
    monkeypatch.setitem(sys.modules, 'av', None)  # import av fails
    assert identify_codec(av1) == 'av1'
    assert identify_codec(mp4v) == 'mpeg4'
    assert "the video stream is 'av1'" in probe_video(av1)
    assert inspect_video(mp4v).declared_frames is None  # needs PyAV


def test_stream_copy_cut_is_out_of_time_order(tmp_path):
    """The edit list of a cut at 1.3 s hides 3 frames (from the keyframe at
    1.0 s) that decord returns; FFmpeg shows the 7 frames after the cut."""
    src = write_pyav_video(
        str(tmp_path / 'src.mp4'), num_frames=20, options=dict(g='5'))
    path = cut_with_stream_copy(src, str(tmp_path / 'cut.mp4'), 1.3)
    reader = decord.VideoReader(path)
    frames = reader.get_batch(list(range(len(reader)))).asnumpy()
    # decord: 10 frames, the last shown 4 times (FFmpeg: frames 13..19)
    levels = frames[:, 0, 0, 0].astype(int)
    assert len(levels) == 10
    assert np.abs(levels -
                  [frame_level(i)
                   for i in [*range(13, 20)] + [19] * 3]).max() <= 3
    report = inspect_video(path)
    assert report.problem is None and probe_video(path) is None
    assert report.num_frames == 10 and report.declared_frames == 7
    assert report.order[0].startswith(
        '3 of 10 frames have negative timestamps (from -0.300 s): an MP4 '
        'edit list (e.g. a cut made with stream copy) hides them')
    assert report.order[1] == (
        'decord returns 10 frames where FFmpeg shows 7 (the video packets '
        'an edit list does not discard)')
    assert inspect_video(src).order == []


def test_avi_with_b_frames_is_out_of_time_order(tmp_path):
    """MPEG-4 Part 2 in AVI with B-frames: 11 of 30 frames have no
    timestamp, and decord's seeks return wrong frames, even going
    backwards."""
    path = write_pyav_video(
        str(tmp_path / 'b.avi'), 'mpeg4', num_frames=30, options=dict(bf='2'))
    picked = [3, 7, 14, 22, 28]
    levels = decord.VideoReader(path).get_batch(picked).asnumpy()[:, 0, 0, 0]
    expected = [frame_level(i) for i in picked]
    assert np.abs(levels.astype(int) - expected).max() > 20
    report = inspect_video(path)
    assert report.problem is None
    assert report.order == [
        '11 of 30 frames have no timestamp (e.g. an AVI with B-frames): '
        'decord seeks by timestamp, so the frames a sampler picks come out '
        'wrong and out of order; re-encode it to H.264, e.g. ffmpeg -i IN '
        '-c:v libx264 -pix_fmt yuv420p OUT.mp4'
    ]
    # without B-frames the same file decodes in order
    plain = write_pyav_video(
        str(tmp_path / 'p.avi'), 'mpeg4', num_frames=30, options=dict(bf='0'))
    assert inspect_video(plain).order == []
    levels = decord.VideoReader(plain).get_batch(picked).asnumpy()[:, 0, 0, 0]
    assert np.abs(levels.astype(int) - expected).max() <= 5  # steps: 12


def test_time_order_problems():
    assert time_order_problems([0.0, 0.1, 0.2], declared=3) == []
    (fewer, ) = time_order_problems([0.0, 0.1, 0.2], declared=4)
    assert fewer.startswith('decord returns 3 frames where FFmpeg shows 4')
    (backwards, ) = time_order_problems([0.0, 0.2, 0.1, 0.3, 0.3])
    assert backwards == ('2 frames are not after the frame before them '
                         '(first: frame 2 at 0.100 s after frame 1 at '
                         '0.200 s)')
    untimed, backwards = time_order_problems([-9.2e17, 0.2, -9.2e17, 0.1])
    assert untimed.startswith('2 of 4 frames have no timestamp')
    assert backwards.endswith('(first: frame 3 at 0.100 s after frame 1 at '
                              '0.200 s)')
    (count, ) = time_order_problems([0.1 * i for i in range(135)], 102)
    assert count.startswith('decord returns 135 frames where FFmpeg shows '
                            '102')


@pytest.mark.parametrize('ext', ['mp4', 'mkv'])
def test_variable_frame_rate_is_in_order(tmp_path, ext):
    """Frames 20-100 ms apart: duration x average rate would not give the
    frame count (MKV: 30 fps declared over 2.08 s, 62 frames); the packet
    count does."""
    gaps = np.random.default_rng(0).choice([20, 33, 50, 100], 40)
    times = np.concatenate([[0], np.cumsum(gaps)[:-1]]).tolist()
    path = write_pyav_video(
        str(tmp_path / f'vfr.{ext}'), num_frames=40, fps=30, times_ms=times)
    report = inspect_video(path)
    assert (report.problem, report.order) == (None, [])
    assert report.num_frames == report.declared_frames == 40


def test_sampled_frames():
    assert sampled_frames(
        dict(type='UniformSample',
             clip_len=8)) == (8, 'UniformSample(clip_len=8, num_clips=1)')
    assert sampled_frames(
        dict(type='SampleFrames', clip_len=4, frame_interval=3,
             num_clips=2)) == (
                 10, 'SampleFrames(clip_len=4, frame_interval=3, num_clips=2)')
    pipeline = [
        dict(type='DecordInit'),
        dict(type='DiSTSegmentSample', clip_len=16, num_clips=3),
        dict(type='DecordDecode')
    ]
    assert pipeline_sampling(pipeline) == (
        16, 'DiSTSegmentSample(clip_len=16, num_clips=3)')
    assert pipeline_sampling(pipeline[:1]) is None


def test_sniff_keeps_binary_video_data():
    assert sniff_not_video(b'\x00\x00\x00\x18ftypisom') is None
    assert sniff_not_video(b'\x1aE\xdf\xa3\x9fB\x86\x81\x01') is None
    # a multi-byte character cut by the end of the sniffed bytes
    assert sniff_not_video('caf\u00e9'.encode()[:-1]).startswith('a text')


def test_video_file_error_message():
    err = VideoFileError('a.mp4', 'empty file (0 bytes)')
    assert isinstance(err, ValueError)
    assert str(err) == 'a.mp4: empty file (0 bytes)'
    assert (err.path, err.problem) == ('a.mp4', 'empty file (0 bytes)')


def test_pyav_passes_what_decord_misreads(tmp_path):
    """For the pyav backend the stream-copy cut, the AVI with B-frames and
    AV1 decode right: no problem, nothing out of order, FFmpeg's count."""
    src = write_pyav_video(
        str(tmp_path / 'src.mp4'), num_frames=20, options=dict(g='5'))
    cut = cut_with_stream_copy(src, str(tmp_path / 'cut.mp4'), 1.3)
    avi = write_pyav_video(
        str(tmp_path / 'b.avi'), 'mpeg4', num_frames=30, options=dict(bf='2'))
    av1 = write_pyav_video(str(tmp_path / 'av1.mp4'), 'libsvtav1')
    for path, frames, codec in ((cut, 7, 'h264'), (avi, 30, 'mpeg4'), (av1, 12,
                                                                       'av1')):
        assert inspect_video(path, backend='decord').order or \
            probe_video(path) is not None
        report = inspect_video(path, backend='pyav')
        assert (report.problem, report.order, report.backend) == (None, [],
                                                                  'pyav')
        assert report.num_frames == report.declared_frames == frames
        assert report.codec == codec
        assert probe_video(path, backend='pyav') is None


def test_pyav_flags_frames_that_do_not_come_out(tmp_path, monkeypatch):
    path = write_pyav_video(str(tmp_path / 'v.mp4'), num_frames=12)
    scan = PyAVReader.scan
    monkeypatch.setattr(PyAVReader, 'scan', lambda self: scan(self)[:-3])
    assert probe_video(
        path, backend='pyav'
    ) == (
        'truncated or corrupt: 3 of 12 frames do not come out of the decoder '
        '(first: frame 9)')

    def failing(self):
        raise RuntimeError('Invalid data found when processing input')

    monkeypatch.setattr(PyAVReader, 'scan', failing)
    assert probe_video(
        path, backend='pyav') == (
            'truncated or corrupt: decoding fails (RuntimeError: Invalid data '
            'found when processing input)')
    # decode=False opens only: nothing decoded, nothing flagged
    report = inspect_video(path, decode=False, backend='pyav')
    assert report.problem is None and report.num_frames == 12


def test_pyav_flags_truncated_file_with_index_first(tmp_path):
    """moov before mdat ("faststart"): PyAV opens the cut file and reads the
    packets before the cut; the file is still flagged as truncated."""
    import av
    path = str(tmp_path / 'fast.mp4')
    with av.open(path, 'w', options=dict(movflags='faststart')) as out:
        stream = out.add_stream('libx264', rate=10)
        stream.width = stream.height = 64
        stream.pix_fmt = 'yuv420p'
        for i in range(30):
            image = np.random.default_rng(i).integers(0, 256, (64, 64, 3),
                                                      np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, 'rgb24')))
        out.mux(stream.encode())
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) * 2 // 3])
    assert len(PyAVReader(path)) < 30  # it opens, with fewer frames
    reason = probe_video(path, backend='pyav')
    assert re.match(
        r"truncated: the MP4 box 'mdat' at byte \d+ needs \d+ bytes but the "
        r'file ends after \d+; the frames after the cut are missing', reason)
    assert probe_video(path).startswith('truncated: ')  # decord


def test_unknown_probe_backend_is_named(tmp_path):
    with pytest.raises(
            ValueError,
            match="unknown video backend 'opencv'; "
            r"expected one of \['decord', 'pyav'\]"):
        probe_video(str(tmp_path / 'x.mp4'), backend='opencv')


def test_pipeline_backend():
    assert pipeline_backend([dict(type='DiSTVideoInit')]) == 'pyav'
    assert pipeline_backend([dict(type='DiSTVideoInit',
                                  backend='decord')]) == 'decord'
    assert pipeline_backend([dict(type='Resize'),
                             dict(type='DecordInit')]) == 'decord'
    assert pipeline_backend([dict(type='PyAVInit')]) is None
    assert pipeline_backend([]) is None
    from projects.dist.datasets.transforms.video_decode import DiSTVideoInit
    assert pipeline_backend([DiSTVideoInit(backend='decord')]) == 'decord'
    assert pipeline_backend([dict(type=DiSTVideoInit)]) == 'pyav'
