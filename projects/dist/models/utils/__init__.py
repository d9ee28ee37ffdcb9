"""Helpers: CLIP architectures, weight loading, class names, converters."""
from .class_names import (load_class_names, load_prompt_templates,
                          resolve_path)
from .clip_arch import CLIP_ARCHS, resolve_clip_arch
from .clip_checkpoint import load_clip_state_dict, split_clip_state_dict
# installs the recognizer-build check of the input normalisation
from .input_norm import NormalisationMismatchError, check_input_normalisation

__all__ = [
    'CLIP_ARCHS', 'NormalisationMismatchError', 'check_input_normalisation',
    'load_class_names', 'load_prompt_templates', 'load_clip_state_dict',
    'resolve_clip_arch', 'resolve_path', 'split_clip_state_dict'
]
