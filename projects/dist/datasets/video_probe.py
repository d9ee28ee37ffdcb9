"""Probe video files: can a backend decode them, and do they decode right?

Used by ``DiSTRobustVideoDataset(check_on_init=True)``,
``tools/misc/check_videos.py`` and ``tools/demo.py``. Each check is made for
one decoding backend of ``DiSTVideoInit`` (:data:`PROBE_BACKENDS`), as files
that one backend misreads decode correctly with the other.

* :func:`probe_video` decodes a file completely and returns why it cannot be
  used (``None`` when every frame decodes). The reason names the problem:
  file not found, empty file, not a video (text, image), truncated,
  unsupported codec (named, e.g. AV1 for decord), or the decoder's error.
* :func:`inspect_video` also checks that the backend returns the frames in
  time order. ``'decord'``: its per-frame timestamps and its frame count
  against the frames FFmpeg shows. MP4s cut with stream copy carry an edit
  list that decord ignores: it returns the hidden pre-roll frames (negative
  timestamps), more frames than FFmpeg shows, misplaced in time. Frames
  without a timestamp (an AVI with B-frames) break decord's seeks: sampled
  frames come back wrong, some going backwards. ``'pyav'``
  (:class:`~.transforms.video_readers.PyAVReader`) honours edit lists and
  finds frames by their packets' timestamps, so neither case is a problem
  for it; a file fails when a frame of its packet index does not come out
  of the decoder (what the reader would fail on).
* :func:`sampled_frames` reads how many frames a pipeline's sampling step
  takes, so callers can name videos shorter than that (their frames would be
  repeated to fill the clip); :func:`pipeline_backend` which backend a
  pipeline decodes with.

The frames FFmpeg shows and the codec name come from PyAV when it is
installed (``pip install av``); without it the codec is named by OpenCV's
FourCC and decord's frame count is not compared.
"""
import io
import os.path as osp
import re
import struct
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

#: How to re-encode a video that decord cannot decode or decodes wrong.
REENCODE_HINT = ('re-encode it to H.264, e.g. ffmpeg -i IN -c:v libx264 '
                 '-pix_fmt yuv420p OUT.mp4')

#: Leading bytes of non-video files people pass by mistake.
_NOT_VIDEO_SIGNATURES = (
    (b'\x89PNG\r\n\x1a\n', 'a PNG image'),
    (b'\xff\xd8\xff', 'a JPEG image'),
    (b'GIF87a', 'a GIF image'),
    (b'GIF89a', 'a GIF image'),
    (b'BM', 'a BMP image'),
    (b'%PDF', 'a PDF document'),
    (b'PK\x03\x04', 'a ZIP archive'),
)

#: OpenCV FourCCs of common codecs, for when PyAV is not installed.
_FOURCC_CODECS = {
    'av01': 'av1',
    'avc1': 'h264',
    'h264': 'h264',
    'x264': 'h264',
    'hev1': 'hevc',
    'hvc1': 'hevc',
    'hevc': 'hevc',
    'vp09': 'vp9',
    'vp90': 'vp9',
    'vp80': 'vp8',
    'mp4v': 'mpeg4',
    'fmp4': 'mpeg4',
    'xvid': 'mpeg4',
    'mjpg': 'mjpeg',
}

#: Backends the checks are made for (``DiSTVideoInit(backend=...)``).
PROBE_BACKENDS = ('pyav', 'decord')

#: Timestamps beyond this many seconds are decord's "no timestamp".
_NO_TIME = 1e9


class VideoFileError(ValueError):
    """A file cannot be used as a video.

    Args:
        path (str): The file.
        problem (str): Why, as returned by :func:`probe_video`.
    """

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f'{path}: {problem}')
        self.path = path
        self.problem = problem


@dataclass
class VideoReport:
    """What :func:`inspect_video` found out about one file.

    Attributes:
        path (str): The file.
        problem (str | None): Why the file cannot be decoded; None when every
            frame decodes.
        num_frames (int): Frames the backend returns (0 when unreadable).
        fps (float | None): The backend's average frame rate.
        codec (str | None): Codec name (PyAV, else OpenCV), if looked up.
        declared_frames (int | None): The frames FFmpeg shows (PyAV only),
            if looked up.
        order (list[str]): Problems with the frames' time order or count;
            empty when they decode in order.
        backend (str): The backend checked with. Defaults to 'decord'.
    """
    path: str
    problem: Optional[str] = None
    num_frames: int = 0
    fps: Optional[float] = None
    codec: Optional[str] = None
    declared_frames: Optional[int] = None
    order: List[str] = field(default_factory=list)
    backend: str = 'decord'


