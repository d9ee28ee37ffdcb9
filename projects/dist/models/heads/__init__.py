"""DiST heads and the frozen text tower."""
from .clip_text import DiSTCLIPText
from .dist_text_head import DiSTTextHead

__all__ = ['DiSTCLIPText', 'DiSTTextHead']
