"""Sliding-window recognition over long and live video that computes each
frame's frozen-tower tokens once.

DiST's frozen image tower (about 87 % of the MACs at ViT-B/16 8+16) sees
every spatial frame on its own, so the tower tokens of a frame are the same
in every window that contains it as a spatial frame. The recognizer keeps
them in a bounded cache and runs only the side network per window.
"""
from collections import deque
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional

import torch
import torch.nn as nn

from .frame_source import Frame, FrameSource
from .frame_transform import FrameTransform


class WindowResult(NamedTuple):
    """Scores of one window.

    Attributes:
        index (int): Window number (0-based).
        start_frame (int): Source index of the window's first frame.
        end_frame (int): Source index of its last frame (inclusive).
        start_time (float): Time of the first frame, seconds.
        end_time (float): Time of the last frame, seconds.
        scores (torch.Tensor): (K,) test-time class scores, as
            ``model.test_step`` gives for the clip of the window's frames
            (probabilities with ``average_clips='prob'``).
        embedding (torch.Tensor): (E,) the backbone's video embedding.
    """
    index: int
    start_frame: int
    end_frame: int
    start_time: float
    end_time: float
    scores: torch.Tensor
    embedding: torch.Tensor


def frame_transform_for(model: nn.Module) -> FrameTransform:
    """The per-frame preprocessing of a recognizer built by
    ``mmaction.apis.init_recognizer`` (from ``model.cfg``'s test pipeline
    and ``model.data_preprocessor``).

    Args:
        model (nn.Module): The recognizer, with ``cfg`` set.

    Returns:
        FrameTransform: The per-frame transform.
    """
    cfg = getattr(model, 'cfg', None)
    if cfg is None:
        raise ValueError('the model has no cfg (build it with '
                         'mmaction.apis.init_recognizer) and no frame '
                         'transform was given')
    pipeline = cfg.get('test_pipeline')
    if pipeline is None:
        pipeline = cfg.test_dataloader.dataset.pipeline
    prep = model.data_preprocessor
    if getattr(prep, '_enable_normalize', False):
        mean, std = prep.mean, prep.std
    else:
        mean, std = torch.zeros(3), torch.ones(3)
    return FrameTransform(pipeline, mean, std,
                          bool(getattr(prep, 'to_rgb', False)))


