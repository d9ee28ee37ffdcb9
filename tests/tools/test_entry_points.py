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
    'tools/extract_embeddings.py':
    [CONFIG, 'MISSING.pth', '--videos', '.', '--out', 'out.npz'],
    'tools/zero_shot_eval.py': [CONFIG, 'MISSING.pth'],
}


def run(args: list, cwd: str, **env) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.pop('PYTHONPATH', None)
    full_env.pop('DIST_DEBUG', None)
    full_env.update(env)
    return subprocess.run(
        args,
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300)


@pytest.mark.parametrize('tool', list(TOOLS))
def test_missing_file_is_one_line_exit_2(tool, tmp_path):
    proc = run([sys.executable,
                osp.join(REPO_ROOT, tool), *TOOLS[tool]],
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
    ('dist_test.sh', [CONFIG, 'MISSING.pth', '2'
                      ], "CHECKPOINT 'MISSING.pth' is not a file"),
    ('dist_test.sh', [CONFIG, CONFIG, '0'], "at least 1, got '0'"),
    ('dist_extract_embeddings.sh', [CONFIG, 'MISSING.pth', '2'
                                    ], "CHECKPOINT 'MISSING.pth' is not a"),
    ('dist_zero_shot_eval.sh', [CONFIG, CONFIG, '0'], "got '0'"),
])
def test_dist_scripts_check_their_arguments(script, args, message, tmp_path):
    # PYTHON names a program that fails if it ever runs
    proc = run(['bash', osp.join(REPO_ROOT, 'tools', script), *args],
               cwd=str(tmp_path),
               PYTHON='false')
    assert proc.returncode == 2, proc.stderr
    first, usage = proc.stderr.splitlines()[:2]
    assert first.startswith(f'{script}: error: ') and message in first
    assert usage.startswith(f'usage: bash tools/{script} CONFIG')


@pytest.mark.parametrize('script', ['slurm_train.sh', 'slurm_test.sh'])
def test_slurm_scripts_check_their_counts(script, tmp_path):
    args = ['gpu', 'job', 'c.py', 'ck.pth']
    proc = run(['bash', osp.join(REPO_ROOT, 'tools', script), *args],
               cwd=str(tmp_path),
               GPUS='0')
    assert proc.returncode == 2
    assert proc.stderr.startswith(
        f"{script}: error: GPUS must be at least 1, got '0'")
    proc = run(['bash', osp.join(REPO_ROOT, 'tools', script), 'gpu'],
               cwd=str(tmp_path))
    assert proc.returncode == 2
    assert 'expected at least' in proc.stderr


LAUNCHER_TRACEBACK = '''Traceback (most recent call last):
  File "<frozen runpy>", line 198, in _run_module_as_main
  File ".../torch/distributed/launcher/api.py", line 386, in launch_agent
    raise ChildFailedError(
torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
============================================================
tools/train.py FAILED
------------------------------------------------------------
Failures:
[1]:
  rank      : 1 (local_rank: 1)
  exitcode  : -15 (pid: 12)  (SIGTERM)
------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  rank      : 0 (local_rank: 0)
  exitcode  : {code} (pid: 11)
============================================================
'''
RANK_TRACEBACK = '''Traceback (most recent call last):
  File "tools/train.py", line 190, in <module>
ZeroDivisionError: division by zero
'''


@pytest.mark.parametrize('code', [2, 1])
def test_torchrun_filter(code):
    """The launcher's traceback goes only when the first failed rank
    reported a user error (exit code 2); a rank's traceback always stays."""
    text = ('train.py: error: bad value\n' + RANK_TRACEBACK +
            LAUNCHER_TRACEBACK.replace('{code}', str(code)))
    proc = subprocess.run(
        ['awk', '-f',
         osp.join(REPO_ROOT, 'tools', 'torchrun_filter.awk')],
        input=text,
        capture_output=True,
        text=True)
    if code == 2:
        assert proc.returncode == 2
        assert proc.stdout == (
            'train.py: error: bad value\n' + RANK_TRACEBACK +
            LAUNCHER_TRACEBACK.split('ChildFailedError:\n', 1)[1].replace(
                '{code}', '2'))
    else:
        assert proc.returncode == 0 and proc.stdout == text


def test_dist_train_user_error_has_no_traceback(tmp_path):
    """The ranks report the error in one line each; torchrun's
    ChildFailedError traceback is left out and the script exits with 2."""
    env = dict(
        PATH=osp.dirname(sys.executable) + os.pathsep + os.environ['PATH'])
    proc = run([
        'bash',
        osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), CONFIG, '2',
        '--cfg-options', 'train_cfg.max_epochs=0'
    ],
               cwd=str(tmp_path),
               **env)
    assert proc.returncode == 2, proc.stderr[-4000:]
    assert 'Traceback' not in proc.stderr, proc.stderr[-4000:]
    # torchrun stops the other rank as soon as one exits, so on a busy
    # machine the second rank may be stopped before it prints its line
    assert proc.stderr.count(
        'train.py: error: train_cfg.max_epochs=0 trains nothing') in (1, 2)
    assert 'Root Cause' in proc.stderr
