"""Every public entry point reports a user's mistake in one line,
``<tool>.py: error: <message>``, with exit code 2 and no traceback; ``--debug``
and ``DIST_DEBUG=1`` bring the traceback back. Run as a user runs them
(subprocesses, from a folder outside the repository)."""
import os
import os.path as osp
import subprocess
import sys

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO_ROOT, 'configs', 'dist_tiny_synthetic.py')

# tool -> arguments naming a file that does not exist ('MISSING')
TOOLS = {
    'tools/train.py': ['MISSING.py'],
    'tools/test.py': ['MISSING.py', 'MISSING.pth'],
    'tools/demo.py': ['MISSING.mp4', CONFIG, 'MISSING.pth'],
    'tools/misc/check_videos.py': ['MISSING.txt', '.'],
    'tools/misc/publish_checkpoint.py': ['MISSING.pth', 'out.pth'],
    'tools/model_converters/dist_official_to_mmaction.py': [
        'MISSING.pth', 'out.pth', '--config-out', 'out.py', '--class-names',
        'a,b'
    ],
    'tools/data/generate_synthetic.py': ['out', '--config', 'MISSING.py'],
    'tools/analysis/get_flops.py': ['MISSING.py'],
}


def run(args: list, cwd: str, **env) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.pop('PYTHONPATH', None)
    full_env.pop('DIST_DEBUG', None)
    full_env.update(env)
    return subprocess.run(
        args, cwd=cwd, env=full_env, capture_output=True, text=True,
        timeout=300)


@pytest.mark.parametrize('tool', list(TOOLS))
def test_missing_file_is_one_line_exit_2(tool, tmp_path):
    proc = run([sys.executable, osp.join(REPO_ROOT, tool), *TOOLS[tool]],
               cwd=str(tmp_path))
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    lines = [ln for ln in proc.stderr.splitlines() if ': error: ' in ln]
    assert len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].startswith(f'{osp.basename(tool)}: error: ')
    assert 'MISSING' in lines[0]


@pytest.mark.parametrize('how', ['--debug', 'DIST_DEBUG=1'])
def test_debug_shows_the_traceback(how, tmp_path):
    args = [sys.executable, osp.join(REPO_ROOT, 'tools/train.py'), 'M.py']
    if how == '--debug':
        proc = run(args + ['--debug'], cwd=str(tmp_path))
    else:
        proc = run(args, cwd=str(tmp_path), DIST_DEBUG='1')
    assert proc.returncode == 1
    assert 'Traceback (most recent call last)' in proc.stderr
    assert proc.stderr.rstrip().splitlines()[-1].startswith(
        'FileNotFoundError')


def test_cfg_options_without_key_is_a_usage_error(tmp_path):
    proc = run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools/train.py'), CONFIG, '--cfg-options',
        'train_cfg.max_epochs=1', 'notakeyvalue'
    ],
               cwd=str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.rstrip().splitlines()[-1] == (
        "train.py: error: --cfg-options: expected KEY=VALUE pairs (e.g. "
        "train_cfg.max_epochs=2), got 'notakeyvalue'")


@pytest.mark.parametrize('script,args,message', [
    ('dist_train.sh', [CONFIG, '0'], "GPUS must be at least 1, got '0'"),
    ('dist_train.sh', [CONFIG, 'two'], "got 'two'"),
    ('dist_train.sh', [CONFIG], "got ''"),
    ('dist_train.sh', ['MISSING.py', '2'], "CONFIG 'MISSING.py' is not a"),
    ('dist_test.sh', [CONFIG, 'MISSING.pth', '2'],
     "CHECKPOINT 'MISSING.pth' is not a file"),
    ('dist_test.sh', [CONFIG, CONFIG, '0'], "at least 1, got '0'"),
])
def test_dist_scripts_check_their_arguments(script, args, message, tmp_path):
    # PYTHON names a program that fails if it ever runs
    proc = run(['bash', osp.join(REPO_ROOT, 'tools', script), *args],
               cwd=str(tmp_path), PYTHON='false')
    assert proc.returncode == 2, proc.stderr
    first, usage = proc.stderr.splitlines()[:2]
    assert first.startswith(f'{script}: error: ') and message in first
    assert usage.startswith(f'usage: bash tools/{script} CONFIG')


@pytest.mark.parametrize('script', ['slurm_train.sh', 'slurm_test.sh'])
def test_slurm_scripts_check_their_counts(script, tmp_path):
    args = ['gpu', 'job', 'c.py', 'ck.pth']
    proc = run(['bash', osp.join(REPO_ROOT, 'tools', script), *args],
               cwd=str(tmp_path), GPUS='0')
    assert proc.returncode == 2
    assert proc.stderr.startswith(
        f"{script}: error: GPUS must be at least 1, got '0'")
    proc = run(['bash', osp.join(REPO_ROOT, 'tools', script), 'gpu'],
               cwd=str(tmp_path))
    assert proc.returncode == 2
    assert 'expected at least' in proc.stderr
