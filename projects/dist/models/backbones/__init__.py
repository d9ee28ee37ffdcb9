"""DiST backbones."""
from .clip_visual import DiSTCLIPVisual
from .dist import DiST

__all__ = ['DiST', 'DiSTCLIPVisual']
