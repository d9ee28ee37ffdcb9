"""Training-engine extensions; importing registers them in MMAction2."""
from .hooks import DiSTCurvePlotHook, DiSTSafeCheckpointHook
from .optimizers import DiSTOptimWrapperConstructor

__all__ = [
    'DiSTCurvePlotHook', 'DiSTSafeCheckpointHook',
    'DiSTOptimWrapperConstructor'
]
