"""Training-engine extensions; importing registers them in MMAction2."""
from .hooks import (DiSTCurvePlotHook, DiSTIterationSeedHook,
                    DiSTSafeCheckpointHook, DiSTVideoReportHook)
from .optimizers import DiSTOptimWrapperConstructor

__all__ = [
    'DiSTCurvePlotHook', 'DiSTIterationSeedHook', 'DiSTSafeCheckpointHook',
    'DiSTOptimWrapperConstructor', 'DiSTVideoReportHook'
]
