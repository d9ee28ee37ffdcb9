"""Runner hooks."""
from .curve_plot_hook import DiSTCurvePlotHook
from .iteration_seed_hook import DiSTIterationSeedHook
from .safe_checkpoint_hook import DiSTSafeCheckpointHook
from .video_report_hook import DiSTVideoReportHook

__all__ = [
    'DiSTCurvePlotHook', 'DiSTIterationSeedHook', 'DiSTSafeCheckpointHook',
    'DiSTVideoReportHook'
]
