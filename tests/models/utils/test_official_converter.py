"""Tests of the official-checkpoint key mapping and shape inference."""
import pytest
import torch
from mmaction.registry import MODELS

from projects.dist.models.utils.official_converter import (
    NotOfficialCheckpointError, build_model_config,
    convert_official_state_dict, extract_official_state, infer_official_arch)
from tests.helpers import (UNIT_CLIP, unit_backbone_cfg, unit_head_cfg,
                           unit_model_cfg)


def test_legacy_names_and_prefixes_are_accepted():
    state = {
        'module.backbone.base_encoder.ladder_net.input_map_feat_nets.0.weight':
        torch.zeros(2, 2),
        'module.backbone.base_encoder.visual.conv1.weight':
        torch.zeros(1),
    }
    out = extract_official_state({'model_state': state})
    assert set(out) == {
        'dist_net.input_linears.0.weight', 'visual.conv1.weight'
    }


@pytest.mark.parametrize('checkpoint', [
    {
        'state_dict': {
            'backbone.conv1.weight': torch.zeros(1)
        }
    },
    {
        'model_state': {
            'backbone.base_encoder.visual.conv1.weight': torch.zeros(1)
        }
    },
    [1, 2, 3],
])
def test_non_official_input_is_rejected(checkpoint):
    with pytest.raises(
            NotOfficialCheckpointError,
            match='official DiST checkpoint|expected a dict'):
        extract_official_state(checkpoint)


def test_unknown_official_key_is_rejected():
    state = {
        'dist_net.mystery.weight': torch.zeros(1),
        'dist_net.input_linears.0.weight': torch.zeros(1)
    }
    with pytest.raises(
            NotOfficialCheckpointError,
            match=r"unknown official names: \['dist_net.mystery"):
        convert_official_state_dict(state)


def _build(overrides):
    # official models follow the width // 64 head rule (1 head at width 32)
    overrides = dict(
        spatial_encoder=dict(
            type='DiSTCLIPVisual', arch=dict(UNIT_CLIP, heads=1)),
        ada_heads=None,
        **overrides)
    torch.manual_seed(0)
    model = MODELS.build(
        unit_model_cfg(
            backbone=unit_backbone_cfg(**overrides),
            head=unit_head_cfg(num_classes=2, class_names=['a', 'b'])))
    model.init_weights()
    return model, model.state_dict()


@pytest.mark.parametrize('overrides', [
    dict(),
    dict(
        num_frames=8,
        alpha=4,
        selected_layers=(0, 2),
        num_ada_layers=1,
        temporal_kernel_size=5,
        integration_kernel_size=1,
        temporal_mlp_ratio=2.0,
        integration_mlp_ratio=0.5),
])
def test_inferred_arch_and_round_trip(overrides):
    model, ours = _build(overrides)
    bb = model.backbone
    official = _to_official(ours, len(bb.selected_layers), bb)
    state = extract_official_state({'model_state': official})
    arch = infer_official_arch(state, text_heads=UNIT_CLIP['text_heads'])
    assert arch['alpha'] == bb.alpha
    assert arch['num_spatial_frames'] == bb.num_spatial_frames
    assert arch['num_selected'] == len(bb.selected_layers)
    cfg = build_model_config(arch, bb.num_frames, bb.alpha, bb.selected_layers,
                             ['a', 'b'])
    rebuilt = MODELS.build(cfg)
    converted, dropped = convert_official_state_dict(state)
    rebuilt.load_state_dict(converted, strict=True)
    assert len(dropped) == 2
    x = torch.randn(1, 3, bb.num_frames, 32, 32)
    model.eval(), rebuilt.eval()
    torch.testing.assert_close(rebuilt.backbone(x), model.backbone(x))


