"""Every speed/memory switch on trains like every switch off.

A short training run of the tiny DiST with the frozen tower in bfloat16,
bf16 autocast on the side network, activation checkpointing, folded
ada-pooling attention and a channels-last temporal stream reaches the same
loss as the plain fp32 run (within bf16 noise)."""
import torch
from mmaction.registry import MODELS

from tests.helpers import UNIT_CLIP, unit_backbone_cfg, unit_model_cfg


def train_losses(fast: bool, steps: int = 30) -> list:
    """Train the tiny DiST on a fixed toy task; returns the losses."""
    torch.manual_seed(0)
    backbone = unit_backbone_cfg(
        spatial_encoder=dict(
            type='DiSTCLIPVisual',
            arch=UNIT_CLIP,
            dtype='bf16' if fast else 'fp32',
            fused_attention=fast),
        num_ada_layers=1,
        subsample_before_embedding=fast,
        fused_attention=fast,
        with_cp=fast,
        ada_fold_queries=fast,
        channels_last=fast)
    model = MODELS.build(unit_model_cfg(backbone=backbone))
    model.init_weights()
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=3e-3)
    # toy task: the label is the sign of the mean temporal change
    gen = torch.Generator().manual_seed(1)
    clips = torch.randn(8, 3, 4, 32, 32, generator=gen)
    clips[:4] += torch.linspace(-1, 1, 4).view(1, 1, 4, 1, 1)
    clips[4:] -= torch.linspace(-1, 1, 4).view(1, 1, 4, 1, 1)
    labels = torch.tensor([0] * 4 + [1] * 4)
    losses = []
    for _ in range(steps):
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=fast):
            logits = model.cls_head(model.backbone(clips))
        loss = torch.nn.functional.cross_entropy(logits.float(), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_all_switches_on_train_like_all_off():
    slow, fast = train_losses(False), train_losses(True)
    assert slow[-1] < 0.5 * slow[0]  # the toy task is learned
    assert abs(fast[-1] - slow[-1]) <= 0.05 + 0.1 * slow[-1], (slow, fast)
