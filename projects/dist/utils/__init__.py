"""Analysis utilities of the DiST plugin (compute counting)."""
from .flops import (MacCount, count_macs, count_model_macs, count_parameters)
from .model_inputs import default_clip_shape, tower_frames, tower_out_indices

__all__ = [
    'MacCount', 'count_macs', 'count_model_macs', 'count_parameters',
    'default_clip_shape', 'tower_frames', 'tower_out_indices'
]
