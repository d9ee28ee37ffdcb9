"""Tests of the frozen CLIP image tower and CLIP weight loading."""
import pytest
import torch
import torch.nn as nn
from mmaction.registry import MODELS

from projects.dist.models.backbones import DiSTCLIPVisual
from tests.helpers import UNIT_CLIP
from tests.numerics import assert_close_model, assert_close_rounding


class _Holder(nn.Module):
    """Carries a CLIP state dict in a TorchScript archive, like OpenAI's."""

    def __init__(self, visual, text):
        super().__init__()
        self.visual = visual
        for name, child in text.named_children():
            self.add_module(name, child)
        for name, p in text.named_parameters(recurse=False):
            self.register_parameter(name, p)
        self.logit_scale = nn.Parameter(torch.tensor(4.0))

    def forward(self, x):
        return x


def make_clip_file(tmp_path, kind: str) -> tuple:
    torch.manual_seed(1)
    vis = DiSTCLIPVisual(arch=UNIT_CLIP).visual
    text = MODELS.build(dict(type='DiSTCLIPText', arch=UNIT_CLIP)).text
    holder = _Holder(vis, text)
    path = tmp_path / f'clip_{kind}.pt'
    if kind == 'torchscript':
        torch.jit.trace(holder, torch.zeros(1)).save(str(path))
    else:
        torch.save({'state_dict': holder.state_dict()}, path)
    return str(path), holder.state_dict()


@pytest.mark.parametrize('kind', ['torchscript', 'state_dict'])
def test_pretrained_loads_in_init_weights_only(tmp_path, kind):
    path, ref = make_clip_file(tmp_path, kind)
    enc = DiSTCLIPVisual(arch=UNIT_CLIP, pretrained=path)
    w = enc.visual.conv1.weight
    assert not torch.equal(w, ref['visual.conv1.weight'])  # not at build
    enc.init_weights()
    assert torch.equal(enc.visual.conv1.weight, ref['visual.conv1.weight'])
    text = MODELS.build(
        dict(type='DiSTCLIPText', arch=UNIT_CLIP, pretrained=path))
    text.init_weights()
    assert torch.equal(text.text.token_embedding.weight,
                       ref['token_embedding.weight'])
    assert text.logit_scale.item() == 4.0


def test_key_mismatch_names_the_keys(tmp_path):
    path, ref = make_clip_file(tmp_path, 'state_dict')
    state = torch.load(path, weights_only=True)['state_dict']
    state.pop('visual.ln_pre.bias')
    state['visual.extra'] = torch.zeros(1)
    torch.save(state, path)
    enc = DiSTCLIPVisual(arch=UNIT_CLIP, pretrained=path)
    with pytest.raises(
            KeyError,
            match=r"missing keys \(1\) \['ln_pre.bias'\].*"
            r"unexpected keys \(1\) \['extra'\]"):
        enc.init_weights()


def test_wrong_architecture_names_shapes(tmp_path):
    path, _ = make_clip_file(tmp_path, 'state_dict')
    arch = dict(UNIT_CLIP, width=64)
    with pytest.raises(
            KeyError,
            match=r'shape mismatch \(44\) class_embedding: '
            r'file \(32,\) vs model \(64,\)'):
        DiSTCLIPVisual(arch=arch, pretrained=path).init_weights()


def test_missing_file_is_a_clear_error(tmp_path):
    enc = DiSTCLIPVisual(
        arch=UNIT_CLIP, pretrained=str(tmp_path / 'nope' / 'ViT-B-16.pt'))
    with pytest.raises(FileNotFoundError, match='ViT-B-16.pt'):
        enc.init_weights()


def test_frozen_stays_eval_and_unfrozen_trains():
    enc = DiSTCLIPVisual(arch=UNIT_CLIP).train()
    assert not enc.visual.training
    assert not any(p.requires_grad for p in enc.parameters())
    free = DiSTCLIPVisual(arch=UNIT_CLIP, frozen=False).train()
    assert free.visual.training
    assert all(p.requires_grad for p in free.parameters())


