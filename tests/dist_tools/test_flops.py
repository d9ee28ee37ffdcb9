"""Tests of projects/dist_tools/flops.py and projects/dist_tools/get_flops.py.

MAC counts are checked against hand-written formulas (a toy module, the tiny
DiST) and against the official counts of dist_official_spec.md §1.9 (full
size, on the meta device).
"""
import copy
import json
import os.path as osp

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config

from projects.dist_tools import get_flops
from projects.dist_tools.flops import (count_macs, count_model_macs,
                                       count_parameters)
from tests.helpers import REPO_ROOT, tiny_clip_arch, tiny_model_cfg

NUM_CLASSES = tiny_model_cfg()['cls_head']['num_classes']
TINY_ARCH = tiny_clip_arch()


def b16_model_cfg(num_frames: int = 16,
                  num_ada_layers: int = 4,
                  arch: str = 'ViT-B/16') -> dict:
    """A full-size DiST recognizer config (built on meta only)."""
    embed = 768 if arch.startswith('ViT-L') else 512
    return dict(
        type='Recognizer3D',
        backbone=dict(
            type='DiST',
            spatial_encoder=dict(type='DiSTCLIPVisual', arch=arch),
            num_frames=num_frames,
            alpha=2,
            num_ada_layers=num_ada_layers),
        cls_head=dict(
            type='DiSTTextHead',
            num_classes=400,
            in_channels=embed,
            class_names=[f'class {i}' for i in range(400)],
            text_encoder=dict(type='DiSTCLIPText', arch=arch)),
        data_preprocessor=dict(
            type='ActionDataPreprocessor',
            mean=[122.8, 116.7, 104.1],
            std=[68.5, 66.6, 70.3],
            format_shape='NCTHW'))


# ----------------------------------------------------------------- counting
class _Toy(nn.Module):
    """Linear + Conv3d + attention, small enough to count by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 16)
        self.conv = nn.Conv3d(3, 4, kernel_size=3)

    def forward(self, x, video, q, k):
        a = self.fc(x)
        b = self.conv(video)
        c = F.scaled_dot_product_attention(q, k, k)
        return a, b, c


def _toy_inputs(device):
    return (torch.randn(2, 5, 8, device=device),
            torch.randn(1, 3, 4, 6, 6,
                        device=device), torch.randn(1, 2, 4, 8, device=device),
            torch.randn(1, 2, 6, 8, device=device))


# fc: 2*5 tokens x 8 x 16; conv: 2*4*4 outputs x 4 channels x 3*27;
# attention: q@k^T and attn@v, each 1*2 heads x 4 x 6 x 8
TOY_MACS = 2 * 5 * 8 * 16 + (2 * 4 * 4) * 4 * 3 * 27 + 2 * (2 * 4 * 6 * 8)


@pytest.mark.parametrize('device', ['meta', 'cpu'])
def test_count_macs_toy_by_hand(device):
    toy = _Toy().to(device)
    counted = count_macs(toy, *_toy_inputs(device))
    assert counted.total == TOY_MACS
    assert counted.of('_Toy.fc') == 2 * 5 * 8 * 16
    assert counted.of('_Toy.conv') == 32 * 4 * 81
    assert counted.no_grad == 0


def test_count_macs_sdpa_on_cpu_fused_kernel():
    # on CPU the fused flash kernel is opaque to the stock counter
    q = torch.randn(2, 3, 7, 4)
    k = torch.randn(2, 3, 9, 4)
    with torch.no_grad():
        counted = count_macs(F.scaled_dot_product_attention, q, k, k)
    assert counted.total == 2 * (2 * 3 * 7 * 9 * 4)
    assert counted.no_grad == counted.total


def test_count_macs_mha_fast_path_matches_meta():
    # eval + no_grad on CPU takes nn.MultiheadAttention's fused fast path
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(16, 4, batch_first=True).eval()
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        on_cpu = count_macs(mha, x, x, x, need_weights=False).total
    meta = copy.deepcopy(mha).to('meta')
    xm = x.to('meta')
    with torch.no_grad():
        on_meta = count_macs(meta, xm, xm, xm, need_weights=False).total
    by_hand = 4 * (10 * 16 * 16) + 2 * (2 * 5 * 5 * 16)
    assert on_cpu == on_meta == by_hand


def test_count_macs_splits_no_grad_work():
    fc = nn.Linear(4, 4).to('meta')
    x = torch.randn(3, 4, device='meta')

    def run():
        with torch.no_grad():
            fc(x)
        fc(x)

    counted = count_macs(run)
    assert counted.total == 2 * 3 * 16
    assert counted.no_grad == 3 * 16


def test_count_macs_scope_follows_methods_not_autograd():
    """Work inside any watched method of the scope module is scoped, also
    when called as a plain method; a custom autograd function's forward
    (autograd off) outside it is not; the instance is left as it was."""

    class Tower(nn.Module):

        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def embed(self, x):
            return x @ self.fc.weight.t()  # not inside a submodule forward

    class Double(torch.autograd.Function):

        @staticmethod
        def forward(ctx, x, w):
            return x.mm(w.t())

        @staticmethod
        def backward(ctx, grad):
            raise NotImplementedError

    tower = Tower().to('meta')
    w = torch.randn(4, 4, device='meta', requires_grad=True)
    x = torch.randn(3, 4, device='meta')

    def run():
        with torch.no_grad():
            tower.embed(x)
        Double.apply(x, w)

    counted = count_macs(run, scope=tower)
    assert counted.total == 2 * 3 * 16
    assert counted.scoped == 3 * 16
    assert counted.no_grad == 2 * 3 * 16  # both ran with autograd off
    assert 'embed' not in vars(tower)


# -------------------------------------------------------------- tiny DiST
def attention_macs(n: int, q: int, length: int, c: int, heads: int,
                   folded: bool) -> int:
    """MACs of one pre-norm CrossAttention call (N rows, Q queries, L keys).

    Standard: q/out projections, k/v projections of all L tokens, two
    attention matmuls. Folded (few queries): W_k folded into the queries and
    W_v applied after pooling, attention over the C-wide normalised tokens.
    """
    if folded:
        return 4 * n * q * c * c + 2 * n * heads * q * length * c
    return 2 * n * q * c * c + 2 * n * length * c * c + 2 * n * q * length * c


def ada_folded(model_cfg: dict) -> bool:
    """Whether the built model's ada-pooling attention folds the queries."""
    from mmaction.registry import MODELS
    with torch.device('meta'):
        bb = MODELS.build(model_cfg['backbone'])
    attn = bb.aggregator.layers[0].spatial_attn
    return bool(attn.fused and getattr(attn, 'fold_queries', False))


