"""DiSTOptimWrapperConstructor leaves frozen towers out, quietly."""
import torch.nn as nn

from mmaction.registry import OPTIM_WRAPPER_CONSTRUCTORS


class _Net(nn.Module):

    def __init__(self):
        super().__init__()
        self.frozen = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
        self.frozen.requires_grad_(False)
        self.head = nn.Linear(4, 2)
        self.norm = nn.LayerNorm(2)


def build(paramwise_cfg=None):
    return OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(
            type='DiSTOptimWrapperConstructor',
            optim_wrapper_cfg=dict(
                optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.1)),
            paramwise_cfg=paramwise_cfg))


def test_only_trainable_parameters_and_one_log_line(monkeypatch):
    from mmengine.optim.optimizer import default_constructor
    from projects.dist.engine.optimizers import frozen_aware_constructor
    logged = []
    record = lambda msg, *a, **k: logged.append(msg)  # noqa: E731
    monkeypatch.setattr(default_constructor, 'print_log', record)
    monkeypatch.setattr(frozen_aware_constructor, 'print_log', record)
    net = _Net()
    wrapper = build(dict(norm_decay_mult=0.0, bias_decay_mult=0.0))(net)
    held = {id(p) for g in wrapper.optimizer.param_groups for p in g['params']}
    assert held == {id(p) for p in net.head.parameters()} | {
        id(p) for p in net.norm.parameters()}
    decay = {id(p): g['weight_decay'] for g in wrapper.optimizer.param_groups
             for p in g['params']}
    assert decay[id(net.head.weight)] == 0.1
    assert decay[id(net.head.bias)] == decay[id(net.norm.weight)] == 0.0
    assert not [m for m in logged if 'is skipped' in m]
    assert len([m for m in logged if '28 frozen parameters (4 tensors' in m
                ]) == 1


def test_without_paramwise_cfg_frozen_parameters_are_left_out():
    net = _Net()
    wrapper = build()(net)
    held = [p for g in wrapper.optimizer.param_groups for p in g['params']]
    assert len(held) == 4 and all(p.requires_grad for p in held)