def _one_line(exc: BaseException, limit: int = 200) -> str:
    """``'<Type>: <message>'`` on one line, at most ``limit`` characters.

    decord's ``[12:00:00] /src/file.cc:151: Check failed: ... ERROR`` prefix
    is dropped: only its message is kept.
    """
    text = ' '.join(str(exc).split())
    text = re.sub(r'^\[[\d:]+\] \S+:\d+: ', '', text)
    if 'ERROR ' in text:
        text = text.split('ERROR ', 1)[1]
    text = text if len(text) <= limit else text[:limit] + '...'
    return f'{type(exc).__name__}: {text}'


def sniff_not_video(head: bytes) -> Optional[str]:
    """Recognise files that are certainly not videos by their first bytes.

    Args:
        head (bytes): The file's first bytes (512 are plenty).

    Returns:
        str | None: What the file is (e.g. ``'a PNG image'``, ``'a text
        file (starts with "hello")'``), None if it may be a video.
    """
    for signature, what in _NOT_VIDEO_SIGNATURES:
        if head.startswith(signature):
            return what
    if b'\x00' in head:
        return None
    try:
        text = head.decode('utf-8')
    except UnicodeDecodeError as exc:
        # a multi-byte character cut by the end of ``head`` is still text
        if exc.start < len(head) - 3:
            return None
        text = head[:exc.start].decode('utf-8')
    if all(c.isprintable() or c.isspace() for c in text):
        first = ' '.join(text.split())[:30]
        return f'a text file (starts with "{first}")'
    return None


def mp4_truncation(path: str) -> Optional[str]:
    """Check the top-level box structure of an MP4/MOV file.

    Args:
        path (str): The file.

    Returns:
        str | None: How the file is cut short (a box that runs past the end
        of the file, or no ``moov`` box), None if the boxes are complete or
        the file is not an MP4/MOV.
    """
    size = osp.getsize(path)
    boxes = []
    with open(path, 'rb') as f:
        offset = 0
        while offset + 8 <= size:
            f.seek(offset)
            box_size, kind = struct.unpack('>I4s', f.read(8))
            header = 8
            if box_size == 1:  # 64-bit size follows
                if offset + 16 > size:
                    break
                box_size, = struct.unpack('>Q', f.read(8))
                header = 16
            elif box_size == 0:  # box runs to the end of the file
                box_size = size - offset
            name = kind.decode('latin-1')
            if not boxes and name != 'ftyp':
                return None  # not an ISO media file
            if box_size < header:
                return (f'the MP4 box {name!r} at byte {offset} has an '
                        f'invalid size {box_size}')
            boxes.append(name)
            if offset + box_size > size:
                return (f'the MP4 box {name!r} at byte {offset} needs '
                        f'{box_size} bytes but the file ends after '
                        f'{size - offset}')
            offset += box_size
    if boxes and 'moov' not in boxes:
        return ('the MP4 has no "moov" box (the index written when '
                'recording ends)')
    return None


def identify_codec(path: str) -> Optional[str]:
    """Name the codec of the file's first video stream.

    Uses PyAV if installed (``'av1'``, ``'h264'``, ...), else OpenCV's
    ``CAP_PROP_FOURCC`` (mapped to the same names where known, else
    ``'FourCC XXXX'``).

    Args:
        path (str): The file.

    Returns:
        str | None: The codec, None if no video stream is found.
    """
    try:
        import av
    except ImportError:
        av = None
    if av is not None:
        try:
            with av.open(path) as container:
                if not container.streams.video:
                    return None
                codec = container.streams.video[0].codec_context.codec
                # the codec's name ('av1'), not the decoder's ('libdav1d')
                return codec.canonical_name or codec.name
        except Exception:  # PyAV raises its FFmpegError family
            return None
    import cv2
    capture = cv2.VideoCapture(path)
    try:
        if not capture.isOpened():
            return None
        code = int(capture.get(cv2.CAP_PROP_FOURCC))
    finally:
        capture.release()
    if code <= 0:
        return None
    fourcc = code.to_bytes(4, 'little').decode('latin-1')
    return _FOURCC_CODECS.get(fourcc.lower(), f'FourCC {fourcc!r}')


