"""Frame sources for long and live video: a video file decoded in one pass
with PyAV (the frames FFmpeg shows, as the recipes' ``pyav`` backend
counts them) or read with decord, or anything OpenCV's
``cv2.VideoCapture`` opens (a camera index, a stream URL, a file read as a
stream)."""
import os.path as osp
import time
from typing import Iterator, NamedTuple, Optional, Union

import numpy as np

from ..utils.errors import DiSTUserError


class VideoSourceError(DiSTUserError):
    """A video source cannot be opened or read."""


class Frame(NamedTuple):
    """One decoded frame.

    Attributes:
        index (int): Position of the frame in the source (0-based, counting
            every frame, also those skipped by ``step``).
        time (float): Time of the frame in seconds (``index / fps``, or the
            seconds since the source was opened when its frame rate is
            unknown, e.g. some cameras).
        rgb (np.ndarray): The frame, (H, W, 3) uint8, RGB.
    """
    index: int
    time: float
    rgb: np.ndarray


class FrameSource:
    """Base class: iterate over the frames of a video source.

    Args:
        source (str | int): What the subclass opens.
    """

    def __init__(self, source: Union[str, int]) -> None:
        self.source = source

    @property
    def fps(self) -> Optional[float]:
        """float | None: Frame rate, None if unknown."""
        raise NotImplementedError

    def frames(self, step: int = 1) -> Iterator[Frame]:
        """Yield every ``step``-th frame, starting with frame 0.

        Args:
            step (int): Keep frames ``0, step, 2 * step, ...``.

        Yields:
            Frame: The kept frames, in order.
        """
        raise NotImplementedError

    @staticmethod
    def _check_step(step: int) -> None:
        if not isinstance(step, int) or step < 1:
            raise ValueError(f'frame step must be an integer >= 1, got '
                             f'{step!r}')


class PyAVFrameSource(FrameSource):
    """A video file decoded once from start to end with PyAV.

    The frames are those FFmpeg shows, in presentation order (frames an MP4
    edit list hides are neither returned nor counted), i.e. frame ``i`` is
    the one the ``pyav`` pipeline backend returns for index ``i``. Nothing
    but the decoder's own state is held, so memory does not grow with the
    length of the video.

    Args:
        path (str): Video file.
    """

    def __init__(self, path: str) -> None:
        super().__init__(path)
        if not osp.isfile(path):
            raise FileNotFoundError(f'video not found: {path}')
        import av
        try:
            with av.open(path) as container:
                if not container.streams.video:
                    raise ValueError('the file has no video stream')
                stream = container.streams.video[0]
                rate = stream.average_rate or stream.guessed_rate
        except Exception as exc:  # av.error.*, ValueError
            raise VideoSourceError(
                f'PyAV cannot open {path}: {str(exc).splitlines()[0]}; '
                'expected a video file FFmpeg can decode') from None
        self._fps = float(rate) if rate else None

    @property
    def fps(self) -> Optional[float]:
        return self._fps

    def frames(self, step: int = 1) -> Iterator[Frame]:
        self._check_step(step)
        import av
        fps = self.fps or 1.0
        with av.open(self.source) as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1
            for index, frame in enumerate(container.decode(stream)):
                if index % step == 0:
                    yield Frame(index, index / fps,
                                frame.to_ndarray(format='rgb24'))


