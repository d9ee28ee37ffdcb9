"""DiST models; importing registers them in ``mmaction.registry.MODELS``."""
from .backbones import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403

__all__ = ['DiST', 'DiSTCLIPText', 'DiSTCLIPVisual', 'DiSTTextHead']
