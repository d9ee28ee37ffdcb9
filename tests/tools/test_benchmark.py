"""Tests of tools/analysis/benchmark.py on a tiny DiST (CPU, 1-2 iterations).

No timing is asserted: only that every mode runs, that a train iteration is a
real optimizer step on the side network, and that the JSON lines carry the
documented keys.
"""
import json
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from tests.tools.tiny_dist import load_tool, tiny_model_cfg
from tests.video_utils import write_video_list

benchmark = load_tool('analysis/benchmark.py')
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

NUM_CLASSES = 4
TINY_MODEL = tiny_model_cfg(NUM_CLASSES, width=32)

EXPECTED_KEYS = {
    'mode', 'amp', 'variant', 'key', 'config', 'device', 'device_name',
    'threads', 'batch_size', 'clips_per_iter', 'data', 'compile', 'order',
    'iters', 'warmup', 's_per_iter', 's_per_iter_median', 's_per_iter_min',
    's_per_iter_max', 'clips_per_s', 'cpu_s_per_iter', 'data_time_s',
    'peak_mem_mb', 'mem_metric', 'process_peak_rss_mb', 'loadavg_1min',
    'torch', 'ratio_to_clip_only', 'time_ratio_to_baseline', 'iter_times',
    'ratio_to_clip_only_paired', 'time_ratio_to_baseline_paired', 'cpu_malloc',
    'tf32', 'cudnn_benchmark', 'cudnn_version', 'optimizer', 'fast_path'
}


def write_config(tmp_path, extra: str = '') -> str:
    path = tmp_path / 'tiny_bench.py'
    path.write_text("custom_imports = dict(imports=['projects.dist'], "
                    "allow_failed_imports=False)\n"
                    "default_scope = 'mmaction'\n"
                    f'model = {TINY_MODEL!r}\n' + extra)
    return str(path)


def json_lines(text: str) -> list:
    return [json.loads(ln) for ln in text.splitlines() if ln.startswith('{')]


# ------------------------------------------------------------- parsing
def test_parse_modes():
    specs = benchmark.parse_modes('train:bf16, test ,clip-only@ref', 'test',
                                  'none', ['ref'])
    assert [s.key for s in specs
            ] == ['train:bf16', 'test:none', 'clip-only:none@ref']
    assert [s.key for s in benchmark.parse_modes(None, 'train', 'bf16', [])
            ] == ['train:bf16']
    # duplicates collapse
    assert len(benchmark.parse_modes('test,test:none', 'test', 'none',
                                     [])) == 1


@pytest.mark.parametrize('text, match', [
    ('infer', "unknown mode 'infer'"),
    ('test:fp8', "unknown amp 'fp8'"),
    ('test@nope', "variant 'nope'"),
    (',', 'names no mode'),
])
def test_parse_modes_errors(text, match):
    with pytest.raises(ValueError, match=match):
        benchmark.parse_modes(text, 'test', 'none', ['ref'])


def test_parse_variants():
    variants = benchmark.parse_variants(
        [['ref', 'model.backbone.alpha=4', 'model.backbone.with_cp=True']])
    assert variants == {
        'ref': {
            'model.backbone.alpha': 4,
            'model.backbone.with_cp': True
        }
    }
    with pytest.raises(ValueError, match='at least one'):
        benchmark.parse_variants([['ref']])
    with pytest.raises(ValueError, match='repeated'):
        benchmark.parse_variants([['a', 'x=1'], ['a', 'y=2']])
    assert benchmark.parse_variants([['p', 'fast_path=False']]) == {
        'p': {
            'fast_path': frozenset()
        }
    }
    assert benchmark.parse_variants([['p', 'fast_path=tower']]) == {
        'p': {
            'fast_path': frozenset({'tower'})
        }
    }
    with pytest.raises(ValueError, match=r"--variant p: fast_path: unknown"):
        benchmark.parse_variants([['p', 'fast_path=[tower,tblock]']])


