"""DiST backbones (and the order-blind baseline of the built-in default)."""
from .clip_visual import DiSTCLIPVisual
from .dist import DiST
from .frame_average import DiSTFrameAverageBaseline
from .mmpretrain_visual import DiSTMMPretrainViT

__all__ = [
    'DiST', 'DiSTCLIPVisual', 'DiSTFrameAverageBaseline', 'DiSTMMPretrainViT'
]
