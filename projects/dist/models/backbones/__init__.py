"""DiST backbones (and the order-blind baseline of the built-in default)."""
from .clip_visual import DiSTCLIPVisual
from .dist import DiST, ProjectedFeatures
from .frame_average import DiSTFrameAverageBaseline
from .mmpretrain_visual import DiSTMMPretrainViT
from .open_clip_visual import DiSTOpenCLIPVisual
from .spatial_encoder import DiSTSpatialEncoder, check_spatial_encoder
from .timm_visual import DiSTTimmVisual

__all__ = [
    'DiST', 'DiSTCLIPVisual', 'DiSTFrameAverageBaseline', 'DiSTMMPretrainViT',
    'DiSTOpenCLIPVisual', 'DiSTSpatialEncoder', 'DiSTTimmVisual',
    'ProjectedFeatures', 'check_spatial_encoder'
]
