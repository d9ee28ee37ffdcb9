"""Evaluation extensions; importing registers them in MMAction2."""
from .skip_broken_metric import DiSTSkipBrokenMetric

__all__ = ['DiSTSkipBrokenMetric']