def tiny_dist_macs(cfg: dict, folded: bool = False) -> dict:
    """Hand-written MAC formula of the tiny DiST config, one view."""
    a, bb = TINY_ARCH, cfg['backbone']
    d, p, size = a['width'], a['patch_size'], a['image_size']
    g = size // p  # grid side
    n_tok = 1 + g * g  # L
    t, alpha = bb['num_frames'], bb['alpha']
    ts = t // alpha
    ci, ct = bb['integration_dim'], bb['temporal_dim']
    kt = bb['temporal_patch_size']
    layers = a['layers']  # every block selected
    # frozen tower, per frame: patch embedding + blocks (qkv, out, MLP 4x,
    # two attention matmuls)
    per_frame = g * g * d * 3 * p * p + layers * (12 * n_tok * d * d +
                                                  2 * n_tok * n_tok * d)
    tower = ts * per_frame
    # side network
    pos = t * g * g  # temporal-stream positions
    side = pos * ct * 3 * kt * p * p  # stem
    hid_t = round(ci * 0.25)
    for i in range(layers):
        side += pos * ct * ct * 3  # T-Block conv1 (3,1,1)
        side += pos * ct * ct * 9  # T-Block conv2 (1,3,3)
        side += ts * n_tok * d * ci  # input projection
        side += ts * g * g * ct * ci * alpha  # temporal -> integration
        if i < layers - 1:
            # integration -> temporal projects every token (CLS included;
            # its row is dropped afterwards, cheaper than copying the slice)
            side += ts * n_tok * ci * ct
        side += ts * n_tok * 2 * ci * ci  # I-Block token MLP
        side += ts * n_tok * (2 * ci * hid_t + hid_t * hid_t * 3)  # TFFN
    hid_a = 4 * ci
    heads = bb['ada_heads']
    for _ in range(bb['num_ada_layers']):
        # spatial: one query per frame over its L tokens, then the MLP
        side += attention_macs(ts, 1, n_tok, ci, heads, folded)
        side += ts * 2 * ci * hid_a
        # temporal: one query per video over its Ts frame queries
        side += attention_macs(1, 1, ts, ci, heads, folded)
        side += 2 * ci * hid_a
    side += d * ci + ci * a['embed_dim']  # CLS shortcut, output proj
    head = a['embed_dim'] * NUM_CLASSES
    return dict(
        frozen_tower=tower,
        side_network=side,
        head=head,
        total=tower + side + head)


