"""Datasets and data transforms; importing registers them in MMAction2."""
from .robust_video_dataset import DiSTRobustVideoDataset  # noqa: F401
from .transforms import DiSTLabelSwapFlip, DiSTSegmentSample  # noqa: F401