def declared_frame_count(path: str) -> Optional[int]:
    """How many frames FFmpeg shows, by demuxing (no decoding) with PyAV.

    Counts the video packets except those an MP4 edit list marks to discard
    (the pre-roll of a stream-copy cut), i.e. the frames ``ffmpeg`` and
    PyAV decode. Exact also for variable frame rates, where duration x
    frame rate is not.

    Args:
        path (str): The file.

    Returns:
        int | None: The count, None without PyAV or when PyAV cannot read
        the file.
    """
    try:
        import av
    except ImportError:
        return None
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            return sum(1 for packet in container.demux(stream)
                       if packet.size > 0 and not packet.is_discard)
    except Exception:  # PyAV's FFmpegError family, no video stream
        return None


def time_order_problems(starts: Sequence[float],
                        declared: Optional[int] = None) -> List[str]:
    """Check decoded frames' presentation times and count.

    Args:
        starts (Sequence[float]): Start time (s) of each decoded frame, in
            decoding-index order (decord's ``get_frame_timestamp()[:, 0]``).
        declared (int, optional): The frames FFmpeg shows
            (:func:`declared_frame_count`), if known.

    Returns:
        list[str]: One message per problem (empty when every frame has a
        timestamp, they increase from 0, and the count matches the
        declared one).
    """
    problems = []
    count = len(starts)
    # decord turns FFmpeg's "no timestamp" (AV_NOPTS_VALUE) into about
    # -9.2e17 s
    timed = [(i, t) for i, t in enumerate(starts) if abs(t) < _NO_TIME]
    untimed = count - len(timed)
    if untimed:
        problems.append(
            f'{untimed} of {count} frames have no timestamp (e.g. an AVI '
            'with B-frames): decord seeks by timestamp, so the frames a '
            'sampler picks come out wrong and out of order; ' + REENCODE_HINT)
    early = [t for _, t in timed if t < -1e-6]
    if early:
        problems.append(
            f'{len(early)} of {count} frames have negative timestamps (from '
            f'{min(early):.3f} s): an MP4 edit list (e.g. a cut made with '
            'stream copy) hides them and decord ignores it, so the frames '
            'are misplaced in time; ' + REENCODE_HINT)
    backwards = [(i, t, j, u) for (j, u), (i, t) in zip(timed, timed[1:])
                 if not t > u + 1e-9]
    if backwards:
        i, t, j, u = backwards[0]
        problems.append(
            f'{len(backwards)} frames are not after the frame before them '
            f'(first: frame {i} at {t:.3f} s after frame {j} at {u:.3f} s)')
    if declared is not None and count != declared:
        problems.append(
            f'decord returns {count} frames where FFmpeg shows {declared} '
            '(the video packets an edit list does not discard)')
    return problems


def _unreadable_reason(path: str,
                       exc: BaseException,
                       backend: str = 'decord') -> str:
    """Explain why ``backend`` cannot open ``path`` (it raised ``exc``)."""
    truncated = mp4_truncation(path)
    if truncated is not None:
        return f'truncated: {truncated}; re-download or re-encode the file'
    # PyAV names the codec of any stream it finds: that it cannot open the
    # file then says nothing about the codec
    codec = identify_codec(path) if backend == 'decord' else None
    if codec is not None:
        return (f'unsupported codec: the video stream is {codec!r}, which '
                f'decord cannot decode ({_one_line(exc, 80)}); '
                f'{REENCODE_HINT}')
    return f'not a readable video ({_one_line(exc)})'


def check_backend(backend: str) -> str:
    """Return ``backend`` if it is one of :data:`PROBE_BACKENDS`.

    Raises:
        ValueError: it is not.
    """
    if backend not in PROBE_BACKENDS:
        raise ValueError(f'unknown video backend {backend!r}; expected one '
                         f'of {sorted(PROBE_BACKENDS)}')
    return backend