def test_tiny_dist_macs_by_hand():
    cfg = Config(dict(model=tiny_model_cfg()))
    result = get_flops.analyse(cfg)
    assert result['input_shape'] == [1, 3, 8, 32, 32]
    assert result['macs_per_view'] == tiny_dist_macs(cfg.model,
                                                     ada_folded(cfg.model))
    assert result['patch_embedded_frames'] == 4


def test_tiny_dist_counts_per_view_and_on_cpu():
    cfg = Config(dict(model=tiny_model_cfg()))
    one = get_flops.analyse(cfg)['macs_per_view']
    three = get_flops.analyse(cfg, shape=[3, 3, 8, 32, 32])['macs_per_view']
    assert three == one
    on_cpu = get_flops.analyse(cfg, device='cpu')['macs_per_view']
    assert on_cpu == one


def test_tiny_dist_embed_then_subsample_costs_the_extra_embedding():
    fused = get_flops.analyse(Config(dict(model=tiny_model_cfg())))
    cfg = Config(
        dict(
            model=tiny_model_cfg(
                subsample_before_embedding=False, fused_attention=False)))
    cfg.model.backbone.spatial_encoder.fused_attention = False
    official = get_flops.analyse(cfg)
    # 4 discarded frames x 16 patches x 64 channels x 3*8*8
    extra = 4 * 16 * 64 * 3 * 8 * 8
    assert official['patch_embedded_frames'] == 8
    assert (official['macs_per_view']['frozen_tower'] ==
            fused['macs_per_view']['frozen_tower'] + extra)
    # the side network's count only depends on the attention formulation
    default_cfg = tiny_model_cfg()
    assert fused['macs_per_view']['side_network'] == tiny_dist_macs(
        default_cfg, ada_folded(default_cfg))['side_network']
    assert official['macs_per_view']['side_network'] == tiny_dist_macs(
        cfg.model, False)['side_network']


def test_count_parameters_split():
    cfg = Config(dict(model=tiny_model_cfg()))
    from mmaction.registry import MODELS
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    params = count_parameters(model)
    side = sum(p.numel() for n, p in model.backbone.named_parameters()
               if not n.startswith('spatial_encoder.'))
    assert params['side_network'] == side
    assert params['trainable'] == side  # only the side network trains
    assert params['total'] == (
        params['frozen_tower'] + params['text_tower'] + side +
        sum(p.numel() for n, p in model.cls_head.named_parameters()
            if not n.startswith('text_encoder.')))


def test_count_model_macs_module_and_no_grad_split_agree():
    cfg = Config(dict(model=tiny_model_cfg()))
    from mmaction.registry import MODELS
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    x = torch.zeros(2, 3, 8, 32, 32, device='meta')
    macs = count_model_macs(model, x)
    with torch.enable_grad():
        counted = count_macs(model.backbone, x)
    assert macs['frozen_tower'] == counted.of('DiST.spatial_encoder')
    assert macs['frozen_tower'] + macs['side_network'] == counted.total


# ------------------------------------------------------------------- CLI
def test_main_prints_report_and_json(tmp_path, capsys):
    cfg_file = tmp_path / 'tiny.py'
    cfg_file.write_text("custom_imports = dict(imports=['projects.dist'], "
                        'allow_failed_imports=False)\n'
                        f'model = {tiny_model_cfg()!r}\n')
    get_flops.main([str(cfg_file)])
    out = capsys.readouterr().out
    for field in ('GMACs per view (total)', 'frozen CLIP image tower',
                  'side network (trainable)', 'head (cached text',
                  'Frames patch-embedded by the tower: 4 of 8', 'Params total',
                  'Params trainable'):
        assert field in out
    get_flops.main([
        str(cfg_file), '--json', '--cfg-options',
        'model.backbone.num_ada_layers=2'
    ])
    line = capsys.readouterr().out.strip().splitlines()[-1]
    result = json.loads(line)
    assert set(result) >= {
        'config', 'input_shape', 'macs_per_view', 'gmacs_per_view',
        'patch_embedded_frames', 'params'
    }
    model_cfg = tiny_model_cfg(num_ada_layers=2)
    expected = tiny_dist_macs(model_cfg, ada_folded(model_cfg))
    assert result['macs_per_view'] == expected


def test_bad_shape_raises():
    cfg = Config(dict(model=tiny_model_cfg()))
    with pytest.raises(ValueError, match='3, 4 or 5 integers'):
        get_flops.analyse(cfg, shape=[8, 32])
    with pytest.raises(ValueError, match="'meta' or 'cpu'"):
        get_flops.analyse(cfg, device='cuda:7')


