"""Data transforms of the DiST recipe, registered in MMAction2's TRANSFORMS.

Random grayscale (p=0.2, one decision per clip) needs no new transform: use
MMAction2's ``dict(type='TorchVisionWrapper', op='RandomGrayscale', p=0.2)``,
which stacks the clip's frames and applies torchvision's ``RandomGrayscale``
to the stack once.
"""
from .label_swap_flip import SSV2_FLIP_PAIRS, DiSTLabelSwapFlip
from .segment_sample import DiSTSegmentSample
from .video_decode import DiSTVideoDecode, DiSTVideoInit
from .video_readers import VIDEO_BACKENDS, EditListError, open_video

__all__ = [
    'DiSTLabelSwapFlip', 'DiSTSegmentSample', 'DiSTVideoDecode',
    'DiSTVideoInit', 'EditListError', 'SSV2_FLIP_PAIRS', 'VIDEO_BACKENDS',
    'open_video'
]
