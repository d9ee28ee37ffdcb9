"""Tests of the entry point tools/analysis/benchmark.py (the benchmark
itself is tested in tests/dist_tools/benchmark/)."""
import json
import os.path as osp
import subprocess
import sys

from tests.helpers import load_tool, tiny_model_cfg

benchmark = load_tool('analysis/benchmark.py')
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def write_config(tmp_path, extra: str = '') -> str:
    path = tmp_path / 'tiny_bench.py'
    path.write_text(
        "custom_imports = dict(imports=['projects.dist'], "
        "allow_failed_imports=False)\n"
        "default_scope = 'mmaction'\n"
        f'model = {tiny_model_cfg(num_classes=4, clip=dict(width=32))!r}\n' +
        extra)
    return str(path)


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


def test_main_prints_one_json_line_per_mode(tmp_path, capsys):
    results = benchmark.main([
        write_config(tmp_path), '--device', 'cpu', '--threads', '1', '--iters',
        '1', '--warmup', '0', '--modes', 'test,clip-only'
    ])
    lines = [
        json.loads(ln) for ln in capsys.readouterr().out.splitlines()
        if ln.strip()
    ]
    assert lines == json.loads(json.dumps(results))
    assert [r['key'] for r in lines] == ['test:none', 'clip-only:none']


def test_mmpretrain_tower_config_runs_every_mode(capsys):
    # the shipped tiny config with an mmpretrain tower and a linear head
    cfg = osp.join(REPO_ROOT, 'configs', 'dist_tiny_synthetic_mmpretrain.py')
    results = benchmark.main([
        cfg, '--device', 'cpu', '--threads', '1', '--iters', '1', '--warmup',
        '1', '--modes', 'train,test,clip-only', '--baseline', 'clip-only:none'
    ])
    assert [r['key']
            for r in results] == ['train:none', 'test:none', 'clip-only:none']
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines == json.loads(json.dumps(results))
    for r in results:
        assert r['s_per_iter'] > 0 and r['config'] == cfg
    assert results[2]['time_ratio_to_baseline'] == 1.0
