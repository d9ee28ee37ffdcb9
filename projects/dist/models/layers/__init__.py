"""Building blocks of DiST's side network (not registered; plain kwargs)."""
from .aggregator import AdaPoolingAggregator, AdaPoolingLayer
from .cross_attention import CrossAttention
from .fast_path import fast_path_mode, set_fast_path, use_fast_path
from .integration_block import IntegrationBlock
from .norm import (LayerNorm32, QuickGELU, channel_norm_conv3d,
                   layer_norm_fp32, normalized_linear)
from .silu_ops import silu_conv3d, silu_linear
from .stream_exchange import IntegrationToTemporal, TemporalToIntegration
from .temporal_block import TemporalBlock

__all__ = [
    'AdaPoolingAggregator', 'AdaPoolingLayer', 'CrossAttention',
    'IntegrationBlock', 'IntegrationToTemporal', 'LayerNorm32', 'QuickGELU',
    'TemporalBlock', 'TemporalToIntegration', 'channel_norm_conv3d',
    'fast_path_mode', 'layer_norm_fp32', 'normalized_linear', 'set_fast_path',
    'silu_conv3d', 'silu_linear', 'use_fast_path'
]
