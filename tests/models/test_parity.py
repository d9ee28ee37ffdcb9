"""Parity with the official DiST forward on the shared case.

The shared case (``../shared/parity``) was produced by running the official
code on random weights. Here the official checkpoint is converted with the
plugin's converter and every stored intermediate is compared, so a mismatch
points at the module that causes it. The last test runs the shared parity
check script end to end (converter CLI + config + test_step).
"""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from tests.helpers import (DEVICES, REPO_ROOT, build_parity_model, exact_fp32,
                           shared_dir)

REL_TOL = 1e-5


@pytest.fixture(scope='module', params=DEVICES)
def case(request):
    """The shared case, the converted model and its captured tensors (on
    each of :data:`DEVICES`; captured tensors are moved back to the CPU)."""
    case, model, dropped = build_parity_model()
    model.to(request.param).eval()
    with exact_fp32():
        got = capture(model, case['input_video'].to(request.param))
    return case, got, dropped, model


def capture(model, video):
    """Run the model on a normalised clip and record intermediates."""
    bb, head = model.backbone, model.cls_head
    rec = {}

    def out_hook(name, fn=lambda o: o):
        return lambda m, i, o: rec.setdefault(name, []).append(fn(o))

    def in_hook(name, fn=lambda i: i[0]):
        return lambda m, i, o: rec.setdefault(name, []).append(fn(i))

    def lnd(t):  # (B*Ts, L, C) -> (L, B*Ts, C), the official layout
        return t.transpose(0, 1)

    hooks = [
        bb.temporal_stem.register_forward_hook(out_hook('temporal_stem_out')),
        bb.aggregator.register_forward_hook(
            in_hook('integration_out_F', lambda i: lnd(i[0]))),
        bb.aggregator.register_forward_hook(
            in_hook('shortcut_cls_mean', lambda i: i[1].mean(1))),
        bb.aggregator.cls_proj.register_forward_hook(
            out_hook('shortcut_proj')),
        bb.aggregator.ln_post.register_forward_hook(in_hook('ln_post_in')),
        bb.aggregator.ln_post.register_forward_hook(out_hook('ln_post_out')),
        bb.spatial_encoder.register_forward_hook(
            out_hook('clip_block_outputs',
                     lambda o: torch.stack([lnd(t) for t in o]))),
        head.text_encoder.register_forward_hook(out_hook('text_features')),
    ]
    for i in range(len(bb.temporal_blocks)):
        hooks += [
            bb.temporal_blocks[i].register_forward_hook(
                out_hook('temporal_block_out')),
            bb.to_integration[i].register_forward_hook(
                out_hook('temporal2integration_out', lnd)),
            bb.integration_blocks[i].register_forward_hook(
                in_hook('integration_block_in', lambda i: lnd(i[0]))),
            # the next layer accumulates into this output in place: copy it
            bb.integration_blocks[i].register_forward_hook(
                out_hook('integration_block_out', lambda o: lnd(o).clone())),
        ]
    for m in bb.to_temporal:
        # one value per spatial frame; the official code repeats it alpha
        # times along time
        hooks.append(
            m.register_forward_hook(
                out_hook('integration2temporal_out',
                         lambda o: o.repeat_interleave(bb.alpha, 2))))
    for layer in bb.aggregator.layers:
        hooks += [
            layer.register_forward_hook(
                out_hook('adapool_video_token', lambda o: lnd(o[1]))),
            layer.register_forward_hook(
                out_hook('adapool_frame_tokens', lambda o: lnd(o[0]))),
        ]
    with torch.no_grad():
        emb = bb(video)
        rec['video_embedding'] = [emb]
        rec['logits'] = [head(emb)]
        # the forward fuses each input projection with the residual sum, so
        # the projection alone is recomputed from the recorded CLIP outputs
        rec['input_linear_out'] = [
            lnd(proj(f.transpose(0, 1)))
            for proj, f in zip(bb.input_projs, rec['clip_block_outputs'][0])
        ]
    for h in hooks:
        h.remove()
    return {
        k: (v[0].cpu() if len(v) == 1
            and k not in ('temporal_block_out', 'input_linear_out',
                          'temporal2integration_out', 'integration_block_in',
                          'integration_block_out', 'integration2temporal_out',
                          'adapool_video_token', 'adapool_frame_tokens') else
            torch.stack(v).cpu())
        for k, v in rec.items()
    }


def assert_close(name, got, ref):
    assert got.shape == ref.shape, f'{name}: {got.shape} vs {ref.shape}'
    err = (got.float() - ref).abs().max().item()
    tol = REL_TOL * ref.abs().max().item()
    assert err <= tol, f'{name}: max|diff| {err:.3g} > tol {tol:.3g}'


@pytest.mark.parametrize('name', [
    'temporal_stem_out', 'temporal_block_out', 'input_linear_out',
    'temporal2integration_out', 'integration_block_in',
    'integration_block_out', 'integration_out_F', 'adapool_video_token',
    'adapool_frame_tokens', 'shortcut_cls_mean', 'shortcut_proj', 'ln_post_in',
    'ln_post_out', 'video_embedding', 'text_features', 'logits'
])
def test_intermediate_matches_official(case, name):
    ref_case, got, _, _ = case
    assert_close(name, got[name], ref_case['outputs'][name])


def test_clip_block_outputs_match_selected_blocks(case):
    ref_case, got, _, _ = case
    layers = ref_case['config']['VIDEO.BACKBONE.DIST.SELECTED_LAYERS']
    ref = ref_case['outputs']['clip_block_outputs'][layers]
    assert_close('clip_block_outputs', got['clip_block_outputs'], ref)


def test_integration_to_temporal_matches_except_unused_last(case):
    ref_case, got, dropped, _ = case
    ref = ref_case['outputs']['integration2temporal_out']
    # the last layer's projection is never used: it is not built
    assert got['integration2temporal_out'].shape[0] == ref.shape[0] - 1
    assert_close('integration2temporal_out', got['integration2temporal_out'],
                 ref[:-1])
    last = ref.shape[0] - 1
    assert sorted(dropped) == sorted(
        f'dist_net.integration2temporal_nets.{last}.linear_fuse.{p}'
        for p in ('weight', 'bias'))


def test_tokenizer_matches_official_tokens(case):
    ref_case, _, _, model = case
    assert torch.equal(model.cls_head.text_tokens.cpu(), ref_case['token_ids'])


def test_shared_parity_check_script():
    """The shared check script: converter CLI, config, load, test_step."""
    script = osp.join(shared_dir(), 'parity', 'check_contract.py')
    res = subprocess.run(
        [sys.executable, script,
         osp.join(shared_dir(), 'parity')],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={
            **os.environ, 'PYTHONPATH':
            os.pathsep.join(
                [REPO_ROOT] +
                os.environ.get('PYTHONPATH', '').split(os.pathsep)).rstrip(
                    os.pathsep)
        })
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert 'parity: 1/1 cases within tolerance' in res.stdout
