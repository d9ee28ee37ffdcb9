"""Video decoding backends behind :class:`DiSTVideoInit` / ``Decode``.

A reader opens one video and returns the frames at given indices, where
frame ``i`` is the ``i``-th frame in presentation order, as FFmpeg shows it
(``ffmpeg -i VIDEO frame%d.png``): frames an MP4 edit list hides (the
pre-roll of a cut made with stream copy) are not counted.

* ``'pyav'`` (:class:`PyAVReader`, the recipes' default): PyAV with its
  bundled FFmpeg. Opening reads the packet index (no decoding); a batch of
  frames is decoded in one forward pass over the packets that cover them,
  jumping to a later keyframe only when one lies before the next wanted
  frame, and frames nobody asked for that no other frame refers to
  (non-reference B-frames) are not decoded at all. Only the wanted frames
  are converted to RGB. Edit lists are honoured.
* ``'decord'`` (:class:`DecordReader`): decord, which MMAction2's
  ``DecordInit``/``DecordDecode`` use. decord ignores MP4 edit lists (it
  returns the hidden frames, out of time order), so this reader rejects
  such files with :class:`EditListError` instead of returning misplaced
  frames.

torchcodec is not offered: its wheels link against system FFmpeg libraries
(``libavutil.so.56`` ... ``.60``), which PyAV's wheel does not provide (see
docs/data_pipeline.md).
"""
import bisect
import io
from typing import Dict, List, Optional, Sequence, Type, Union

import numpy as np

#: What a reader accepts as its video: a path or the file's bytes.
VideoSource = Union[str, bytes]


class EditListError(ValueError):
    """A backend cannot decode the file's frames in time order."""


class VideoReader:
    """Base class: the frames of one video by presentation index.

    Subclasses set :attr:`num_frames` (frames FFmpeg shows), :attr:`fps`
    and implement :meth:`read_sorted`.

    Args:
        source (str | bytes): Video file path, or its bytes.
        num_threads (int): Decoder threads (1 for one core per loader
            worker). Defaults to 1.
    """

    #: Name used in configs (``DiSTVideoInit(backend=...)``).
    name = ''

    def __init__(self, source: VideoSource, num_threads: int = 1) -> None:
        self.source = source
        self.num_threads = int(num_threads)
        self.num_frames = 0
        self.fps = 0.0

    def __len__(self) -> int:
        return self.num_frames

    def read_sorted(self, indices: np.ndarray) -> List[np.ndarray]:
        """Decode the frames at strictly increasing indices.

        Args:
            indices (np.ndarray): Sorted unique int indices in
                ``[0, num_frames)``, shape ``(K,)``.

        Returns:
            list[np.ndarray]: ``K`` uint8 RGB frames of shape ``(H, W, 3)``.
        """
        raise NotImplementedError

    def get_frames(self, indices: Sequence[int]) -> List[np.ndarray]:
        """Decode the frames at ``indices`` (any order, repeats allowed).

        Each distinct frame is decoded once, in one pass over the video
        (all test views together), and returned in the requested order.

        Args:
            indices (Sequence[int]): Frame indices in ``[0, num_frames)``,
                shape ``(N,)``.

        Returns:
            list[np.ndarray]: ``N`` uint8 RGB frames of shape ``(H, W, 3)``
            (repeated indices share one array).

        Raises:
            IndexError: an index is outside ``[0, num_frames)``.
        """
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if indices.size == 0:
            return []
        if indices.min() < 0 or indices.max() >= self.num_frames:
            raise IndexError(
                f'frame indices must lie in [0, {self.num_frames}) (the '
                f'frames of the video), got {indices.min()}..'
                f'{indices.max()}')
        unique, inverse = np.unique(indices, return_inverse=True)
        frames = self.read_sorted(unique)
        return [frames[i] for i in inverse.reshape(-1)]


def _as_file(source: VideoSource):
    """A path, or a file object over the bytes."""
    return io.BytesIO(source) if isinstance(source, bytes) else source


#: Codecs whose non-reference frames :class:`PyAVReader` may skip, each
#: tested against a full decode (tests/datasets/transforms/
#: test_video_decode.py). Not AV1: there a packet (temporal unit) can hold a
#: hidden frame that a later packet shows, and FFmpeg's libdav1d wrapper
#: then loses shown frames under ``skip_frame='NONREF'``.
SKIP_SAFE_CODECS = ('h264', 'vp9', 'mpeg4')


