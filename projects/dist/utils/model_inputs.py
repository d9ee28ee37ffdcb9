"""What a DiST-style backbone takes as input and feeds its frozen tower."""
from typing import Sequence, Tuple

import torch
import torch.nn as nn


def default_clip_shape(backbone: nn.Module) -> Tuple[int, int, int, int]:
    """Return the (C, T, H, W) shape of one clip the backbone expects.

    ``T`` is the backbone's ``num_frames`` and ``H = W`` the input size of
    its frozen image tower (``spatial_encoder.image_size``).

    Args:
        backbone (nn.Module): E.g. :class:`DiST` or
            :class:`DiSTFrameAverageBaseline`.

    Returns:
        tuple[int, int, int, int]: (3, T, H, W).
    """
    tower = getattr(backbone, 'spatial_encoder', None)
    size = getattr(tower, 'image_size', None)
    num_frames = getattr(backbone, 'num_frames', None)
    if size is None or num_frames is None:
        raise ValueError(
            f'cannot derive the clip shape of {type(backbone).__name__} (it '
            'needs num_frames and spatial_encoder.image_size); give the '
            'shape '
            'explicitly')
    return (3, int(num_frames), size, size)


def tower_frames(backbone: nn.Module, clips: torch.Tensor) -> torch.Tensor:
    """Select the frames the frozen tower encodes, as a batch of images.

    DiST's tower sees every ``alpha``-th frame; the frame-average baseline
    every ``frame_stride``-th frame.

    Args:
        backbone (nn.Module): A backbone with a ``spatial_encoder``.
        clips (torch.Tensor): (B, C, T, H, W).

    Returns:
        torch.Tensor: (B * T', C, H, W), rows clip-major.
    """
    if clips.dim() != 5:
        raise ValueError('expected clips of shape (B, C, T, H, W), got '
                         f'{tuple(clips.shape)}')
    stride = getattr(backbone, 'alpha', getattr(backbone, 'frame_stride', 1))
    b, c, _, h, w = clips.shape
    return clips[:, :, ::stride].transpose(1, 2).reshape(-1, c, h, w)


def tower_out_indices(backbone: nn.Module) -> Sequence[int]:
    """Return the tower blocks whose outputs the backbone reads.

    Args:
        backbone (nn.Module): A backbone with a ``spatial_encoder``.

    Returns:
        Sequence[int]: ``selected_layers`` for DiST, else the last block.
    """
    selected = getattr(backbone, 'selected_layers', None)
    if selected is not None:
        return tuple(selected)
    return (backbone.spatial_encoder.num_layers - 1, )
