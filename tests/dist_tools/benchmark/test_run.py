"""Tests of projects/dist_tools/benchmark/run.py on a tiny DiST (CPU, 1-2
iterations): every mode runs, side by side or isolated, and the JSON lines
carry the documented keys. No timing is asserted."""
import json

import pytest
import torch
from mmengine.config import Config

from projects.dist_tools.benchmark import cli, run, runners


def test_plain_path_variant_runs_side_by_side(write_config, monkeypatch):
    from projects.dist.models.layers import fast_path as switch
    seen = []
    original = runners.TrainRunner.step

    def record(self, data):  # the setting while each mode's step runs
        seen.append((self.spec.key, switch.use_fast_path('tower'),
                     switch.use_fast_path('temporal_block')))
        return original(self, data)

    monkeypatch.setattr(runners.TrainRunner, 'step', record)
    results = run.main([
        write_config(), '--device', 'cpu', '--threads', '1', '--iters', '1',
        '--warmup', '0', '--order', 'interleave', '--modes',
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


def test_train_test_clip_only_json_lines(write_config, capsys, expected_keys,
                                         json_lines):
    cfg = write_config()
    threads = torch.get_num_threads()
    results = run.main([
        cfg, '--device', 'cpu', '--threads', '1', '--iters', '2', '--warmup',
        '1', '--batch-size', '2', '--modes', 'train,test,clip-only',
        '--baseline', 'test:none'
    ])
    assert torch.get_num_threads() == threads  # restored
    captured = capsys.readouterr()
    lines = json_lines(captured.out)
    assert lines == json.loads(json.dumps(results))
    assert [r['key']
            for r in lines] == ['train:none', 'test:none', 'clip-only:none']
    for r in lines:
        assert set(r) == expected_keys
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
    # the side-by-side table goes to stderr, one column per mode
    for key in by_key:
        assert key in captured.err


def test_bf16_variant_and_views(write_config):
    cfg = write_config()
    results = run.main([
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


def test_compile_path_runs(write_config):
    cfg = write_config()
    results = run.main([
        cfg, '--device', 'cpu', '--threads', '1', '--iters', '1', '--warmup',
        '1', '--modes', 'test,clip-only', '--compile', '--compile-backend',
        'eager'
    ])
    assert all(r['compile'] for r in results)


def test_fp16_on_cpu_and_unknown_baseline_raise(write_config):
    cfg = write_config()
    with pytest.raises(ValueError, match='fp16 autocast is not supported'):
        run.main([cfg, '--device', 'cpu', '--modes', 'test:fp16'])
    with pytest.raises(ValueError, match='--baseline'):
        run.main([
            cfg, '--device', 'cpu', '--iters', '1', '--warmup', '0',
            '--baseline', 'train:bf16'
        ])


def test_isolate_runs_a_mode_in_a_subprocess(write_config, capsys,
                                             expected_keys, json_lines):
    cfg = write_config()
    results = run.main([
        cfg, '--device', 'cpu', '--threads', '1', '--iters', '1', '--warmup',
        '0', '--modes', 'clip-only', '--isolate'
    ])
    assert [r['key'] for r in results] == ['clip-only:none']
    assert set(results[0]) == expected_keys
    assert results[0]['order'] == 'isolated'
    assert results[0]['ratio_to_clip_only_paired'] is None
    assert json_lines(capsys.readouterr().out) == results


@pytest.mark.parametrize('choice,env_cfg,expected', [
    ('config', None, False),
    ('config', 'env_cfg = dict(cudnn_benchmark=True)', True),
    ('config', 'env_cfg = dict(cudnn_benchmark=False)', False),
    ('on', 'env_cfg = dict(cudnn_benchmark=False)', True),
    ('off', 'env_cfg = dict(cudnn_benchmark=True)', False),
])
def test_cudnn_benchmark_follows_the_config_unless_overridden(
        write_config, choice, env_cfg, expected):
    cfg = Config.fromfile(write_config(env_cfg or ''))
    assert run.resolve_cudnn_benchmark(cfg, choice) is expected


def test_cudnn_benchmark_honours_cfg_options(write_config):
    args = cli.parse_args(
        [write_config(), '--cfg-options', 'env_cfg.cudnn_benchmark=True'])
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)  # as the benchmark loads it
    assert run.resolve_cudnn_benchmark(cfg, args.cudnn_benchmark) is True
