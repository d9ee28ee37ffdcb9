"""Segment-based (TSN-style) frame sampling with DiST's view offsets."""
from typing import Dict, Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform

from mmaction.registry import TRANSFORMS


@TRANSFORMS.register_module()
class DiSTSegmentSample(BaseTransform):
    """Sample one frame from each of ``clip_len`` equal segments of a video.

    This reproduces the official DiST ``segment_based`` sampling (the
    ``_segment_based_sampling`` of its ``BaseVideoDataset``):

    * ``[0, N]`` (``N`` = ``total_frames``) is cut into ``clip_len`` equal
      segments of width ``w = N / clip_len`` starting at ``s_i = i * w``.
    * Training (``test_mode=False``): one uniformly random real-valued
      position per segment, ``s_i + u_i * w`` with ``u_i ~ U[0, 1)``.
    * Testing with one view: the segment centres, ``s_i + w / 2`` (what the
      official code uses for validation during training).
    * Testing with ``num_clips = n > 1`` views: view ``c`` takes
      ``s_i + w * (c + 1) / n``, i.e. offsets 1/3, 2/3 and 3/3 of every
      segment for the official 3-view protocol.
    * Positions are rounded to the nearest frame and clipped to
      ``[0, N - 1]``.

    MMAction2's ``UniformSample`` differs in the details: it splits
    ``[0, N - 1]``, draws integer positions, and in test mode places view
    ``k`` of ``n`` at ``(k + 1) / (n + 1)`` of each segment (1/4, 2/4, 3/4 for
    three views). Use this transform to match the official views.

    Required keys: ``total_frames``, ``start_index``.

    Added keys: ``frame_inds`` (int32 array of shape
    ``(num_clips * clip_len,)``, view-major), ``clip_len``,
    ``frame_interval`` (None), ``num_clips``.

    Args:
        clip_len (int): Frames per view (``T_t``, one per segment).
        num_clips (int): Number of temporal views. Defaults to 1.
        test_mode (bool): Deterministic test-time positions instead of random
            training positions. Defaults to False.
        view_offsets (Sequence[float], optional): Override the test-time
            offsets (fractions of a segment in ``[0, 1]``), one per view.
            Defaults to None (the official rule above).
    """

    def __init__(self,
                 clip_len: int,
                 num_clips: int = 1,
                 test_mode: bool = False,
                 view_offsets: Optional[Sequence[float]] = None) -> None:
        if not isinstance(clip_len, int) or clip_len < 1:
            raise ValueError(f'clip_len must be a positive int, got '
                             f'{clip_len!r}')
        if not isinstance(num_clips, int) or num_clips < 1:
            raise ValueError(f'num_clips must be a positive int, got '
                             f'{num_clips!r}')
        if not test_mode and num_clips != 1:
            raise ValueError(f'training samples one view per video: expected '
                             f'num_clips=1 when test_mode=False, got '
                             f'{num_clips}')
        if view_offsets is not None:
            view_offsets = tuple(float(o) for o in view_offsets)
            if len(view_offsets) != num_clips:
                raise ValueError(f'view_offsets has {len(view_offsets)} '
                                 f'entries, expected num_clips={num_clips}')
            if any(o < 0 or o > 1 for o in view_offsets):
                raise ValueError(f'view_offsets must lie in [0, 1], got '
                                 f'{view_offsets}')
        self.clip_len = clip_len
        self.num_clips = num_clips
        self.test_mode = test_mode
        self.view_offsets = view_offsets

    def get_offsets(self) -> np.ndarray:
        """Return the test-time offset of each view within a segment.

        Returns:
            np.ndarray: Shape ``(num_clips,)``, fractions in ``[0, 1]``.
        """
        if self.view_offsets is not None:
            return np.asarray(self.view_offsets, dtype=np.float64)
        if self.num_clips == 1:
            return np.array([0.5])
        return (np.arange(self.num_clips) + 1.0) / self.num_clips

    def sample_positions(self, num_frames: int) -> np.ndarray:
        """Compute the frame indices for a video of ``num_frames`` frames.

        Args:
            num_frames (int): Number of decodable frames ``N`` (>= 1).

        Returns:
            np.ndarray: Int64 array of shape ``(num_clips * clip_len,)``,
            view-major, with values in ``[0, num_frames - 1]``.
        """
        if num_frames < 1:
            raise ValueError(f'total_frames must be >= 1, got {num_frames}')
        width = num_frames / self.clip_len
        starts = np.arange(self.clip_len) * width  # (T,)
        if self.test_mode:
            offsets = self.get_offsets()  # (V,)
            positions = starts[None, :] + width * offsets[:, None]  # (V, T)
        else:
            positions = starts[None, :] + width * np.random.rand(
                1, self.clip_len)  # (1, T)
        inds = np.clip(np.round(positions), 0, num_frames - 1)
        return inds.astype(np.int64).reshape(-1)

    def transform(self, results: Dict) -> Dict:
        """Sample the frame indices.

        Args:
            results (dict): The result dict with ``total_frames`` and
                ``start_index``.

        Returns:
            dict: ``results`` with the added keys.
        """
        inds = self.sample_positions(int(results['total_frames']))
        inds = inds + results.get('start_index', 0)
        results['frame_inds'] = inds.astype(np.int32)
        results['clip_len'] = self.clip_len
        results['frame_interval'] = None
        results['num_clips'] = self.num_clips
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(clip_len={self.clip_len}, '
                f'num_clips={self.num_clips}, test_mode={self.test_mode}, '
                f'view_offsets={self.view_offsets})')
