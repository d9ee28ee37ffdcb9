"""DiST models; importing registers them in ``mmaction.registry.MODELS``."""
from .backbones import DiST, DiSTCLIPVisual
from .heads import DiSTCLIPText, DiSTTextHead

__all__ = ['DiST', 'DiSTCLIPText', 'DiSTCLIPVisual', 'DiSTTextHead']
