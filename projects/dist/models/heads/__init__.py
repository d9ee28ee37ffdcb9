"""DiST heads and the frozen text tower."""
from .clip_text import DiSTCLIPText
from .dist_text_head import (DiSTTextHead, encode_texts,
                             ensemble_text_features)

__all__ = [
    'DiSTCLIPText', 'DiSTTextHead', 'encode_texts', 'ensemble_text_features'
]
