"""Checkpoint coverage checks: a file that covers none or only part of the
model is refused on every loading path, naming the file's key style."""
import copy
import re

import pytest
import torch
from mmaction.registry import MODELS
from mmengine.runner import load_checkpoint

from projects.dist.models.utils import state_checks
from projects.dist.models.utils.state_checks import (CheckpointMismatchError,
                                                     allow_partial_load)
from tests.helpers import UNIT_CLIP, unit_head_cfg, unit_model_cfg


def build(head: dict = None) -> torch.nn.Module:
    """The tiny recognizer (seeded) with an optional head config."""
    torch.manual_seed(0)
    return MODELS.build(unit_model_cfg(head=head))


def save(tmp_path, state: dict, name: str = 'ckpt.pth') -> str:
    path = str(tmp_path / name)
    torch.save(dict(state_dict=state, meta=dict()), path)
    return path


@pytest.mark.parametrize('state, style', [
    ({}, r'holds no tensors \(an empty state_dict\)'),
    ({
        'backbone.base_encoder.dist_net.proj': torch.zeros(1)
    }, r'official DiST checkpoint .*dist_official_to_mmaction\.py'),
    ({
        'visual.conv1.weight': torch.zeros(1)
    }, 'look like CLIP weights'),
    ({
        'fc.weight': torch.zeros(1)
    }, r"top-level names \['fc'\]"),
])
@pytest.mark.parametrize('strict', [False, True])
def test_file_covering_nothing_is_refused(tmp_path, state, style, strict):
    path = save(tmp_path, state)
    with pytest.raises(CheckpointMismatchError) as info:
        load_checkpoint(build(), path, map_location='cpu', strict=strict)
    msg = str(info.value)
    assert 'covers none of the' in msg and 'Recognizer3D' in msg
    assert 'backbone.spatial_encoder.visual' in msg  # what it expects
    assert 'DIST_ALLOW_PARTIAL_LOAD=1' in msg  # how to opt in
    assert re.search(style, msg), msg


def test_unconverted_official_file_is_refused_naming_the_converter(tmp_path):
    # the released format: the file has no 'state_dict', MMEngine loads
    # the whole dict, whose only key is 'model_state'
    path = str(tmp_path / 'DIST.pyth')
    torch.save(
        {
            'model_state': {
                'backbone.base_encoder.visual.conv1.weight': torch.zeros(1)
            }
        }, path)
    with pytest.raises(
            CheckpointMismatchError,
            match=r"\['model_state'\] look like an official DiST"):
        load_checkpoint(build(), path, map_location='cpu')


def test_plain_torch_load_state_dict_is_checked_too():
    model = build()
    with pytest.raises(CheckpointMismatchError, match='covers none'):
        model.load_state_dict({}, strict=False)
    copied = copy.deepcopy(model)  # the hook survives a copy
    with pytest.raises(CheckpointMismatchError, match='covers none'):
        copied.load_state_dict({}, strict=False)
    copied.load_state_dict(model.state_dict())


def test_part_of_the_model_is_refused_and_opt_in_loads_it(
        tmp_path, monkeypatch):
    source = build()
    with torch.no_grad():
        for p in source.backbone.parameters():
            p.add_(1.0)
    backbone_only = {
        k: v
        for k, v in source.state_dict().items() if k.startswith('backbone.')
    }
    path = save(tmp_path, backbone_only)
    with pytest.raises(
            CheckpointMismatchError,
            match=r'holds none of the \d+ CLIP text tower'):
        load_checkpoint(build(), path, map_location='cpu')

    logged = []
    monkeypatch.setattr(state_checks, 'print_log',
                        lambda msg, **kw: logged.append(msg))
    for opt_in in ('context', 'env'):
        logged.clear()
        target = build()
        if opt_in == 'env':
            monkeypatch.setenv('DIST_ALLOW_PARTIAL_LOAD', '1')
            load_checkpoint(target, path, map_location='cpu')
            monkeypatch.delenv('DIST_ALLOW_PARTIAL_LOAD')
        else:
            with allow_partial_load():
                load_checkpoint(target, path, map_location='cpu')
        assert len(logged) == 1 and 'CLIP text tower' in logged[0]
        for k, v in target.backbone.state_dict().items():
            assert torch.equal(v, source.backbone.state_dict()[k]), k
    assert not state_checks.partial_load_allowed()