def test_plain_path_variant_runs_side_by_side(tmp_path, monkeypatch):
    from projects.dist.models.layers import fast_path as switch
    seen = []
    original = benchmark.ModeRunner._step

    def record(self, data):  # the setting while each mode's step runs
        seen.append((self.spec.key, switch.use_fast_path('tower'),
                     switch.use_fast_path('temporal_block')))
        return original(self, data)

    monkeypatch.setattr(benchmark.ModeRunner, '_step', record)
    results = benchmark.main([
        write_config(tmp_path), '--device', 'cpu', '--threads', '1', '--iters',
        '1', '--warmup', '0', '--order', 'interleave', '--modes',
        'train,train@plain,train@tower', '--variant', 'plain',
        'fast_path=False', '--variant', 'tower', 'fast_path=[tower]'
    ])
    by_key = {r['key']: r['fast_path'] for r in results}
    assert by_key['train:none'] == sorted(switch.GROUPS)
    assert by_key['train:none@plain'] == []
    assert by_key['train:none@tower'] == ['tower']
    assert set(seen) == {('train:none', True, True),
                         ('train:none@plain', False, False),
                         ('train:none@tower', True, False)}
    assert switch.use_fast_path()  # restored after the run


def test_child_argv_drops_parent_only_options():
    argv = [
        'cfg.py', '--isolate', '--modes', 'test,train', '--baseline',
        'test:none', '--iters', '2', '--mode=train', '--variant', 'v', 'a=1'
    ]
    assert benchmark._child_argv(argv) == [
        'cfg.py', '--iters', '2', '--variant', 'v', 'a=1'
    ]


def test_bad_arguments_exit():
    with pytest.raises(SystemExit):
        benchmark.parse_args(['cfg.py', '--iters', '0'])
    with pytest.raises(SystemExit):
        benchmark.parse_args(['cfg.py', '--amp', 'fp8'])
    with pytest.raises(SystemExit):
        benchmark.parse_args(['cfg.py', '--profile-ops', '-1'])


# ------------------------------------------------------------- running
def test_train_test_clip_only_json_lines(tmp_path, capsys):
    cfg = write_config(tmp_path)
    threads = torch.get_num_threads()
    results = benchmark.main([
        cfg, '--device', 'cpu', '--threads', '1', '--iters', '2', '--warmup',
        '1', '--batch-size', '2', '--modes', 'train,test,clip-only',
        '--baseline', 'test:none'
    ])
    assert torch.get_num_threads() == threads  # restored
    lines = json_lines(capsys.readouterr().out)
    assert lines == json.loads(json.dumps(results))
    assert [r['key']
            for r in lines] == ['train:none', 'test:none', 'clip-only:none']
    for r in lines:
        assert set(r) == EXPECTED_KEYS
        assert r['device'] == 'cpu' and r['threads'] == 1
        assert r['clips_per_iter'] == 2 and r['iters'] == 2
        assert r['s_per_iter'] > 0 and r['clips_per_s'] > 0
        assert r['s_per_iter_min'] <= r['s_per_iter_median'] <= r[
            's_per_iter_max']
        assert r['data'] == 'synthetic' and r['data_time_s'] is None
        assert r['mem_metric'] == 'rss_sampled_process'
        assert r['peak_mem_mb'] > 0
        assert r['cpu_malloc'] == 'tuned'  # the default on glibc
        assert r['tf32'] is None  # CUDA-only settings
        assert r['cudnn_benchmark'] is r['cudnn_version'] is None
        assert (r['optimizer'] == 'OptimWrapper/AdamW(fused=None, '
                'foreach=None)') if r['mode'] == 'train' else (r['optimizer']
                                                               is None)
    by_key = {r['key']: r for r in lines}
    assert by_key['clip-only:none']['ratio_to_clip_only'] == 1.0
    assert by_key['test:none']['ratio_to_clip_only'] == pytest.approx(
        by_key['test:none']['s_per_iter'] /
        by_key['clip-only:none']['s_per_iter'])
    assert by_key['test:none']['time_ratio_to_baseline'] == 1.0
    # paired: median over rounds of (test time / clip-only time)
    test_t = by_key['test:none']['iter_times']
    clip_t = by_key['clip-only:none']['iter_times']
    assert len(test_t) == len(clip_t) == 2
    assert by_key['test:none']['ratio_to_clip_only_paired'] == pytest.approx(
        (test_t[0] / clip_t[0] + test_t[1] / clip_t[1]) / 2, rel=1e-4)