def inspect_video(filename: str,
                  chunk: int = 64,
                  check_order: bool = True,
                  decode: bool = True,
                  backend: str = 'decord') -> VideoReport:
    """Open a video with a backend, check its frames' order, decode them all.

    Args:
        filename (str): Video file path.
        chunk (int): Frames decoded per batch by decord (bounds memory).
            Defaults to 64.
        check_order (bool): Check that the backend returns the frames in
            time order (fills ``order``, ``declared_frames``, ``codec``; see
            the module docstring). Defaults to True.
        decode (bool): Decode every frame (else only open the file and read
            its index). Defaults to True.
        backend (str): ``'decord'`` or ``'pyav'``, as in
            ``DiSTVideoInit(backend=...)``. Defaults to 'decord'.

    Returns:
        VideoReport: What was found; ``problem`` is None when the file can
        be used with ``backend``.

    Raises:
        ValueError: ``backend`` is not one of :data:`PROBE_BACKENDS`.
    """
    report = VideoReport(filename, backend=check_backend(backend))
    if not osp.isfile(filename):
        report.problem = 'file not found'
        return report
    if osp.getsize(filename) == 0:
        report.problem = 'empty file (0 bytes)'
        return report
    with open(filename, 'rb') as f:
        data = f.read()
    what = sniff_not_video(data[:512])
    if what is not None:
        report.problem = (f'not a video: {what}; expected a video file '
                          '(e.g. MP4, MKV, WebM, AVI)')
        return report
    if backend == 'pyav':
        return _inspect_pyav(report, data, check_order, decode)
    import decord
    try:
        reader = decord.VideoReader(io.BytesIO(data), num_threads=1)
    except Exception as exc:  # decord raises RuntimeError and DECORDError
        report.problem = _unreadable_reason(filename, exc)
        return report
    total = len(reader)
    report.num_frames = total
    if total == 0:
        report.problem = 'no decodable frames'
        return report
    report.fps = float(reader.get_avg_fps())
    if check_order:
        starts = reader.get_frame_timestamp(list(range(total)))[:, 0]
        report.codec = identify_codec(filename)
        report.declared_frames = declared_frame_count(filename)
        report.order = time_order_problems(starts.tolist(),
                                           report.declared_frames)
    if decode:
        for start in range(0, total, chunk):
            stop = min(start + chunk, total)
            try:
                reader.get_batch(list(range(start, stop))).asnumpy()
            except Exception as exc:  # decord's DECORDError
                cut = mp4_truncation(filename)
                cause = f'truncated: {cut}' if cut else 'truncated or corrupt'
                report.problem = (f'{cause}: frames {start}-{stop - 1} of '
                                  f'{total} fail to decode '
                                  f'({_one_line(exc, 120)})')
                return report
    return report


def _inspect_pyav(report: VideoReport, data: bytes, check_order: bool,
                  decode: bool) -> VideoReport:
    """:func:`inspect_video` with ``PyAVReader`` (see the module doc)."""
    from .transforms.video_readers import PyAVReader
    filename = report.path
    try:
        reader = PyAVReader(data)
    except Exception as exc:  # PyAV's FFmpegError family, ValueError
        report.problem = _unreadable_reason(filename, exc, 'pyav')
        return report
    try:
        report.num_frames = reader.num_frames
        report.fps = reader.fps
        cut = mp4_truncation(filename)
        if cut is not None:
            # PyAV reads the packets before the cut and stops: a shorter
            # video, not the one recorded
            report.problem = (f'truncated: {cut}; the frames after the cut '
                              'are missing; re-download or re-encode the '
                              'file')
            return report
        if check_order:
            # the reader counts the frames FFmpeg shows and finds them by
            # timestamp: nothing comes out of order with it
            report.codec = identify_codec(filename)
            report.declared_frames = reader.num_frames
        if decode:
            try:
                found = reader.scan()
            except Exception as exc:  # PyAV's FFmpegError family
                report.problem = ('truncated or corrupt: decoding fails '
                                  f'({_one_line(exc, 120)})')
                return report
            report.problem = _missing_frames(found, reader.presentation_pts,
                                             reader.num_frames)
    finally:
        reader.close()
    return report


