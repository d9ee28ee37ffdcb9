"""Inference beyond one clip: long and live video with frozen-tower token
reuse, and text-query search over a video."""
from .frame_source import (CaptureFrameSource, DecordFrameSource, Frame,
                           FrameSource, PyAVFrameSource, VideoSourceError,
                           open_source)
from .frame_transform import FrameTransform, spatial_steps
from .sliding_window import (SlidingWindowRecognizer, WindowResult,
                             frame_transform_for)

__all__ = [
    'CaptureFrameSource', 'DecordFrameSource', 'Frame', 'FrameSource',
    'PyAVFrameSource', 'VideoSourceError', 'open_source', 'FrameTransform',
    'spatial_steps', 'SlidingWindowRecognizer', 'WindowResult',
    'frame_transform_for'
]