def test_stdout_is_only_json_with_paramwise_optimizer(tmp_path):
    # the optimizer constructor logs each parameter-wise setting at INFO;
    # run the command line as users do and read its real stdout
    cfg = write_config(
        tmp_path, 'optim_wrapper = dict(optimizer=dict(type="AdamW", '
        'lr=1e-3, weight_decay=0.05),\n'
        '    paramwise_cfg=dict(norm_decay_mult=0.0))\n')
    proc = subprocess.run([
        sys.executable, 'tools/analysis/benchmark.py', cfg, '--device', 'cpu',
        '--threads', '1', '--iters', '1', '--warmup', '0', '--modes', 'train'
    ],
                          cwd=REPO_ROOT,
                          capture_output=True,
                          text=True,
                          check=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1 and json.loads(lines[0])['key'] == 'train:none'
    assert 'paramwise_options' in proc.stderr


def test_bf16_variant_and_views(tmp_path):
    cfg = write_config(tmp_path)
    results = benchmark.main([
        cfg, '--device', 'cpu', '--threads', '1', '--iters', '1', '--warmup',
        '0', '--num-clips', '3', '--order', 'sequential', '--modes',
        'train:bf16,test:bf16@ref,clip-only:bf16', '--variant', 'ref',
        'model.backbone.subsample_before_embedding=False',
        'model.backbone.fused_attention=False', '--cpu-malloc', 'default'
    ])
    assert {r['cpu_malloc'] for r in results} == {'default'}
    by_key = {r['key']: r for r in results}
    assert set(by_key) == {'train:bf16', 'test:bf16@ref', 'clip-only:bf16'}
    assert by_key['test:bf16@ref']['variant'] == 'ref'
    assert by_key['test:bf16@ref']['clips_per_iter'] == 3
    # falls back to the clip-only mode of the base model with the same amp
    assert by_key['test:bf16@ref']['ratio_to_clip_only'] is not None
    assert by_key['train:bf16']['time_ratio_to_baseline'] is None
    # sequential rounds are not paired
    assert by_key['test:bf16@ref']['ratio_to_clip_only_paired'] is None


def test_compile_path_runs(tmp_path):
    cfg = write_config(tmp_path)
    results = benchmark.main([
        cfg, '--device', 'cpu', '--threads', '1', '--iters', '1', '--warmup',
        '1', '--modes', 'test,clip-only', '--compile', '--compile-backend',
        'eager'
    ])
    assert all(r['compile'] for r in results)


def test_fp16_on_cpu_and_unknown_baseline_raise(tmp_path):
    cfg = write_config(tmp_path)
    with pytest.raises(ValueError, match='fp16 autocast is not supported'):
        benchmark.main([cfg, '--device', 'cpu', '--modes', 'test:fp16'])
    with pytest.raises(ValueError, match='--baseline'):
        benchmark.main([
            cfg, '--device', 'cpu', '--iters', '1', '--warmup', '0',
            '--baseline', 'train:bf16'
        ])


def test_train_iteration_is_an_optimizer_step(tmp_path):
    cfg = Config.fromfile(write_config(tmp_path))
    init_default_scope('mmaction')
    model = MODELS.build(cfg.model)
    wrapper = build_optim_wrapper(
        model, benchmark.optim_wrapper_cfg(cfg, 'none', torch.device('cpu')))
    spec = benchmark.ModeSpec('train', 'none')
    batch = benchmark.synthetic_batch((3, 8, 32, 32), 2, 1, NUM_CLASSES,
                                      torch.device('cpu'),
                                      torch.Generator().manual_seed(0))
    runner = benchmark.ModeRunner(spec, model, model.backbone.spatial_encoder,
                                  model.backbone, iter([batch]), wrapper,
                                  torch.device('cpu'))
    side = model.backbone.input_projs[0].weight
    tower = model.backbone.spatial_encoder.visual.conv1.weight
    side0, tower0 = side.detach().clone(), tower.detach().clone()
    runner.run(timed=True)
    assert not torch.equal(side, side0)  # the side network trained
    assert torch.equal(tower, tower0)  # the frozen tower did not
    assert len(runner.times) == 1 and runner.clips_per_iter == 2


def test_optim_wrapper_cfg_types():
    cfg = Config(
        dict(
            optim_wrapper=dict(
                type='AmpOptimWrapper',
                loss_scale='dynamic',
                optimizer=dict(type='SGD', lr=0.1),
                clip_grad=dict(max_norm=1.0))))
    cpu = benchmark.optim_wrapper_cfg(cfg, 'bf16', torch.device('cpu'))
    assert cpu['type'] == 'OptimWrapper' and 'loss_scale' not in cpu
    assert cpu['optimizer'] == dict(type='SGD', lr=0.1)
    assert cpu['clip_grad'] == dict(max_norm=1.0)
    gpu = benchmark.optim_wrapper_cfg(cfg, 'bf16', torch.device('cuda'))
    assert gpu['type'] == 'AmpOptimWrapper' and gpu['dtype'] == 'bfloat16'
    default = benchmark.optim_wrapper_cfg(
        Config(dict()), 'none', torch.device('cpu'))
    assert default['optimizer']['type'] == 'AdamW'


def test_real_data_reports_data_time(tmp_path):
    ann = write_video_list(
        str(tmp_path), 2, NUM_CLASSES, 'ann.txt', num_frames=10, size=(40, 36))
    pipeline = [
        dict(type='DecordInit'),
        dict(
            type='SampleFrames',
            clip_len=8,
            frame_interval=1,
            num_clips=1,
            test_mode=True),
        dict(type='DecordDecode'),
        dict(type='Resize', scale=(32, 32), keep_ratio=False),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs'),
    ]
    loader = dict(
        batch_size=1,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(
            type='VideoDataset',
            ann_file=ann,
            data_prefix=dict(video=str(tmp_path)),
            pipeline=pipeline))
    extra = (f'train_dataloader = {loader!r}\n'
             f'test_dataloader = {loader!r}\n')
    cfg = write_config(tmp_path, extra)
    results = benchmark.main([
        cfg, '--device', 'cpu', '--threads', '1', '--iters', '2', '--warmup',
        '1', '--batch-size', '2', '--real-data', '--modes', 'train,test'
    ])
    for r in results:
        assert r['data'] == 'real'
        assert r['data_time_s'] > 0
        assert r['clips_per_iter'] == 2


def test_real_data_without_loader_raises(tmp_path):
    cfg = write_config(tmp_path)
    with pytest.raises(ValueError, match='needs test_dataloader'):
        benchmark.main([cfg, '--device', 'cpu', '--real-data'])


def test_isolate_runs_a_mode_in_a_subprocess(tmp_path, capsys):
    cfg = write_config(tmp_path)
    results = benchmark.main([
        cfg, '--device', 'cpu', '--threads', '1', '--iters', '1', '--warmup',
        '0', '--modes', 'clip-only', '--isolate'
    ])
    assert [r['key'] for r in results] == ['clip-only:none']
    assert set(results[0]) == EXPECTED_KEYS
    assert results[0]['order'] == 'isolated'
    assert results[0]['ratio_to_clip_only_paired'] is None
    assert json_lines(capsys.readouterr().out) == results


def test_profile_ops_reports_costliest_operators(tmp_path, capsys):
    """One extra, untimed iteration per mode under torch.profiler: its K
    costliest operators in the JSON line and a table on stderr."""
    cfg = write_config(tmp_path)
    results = benchmark.main([
        cfg, '--device', 'cpu', '--threads', '1', '--iters', '1', '--warmup',
        '1', '--modes', 'test,clip-only', '--profile-ops', '4'
    ])
    err = capsys.readouterr().err
    for r in results:
        assert set(r) == EXPECTED_KEYS | {'top_ops', 'profile_totals'}
        assert len(r['iter_times']) == 1  # the profiled run is not timed
        top = r['top_ops']
        assert len(top) == 4
        assert all(set(row) == {'op', 'calls', 'self_ms'} for row in top)
        assert [row['self_ms'] for row in top] == sorted(
            (row['self_ms'] for row in top), reverse=True)
        assert all(row['calls'] >= 1 for row in top)
        totals = r['profile_totals']
        assert totals['device_ms'] is None  # CUDA only
        assert totals['op_calls'] > sum(row['calls'] for row in top)
        # every operator's own time lies within the iteration
        assert sum(row['self_ms'] for row in top) <= totals['self_cpu_ms']
        assert 0 < totals['self_cpu_ms'] <= totals['wall_ms']
        assert f"== profile of {r['key']}: 4 costliest operators ==" in err
    # the backbone's products are among the costliest on a test step
    ops = {row['op'] for row in results[0]['top_ops']}
    assert ops & {
        'aten::addmm', 'aten::mm', 'aten::mkldnn_convolution', 'aten::addmm_',
        'aten::bmm'
    }


def test_saved_activations_shrink_with_checkpointing(tmp_path):
    """--saved-activations reports what one training step keeps for
    backward; activation checkpointing keeps less, test modes report null."""
    cfg = write_config(tmp_path)
    results = benchmark.main([
        cfg, '--device', 'cpu', '--threads', '1', '--iters', '1', '--warmup',
        '1', '--batch-size', '2', '--modes', 'train,train@cp,test',
        '--variant', 'cp', 'model.backbone.with_cp=True', '--saved-activations'
    ])
    by_key = {r['key']: r for r in results}
    for r in results:
        assert set(r) == EXPECTED_KEYS | {'saved_activations_mb'}
        assert len(r['iter_times']) == 1  # the extra step is not timed
    plain = by_key['train:none']['saved_activations_mb']
    checkpointed = by_key['train:none@cp']['saved_activations_mb']
    assert 0 < checkpointed < plain
    assert by_key['test:none']['saved_activations_mb'] is None


@pytest.mark.parametrize('choice,env_cfg,expected', [
    ('config', None, False),
    ('config', 'env_cfg = dict(cudnn_benchmark=True)', True),
    ('config', 'env_cfg = dict(cudnn_benchmark=False)', False),
    ('on', 'env_cfg = dict(cudnn_benchmark=False)', True),
    ('off', 'env_cfg = dict(cudnn_benchmark=True)', False),
])
def test_cudnn_benchmark_follows_the_config_unless_overridden(
        tmp_path, choice, env_cfg, expected):
    cfg = Config.fromfile(write_config(tmp_path, env_cfg or ''))
    assert benchmark.resolve_cudnn_benchmark(cfg, choice) is expected


def test_cudnn_benchmark_honours_cfg_options(tmp_path):
    args = benchmark.parse_args([
        write_config(tmp_path), '--cfg-options', 'env_cfg.cudnn_benchmark=True'
    ])
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)  # as the benchmark loads it
    assert benchmark.resolve_cudnn_benchmark(cfg, args.cudnn_benchmark) is True


def test_mmpretrain_tower_config_runs_every_mode(capsys):
    # the shipped tiny config with an mmpretrain tower and a linear head
    cfg = osp.join(REPO_ROOT, 'configs', 'dist_tiny_synthetic_mmpretrain.py')
    results = benchmark.main([
        cfg, '--device', 'cpu', '--threads', '1', '--iters', '1', '--warmup',
        '1', '--modes', 'train,test,clip-only', '--baseline', 'clip-only:none'
    ])
    assert [r['key']
            for r in results] == ['train:none', 'test:none', 'clip-only:none']
    assert json_lines(capsys.readouterr().out) == json.loads(
        json.dumps(results))
    for r in results:
        assert r['s_per_iter'] > 0 and r['config'] == cfg
    assert results[2]['time_ratio_to_baseline'] == 1.0