# ------------------------------------------------- full size vs the spec
# dist_official_spec.md §1.9: official GMACs per view, which patch-embed all
# T_t frames; ours embeds only the T_s frames CLIP uses.
def _discarded_embedding_gmacs(ts: int, grid: int, width: int,
                               patch: int) -> float:
    return ts * grid * grid * width * 3 * patch * patch / 1e9


def _fold_saving_gmacs(model_cfg: dict, ts: int) -> float:
    """GMACs per view that folded ada-pooling attention saves (0 if off)."""
    if not ada_folded(model_cfg):
        return 0.0
    bb = model_cfg['backbone']
    ci, layers = bb.get('integration_dim', 384), bb['num_ada_layers']
    heads = bb.get('ada_heads') or ci // 64
    n_tok = 197 if 'B/16' in str(bb['spatial_encoder']['arch']) else 257
    saved = 0
    for folded in (False, True):
        sign = 1 if not folded else -1
        saved += sign * layers * (
            attention_macs(ts, 1, n_tok, ci, heads, folded) +
            attention_macs(1, 1, ts, ci, heads, folded))
    return saved / 1e9


# config, official GMACs per view, official trainable parameters, T_s, arch
OFFICIAL_COUNTS = [
    ('dist_vitb_k400.py', 163.8, 26_105_184, 8, 'B/16'),
    ('dist_vitb_f16_k400.py', 327.7, 26_154_336, 16, 'B/16'),
    ('dist_vitb_f32_k400.py', 655.3, 26_252_640, 32, 'B/16'),
    ('dist_vitb_sthv2.py', 162.9, 19_001_184, 8, 'B/16'),
    ('dist_vitb_f16_sthv2.py', 325.7, 19_044_192, 16, 'B/16'),
    ('dist_vitb_f32_sthv2.py', 651.5, 19_130_208, 32, 'B/16'),
    ('dist_vitl_f32_k400.py', 2833, 39_867_744, 32, 'L/14'),  # patch-14 stem
    ('dist_vitl_f32_sthv2.py', 2828, 32_745_312, 32, 'L/14'),
]


@pytest.mark.parametrize('config, official_gmacs, trainable, ts, arch',
                         OFFICIAL_COUNTS)
def test_recipe_configs_match_official_counts(config, official_gmacs,
                                              trainable, ts, arch):
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', config))
    result = get_flops.analyse(cfg)
    if arch == 'B/16':
        discarded = _discarded_embedding_gmacs(ts, 14, 768, 16)
    else:
        discarded = _discarded_embedding_gmacs(ts, 16, 1024, 14)
    gmacs = result['macs_per_view']['total'] / 1e9
    assert abs(gmacs - (official_gmacs - discarded -
                        _fold_saving_gmacs(cfg.model, ts))) <= 1.0
    # the standard-attention count is the official one (less the embedding
    # of the frames CLIP never sees), as the spec's issue asks
    standard = result['gmacs_per_view_standard']
    assert standard is not None
    assert abs(standard['total'] - (official_gmacs - discarded)) <= 1.0
    assert result['patch_embedded_frames'] == ts
    assert result['input_shape'] == [1, 3, 2 * ts, 224, 224]
    # the official model has 36,960 parameters that are never used
    assert result['params']['trainable'] == trainable - 36_960


def test_full_size_dict_config_without_config_files():
    # ViT-B/16 8+16 K400 from a config built here (independent of configs/)
    cfg = Config(dict(model=b16_model_cfg()))
    result = get_flops.analyse(cfg)
    discarded = _discarded_embedding_gmacs(8, 14, 768, 16)
    assert abs(result['macs_per_view']['total'] / 1e9 -
               (163.8 - discarded - _fold_saving_gmacs(cfg.model, 8))) <= 1.0
    assert result['params']['trainable'] == 26_105_184 - 36_960


def test_b16_k400_tower_and_side_network_match_official():
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'dist_vitb_k400.py'))
    # the official computation order: embed all frames, standard attention
    cfg.model.backbone.subsample_before_embedding = False
    cfg.model.backbone.fused_attention = False
    g = get_flops.analyse(cfg)['macs_per_view']
    # official: CLIP 141.4 (16 frames embedded), DiST 22.4 GMACs
    assert abs(g['frozen_tower'] / 1e9 - 141.4) <= 0.1
    assert abs(g['side_network'] / 1e9 - 22.4) <= 0.1
    assert abs(g['total'] / 1e9 - 163.8) <= 0.1
