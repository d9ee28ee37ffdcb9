"""DiSTOptimWrapperConstructor leaves frozen towers out, quietly, and
merges parameter groups with equal options."""
import copy
import logging

import pytest
import torch
import torch.nn as nn
from mmaction.registry import OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.logging import MMLogger


class _Net(nn.Module):

    def __init__(self):
        super().__init__()
        self.frozen = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
        self.frozen.requires_grad_(False)
        self.head = nn.Linear(4, 2)
        self.norm = nn.LayerNorm(2)


def build(paramwise_cfg=None, **optimizer_options):
    return OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(
            type='DiSTOptimWrapperConstructor',
            optim_wrapper_cfg=dict(
                optimizer=dict(
                    type='AdamW',
                    lr=1e-3,
                    weight_decay=0.1,
                    **optimizer_options)),
            paramwise_cfg=paramwise_cfg))


def test_only_trainable_parameters_and_one_log_line(monkeypatch):
    from mmengine.optim.optimizer import default_constructor

    from projects.dist.engine.optimizers import optim_wrapper_constructor
    logged = []
    record = lambda msg, *a, **k: logged.append(msg)  # noqa: E731
    monkeypatch.setattr(default_constructor, 'print_log', record)
    monkeypatch.setattr(optim_wrapper_constructor, 'print_log', record)
    net = _Net()
    wrapper = build(dict(norm_decay_mult=0.0, bias_decay_mult=0.0))(net)
    held = {id(p) for g in wrapper.optimizer.param_groups for p in g['params']}
    assert held == {id(p)
                    for p in net.head.parameters()
                    } | {id(p)
                         for p in net.norm.parameters()}
    decay = {
        id(p): g['weight_decay']
        for g in wrapper.optimizer.param_groups
        for p in g['params']
    }
    assert decay[id(net.head.weight)] == 0.1
    assert decay[id(net.head.bias)] == decay[id(net.norm.weight)] == 0.0
    assert not [m for m in logged if 'is skipped' in m]
    assert len([m for m in logged
                if '28 frozen parameters (4 tensors' in m]) == 1


def test_without_paramwise_cfg_frozen_parameters_are_left_out():
    net = _Net()
    wrapper = build()(net)
    held = [p for g in wrapper.optimizer.param_groups for p in g['params']]
    assert len(held) == 4 and all(p.requires_grad for p in held)


def _options(wrapper):
    """Each trainable tensor's options, as the optimizer will apply them."""
    return {
        id(p): {
            k: v
            for k, v in g.items() if k != 'params'
        }
        for g in wrapper.optimizer.param_groups
        for p in g['params']
    }


def test_groups_with_equal_options_are_merged():
    net = _Net()
    cfg = dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={'head.weight': dict(lr_mult=0.5)})
    merged = build(cfg)(net)
    per_tensor = build(dict(cfg, merge_groups=False))(net)
    # MMEngine makes one group per tensor; merged: one per set of options
    assert len(per_tensor.optimizer.param_groups) == 4
    groups = merged.optimizer.param_groups
    assert len(groups) == 2
    assert [len(g['params']) for g in groups] == [1, 3]
    assert groups[0]['params'][0] is net.head.weight
    assert groups[0]['lr'] == 0.5e-3 and groups[0]['weight_decay'] == 0.1
    assert groups[1]['lr'] == 1e-3 and groups[1]['weight_decay'] == 0.0
    # every tensor keeps exactly the options MMEngine gave it
    assert _options(merged) == _options(per_tensor)


def test_merged_groups_train_and_resume_like_per_tensor_groups():
    torch.manual_seed(0)
    nets, wrappers = [], []
    for merge in (True, False):
        net = _Net()
        if nets:
            net.load_state_dict(nets[0].state_dict())
        nets.append(net)
        wrappers.append(
            build(dict(bias_decay_mult=0.0, merge_groups=merge))(net))
    x = torch.randn(3, 4)
    for _ in range(3):
        for net, wrapper in zip(nets, wrappers):
            wrapper.update_params(net.norm(net.head(net.frozen(x))).sum())
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        assert torch.equal(a, b)
    # the merged optimizer state round-trips (resume)
    state = copy.deepcopy(wrappers[0].state_dict())
    fresh = build(dict(bias_decay_mult=0.0))(nets[0])
    fresh.load_state_dict(state)
    assert len(fresh.optimizer.param_groups) == 2
    assert fresh.optimizer.state_dict()['state'].keys() == \
        wrappers[0].optimizer.state_dict()['state'].keys()


