"""Tests of the one-time check of the head that takes DiST's embedding."""
import gc

import pytest
import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from torch.nn.modules import module as torch_module

from tests.helpers import UNIT_CLIP, unit_backbone_cfg, unit_model_cfg

E = UNIT_CLIP['embed_dim']


def global_pre_hooks() -> int:
    return len(torch_module._global_forward_pre_hooks)


def loss_step(head: dict) -> dict:
    """One loss forward of a tiny Recognizer3D with ``head``."""
    torch.manual_seed(0)
    model = MODELS.build(unit_model_cfg(head=head))
    data = model.data_preprocessor(
        dict(
            inputs=[
                torch.randint(0, 256, (1, 3, 4, 32, 32), dtype=torch.uint8)
            ],
            data_samples=[ActionDataSample().set_gt_label(1)]), True)
    return model(**data, mode='loss')


@pytest.mark.parametrize('head, match', [
    (dict(type='I3DHead', num_classes=3, in_channels=E),
     r"I3DHead pools a feature map \(its 'avg_pool' layer"),
    (dict(type='X3DHead', num_classes=3,
          in_channels=E), r"X3DHead pools a feature map \(its 'pool' layer"),
    (dict(type='TSNHead', num_classes=3,
          in_channels=E), r'TSNHead is a per-frame .* needs num_segs'),
    (dict(type='TSMHead', num_classes=3,
          in_channels=E), r'TSMHead is a per-frame'),
    (dict(type='TimeSformerHead', num_classes=3,
          in_channels=2 * E), rf'TimeSformerHead has in_channels={2 * E}; set '
     rf'cls_head.in_channels={E}'),
])
def test_heads_that_do_not_take_the_embedding_are_named(head, match):
    hooks = global_pre_hooks()
    with pytest.raises(ValueError, match=match) as info:
        loss_step(head)
    assert f'DiST emits one pooled video embedding per clip, shape (B, E) ' \
        f'= (1, {E})' in str(info.value)
    assert 'TimeSformerHead' in str(info.value)  # a head that fits
    assert global_pre_hooks() == hooks  # the check removed itself


@pytest.mark.parametrize('head', [
    dict(type='TimeSformerHead', num_classes=3, in_channels=E),
    dict(type='I3DHead', num_classes=3, in_channels=E, spatial_type=None),
])
def test_heads_that_take_the_embedding_train(head):
    hooks = global_pre_hooks()
    losses = loss_step(head)
    assert torch.isfinite(losses['loss_cls'])
    assert global_pre_hooks() == hooks


def test_backbone_alone_leaves_no_hook_behind():
    torch.manual_seed(0)
    backbone = MODELS.build(unit_backbone_cfg())
    hooks = global_pre_hooks()
    out = backbone(torch.randn(2, 3, 4, 32, 32))
    assert out.shape == (2, E)
    assert global_pre_hooks() == hooks + 1  # waiting for the consumer
    # a module that is not an MMAction2 head is not checked
    assert torch.nn.Linear(E, 5)(out).shape == (2, 5)
    assert global_pre_hooks() == hooks
    # only the first forward installs the check
    out = backbone(torch.randn(1, 3, 4, 32, 32))
    assert global_pre_hooks() == hooks


def test_hook_goes_when_the_embedding_is_freed():
    torch.manual_seed(0)
    backbone = MODELS.build(unit_backbone_cfg())
    hooks = global_pre_hooks()
    out = backbone(torch.randn(1, 3, 4, 32, 32))
    torch.cat([out, out])  # what multi-view testing does with the outputs
    assert global_pre_hooks() == hooks + 1
    del out
    gc.collect()
    assert global_pre_hooks() == hooks  # gone without any module call