class SlidingWindowRecognizer:
    """Score every window of ``num_frames`` sampled frames of a video.

    Frames are sampled every ``frame_interval`` source frames; window ``w``
    holds sampled frames ``w * stride ... w * stride + num_frames - 1`` and
    its spatial frames (the tower's input) are every ``alpha``-th of them,
    as in a plain forward of that clip. With ``reuse_tower=True`` each
    spatial frame goes through the tower once; its tokens stay in a cache
    until no later window can use them. With a ``stride`` that is a multiple
    of ``alpha`` consecutive windows share their spatial frames; other
    strides are exact too, but windows then use different frames and fewer
    are shared.

    Memory does not grow with the video: at most ``num_frames`` prepared
    frames (:attr:`max_buffered_frames`) and the tokens of at most
    ``num_frames`` frames (:attr:`max_cached_frames`) are held.

    Frames after the last full window are not scored; a source with fewer
    than ``num_frames`` sampled frames is an error.

    Args:
        model (nn.Module): A ``Recognizer3D`` with a backbone that has
            ``spatial_features`` and ``forward_side_network`` (DiST), in
            eval mode.
        stride (int, optional): Sampled frames between window starts.
            Defaults to ``num_frames // 4`` (at least 1).
        frame_interval (int): Keep every ``frame_interval``-th source frame.
            Defaults to 1.
        reuse_tower (bool): Cache tower tokens across windows; False
            recomputes the tower for every window (the reference and the
            baseline of the benchmark). Defaults to True.
        transform (FrameTransform, optional): Per-frame preprocessing;
            defaults to :func:`frame_transform_for` ``(model)``.
    """

    def __init__(self,
                 model: nn.Module,
                 stride: Optional[int] = None,
                 frame_interval: int = 1,
                 reuse_tower: bool = True,
                 transform: Optional[FrameTransform] = None) -> None:
        backbone = getattr(model, 'backbone', None)
        if not (hasattr(backbone, 'spatial_features')
                and hasattr(backbone, 'forward_side_network')):
            raise TypeError(
                'sliding-window recognition needs a backbone with '
                'spatial_features() and forward_side_network() (DiST), got '
                f'{type(backbone).__name__}')
        if getattr(model, 'with_neck', False):
            raise ValueError('sliding-window recognition expects a '
                             'recognizer without a neck')
        self.model = model
        self.backbone = backbone
        self.window = int(backbone.num_frames)
        self.alpha = int(backbone.alpha)
        if stride is None:
            stride = max(1, self.window // 4)
        for name, value in (('stride', stride), ('frame_interval',
                                                 frame_interval)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'{name} must be an integer >= 1, got '
                                 f'{value!r}')
        self.stride = stride
        self.frame_interval = frame_interval
        self.reuse_tower = reuse_tower
        self.transform = transform or frame_transform_for(model)
        self.device = next(model.parameters()).device
        #: spatial frames put through the tower (counted over all runs)
        self.tower_frames = 0
        #: largest number of frames whose tokens were held at once
        self.peak_cached_frames = 0
        self._tokens: Dict[int, List[torch.Tensor]] = {}

    @property
    def max_buffered_frames(self) -> int:
        """int: Bound on the prepared frames held (one window)."""
        return self.window

    @property
    def max_cached_frames(self) -> int:
        """int: Bound on the frames whose tower tokens are held."""
        return self.window

    def run(
        self,
        source: FrameSource,
        frame_callback: Optional[Callable[[Frame], None]] = None
    ) -> Iterator[WindowResult]:
        """Score the windows of a source, as its frames arrive.

        Args:
            source (FrameSource): The video (see :func:`open_source`).
            frame_callback (callable, optional): Called with every sampled
                :class:`Frame` after the windows ending at it were yielded
                (e.g. to write an annotated video).

        Yields:
            WindowResult: One per window, in order.

        Raises:
            ValueError: The source has fewer sampled frames than a window.
        """
        frames = deque(maxlen=self.window)
        self._tokens = {}
        start, count, num_windows = 0, 0, 0
        for frame in source.frames(self.frame_interval):
            frames.append((frame.index, frame.time, self.transform(frame.rgb)))
            if count == start + self.window - 1:
                yield self._score(num_windows, start, frames)
                num_windows += 1
                start += self.stride
                # tokens of frames before the next window are never needed
                for k in [k for k in self._tokens if k < start]:
                    del self._tokens[k]
            count += 1
            if frame_callback is not None:
                frame_callback(frame)
        self._tokens = {}
        if num_windows == 0:
            raise ValueError(
                f'{source.source}: {count} sampled frames (every '
                f'{self.frame_interval}-th frame) but a window needs '
                f'{self.window}; use a longer video or a smaller '
                'frame_interval')

    @torch.no_grad()
    def _score(self, index: int, start: int, frames: deque) -> WindowResult:
        """Score the window of sampled frames ``start ...`` held in
        ``frames``."""
        clip = torch.stack([f[2] for f in frames], dim=1)[None]
        clip = clip.to(self.device)  # (1, 3, T, H, W)
        spatial = range(start, start + self.window, self.alpha)
        if self.reuse_tower:
            missing = [k for k in spatial if k not in self._tokens]
            if missing:
                # (N, 3, 1, H, W): N one-frame clips, each its own spatial
                # frame
                x = clip[0, :, [k - start for k in missing]]
                feats = self.backbone.spatial_features(
                    x.transpose(0, 1).unsqueeze(2))
                for n, k in enumerate(missing):
                    self._tokens[k] = [f[n].clone() for f in feats]
                self.tower_frames += len(missing)
            self.peak_cached_frames = max(self.peak_cached_frames,
                                          len(self._tokens))
            feats = [
                torch.stack([self._tokens[k][layer] for k in spatial])
                for layer in range(len(self._tokens[start]))
            ]
        else:
            feats = self.backbone.spatial_features(clip)
            self.tower_frames += len(spatial)
        embedding = self.backbone.forward_side_network(clip, feats)
        head = self.model.cls_head
        scores = head.average_clip(head(embedding), num_segs=1)
        return WindowResult(index, frames[0][0], frames[-1][0], frames[0][1],
                            frames[-1][1], scores[0].float().cpu(),
                            embedding[0].float().cpu())
