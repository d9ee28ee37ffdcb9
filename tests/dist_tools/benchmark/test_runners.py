"""Tests of projects/dist_tools/benchmark/runners.py: one runner per mode.

No timing is asserted: only that a train iteration is a real optimizer step
on the side network and that clip-only runs the frozen tower alone.
"""
import torch
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from projects.dist_tools.benchmark import runners
from projects.dist_tools.benchmark.cli import ModeSpec
from projects.dist_tools.benchmark.data import synthetic_batch
from projects.dist_tools.model_inputs import spatial_features_fn


def build(write_config):
    cfg = Config.fromfile(write_config())
    init_default_scope('mmaction')
    return cfg, MODELS.build(cfg.model)


def batch(num_classes: int, num_clips: int = 1) -> dict:
    return synthetic_batch((3, 8, 32, 32), 2, num_clips, num_classes,
                           torch.device('cpu'),
                           torch.Generator().manual_seed(0))


def test_every_mode_has_a_runner():
    assert set(runners.RUNNERS) == {'train', 'test', 'clip-only'}
    assert all(
        issubclass(cls, runners.ModeRunner)
        for cls in runners.RUNNERS.values())


def test_train_iteration_is_an_optimizer_step(write_config, num_classes):
    cfg, model = build(write_config)
    wrapper = build_optim_wrapper(
        model, runners.optim_wrapper_cfg(cfg, 'none', torch.device('cpu')))
    spec = ModeSpec('train', 'none')
    runner = runners.TrainRunner(spec, model, iter([batch(num_classes)]),
                                 wrapper, torch.device('cpu'))
    side = model.backbone.input_projs[0].weight
    tower = model.backbone.spatial_encoder.visual.conv1.weight
    side0, tower0 = side.detach().clone(), tower.detach().clone()
    runner.run(timed=True)
    assert not torch.equal(side, side0)  # the side network trained
    assert torch.equal(tower, tower0)  # the frozen tower did not
    assert len(runner.times) == 1 and runner.clips_per_iter == 2


def test_clip_only_runs_the_frozen_tower_alone(write_config, num_classes):
    _, model = build(write_config)
    backbone = model.backbone
    calls = []
    backbone.spatial_encoder.register_forward_hook(
        lambda m, args, out: calls.append((args[0].shape[0], len(out))))
    backbone.temporal_stem.register_forward_hook(
        lambda *_: calls.append('side network'))
    runner = runners.ClipOnlyRunner(
        ModeSpec('clip-only', 'none'), model,
        iter([batch(num_classes, num_clips=3)]), spatial_features_fn(backbone),
        torch.device('cpu'))
    runner.run(timed=True)
    # 2 videos x 3 views x 4 spatial frames (alpha 2 of 8), every block read
    assert calls == [(2 * 3 * 4, len(backbone.selected_layers))]
    assert runner.clips_per_iter == 6 and runner.optim_wrapper is None


def test_test_runner_records_cpu_and_wall_time(write_config, num_classes):
    _, model = build(write_config)
    runner = runners.TestRunner(
        ModeSpec('test', 'none'), model, iter([batch(num_classes)] * 2),
        torch.device('cpu'))
    runner.run(timed=False)  # warm-up: not recorded
    runner.run(timed=True)
    assert len(runner.times) == len(runner.cpu_times) == 1
    assert len(runner.data_times) == 1 and runner.times[0] > 0
    assert not model.training


def test_optim_wrapper_cfg_types():
    cfg = Config(
        dict(
            optim_wrapper=dict(
                type='AmpOptimWrapper',
                loss_scale='dynamic',
                optimizer=dict(type='SGD', lr=0.1),
                clip_grad=dict(max_norm=1.0))))
    cpu = runners.optim_wrapper_cfg(cfg, 'bf16', torch.device('cpu'))
    assert cpu['type'] == 'OptimWrapper' and 'loss_scale' not in cpu
    assert cpu['optimizer'] == dict(type='SGD', lr=0.1)
    assert cpu['clip_grad'] == dict(max_norm=1.0)
    gpu = runners.optim_wrapper_cfg(cfg, 'bf16', torch.device('cuda'))
    assert gpu['type'] == 'AmpOptimWrapper' and gpu['dtype'] == 'bfloat16'
    default = runners.optim_wrapper_cfg(
        Config(dict()), 'none', torch.device('cpu'))
    assert default['optimizer']['type'] == 'AdamW'


def test_each_mode_runs_on_a_variant_model(write_config, num_classes):
    cfg, model = build(write_config)
    variant = runners.VariantModel(cfg, model, frozenset({'tower'}), None)
    device = torch.device('cpu')
    for mode, cls in runners.RUNNERS.items():
        runner = cls.for_variant(
            ModeSpec(mode, 'none', 'v'), variant, iter([batch(num_classes)]),
            device)
        assert type(runner) is cls and runner.fast_path == {'tower'}
        assert (runner.optim_wrapper is not None) == (mode == 'train')
        runner.run(timed=True)
        assert len(runner.times) == 1