class PyAVReader(VideoReader):
    """Frame-accurate reader on PyAV (FFmpeg), see the module docstring.

    Args:
        source (str | bytes): Video file path, or its bytes.
        num_threads (int): Decoder threads. Defaults to 1.
        skip_unused (bool): Do not decode non-reference frames that are not
            requested (the decoder's ``skip_frame='NONREF'`` for their
            packets); only for codecs of :data:`SKIP_SAFE_CODECS`, others
            decode every packet. Defaults to True.
    """

    name = 'pyav'

    def __init__(self,
                 source: VideoSource,
                 num_threads: int = 1,
                 skip_unused: bool = True) -> None:
        import av
        super().__init__(source, num_threads)
        self.skip_unused = skip_unused
        self._container = av.open(_as_file(source))
        if not self._container.streams.video:
            self._container.close()
            raise ValueError('the file has no video stream')
        stream = self._container.streams.video[0]
        self._stream = stream
        # the packet index, in decode order; the packets an edit list
        # discards are decoded (later frames may refer to them) but their
        # frames are not shown, nor counted
        packets = [p for p in self._container.demux(stream) if p.size > 0]
        self._packets = packets
        shown = [i for i, p in enumerate(packets) if not p.is_discard]
        self._timed = all(packets[i].pts is not None for i in shown)
        if self._timed:
            # presentation index -> decode position, and its timestamp
            self._decode_pos = sorted(shown, key=lambda i: packets[i].pts)
            self._pts = [packets[i].pts for i in self._decode_pos]
        self._keyframes = [i for i, p in enumerate(packets) if p.is_keyframe]
        self.num_frames = len(shown)
        if not shown:
            self._container.close()
            raise ValueError('the video stream holds no frame (0 packets); '
                             'expected a video with at least one frame')
        rate = stream.average_rate or stream.guessed_rate
        self.fps = float(rate) if rate else 0.0
        codec = stream.codec_context
        name = codec.codec.canonical_name or codec.codec.name
        self.skip_unused = skip_unused and name in SKIP_SAFE_CODECS
        codec.thread_count = self.num_threads
        if self.num_threads > 1:
            codec.thread_type = 'AUTO'

    def close(self) -> None:
        """Release the container."""
        self._container.close()

    @property
    def presentation_pts(self) -> Optional[List[int]]:
        """Timestamps of the shown frames in presentation order, shape
        ``(num_frames,)``; None when some packet has no timestamp (frames
        are then counted in decoding output order)."""
        return list(self._pts) if self._timed else None

    def scan(self) -> List[Optional[int]]:
        """Decode every packet in order, converting nothing to RGB.

        For checks (``tools/misc/check_videos.py``): :meth:`get_frames`
        returns every frame when as many frames come out as
        :attr:`num_frames`, at the timestamps of :attr:`presentation_pts`.
        Frames an edit list hides do not come out.

        Returns:
            list[int | None]: The timestamp of each frame that comes out of
            the decoder, in output order.

        Raises:
            av.error.FFmpegError: the decoder fails on a packet.
        """
        codec = self._stream.codec_context
        codec.flush_buffers()
        codec.skip_frame = 'DEFAULT'
        out: List[Optional[int]] = []
        for packet in self._packets:
            out.extend(frame.pts for frame in codec.decode(packet))
        out.extend(frame.pts for frame in codec.decode(None))
        codec.flush_buffers()
        return out

    def _restart(self) -> None:
        """Drop the decoder's state before decoding from a new keyframe."""
        self._stream.codec_context.flush_buffers()

    def _start_for(self, index: int) -> int:
        """Decode position of the keyframe to start from for a frame.

        The last keyframe before the frame's packet that is not shown
        after the frame (in an open GOP the leading frames of a keyframe
        need the GOP before it).
        """
        packets, keys = self._packets, self._keyframes
        pts = self._pts[index]
        j = bisect.bisect_right(keys, self._decode_pos[index]) - 1
        while j > 0 and packets[keys[j]].pts > pts:
            j -= 1
        return keys[j] if j >= 0 else 0

    def read_sorted(self, indices: np.ndarray) -> List[np.ndarray]:
        if not self._timed:
            return self._read_counting(indices)
        packets = self._packets
        codec = self._stream.codec_context
        wanted = {self._pts[i]: k for k, i in enumerate(indices.tolist())}
        frames: List[Optional[np.ndarray]] = [None] * len(indices)

        def keep(decoded) -> None:
            for frame in decoded:
                k = wanted.get(frame.pts)
                if k is not None and frames[k] is None:
                    frames[k] = frame.to_ndarray(format='rgb24')

        # by the keyframe each frame needs, then in decode order: the
        # decoder runs forward from one keyframe while the next wanted frame
        # needs no later one, and restarts (a seek) where one does
        order = sorted((self._start_for(i), self._decode_pos[i], i)
                       for i in indices.tolist())
        pos = None  # next packet to send; None: restart the decoder
        for start, _, index in order:
            k = wanted[self._pts[index]]
            if frames[k] is not None:
                continue
            if pos is None or start > pos:
                codec.flush_buffers()
                pos = start
            while frames[k] is None:
                if pos >= len(packets):  # the decoder holds the rest
                    codec.skip_frame = 'DEFAULT'
                    keep(codec.decode(None))
                    codec.flush_buffers()
                    pos = None
                    break
                packet = packets[pos]
                pos += 1
                if self.skip_unused:
                    codec.skip_frame = ('DEFAULT'
                                        if packet.pts in wanted else 'NONREF')
                keep(codec.decode(packet))
            if frames[k] is None:
                break
        lost = [int(indices[k]) for k, f in enumerate(frames) if f is None]
        if lost:
            raise RuntimeError(f'frames {lost} of {self.num_frames} could not '
                               'be decoded (corrupt or truncated video)')
        return frames

    def _read_counting(self, indices: np.ndarray) -> List[np.ndarray]:
        """Decode from the start, counting frames (files without pts)."""
        self._container.seek(0)
        self._restart()
        wanted = {int(i): k for k, i in enumerate(indices.tolist())}
        frames: List[Optional[np.ndarray]] = [None] * len(indices)
        last = int(indices[-1])
        for n, frame in enumerate(self._container.decode(self._stream)):
            k = wanted.get(n)
            if k is not None:
                frames[k] = frame.to_ndarray(format='rgb24')
            if n >= last:
                break
        if any(f is None for f in frames):
            raise RuntimeError(f'the video ends before frame {last}')
        return frames


