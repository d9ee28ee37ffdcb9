"""Sliding-window recognition over long and live video that computes each
frame's frozen-tower tokens once.

DiST's frozen image tower (about 87 % of the MACs at ViT-B/16 8+16) sees
every spatial frame on its own, so the tower tokens of a frame are the same
in every window that contains it as a spatial frame. The recognizer keeps
them, after the side network's per-frame input projections, in a bounded
cache and runs only the rest of the side network per window.
"""
from collections import deque
from typing import (Callable, Dict, Iterator, List, NamedTuple, Optional,
                    Tuple)

import torch
import torch.nn as nn

from ..models.backbones.dist import ProjectedFeatures
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
    spatial frame goes through the tower and the side network's per-frame
    input projections (:meth:`DiST.project_features`) once; the result
    stays in a cache until no later window can use it, and only the rest of
    the side network runs per window. With a ``stride`` that is a multiple
    of ``alpha`` consecutive windows share their spatial frames; other
    strides are exact too, but windows then use different frames and fewer
    are shared.

    ``batch_windows`` windows are scored together: the new spatial frames
    of all of them go through the tower in one call (a batch as large as a
    plain forward's at ``batch_windows = alpha * num_frames / (alpha *
    stride)``, e.g. 4 at stride ``num_frames / 4``), then each window runs
    its side network. Results do not depend on it; a live source waits for
    ``(batch_windows - 1) * stride`` more frames before a window is scored.

    Memory does not grow with the video: at most
    :attr:`max_buffered_frames` prepared frames and the projected tokens
    of at most :attr:`max_cached_frames` frames are held.

    Frames after the last full window are not scored; a source with fewer
    than ``num_frames`` sampled frames is an error.

    Args:
        model (nn.Module): A ``Recognizer3D`` with a DiST backbone (one with
            ``spatial_features``, ``project_features`` and
            ``forward_projected``), in eval mode.
        stride (int, optional): Sampled frames between window starts.
            Defaults to ``num_frames // 4`` (at least 1).
        frame_interval (int): Keep every ``frame_interval``-th source frame.
            Defaults to 1.
        reuse_tower (bool): Cache tower tokens across windows; False
            recomputes the tower for every window with the plain forward
            (the reference and the baseline of the benchmark). Defaults to
            True.
        transform (FrameTransform, optional): Per-frame preprocessing;
            defaults to :func:`frame_transform_for` ``(model)``.
        batch_windows (int, optional): Windows scored together (see
            above); None: ``ceil(num_frames / stride)``, as many windows
            as start within one window's span. Defaults to 1 (lowest
            latency).
    """

    def __init__(self,
                 model: nn.Module,
                 stride: Optional[int] = None,
                 frame_interval: int = 1,
                 reuse_tower: bool = True,
                 transform: Optional[FrameTransform] = None,
                 batch_windows: Optional[int] = 1) -> None:
        backbone = getattr(model, 'backbone', None)
        if not all(
                hasattr(backbone, name)
                for name in ('spatial_features', 'project_features',
                             'forward_projected', 'forward_side_network')):
            raise TypeError(
                'sliding-window recognition needs a DiST backbone (with '
                'spatial_features(), project_features() and '
                f'forward_projected()), got {type(backbone).__name__}')
        if getattr(model, 'with_neck', False):
            raise ValueError('sliding-window recognition expects a '
                             'recognizer without a neck')
        self.model = model
        self.backbone = backbone
        self.window = int(backbone.num_frames)
        self.alpha = int(backbone.alpha)
        if stride is None:
            stride = max(1, self.window // 4)
        if batch_windows is None and isinstance(stride, int) and stride > 0:
            batch_windows = -(-self.window // stride)
        for name, value in (('stride', stride), ('frame_interval',
                                                 frame_interval),
                            ('batch_windows', batch_windows)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'{name} must be an integer >= 1, got '
                                 f'{value!r}')
        self.stride = stride
        self.frame_interval = frame_interval
        self.reuse_tower = reuse_tower
        self.batch_windows = batch_windows
        self.transform = transform or frame_transform_for(model)
        self.device = next(model.parameters()).device
        #: spatial frames put through the tower (counted over all runs)
        self.tower_frames = 0
        #: largest number of frames whose tokens were held at once
        self.peak_cached_frames = 0
        # sampled-frame count -> (per-layer (L, C_i) tokens, (D,) class token)
        self._tokens: Dict[int, Tuple[List[torch.Tensor], torch.Tensor]] = {}

    @property
    def max_buffered_frames(self) -> int:
        """int: Bound on the prepared frames held (the windows of one
        batch)."""
        return self.window + (self.batch_windows - 1) * self.stride

    @property
    def max_cached_frames(self) -> int:
        """int: Bound on the frames whose tower tokens are held."""
        return self.max_buffered_frames

    def _window_end(self, w: int) -> int:
        """Sampled-frame count of window ``w``'s last frame."""
        return w * self.stride + self.window - 1

    def run(
        self,
        source: FrameSource,
        frame_callback: Optional[Callable[[Frame], None]] = None
    ) -> Iterator[WindowResult]:
        """Score the windows of a source, as its frames arrive.

        Args:
            source (FrameSource): The video (see :func:`open_source`).
            frame_callback (callable, optional): Called with every sampled
                :class:`Frame` once every window that ends at or before it
                has been yielded (e.g. to write an annotated video with the
                latest window's label).

        Yields:
            WindowResult: One per window, in order.

        Raises:
            ValueError: The source has fewer sampled frames than a window.
        """
        # (count, source index, time, prepared (3, H, W) frame)
        frames = deque(maxlen=self.max_buffered_frames)
        waiting: deque = deque()  # (count, Frame) for the callback
        self._tokens = {}
        count, num_ready, num_done = 0, 0, 0

        def call_back(until: int) -> None:
            while waiting and waiting[0][0] < until:
                frame_callback(waiting.popleft()[1])

        def score(windows: List[int]) -> Iterator[WindowResult]:
            nonlocal num_done
            for result in self._score_windows(windows, frames):
                yield result
                num_done += 1
                if frame_callback is not None:
                    call_back(self._window_end(num_done))

        for frame in source.frames(self.frame_interval):
            frames.append(
                (count, frame.index, frame.time, self.transform(frame.rgb)))
            if frame_callback is not None:
                waiting.append((count, frame))
            if count == self._window_end(num_ready):
                num_ready += 1
                if num_ready - num_done == self.batch_windows:
                    yield from score(list(range(num_done, num_ready)))
            if frame_callback is not None:
                call_back(self._window_end(num_done))
            count += 1
        if num_ready > num_done:
            yield from score(list(range(num_done, num_ready)))
        if frame_callback is not None:
            call_back(count)
        self._tokens = {}
        if num_ready == 0:
            raise ValueError(
                f'{source.source}: {count} sampled frames (every '
                f'{self.frame_interval}-th frame) but a window needs '
                f'{self.window}; use a longer video or a smaller '
                'frame_interval')

    @torch.no_grad()
    def _score_windows(self, windows: List[int],
                       frames: deque) -> Iterator[WindowResult]:
        """Score windows whose frames are all in ``frames``, in order."""
        held = {f[0]: f for f in frames}
        if self.reuse_tower:
            self._prepare_tokens(windows, held)
        for w in windows:
            start = w * self.stride
            counts = range(start, start + self.window)
            clip = torch.stack([held[k][3] for k in counts], dim=1)[None]
            clip = clip.to(self.device)  # (1, 3, T, H, W)
            spatial = counts[::self.alpha]
            if self.reuse_tower:
                layers = range(len(self._tokens[start][0]))
                projected = ProjectedFeatures(
                    [
                        torch.stack([self._tokens[k][0][i] for k in spatial])
                        for i in layers
                    ],
                    torch.stack([self._tokens[k][1] for k in spatial]),
                )
                embedding = self.backbone.forward_projected(clip, projected)
                # tokens of frames before the next window are never needed
                for k in [k for k in self._tokens if k < start + self.stride]:
                    del self._tokens[k]
            else:
                embedding = self.backbone(clip)
                self.tower_frames += len(spatial)
            head = self.model.cls_head
            scores = head.average_clip(head(embedding), num_segs=1)
            first, last = held[counts[0]], held[counts[-1]]
            yield WindowResult(w, first[1], last[1], first[2], last[2],
                               scores[0].float().cpu(),
                               embedding[0].float().cpu())

    def _prepare_tokens(self, windows: List[int], held: dict) -> None:
        """Put the spatial frames of ``windows`` that have no cached tokens
        through the tower and the input projections, in one batch."""
        missing = sorted({
            k
            for w in windows
            for k in range(w * self.stride, w * self.stride +
                           self.window, self.alpha) if k not in self._tokens
        })
        if missing:
            # (N, 3, 1, H, W): N one-frame clips, each its own spatial frame
            x = torch.stack([held[k][3] for k in missing])[:, :, None]
            projected = self.backbone.project_features(
                self.backbone.spatial_features(x.to(self.device)))
            for n, k in enumerate(missing):
                self._tokens[k] = ([t[n].clone() for t in projected.tokens],
                                   projected.cls[n].clone())
            self.tower_frames += len(missing)
        self.peak_cached_frames = max(self.peak_cached_frames,
                                      len(self._tokens))
