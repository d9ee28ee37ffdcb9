"""Runner hooks."""
from .curve_plot_hook import DiSTCurvePlotHook
from .safe_checkpoint_hook import DiSTSafeCheckpointHook
from .video_report_hook import DiSTVideoReportHook

__all__ = [
    'DiSTCurvePlotHook', 'DiSTSafeCheckpointHook', 'DiSTVideoReportHook'
]