def test_merge_groups_must_be_a_bool():
    with pytest.raises(TypeError, match='merge_groups must be True or False'):
        build(dict(merge_groups='yes'))


def _train(net, wrapper, steps=2):
    x = torch.arange(12.).view(3, 4) / 10
    for _ in range(steps):
        wrapper.update_params(net.norm(net.head(net.frozen(x))).sum())


def test_per_tensor_state_resumes_into_merged_groups():
    # a checkpoint written with one group per tensor (older DiST versions or
    # merge_groups=False) resumes into the merged optimizer
    torch.manual_seed(0)
    cfg = dict(bias_decay_mult=0.0, custom_keys={'norm': dict(lr_mult=2.)})
    old_net = _Net()
    old = build(dict(cfg, merge_groups=False))(old_net)
    _train(old_net, old)
    saved_net, saved_state = (copy.deepcopy(old_net.state_dict()),
                              copy.deepcopy(old.state_dict()))
    _train(old_net, old)  # the uninterrupted run
    new_net = _Net()
    new_net.load_state_dict(saved_net)
    new = build(cfg)(new_net)
    assert len(new.optimizer.param_groups) == 3
    new.load_state_dict(saved_state)
    assert len(new.optimizer.param_groups) == 3
    _train(new_net, new)  # the resumed run
    for a, b in zip(old_net.parameters(), new_net.parameters()):
        assert torch.equal(a, b)


def test_mismatched_optimizer_state_names_the_fix():
    net = _Net()
    merged = build(dict(bias_decay_mult=0.0))(net)
    per_tensor = build(dict(bias_decay_mult=0.0, merge_groups=False))(net)
    with pytest.raises(ValueError, match='remove merge_groups=False'):
        per_tensor.load_state_dict(merged.state_dict())
    other = nn.Linear(4, 2)
    state = build(dict(bias_decay_mult=0.0))(other).state_dict()
    with pytest.raises(ValueError, match='another model'):
        merged.load_state_dict(state)


@pytest.mark.parametrize('saved_fused', [None, True])
def test_resume_keeps_the_configured_update_implementation(saved_fused):
    # torch.optim restores a checkpoint's implementation options: a state
    # saved by a non-fused AdamW would switch a fused one (the recipes') back
    # to the per-tensor update, whose step under a GradScaler (AMP) fails
    cfg = dict(bias_decay_mult=0.0)
    torch.manual_seed(0)
    net = _Net()
    old = build(cfg, fused=saved_fused)(net)
    _train(net, old)
    saved_net, saved_state = (copy.deepcopy(net.state_dict()),
                              copy.deepcopy(old.state_dict()))
    _train(net, old)  # the uninterrupted run
    for resumed_fused in (True, None):
        new_net = _Net()
        new_net.load_state_dict(saved_net)
        new = build(cfg, fused=resumed_fused)(new_net)
        new.load_state_dict(copy.deepcopy(saved_state))
        assert [g['fused'] for g in new.optimizer.param_groups] == \
            [resumed_fused] * 2
        scaler = torch.amp.GradScaler('cpu', init_scale=8.0)
        x = torch.arange(12.).view(3, 4) / 10
        for _ in range(2):
            new.zero_grad()
            loss = new_net.norm(new_net.head(new_net.frozen(x))).sum()
            scaler.scale(loss).backward()
            scaler.step(new.optimizer)
            scaler.update()
        for a, b in zip(net.parameters(), new_net.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_per_tensor_option_lines_are_debug_and_groups_are_summed_up():
    logger = MMLogger.get_instance(
        'test_option_lines', logger_name='test_option_lines', log_level='INFO')
    records = []
    catch = logging.Handler(level=logging.DEBUG)
    catch.emit = records.append
    logger.addHandler(catch)
    try:
        build(dict(bias_decay_mult=0.0))(_Net())
    finally:
        logger.removeHandler(catch)
    options = [
        r for r in records
        if r.getMessage().startswith('paramwise_options -- ')
    ]
    # MMEngine's line per option it set: the two biases' weight decay
    assert len(options) == 2
    assert {r.levelno for r in options} == {logging.DEBUG}
    info = [r.getMessage() for r in records if r.levelno == logging.INFO]
    assert info[-1] == (
        'DiSTOptimWrapperConstructor: 4 trainable tensors in 2 parameter '
        'groups: 2 with lr=0.001 weight_decay=0.1; 2 with lr=0.001 '
        'weight_decay=0')
    assert not logger.filters  # only while the parameters were added
