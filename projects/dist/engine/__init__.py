"""Training-engine extensions; importing registers them in MMAction2."""
from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403

__all__ = ['DiSTCurvePlotHook', 'DiSTOptimWrapperConstructor']
