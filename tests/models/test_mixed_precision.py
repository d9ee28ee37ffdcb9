"""Mixed precision keeps the official predictions (shared parity case).

The frozen CLIP towers run in bfloat16 (weights cast once) and the side
network under bfloat16 autocast; logits must stay within 2 % of max|ref| of
the official fp32 logits and the predicted class must not change. Under
bf16 and fp16 autocast the side network's gradients stay those of float32 up
to rounding. Each test runs on every device of ``DEVICES`` (the CPU, plus
the GPU where there is one).
"""
import pytest
import torch
from mmaction.registry import MODELS

from tests.helpers import (DEVICES, UNIT_CLIP, build_parity_model, exact_fp32,
                           unit_backbone_cfg)


@pytest.mark.parametrize('device', DEVICES)
def test_bf16_logits_match_official_fp32(device):
    case, model, _ = build_parity_model(spatial_dtype='bf16')
    model.to(device).eval()
    assert model.backbone.spatial_encoder.visual.conv1.weight.dtype == \
        torch.bfloat16
    with torch.no_grad(), torch.autocast(device, dtype=torch.bfloat16):
        video = case['input_video'].to(device)
        logits = model.cls_head(model.backbone(video)).float().cpu()
    ref = case['outputs']['logits']
    err = (logits - ref).abs().max().item()
    assert err <= 0.02 * ref.abs().max().item(), err
    assert torch.equal(logits.argmax(-1), ref.argmax(-1))
    assert err > 0  # really ran in reduced precision


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('dtype', ['bf16', 'fp16'])
def test_side_network_gradients_under_autocast(dtype, device):
    """A training step with the tower in bf16/fp16 and the side network
    under autocast of the same dtype (as ``AmpOptimWrapper`` runs it on a
    GPU) gives the float32 gradients up to rounding, in float32."""
    torch.manual_seed(0)
    cfg = unit_backbone_cfg()
    ref_model = MODELS.build(cfg)
    ref_model.init_weights()
    cfg['spatial_encoder']['dtype'] = dtype
    model = MODELS.build(cfg)
    model.load_state_dict(ref_model.state_dict())
    ref_model.to(device)
    model.to(device)
    x = torch.randn(2, 3, 4, 32, 32).to(device)
    w = torch.randn(2, UNIT_CLIP['embed_dim']).to(device)
    with exact_fp32():
        (ref_model(x) * w).sum().backward()
    amp = dict(bf16=torch.bfloat16, fp16=torch.float16)[dtype]
    with torch.autocast(device, dtype=amp):
        out = model(x)
    (out.float() * w).sum().backward()
    got, want = [], []
    for (name, p), ref in zip(model.named_parameters(),
                              ref_model.parameters()):
        if not p.requires_grad:
            continue
        assert p.grad is not None and p.grad.dtype == torch.float32, name
        assert torch.isfinite(p.grad).all(), name
        got.append(p.grad.flatten())
        want.append(ref.grad.flatten())
    got, want = torch.cat(got), torch.cat(want)
    rel = ((got - want).norm() / want.norm()).item()
    assert rel <= dict(bf16=0.05, fp16=0.01)[dtype], rel
    assert rel > 0  # really ran in reduced precision
