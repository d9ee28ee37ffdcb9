"""DiST models; importing registers them in ``mmaction.registry.MODELS``."""
from .backbones import (DiST, DiSTCLIPVisual, DiSTFrameAverageBaseline,
                        DiSTMMPretrainViT)
from .heads import DiSTCLIPText, DiSTTextHead

__all__ = [
    'DiST', 'DiSTCLIPText', 'DiSTCLIPVisual', 'DiSTFrameAverageBaseline',
    'DiSTMMPretrainViT', 'DiSTTextHead'
]
