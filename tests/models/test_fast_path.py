"""The plain-formula path and the fast path give the same model.

``projects.dist.models.layers.fast_path`` switches every block between the
paper's formulas (built from each block's own submodules, PyTorch's own
autograd) and the folded/fused fast path. On the shared parity case both
paths must give the same logits and gradients (parity criterion), and with
the plain path no custom autograd function of the package may run.
"""
import importlib.util

import pytest
import torch

from projects.dist.models.layers import fast_path as fast_path_module
from projects.dist.models.layers import fast_path_mode, set_fast_path
from projects.dist.models.layers.fast_path import (ENV_VAR, GROUPS,
                                                   use_fast_path)
from tests.helpers import build_parity_model, exact_fp32
from tests.numerics import assert_close_model

#: The package's custom autograd functions, by the name of their graph node.
CUSTOM_NODES = ('_NormalizedLinearBackward', '_ChannelNormConv3dBackward',
                '_SiLULinearBackward', '_SiLUConv3dBackward')


def graph_node_names(out: torch.Tensor) -> set:
    """Class names of every node in the autograd graph behind ``out``."""
    names, stack, seen = set(), [out.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        stack.extend(fn for fn, _ in node.next_functions)
    return names


def run(model, video: torch.Tensor, fast: bool) -> tuple:
    """Logits, trainable-parameter gradients and graph nodes of one step."""
    model.zero_grad()
    with fast_path_mode(fast), exact_fp32():
        logits = model(video, mode='tensor')
        nodes = graph_node_names(logits)
        logits.square().sum().backward()
    grads = {
        n: p.grad.clone()
        for n, p in model.named_parameters() if p.requires_grad
    }
    return logits.detach(), grads, nodes


def test_plain_path_matches_fast_path_on_parity_case():
    case, model, _ = build_parity_model()
    model.train()
    video = case['input_video'][:, None]  # (B, 1 view, 3, T, H, W)
    fast_logits, fast_grads, fast_nodes = run(model, video, fast=True)
    plain_logits, plain_grads, plain_nodes = run(model, video, fast=False)

    assert_close_model(plain_logits, fast_logits)
    assert fast_grads.keys() == plain_grads.keys() and fast_grads
    for name, grad in fast_grads.items():
        assert_close_model(plain_grads[name], grad, msg=name)
    # the fast path does use the custom functions (so the check can fail)
    assert {
        '_NormalizedLinearBackward', '_SiLULinearBackward',
        '_ChannelNormConv3dBackward', '_SiLUConv3dBackward'
    } <= fast_nodes
    assert not plain_nodes & set(CUSTOM_NODES), plain_nodes & set(CUSTOM_NODES)


def test_plain_path_under_mixed_precision_has_no_custom_function():
    case, model, _ = build_parity_model()
    model.train()
    video = case['input_video'][:, None]
    nodes = {}
    for fast in (True, False):
        with fast_path_mode(fast), torch.autocast('cpu', dtype=torch.bfloat16):
            nodes[fast] = graph_node_names(model(video, mode='tensor'))
    assert '_NormalizedLinearBackward' in nodes[True]
    assert not nodes[False] & set(CUSTOM_NODES)


def test_switch_scoping_groups_and_errors():
    assert use_fast_path()
    with fast_path_mode(False):
        assert not use_fast_path() and not use_fast_path('tower')
        with fast_path_mode(True):
            assert use_fast_path()
        assert not use_fast_path()
    assert use_fast_path()
    with fast_path_mode({'tower', 'aggregator'}):
        assert use_fast_path('tower') and use_fast_path('aggregator')
        assert not use_fast_path('temporal_block') and not use_fast_path()
    assert use_fast_path()
    with pytest.raises(TypeError, match='must be a bool or a collection'):
        set_fast_path('no')
    with pytest.raises(ValueError, match=r"unknown fast-path groups \['tb'\]"):
        set_fast_path({'tb'})
    with pytest.raises(ValueError, match="unknown fast-path group 'tb'"):
        use_fast_path('tb')
    assert use_fast_path()


def test_one_group_plain_leaves_the_others_fast():
    case, model, _ = build_parity_model()
    model.train()
    video = case['input_video'][:, None]
    with fast_path_mode(set(GROUPS) - {'temporal_block'}):
        nodes = graph_node_names(model(video, mode='tensor'))
    assert '_SiLULinearBackward' in nodes  # the I-Blocks stay fast
    assert not nodes & {'_ChannelNormConv3dBackward', '_SiLUConv3dBackward'}


def load_fresh_module(monkeypatch, value: str):
    """A fresh copy of the fast_path module, read with ``ENV_VAR=value``."""
    monkeypatch.setenv(ENV_VAR, value)
    spec = importlib.util.spec_from_file_location('fresh_fast_path',
                                                  fast_path_module.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('value, expected',
                         [('0', set()), ('off', set()), ('FALSE', set()),
                          ('1', set(GROUPS)), ('on', set(GROUPS)),
                          ('tower, aggregator', {'tower', 'aggregator'})])
def test_environment_variable_sets_the_default(monkeypatch, value, expected):
    module = load_fresh_module(monkeypatch, value)
    assert {g for g in GROUPS if module.use_fast_path(g)} == expected


def test_bad_environment_value_is_named(monkeypatch):
    with pytest.raises(
            ValueError, match="DIST_FAST_PATH='fastest' is neither"):
        load_fresh_module(monkeypatch, 'fastest')