def test_other_class_names_load_every_weight(tmp_path):
    # configs/dist_vitl_f32_k710_k400.py: a K710 checkpoint into the K400
    # model; the text classifier only changes the class names
    source = build(unit_head_cfg(num_classes=5, class_names=list('abcde')))
    path = save(tmp_path, source.state_dict())
    target = build()
    load_checkpoint(target, path, map_location='cpu')
    for k, v in target.state_dict().items():
        assert torch.equal(v, source.state_dict()[k]), k


def test_linear_head_of_another_size_is_refused(tmp_path):
    head = unit_head_cfg(classifier='linear', num_classes=4, class_names=None)
    path = save(tmp_path, build(head).state_dict())
    other = build(dict(head, num_classes=3))
    with pytest.raises(
            CheckpointMismatchError,
            match=r'fc_cls.weight: file \(4, 16\) != model'):
        load_checkpoint(other, path, map_location='cpu')
    state = build(head).state_dict()
    del state['cls_head.fc_cls.bias']
    with pytest.raises(
            CheckpointMismatchError,
            match=r"lacks 1 DiST linear head tensor\(s\) "
            r"\['fc_cls.bias'\]"):
        load_checkpoint(build(head), save(tmp_path, state), strict=False)


def test_mmaction_head_next_to_dist_is_checked(tmp_path):
    head = dict(
        type='TimeSformerHead',
        num_classes=3,
        in_channels=UNIT_CLIP['embed_dim'])
    state = build(head).state_dict()
    del state['cls_head.fc_cls.weight']
    with pytest.raises(
            CheckpointMismatchError,
            match=r"lacks 1 of the Recognizer3D model's tensors "
            r"\['cls_head.fc_cls.weight'\]"):
        load_checkpoint(build(head), save(tmp_path, state))


def _capture(monkeypatch) -> list:
    logged = []
    monkeypatch.setattr(state_checks, 'print_log',
                        lambda msg, **kw: logged.append(msg))
    return logged


def test_frozen_towers_without_weights_warn_once(monkeypatch):
    logged = _capture(monkeypatch)
    model = build()
    model.init_weights()
    x = torch.zeros(1, 3, 4, 32, 32)
    model.eval()
    model(x.unsqueeze(0), mode='tensor')
    model(x.unsqueeze(0), mode='tensor')
    assert len(logged) == 1, logged
    assert 'model.backbone.spatial_encoder.pretrained is None' in logged[0]
    assert not model.backbone.spatial_encoder._forward_pre_hooks  # detached
    text = MODELS.build(unit_head_cfg())
    text.init_weights()
    text(torch.zeros(2, UNIT_CLIP['embed_dim']))
    assert len(logged) == 2 and 'RANDOM weights' in logged[1]
    assert 'model.cls_head.text_encoder.pretrained' in logged[1]


def test_no_warning_when_a_checkpoint_fills_the_towers(monkeypatch):
    logged = _capture(monkeypatch)
    model = build()
    model.init_weights()
    copied = copy.deepcopy(model)
    model.load_state_dict(build().state_dict())  # load_from after init
    model.eval()
    model(torch.zeros(1, 1, 3, 4, 32, 32), mode='tensor')
    assert logged == []
    copied.eval()  # a copy made before loading still warns, once
    copied(torch.zeros(1, 1, 3, 4, 32, 32), mode='tensor')
    assert len(logged) == 1 and 'spatial_encoder.pretrained' in logged[0]


def test_init_recognizer_refuses_an_uncovered_file(tmp_path):
    # tools/demo.py builds its model with mmaction.apis.init_recognizer
    from mmaction.apis import init_recognizer
    from mmengine.config import Config
    path = save(tmp_path, {})
    cfg = Config(dict(model=unit_model_cfg()))
    with pytest.raises(
            CheckpointMismatchError,
            match='covers none .*an empty state_dict'):
        init_recognizer(cfg, path, device='cpu')
