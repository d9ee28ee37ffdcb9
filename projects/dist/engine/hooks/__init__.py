"""Runner hooks."""
from .curve_plot_hook import DiSTCurvePlotHook
from .safe_checkpoint_hook import DiSTSafeCheckpointHook

__all__ = ['DiSTCurvePlotHook', 'DiSTSafeCheckpointHook']
