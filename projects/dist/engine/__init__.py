"""Training-engine extensions; importing registers them in MMAction2."""
from .hooks import (DiSTCurvePlotHook, DiSTSafeCheckpointHook,
                    DiSTVideoReportHook)
from .optimizers import DiSTOptimWrapperConstructor

__all__ = [
    'DiSTCurvePlotHook', 'DiSTSafeCheckpointHook',
    'DiSTOptimWrapperConstructor', 'DiSTVideoReportHook'
]