def _missing_frames(found: Sequence[Optional[int]],
                    expected: Optional[Sequence[int]],
                    total: int) -> Optional[str]:
    """Which frames of the index did not come out of the decoder.

    Args:
        found (Sequence[int | None]): Timestamps of the decoded frames
            (``PyAVReader.scan``).
        expected (Sequence[int], optional): The index's timestamps in
            presentation order; None for files without timestamps (frames
            are then counted).
        total (int): Frames of the index.

    Returns:
        str | None: The problem, None when every frame came out.
    """
    if expected is None:
        missing = list(range(len(found), total))
    else:
        got = set(found)
        missing = [i for i, pts in enumerate(expected) if pts not in got]
    if not missing:
        return None
    return (f'truncated or corrupt: {len(missing)} of {total} frames do not '
            f'come out of the decoder (first: frame {missing[0]})')


def probe_video(filename: str,
                chunk: int = 64,
                backend: str = 'decord') -> Optional[str]:
    """Open a video with a backend and decode every frame.

    Args:
        filename (str): Video file path.
        chunk (int): Frames decoded per batch by decord (bounds memory).
            Defaults to 64.
        backend (str): ``'decord'`` or ``'pyav'``. Defaults to 'decord'.

    Returns:
        str | None: None if every frame decodes, else a one-line reason
        naming the problem (``'file not found'``, ``'empty file (0
        bytes)'``, ``'not a video: ...'``, ``'truncated: ...'``,
        ``'unsupported codec: ...'``, or the decoder's error).
    """
    return inspect_video(
        filename, chunk, check_order=False, backend=backend).problem


def sampled_frames(step: dict) -> Tuple[int, str]:
    """Frames one clip of a frame-sampling transform needs.

    Segment samplers (``UniformSample``, ``DiSTSegmentSample``, ...) take
    ``clip_len`` frames spread over the video; dense ones (``SampleFrames``)
    take ``clip_len`` frames ``frame_interval`` apart. A video with fewer
    frames gets frames repeated to fill the clip.

    Args:
        step (dict): The transform's config (with ``type`` and ``clip_len``).

    Returns:
        tuple[int, str]: The frames needed and a description of the step,
        e.g. ``"UniformSample(clip_len=8, num_clips=1)"``.
    """
    clip_len = int(step['clip_len'])
    interval = step.get('frame_interval')
    interval = 1 if interval is None else int(interval)
    num_clips = step.get('num_clips', 1)
    args = [f'clip_len={clip_len}']
    if 'frame_interval' in step:
        args.append(f'frame_interval={interval}')
    args.append(f'num_clips={num_clips}')
    description = f'{step.get("type", "?")}({", ".join(args)})'
    return (clip_len - 1) * interval + 1, description


def pipeline_sampling(pipeline: Sequence) -> Optional[Tuple[int, str]]:
    """The first frame-sampling step of a pipeline (one with ``clip_len``).

    Args:
        pipeline (Sequence[dict]): Transform configs.

    Returns:
        tuple[int, str] | None: :func:`sampled_frames` of that step, None
        if the pipeline has none.
    """
    for step in pipeline or ():
        if isinstance(step, dict) and step.get('clip_len') is not None:
            return sampled_frames(step)
    return None


#: Decoding steps whose backend the checks know, by class name: a fixed
#: backend, or None for ``DiSTVideoInit`` (its ``backend`` argument).
_INIT_BACKENDS = {'DiSTVideoInit': None, 'DecordInit': 'decord'}


def pipeline_backend(pipeline: Sequence) -> Optional[str]:
    """The backend a pipeline decodes with, as the checks name it.

    ``DiSTVideoInit(backend=X)`` decodes with ``X`` (default ``'pyav'``),
    MMAction2's ``DecordInit`` with ``'decord'``.

    Args:
        pipeline (Sequence[dict | callable]): Transform configs or built
            transforms.

    Returns:
        str | None: The backend of the first such step; None if the
        pipeline has none (e.g. ``PyAVInit``, ``OpenCVInit``: their frames
        are neither backend's).
    """
    for step in pipeline or ():
        if isinstance(step, dict):
            kind, backend = step.get('type'), step.get('backend', 'pyav')
            kind = getattr(kind, '__name__', kind)  # type=DiSTVideoInit
        else:
            kind = type(step).__name__
            backend = getattr(step, 'backend', 'pyav')
        if kind in _INIT_BACKENDS:
            return _INIT_BACKENDS[kind] or backend
    return None
