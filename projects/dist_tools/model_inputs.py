"""What a DiST-style backbone takes as input and what its frozen tower sees.

The tools need two things of a backbone besides its ``forward``: the shape
of one clip (to make synthetic input) and the frozen tower's part of the
forward pass (the lower bound of inference, timed on its own). Both come from
the backbones' public attributes and methods:

* :class:`~projects.dist.models.DiST`: ``num_frames``, the tower's
  ``image_size`` and :meth:`DiST.spatial_features`;
* :class:`~projects.dist.models.DiSTFrameAverageBaseline`: ``num_frames``,
  ``frame_stride`` and the tower's last block (``num_layers``).
"""
from typing import Callable, List, Tuple

import torch
import torch.nn as nn

from projects.dist.models import DiST, DiSTFrameAverageBaseline
from projects.dist.utils.errors import DiSTUserError

#: Backbones whose input shape and frozen tower the tools know.
SUPPORTED_BACKBONES = (DiST, DiSTFrameAverageBaseline)


class UnsupportedBackboneError(DiSTUserError, ValueError):
    """The config's backbone is not one whose input the tools can derive."""


def _check_supported(backbone: nn.Module, what: str, hint: str) -> None:
    if not isinstance(backbone, SUPPORTED_BACKBONES):
        names = [cls.__name__ for cls in SUPPORTED_BACKBONES]
        raise UnsupportedBackboneError(
            f'cannot derive {what} of {type(backbone).__name__}: expected a '
            f'backbone of type {names}; {hint}')


def default_clip_shape(backbone: nn.Module) -> Tuple[int, int, int, int]:
    """Return the (C, T, H, W) shape of one clip the backbone expects.

    ``T`` is the backbone's ``num_frames`` and ``H = W`` the input size of
    its frozen image tower.

    Args:
        backbone (nn.Module): A :class:`DiST` or
            :class:`DiSTFrameAverageBaseline`.

    Returns:
        tuple[int, int, int, int]: (3, T, H, W).
    """
    _check_supported(backbone, 'the clip shape',
                     'give the shape explicitly (--shape)')
    size = backbone.spatial_encoder.image_size
    return (3, int(backbone.num_frames), size, size)


def spatial_features_fn(
        backbone: nn.Module) -> Callable[[torch.Tensor], List[torch.Tensor]]:
    """The frozen-tower part of the backbone's forward, as a function.

    For :class:`DiST` it is :meth:`DiST.spatial_features` (every
    ``alpha``-th frame, up to the last selected block, in the order the
    backbone embeds them); for :class:`DiSTFrameAverageBaseline` the tower's
    last block on every ``frame_stride``-th frame.

    Args:
        backbone (nn.Module): A :class:`DiST` or
            :class:`DiSTFrameAverageBaseline`.

    Returns:
        callable: Takes clips (B, 3, T, H, W) and returns the tower's block
        outputs, one (B*T', L, D) tensor per block read, rows clip-major.
    """
    _check_supported(backbone, 'the frozen tower\'s part of the forward',
                     'the clip-only mode needs one of these')
    if isinstance(backbone, DiST):
        return backbone.spatial_features
    tower, stride = backbone.spatial_encoder, backbone.frame_stride

    def frame_average_features(clips: torch.Tensor) -> List[torch.Tensor]:
        if clips.dim() != 5:
            raise ValueError('expected clips of shape (B, C, T, H, W), got '
                             f'{tuple(clips.shape)}')
        b, c, _, h, w = clips.shape
        frames = clips[:, :, ::stride].transpose(1, 2).reshape(-1, c, h, w)
        return tower(frames, [tower.num_layers - 1])

    return frame_average_features
