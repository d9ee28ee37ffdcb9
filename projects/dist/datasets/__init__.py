"""Datasets and data transforms; importing registers them in MMAction2."""
from .robust_video_dataset import DiSTRobustVideoDataset
from .samplers import DiSTSeededSampler
from .synthetic_dataset import DiSTSyntheticMotionDataset
from .transforms import DiSTLabelSwapFlip, DiSTSegmentSample  # noqa: F401

__all__ = [
    'DiSTRobustVideoDataset', 'DiSTSeededSampler', 'DiSTSyntheticMotionDataset'
]
