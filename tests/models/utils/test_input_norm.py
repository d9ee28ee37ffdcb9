"""The data preprocessor's normalisation must be the tower's."""
import pytest
from mmaction.registry import MODELS

from projects.dist.models.utils.input_norm import NormalisationMismatchError
from tests.helpers import unit_backbone_cfg, unit_model_cfg
from tests.models.backbones.tiny_towers import TIMM_TOWERS


def test_matching_normalisation_builds():
    MODELS.build(unit_model_cfg())  # OpenAI CLIP's mean/std
    cfg = unit_model_cfg()
    # configs round to one decimal
    cfg['data_preprocessor'].update(
        mean=[122.8, 116.7, 104.1], std=[68.5, 66.6, 70.3])
    MODELS.build(cfg)


def test_other_normalisation_is_refused_naming_both():
    cfg = unit_model_cfg()
    cfg['data_preprocessor']['mean'] = [123.675, 116.28, 103.53]  # ImageNet
    with pytest.raises(
            NormalisationMismatchError,
            match=r'normalises with mean=\[123\.6750, 116\.2800, 103\.5300\]'
            r'.*DiSTCLIPVisual \(OpenAI CLIP\) expects '
            r'mean=\[122\.7709, 116\.7460, 104\.0937\]'):
        MODELS.build(cfg)


def test_timm_tower_needs_its_own_normalisation():
    backbone = unit_backbone_cfg(spatial_encoder=TIMM_TOWERS['no class token'])
    cfg = unit_model_cfg(backbone=backbone)
    with pytest.raises(
            NormalisationMismatchError,
            match=r'timm vit_base_patch16_224 expects '
            r'mean=\[127\.5000, 127\.5000, 127\.5000\]'):
        MODELS.build(cfg)
    cfg['data_preprocessor'].update(mean=[127.5] * 3, std=[127.5] * 3)
    MODELS.build(cfg)


def test_no_normalisation_in_the_model_is_left_alone():
    cfg = unit_model_cfg()
    cfg['data_preprocessor'] = dict(
        type='ActionDataPreprocessor', format_shape='NCTHW')
    MODELS.build(cfg)
