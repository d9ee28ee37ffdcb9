"""Datasets and data transforms; importing registers them in MMAction2."""
from .transforms import DiSTLabelSwapFlip, DiSTSegmentSample  # noqa: F401
