"""Mixed precision keeps the official predictions (shared parity case).

The frozen CLIP towers run in bfloat16 (weights cast once) and the side
network under bfloat16 autocast; logits must stay within 2 % of max|ref| of
the official fp32 logits and the predicted class must not change.
"""
import os.path as osp

import torch

from mmaction.registry import MODELS
from projects.dist.models.utils.official_converter import (
    build_model_config, convert_official_state_dict, extract_official_state,
    infer_official_arch)
from .conftest import shared_dir


def test_bf16_logits_match_official_fp32():
    folder = osp.join(shared_dir(), 'parity')
    case = torch.load(osp.join(folder, 'case_tiny_p16.pt'), weights_only=True)
    ckpt = torch.load(
        osp.join(folder, case['state_dict_file']), weights_only=True)
    cfg = case['config']
    state = extract_official_state(ckpt)
    arch = infer_official_arch(
        state, text_heads=case['clip_arch']['transformer_heads'])
    model_cfg = build_model_config(
        arch, cfg['DATA.NUM_INPUT_FRAMES'], cfg['DATA.SPARSE_SAMPLE_ALPHA'],
        cfg['VIDEO.BACKBONE.DIST.SELECTED_LAYERS'], case['class_names'])
    model_cfg['backbone']['spatial_encoder']['dtype'] = 'bf16'
    model = MODELS.build(model_cfg)
    model.load_state_dict(convert_official_state_dict(state)[0])
    model.eval()
    assert model.backbone.spatial_encoder.visual.conv1.weight.dtype == \
        torch.bfloat16
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        logits = model.cls_head(model.backbone(case['input_video'])).float()
    ref = case['outputs']['logits']
    err = (logits - ref).abs().max().item()
    assert err <= 0.02 * ref.abs().max().item(), err
    assert torch.equal(logits.argmax(-1), ref.argmax(-1))
    assert err > 0  # really ran in reduced precision
