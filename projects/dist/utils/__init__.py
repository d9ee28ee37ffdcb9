"""Analysis utilities of the DiST plugin (compute counting)."""
from .flops import (MacCount, count_macs, count_model_macs, count_parameters)

__all__ = ['MacCount', 'count_macs', 'count_model_macs', 'count_parameters']