class DecordFrameSource(FrameSource):
    """A video file decoded with decord (as the DiST test pipelines do).

    Frames are read in chunks of ``chunk`` kept frames, so memory does not
    grow with the length of the video.

    Args:
        path (str): Video file.
        chunk (int): Frames decoded per call. Defaults to 16.
    """

    def __init__(self, path: str, chunk: int = 16) -> None:
        super().__init__(path)
        if not osp.isfile(path):
            raise FileNotFoundError(f'video not found: {path}')
        import decord
        try:
            self._reader = decord.VideoReader(path, num_threads=1)
        except Exception as exc:  # decord raises its own DECORDError
            raise VideoSourceError(
                f'decord cannot open {path}: {str(exc).splitlines()[0]}; '
                'expected a video file decord can decode') from None
        self._chunk = chunk

    @property
    def fps(self) -> Optional[float]:
        fps = float(self._reader.get_avg_fps())
        return fps if fps > 0 else None

    def __len__(self) -> int:
        return len(self._reader)

    def frames(self, step: int = 1) -> Iterator[Frame]:
        self._check_step(step)
        fps = self.fps or 1.0
        indices = list(range(0, len(self._reader), step))
        for begin in range(0, len(indices), self._chunk):
            part = indices[begin:begin + self._chunk]
            batch = self._reader.get_batch(part).asnumpy()
            for index, rgb in zip(part, batch):
                yield Frame(index, index / fps, rgb)


class CaptureFrameSource(FrameSource):
    """A live source (or any video) read with ``cv2.VideoCapture``.

    Args:
        source (str | int): Camera index, stream URL or file.
        max_frames (int, optional): Stop after this many source frames
            (a camera never ends). Defaults to None.
    """

    def __init__(self,
                 source: Union[str, int],
                 max_frames: Optional[int] = None) -> None:
        super().__init__(source)
        import cv2
        self._cv2 = cv2
        self._capture = cv2.VideoCapture(source)
        if not self._capture.isOpened():
            raise VideoSourceError(
                f'OpenCV cannot open the video source {source!r}; expected '
                'a camera index, a stream URL or a video file OpenCV reads')
        if max_frames is not None and max_frames < 1:
            raise ValueError(f'max_frames must be >= 1, got {max_frames}')
        self.max_frames = max_frames

    @property
    def fps(self) -> Optional[float]:
        fps = float(self._capture.get(self._cv2.CAP_PROP_FPS))
        return fps if fps > 0 else None

    def frames(self, step: int = 1) -> Iterator[Frame]:
        self._check_step(step)
        fps, start = self.fps, time.monotonic()
        index = 0
        try:
            while self.max_frames is None or index < self.max_frames:
                ok, bgr = self._capture.read()
                if not ok:
                    break
                if index % step == 0:
                    when = (index / fps if fps else time.monotonic() - start)
                    rgb = self._cv2.cvtColor(bgr, self._cv2.COLOR_BGR2RGB)
                    yield Frame(index, when, rgb)
                index += 1
        finally:
            self._capture.release()


def open_source(source: Union[str, int],
                backend: str = 'auto',
                max_frames: Optional[int] = None) -> FrameSource:
    """Open a video file, camera or stream.

    Args:
        source (str | int): A video file, a camera index (an int, or a
            string of digits) or a stream URL (``rtsp://``, ``http://``, ...).
        backend (str): ``'pyav'`` or ``'decord'`` (files only),
            ``'opencv'`` or ``'auto'`` (PyAV for an existing file, else
            OpenCV). Defaults to 'auto'.
        max_frames (int, optional): OpenCV only: stop after this many
            source frames. Defaults to None.

    Returns:
        FrameSource: The opened source.
    """
    if isinstance(source, str) and source.isdigit():
        source = int(source)
    if backend not in ('auto', 'pyav', 'decord', 'opencv'):
        raise ValueError("backend must be 'auto', 'pyav', 'decord' or "
                         f"'opencv', got {backend!r}")
    is_file = isinstance(source, str) and osp.isfile(source)
    if backend in ('pyav', 'decord') or (backend == 'auto' and is_file):
        if max_frames is not None:
            raise ValueError('max_frames is for live sources (backend '
                             "'opencv'); a file ends by itself")
        if backend == 'decord':
            return DecordFrameSource(source)
        return PyAVFrameSource(source)
    if (isinstance(source, str) and '://' not in source
            and not osp.exists(source)):
        raise FileNotFoundError(
            f'video source not found: {source} (expected a video file, a '
            'camera index or a stream URL such as rtsp://...)')
    return CaptureFrameSource(source, max_frames)
