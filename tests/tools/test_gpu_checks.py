"""tools/analysis/gpu_checks.sh: every command it would run is valid.

The script needs a GPU to run; its dry run prints the commands, which are
parsed here with the tools' own argument parsers, so a renamed option or
config breaks this test rather than the next GPU session.
"""
import os
import os.path as osp
import shlex
import subprocess

from projects.dist_tools.benchmark import cli as benchmark
from tests.helpers import load_tool

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(REPO_ROOT, 'tools', 'analysis', 'gpu_checks.sh')
train = load_tool('train.py')


def dry_run(tmp_path, **env):
    proc = subprocess.run(
        ['bash', SCRIPT, str(tmp_path / 'out')],
        cwd=str(tmp_path),
        env=dict(os.environ, DRY_RUN='1', **env),
        capture_output=True,
        text=True,
        timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [
        shlex.split(line[2:]) for line in proc.stdout.splitlines()
        if line.startswith('+ ')
    ]


def test_every_step_command_parses(tmp_path):
    commands = dry_run(tmp_path, PYTHON='python3')
    assert len(commands) == 9
    (tests, bench, isolated, profile, cudnn, tiny_train, compiled, host,
     compiled_train) = commands
    assert tests[:3] == ['python3', '-m', 'pytest']
    assert all(osp.isfile(osp.join(REPO_ROOT, t)) for t in tests[-2:])
    for cmd in (bench, isolated, profile, cudnn, compiled, host,
                compiled_train):
        assert cmd[1] == 'tools/analysis/benchmark.py'
        args = benchmark.parse_args(cmd[2:])
        assert osp.isfile(osp.join(REPO_ROOT, args.config))
        assert args.device == 'cuda'
        assert args.batch_size == (1 if cmd is host else 32)
        variants = benchmark.parse_variants(args.variant)
        assert benchmark.parse_modes(args.modes, args.mode, args.amp,
                                     list(variants))
    assert benchmark.parse_args(isolated[2:]).isolate
    assert benchmark.parse_args(profile[2:]).profile_ops == 25
    assert benchmark.parse_args(compiled[2:]).compile
    compiled_train = benchmark.parse_args(compiled_train[2:])
    assert compiled_train.compile and 'train:bf16@lowp' in compiled_train.modes
    assert benchmark.parse_args(host[2:]).config.endswith('tiny_width.py')
    assert benchmark.parse_args(cudnn[2:]).cudnn_benchmark == 'on'
    assert benchmark.parse_args(bench[2:]).cudnn_benchmark == 'config'
    assert benchmark.parse_args(bench[2:]).saved_activations
    assert tiny_train[1] == 'tools/train.py'
    args = train.parse_args(tiny_train[2:])
    assert args.amp and osp.isfile(osp.join(REPO_ROOT, args.config))


def test_steps_batch_and_config_can_be_chosen(tmp_path):
    commands = dry_run(
        tmp_path,
        STEPS='bench profile',
        BATCH='8',
        CONFIG='configs/dist_vitl_f32_k400.py')
    assert len(commands) == 2
    for cmd in commands:
        args = benchmark.parse_args(cmd[2:])
        assert args.batch_size == 8
        assert args.config == 'configs/dist_vitl_f32_k400.py'


def test_unknown_step_is_an_error(tmp_path):
    proc = subprocess.run(
        ['bash', SCRIPT, str(tmp_path / 'out')],
        env=dict(os.environ, DRY_RUN='1', STEPS='bench nope'),
        capture_output=True,
        text=True,
        timeout=60)
    assert proc.returncode == 2
    assert "unknown step 'nope'" in proc.stderr


def test_script_is_valid_bash():
    assert subprocess.run(['bash', '-n', SCRIPT]).returncode == 0
