"""DiST models; importing registers them in ``mmaction.registry.MODELS``."""
from .backbones import DiST, DiSTCLIPVisual, DiSTFrameAverageBaseline
from .heads import DiSTCLIPText, DiSTTextHead

__all__ = [
    'DiST', 'DiSTCLIPText', 'DiSTCLIPVisual', 'DiSTFrameAverageBaseline',
    'DiSTTextHead'
]