def test_outputs_are_requested_blocks_residual_stream():
    enc = DiSTCLIPVisual(arch=UNIT_CLIP).eval()
    x = torch.randn(2, 3, 32, 32)
    outs = enc(x, (0, 2))
    assert [tuple(o.shape) for o in outs] == [(2, 17, 32)] * 2
    v = enc.visual
    tokens = v.conv1(x).flatten(2).transpose(1, 2)
    tokens = torch.cat([v.class_embedding.expand(2, 1, -1), tokens], 1)
    h = v.ln_pre(tokens + v.positional_embedding)
    blocks = v.transformer.resblocks
    ref0 = blocks[0](h)
    ref2 = blocks[2](blocks[1](ref0))
    torch.testing.assert_close(outs[0], ref0)
    torch.testing.assert_close(outs[1], ref2)


def test_bf16_tower_casts_weights_once():
    enc = DiSTCLIPVisual(arch=UNIT_CLIP, dtype='bf16')
    assert enc.visual.conv1.weight.dtype == torch.bfloat16
    out = enc(torch.randn(1, 3, 32, 32), (1, ))
    assert out[0].dtype == torch.bfloat16
    with pytest.raises(ValueError, match="dtype must be one of"):
        DiSTCLIPVisual(arch=UNIT_CLIP, dtype='int8')


def test_inference_block_matches_open_clip_block():
    from projects.dist.models.backbones.clip_visual import _inference_block
    torch.manual_seed(0)
    enc = DiSTCLIPVisual(arch=UNIT_CLIP)
    block = enc.visual.transformer.resblocks[0]
    with torch.no_grad():
        for p in block.parameters():  # non-trivial norms and biases
            p.normal_(0.0, 0.2)
        x = torch.randn(3, 5, 32)
        x_before = x.clone()
        got = _inference_block(block, x)
        # longest sum: the MLP's hidden width (4 x 32)
        assert_close_rounding(got, block(x), reduction=4 * 32)
    assert torch.equal(x, x_before)  # the input is not modified


def test_frozen_tower_outputs_do_not_alias():
    # later blocks accumulate in place: earlier returned outputs must stay
    enc = DiSTCLIPVisual(arch=UNIT_CLIP)
    frames = torch.randn(2, 3, 32, 32)
    outs = enc(frames, [0, 1])
    ref = [o.clone() for o in enc(frames, [0, 1])]
    assert outs[0].data_ptr() != outs[1].data_ptr()
    for o, r in zip(outs, ref):
        torch.testing.assert_close(o, r)
    # with autograd on (an unfrozen tower), open_clip's own block runs
    enc_trainable = DiSTCLIPVisual(arch=UNIT_CLIP, frozen=False)
    enc_trainable.load_state_dict(enc.state_dict())
    out = enc_trainable(frames, [1])[0]
    assert out.requires_grad
    assert_close_model(out, ref[1])


def test_open_clip_block_layout_is_the_one_relied_on():
    """DiSTCLIPVisual's state-dict names and fast path read open_clip's
    ResidualAttentionBlock layout: the installed open_clip has it, and a
    changed layout fails loudly at construction, naming the version."""
    import open_clip

    from projects.dist.models.backbones import clip_visual
    tower = clip_visual.DiSTCLIPVisual(arch=UNIT_CLIP)
    block = tower.visual.transformer.resblocks[0]
    assert clip_visual.block_layout_problems(block) == []

    class NewAttention(torch.nn.Module):
        pass

    block.attn = NewAttention()
    with pytest.raises(
            RuntimeError,
            match=rf'open_clip {open_clip.__version__} builds '
            r'ResidualAttentionBlock without the layout DiSTCLIPVisual '
            r'relies on \(attn is NewAttention, not nn.MultiheadAttention;'
            r' attn has no in_proj_weight'):
        clip_visual.check_block_layout(block)
