"""Tiny DiST builders shared by the model tests."""
import contextlib
import copy
import os
import os.path as osp

import pytest
import torch
from mmaction.registry import MODELS

from projects.dist.models.utils.official_converter import (
    build_model_config, convert_official_state_dict, extract_official_state,
    infer_official_arch)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

TINY_CLIP = dict(
    embed_dim=16,
    image_size=32,
    patch_size=8,
    width=32,
    layers=3,
    heads=2,
    text_width=16,
    text_heads=2,
    text_layers=1,
    context_length=16)

CLASS_NAMES = ['moving left', 'moving right', 'growing']


def tiny_backbone_cfg(**overrides) -> dict:
    """Config of a tiny DiST backbone (3 CLIP blocks on 32 px frames)."""
    cfg = dict(
        type='DiST',
        spatial_encoder=dict(type='DiSTCLIPVisual', arch=TINY_CLIP),
        num_frames=4,
        alpha=2,
        integration_dim=16,
        temporal_dim=8,
        temporal_patch_size=3,
        num_ada_layers=2,
        ada_heads=2)
    cfg.update(overrides)
    return copy.deepcopy(cfg)


def tiny_head_cfg(**overrides) -> dict:
    """Config of a tiny text head matching :func:`tiny_backbone_cfg`."""
    cfg = dict(
        type='DiSTTextHead',
        num_classes=len(CLASS_NAMES),
        in_channels=TINY_CLIP['embed_dim'],
        class_names=list(CLASS_NAMES),
        text_encoder=dict(type='DiSTCLIPText', arch=TINY_CLIP))
    cfg.update(overrides)
    return copy.deepcopy(cfg)


def tiny_recognizer_cfg(backbone: dict = None, head: dict = None) -> dict:
    """A tiny ``Recognizer3D`` config with CLIP preprocessing."""
    return dict(
        type='Recognizer3D',
        backbone=backbone or tiny_backbone_cfg(),
        cls_head=head or tiny_head_cfg(),
        data_preprocessor=dict(
            type='ActionDataPreprocessor',
            mean=[122.7709383, 116.7460125, 104.0937362],
            std=[68.5005327, 66.6321579, 70.323163],
            format_shape='NCTHW'))


# Devices the device-dependent model tests run on: always the CPU, plus the
# GPU on machines that have one (no test is skipped on CPU-only machines).
DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])


@contextlib.contextmanager
def exact_fp32():
    """Disable TF32 in CUDA matrix products and convolutions (parity runs).

    TF32 rounds float32 inputs to a 10-bit mantissa, which is far outside the
    1e-5 parity tolerance; cuDNN enables it for convolutions by default.
    """
    matmul = torch.backends.cuda.matmul.allow_tf32
    cudnn = torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul
        torch.backends.cudnn.allow_tf32 = cudnn


def shared_dir() -> str:
    """Folder with the shared reference material (``../shared``)."""
    path = os.environ.get('DIST_SHARED_DIR',
                          osp.join(osp.dirname(REPO_ROOT), 'shared'))
    if not osp.isdir(osp.join(path, 'parity')):
        raise FileNotFoundError(
            f'shared parity material not found at {path}; set '
            'DIST_SHARED_DIR to the folder holding parity/')
    return path


def build_parity_model(spatial_dtype: str = None) -> tuple:
    """The shared parity case and its official checkpoint, converted.

    Args:
        spatial_dtype (str, optional): ``dtype`` of the frozen CLIP tower
            (e.g. ``'bf16'``); None keeps the default float32.

    Returns:
        tuple: The case (dict), the model with the converted weights loaded
        (strict) and the official tensors the converter dropped.
    """
    folder = osp.join(shared_dir(), 'parity')
    case = torch.load(osp.join(folder, 'case_tiny_p16.pt'), weights_only=True)
    ckpt = torch.load(
        osp.join(folder, case['state_dict_file']), weights_only=True)
    cfg = case['config']
    state = extract_official_state(ckpt)
    arch = infer_official_arch(
        state, text_heads=case['clip_arch']['transformer_heads'])
    model_cfg = build_model_config(arch, cfg['DATA.NUM_INPUT_FRAMES'],
                                   cfg['DATA.SPARSE_SAMPLE_ALPHA'],
                                   cfg['VIDEO.BACKBONE.DIST.SELECTED_LAYERS'],
                                   case['class_names'])
    if spatial_dtype is not None:
        model_cfg['backbone']['spatial_encoder']['dtype'] = spatial_dtype
    model = MODELS.build(model_cfg)
    converted, dropped = convert_official_state_dict(state)
    model.load_state_dict(converted, strict=True)
    return case, model, dropped


@pytest.fixture
def tiny_model():
    """A tiny initialised Recognizer3D with a DiST backbone."""
    torch.manual_seed(0)
    model = MODELS.build(tiny_recognizer_cfg())
    model.init_weights()
    return model
