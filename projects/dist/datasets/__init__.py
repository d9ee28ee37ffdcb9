"""Datasets and data transforms; importing registers them in MMAction2."""
from .robust_video_dataset import DiSTRobustVideoDataset
from .samplers import DiSTSeededSampler
from .synthetic_dataset import DiSTSyntheticMotionDataset
from .transforms import (DiSTLabelSwapFlip, DiSTSegmentSample, DiSTVideoDecode,
                         DiSTVideoInit)

__all__ = [
    'DiSTLabelSwapFlip', 'DiSTRobustVideoDataset', 'DiSTSeededSampler',
    'DiSTSegmentSample', 'DiSTSyntheticMotionDataset', 'DiSTVideoDecode',
    'DiSTVideoInit'
]
