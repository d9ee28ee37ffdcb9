"""Per-frame preprocessing for long and live video, taken from a config's
test pipeline, so that a window of frames prepared one at a time equals the
clip the test pipeline and data preprocessor make of the same frames."""
from typing import List

import numpy as np
import torch
from mmengine.dataset import Compose

from mmaction.utils import get_str_type

#: Test-pipeline steps that choose or read frames (the frame source and the
#: sliding window do this) or pack them (done here per frame).
_NOT_SPATIAL = ('Init', 'Sample', 'Decode', 'FormatShape', 'PackAction')


def spatial_steps(pipeline: List[dict]) -> List[dict]:
    """The spatial steps of a test pipeline (resize, crop, ...).

    Args:
        pipeline (list[dict]): Transform configs of a test pipeline.

    Returns:
        list[dict]: The steps that act on each frame's pixels, in order.
    """
    return [
        step for step in pipeline
        if not any(k in get_str_type(step['type']) for k in _NOT_SPATIAL)
    ]


class FrameTransform:
    """Turn one RGB frame into a normalised (3, H, W) tensor.

    Applies the spatial steps of the test pipeline (:func:`spatial_steps`)
    to the frame alone, then the data preprocessor's ``(x - mean) / std``
    in float32: element for element what ``Resize``/``CenterCrop``,
    ``FormatShape`` and ``ActionDataPreprocessor`` do to a whole clip.

    Args:
        pipeline (list[dict]): Transform configs of the test pipeline.
        mean (torch.Tensor): Per-channel mean, 3 values (any shape).
        std (torch.Tensor): Per-channel std, 3 values (any shape).
        flip_channels (bool): Reverse the channel order first (the data
            preprocessor's ``to_rgb``). Defaults to False.

    Raises:
        ValueError: A step gives more than one view of a frame (``ThreeCrop``,
            ``TenCrop``): windows are scored on one view.
    """

    def __init__(self,
                 pipeline: List[dict],
                 mean: torch.Tensor,
                 std: torch.Tensor,
                 flip_channels: bool = False) -> None:
        self.flip_channels = flip_channels
        self.steps = spatial_steps(pipeline)
        self._compose = Compose(self.steps)
        self.mean = mean.detach().float().reshape(3, 1, 1).cpu()
        self.std = std.detach().float().reshape(3, 1, 1).cpu()

    def __call__(self, rgb: np.ndarray) -> torch.Tensor:
        """Prepare one frame.

        Args:
            rgb (np.ndarray): (H, W, 3) uint8 RGB frame.

        Returns:
            torch.Tensor: (3, H', W') float32, normalised.
        """
        h, w = rgb.shape[:2]
        results = self._compose(
            dict(
                imgs=[rgb],
                img_shape=(h, w),
                original_shape=(h, w),
                modality='RGB',
                num_clips=1,
                clip_len=1))
        imgs = results['imgs']
        if len(imgs) != 1:
            names = [get_str_type(s['type']) for s in self.steps]
            raise ValueError(
                f'the test pipeline\'s spatial steps {names} make '
                f'{len(imgs)} views of each frame; sliding windows are '
                'scored on one view: use a single crop (e.g. CenterCrop)')
        frame = torch.from_numpy(np.ascontiguousarray(imgs[0]))
        frame = frame.permute(2, 0, 1)
        if self.flip_channels:
            frame = frame.flip(0)
        frame = frame.float()
        return (frame - self.mean) / self.std
