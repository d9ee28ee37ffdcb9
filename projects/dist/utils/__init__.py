"""Utilities of the DiST plugin: compute counting, checkpoint loading."""
from .checkpoint_loading import allow_full_unpickling_if_needed
from .cpu_allocator import tune_glibc_malloc
from .launch import use_cpu_distributed
from .flops import (MacCount, count_macs, count_model_macs, count_parameters)
from .model_inputs import default_clip_shape, tower_frames, tower_out_indices

__all__ = [
    'allow_full_unpickling_if_needed', 'MacCount', 'count_macs',
    'count_model_macs', 'count_parameters', 'default_clip_shape',
    'tower_frames', 'tower_out_indices', 'tune_glibc_malloc',
    'use_cpu_distributed'
]