class DecordReader(VideoReader):
    """decord's reader; rejects files with an MP4 edit list.

    Args:
        source (str | bytes): Video file path, or its bytes.
        num_threads (int): Decoder threads. Defaults to 1.

    Raises:
        EditListError: the file's first frame has a negative timestamp (an
            edit list hides it; decord would return it and misplace every
            frame in time).
    """

    name = 'decord'

    def __init__(self, source: VideoSource, num_threads: int = 1) -> None:
        import decord
        super().__init__(source, num_threads)
        self._reader = decord.VideoReader(
            _as_file(source), num_threads=self.num_threads)
        self.num_frames = len(self._reader)
        if self.num_frames:
            first = float(self._reader.get_frame_timestamp(0)[0])
            if -1e9 < first < -1e-6:
                raise EditListError(
                    f'the first frame is at {first:.3f} s: an MP4 edit list '
                    '(e.g. a cut made with stream copy) hides the frames '
                    'before 0, and decord returns them, out of time order; '
                    "use backend='pyav', or re-encode the file (ffmpeg -i "
                    'IN -c:v libx264 -pix_fmt yuv420p OUT.mp4)')
        self.fps = float(self._reader.get_avg_fps())

    def read_sorted(self, indices: np.ndarray) -> List[np.ndarray]:
        batch = self._reader.get_batch(indices.tolist()).asnumpy()
        return list(batch)


#: Backends by config name.
VIDEO_BACKENDS: Dict[str, Type[VideoReader]] = {
    'pyav': PyAVReader,
    'decord': DecordReader,
}


def open_video(source: VideoSource,
               backend: str = 'pyav',
               **kwargs) -> VideoReader:
    """Open a video with a backend of :data:`VIDEO_BACKENDS`.

    Args:
        source (str | bytes): Video file path, or its bytes.
        backend (str): ``'pyav'`` or ``'decord'``. Defaults to 'pyav'.
        **kwargs: Passed to the reader (``num_threads``, ...).

    Returns:
        VideoReader: The opened reader.

    Raises:
        ValueError: ``backend`` is not a known backend.
    """
    if backend not in VIDEO_BACKENDS:
        raise ValueError(f'unknown video backend {backend!r}; expected one '
                         f'of {sorted(VIDEO_BACKENDS)}')
    return VIDEO_BACKENDS[backend](source, **kwargs)
