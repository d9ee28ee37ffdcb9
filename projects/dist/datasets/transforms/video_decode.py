"""Open and decode videos with a backend chosen in the config.

Drop-in replacements of MMAction2's ``DecordInit`` / ``DecordDecode``::

    dict(type='DiSTVideoInit', backend='pyav'),   # or 'decord'
    dict(type='UniformSample', clip_len=16, num_clips=1),
    dict(type='DiSTVideoDecode'),

The frames are those at the sampled indices in presentation order (see
:mod:`.video_readers`); all views of a test sample are decoded in one pass.
"""
from typing import Dict

import numpy as np
from mmcv.transforms import BaseTransform

from mmaction.registry import TRANSFORMS
from .video_readers import VIDEO_BACKENDS, open_video


@TRANSFORMS.register_module()
class DiSTVideoInit(BaseTransform):
    """Open the video of ``results['filename']`` with a decoding backend.

    Required keys: ``filename``.

    Added keys: ``video_reader`` (a
    :class:`~.video_readers.VideoReader`), ``total_frames`` (frames FFmpeg
    shows), ``avg_fps``.

    Args:
        backend (str): ``'pyav'`` (frame-accurate, honours MP4 edit lists)
            or ``'decord'`` (rejects files with an edit list). Defaults to
            'pyav'.
        num_threads (int): Decoder threads per video. Defaults to 1 (one
            core per DataLoader worker).
        io_backend (str): MMEngine file backend to read the file with;
            ``'disk'`` opens the path directly, anything else reads the
            bytes through ``mmengine.fileio``. Defaults to 'disk'.
        **kwargs: More arguments of the file backend.
    """

    def __init__(self,
                 backend: str = 'pyav',
                 num_threads: int = 1,
                 io_backend: str = 'disk',
                 **kwargs) -> None:
        if backend not in VIDEO_BACKENDS:
            raise ValueError(f'unknown video backend {backend!r}; expected '
                             f'one of {sorted(VIDEO_BACKENDS)}')
        if not isinstance(num_threads, int) or num_threads < 1:
            raise ValueError(f'num_threads must be a positive int, got '
                             f'{num_threads!r}')
        self.backend = backend
        self.num_threads = num_threads
        self.io_backend = io_backend
        self.kwargs = kwargs

    def transform(self, results: Dict) -> Dict:
        """Open the video and read its frame count.

        Args:
            results (dict): With ``filename``.

        Returns:
            dict: ``results`` with the added keys.
        """
        filename = results['filename']
        if self.io_backend == 'disk':
            source = filename
        else:
            from mmengine.fileio import get
            source = bytes(
                get(filename,
                    backend_args=dict(backend=self.io_backend, **self.kwargs)))
        reader = open_video(source, self.backend, num_threads=self.num_threads)
        results['video_reader'] = reader
        results['total_frames'] = reader.num_frames
        results['avg_fps'] = reader.fps
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(backend={self.backend!r}, '
                f'num_threads={self.num_threads}, '
                f'io_backend={self.io_backend!r})')


@TRANSFORMS.register_module()
class DiSTVideoDecode(BaseTransform):
    """Decode the frames at ``results['frame_inds']``.

    Every distinct index is decoded once, in one pass over the video, and
    the frames are returned in the order of ``frame_inds`` (view-major for
    several test views).

    Required keys: ``video_reader``, ``frame_inds``.

    Added keys: ``imgs`` (list of uint8 RGB arrays of shape ``(H, W, 3)``),
    ``original_shape``, ``img_shape`` (``(H, W)``).

    Removed keys: ``video_reader``.
    """

    def transform(self, results: Dict) -> Dict:
        """Decode the sampled frames.

        Args:
            results (dict): With ``video_reader`` and ``frame_inds``.

        Returns:
            dict: ``results`` with the added keys.
        """
        reader = results.pop('video_reader')
        frame_inds = np.asarray(results['frame_inds']).reshape(-1)
        try:
            imgs = reader.get_frames(frame_inds)
        finally:
            close = getattr(reader, 'close', None)
            if close is not None:
                close()
        results['imgs'] = imgs
        results['original_shape'] = imgs[0].shape[:2]
        results['img_shape'] = imgs[0].shape[:2]
        return results