def _to_official(ours: dict, n_sel: int, bb) -> dict:
    """Build an official-named state dict from the plugin's tensors."""
    from projects.dist.models.utils import official_converter as oc
    pre = oc.OFFICIAL_PREFIX
    out = {}
    # candidate official names: enumerate patterns with concrete indices
    cands = []
    for i in range(n_sel):
        cands += [
            f'dist_net.temporal_nets.{i}.ln.{p}' for p in ('weight', 'bias')
        ] + [
            f'dist_net.temporal_nets.{i}.temporal_net.{c}.{p}'
            for c in ('c_fc1', 'c_fc2') for p in ('weight', 'bias')
        ] + [f'dist_net.input_linears.{i}.{p}' for p in ('weight', 'bias')] + [
            f'dist_net.integration2temporal_nets.{i}.linear_fuse.{p}'
            for p in ('weight', 'bias')
        ] + [f'dist_net.temporal2integration_nets.{i}.cls_token'] + [
            f'dist_net.temporal2integration_nets.{i}.linear_fuse.{p}'
            for p in ('weight', 'bias')
        ] + [
            f'dist_net.integration_nets.{i}.{c}.{p}'
            for c in ('ln', 'ln_temporal', 'ffn.c_fc', 'ffn.c_proj',
                      'temporal_ffn.c_fc1', 'temporal_ffn.c_fc2',
                      'temporal_ffn.c_proj') for p in ('weight', 'bias')
        ]
    for j in range(len(bb.aggregator.layers)):
        for old, _ in oc._ADA_PARTS:
            if old == 'positional_embedding':
                cands.append(f'dist_net.adapooling_nets.{j}.{old}')
            elif old.endswith('attn.'):
                cands += [
                    f'dist_net.adapooling_nets.{j}.{old}{p}'
                    for p in ('in_proj_weight', 'in_proj_bias')
                ]
            else:
                cands += [
                    f'dist_net.adapooling_nets.{j}.{old}{p}'
                    for p in ('weight', 'bias')
                ]
    cands += [
        'dist_net.temporal_stem.weight', 'dist_net.temporal_stem.bias',
        'dist_net.proj_spatial_cls_token.weight',
        'dist_net.proj_spatial_cls_token.bias', 'dist_net.ln_post.weight',
        'dist_net.ln_post.bias', 'dist_net.proj',
        'dist_net.aggregated_cls_token',
        'dist_net.aggregated_spatial_cls_token'
    ]
    for key in cands:
        new = oc._map_key(key, n_sel)
        if new is None:  # the never-used projection: fabricate it
            w = ours['backbone.to_temporal.0.proj.' + key.split('.')[-1]]
            out[pre + key] = torch.randn_like(w)
        else:
            out[pre + key] = ours[new]
    for k, v in ours.items():
        if k.startswith('backbone.spatial_encoder.'):
            out[pre + k[len('backbone.spatial_encoder.'):]] = v
        elif k.startswith('cls_head.text_encoder.text.'):
            out[pre + k[len('cls_head.text_encoder.text.'):]] = v
    out[pre + 'logit_scale'] = ours['cls_head.text_encoder.logit_scale']
    assert len(out) == len(ours) + 2  # every plugin tensor was covered
    return out


def test_text_heads_are_checked_against_the_checkpoint():
    from projects.dist.models.utils.official_converter import (
        ConverterArgumentError, resolve_text_heads)

    # OpenAI widths: the official clip.build_model rule width // 64
    assert resolve_text_heads(512) == 8
    assert resolve_text_heads(768, 12) == 12
    with pytest.raises(
            ConverterArgumentError,
            match=r'--text-heads 4 contradicts the checkpoint: .*'
            r'512 wide.* width // 64 = 8 heads'):
        resolve_text_heads(512, 4)
    # narrower towers: not derivable, so never guessed
    assert resolve_text_heads(32, 1) == 1
    with pytest.raises(
            ConverterArgumentError,
            match='only 32 wide.*pass .* as --text-heads'):
        resolve_text_heads(32)
    with pytest.raises(
            ConverterArgumentError,
            match='--text-heads 3 does not divide .* width 32'):
        resolve_text_heads(32, 3)


def test_selected_layers_are_checked_against_the_checkpoint():
    from projects.dist.models.utils.official_converter import (
        ConverterArgumentError, check_selected_layers)
    assert check_selected_layers(None, 3, 3) == [0, 1, 2]
    assert check_selected_layers([0, 2], 2, 3) == [0, 2]
    for layers, match in [(None, 'has 2 DiST layers for a 3-block'),
                          ([0], 'names 1 blocks but the checkpoint has 2'),
                          ([2, 0], r'distinct ascending .* \[0, 2\]'),
                          ([0, 3], r'distinct ascending .* \[0, 2\]'),
                          ([1, 1], 'distinct ascending')]:
        with pytest.raises(ConverterArgumentError, match=match):
            check_selected_layers(layers, 2, 3)


def test_model_config_is_built_and_compared_before_writing():
    from projects.dist.models.utils.official_converter import (
        ConverterArgumentError, check_model_config)
    model, ours = _build(dict(selected_layers=(0, 2), num_ada_layers=1))
    bb = model.backbone
    state = extract_official_state({'model_state': _to_official(ours, 2, bb)})
    arch = infer_official_arch(state, text_heads=UNIT_CLIP['text_heads'])
    converted, _ = convert_official_state_dict(state)
    check_model_config(
        build_model_config(arch, bb.num_frames, bb.alpha, [0, 2], ['a']),
        converted)
    bad = dict(arch, dist=dict(arch['dist'], integration_dim=8))
    with pytest.raises(ConverterArgumentError, match='other shapes'):
        check_model_config(
            build_model_config(bad, bb.num_frames, bb.alpha, [0, 2], ['a']),
            converted)
