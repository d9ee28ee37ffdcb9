"""The README's synthetic motion comparison, reduced:
``tools/synthetic_motion_comparison.py`` with 2 training videos per class
and one epoch, run as a user runs it (subprocess, outside the repository).
It must generate the data, train and test DiST and
the order-blind baseline with tools/train.py and tools/test.py, leave
checkpoints, logs and curve plots, and print both test top-1 values. The
full-size run and its numbers are in docs/quick_start.md."""
import json
import os
import os.path as osp
import re
import subprocess
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
NUM_PER_CLASS = dict(train=2, val=1, test=1)
REDUCED = [
    'train_cfg.max_epochs=1',
    # absolute, as the run is outside the repository
    'model.cls_head.class_names=' + osp.join(
        REPO_ROOT, 'projects', 'dist', 'label_maps', 'synthetic_motion.txt'),
] + [
    f'{loader}_dataloader.dataset.num_per_class.{split}={num}'
    for loader in ('train', 'val', 'test')
    for split, num in NUM_PER_CLASS.items()
]


def test_reduced_comparison(tmp_path):
    env = dict(os.environ)
    env.pop('PYTHONPATH', None)
    env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env['PATH']
    cmd = [
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'synthetic_motion_comparison.py'),
        '--work-dir', 'work', '--cfg-options', *REDUCED
    ]
    proc = subprocess.run(
        cmd,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]

    # data generated in the working directory, with the frozen CLIP file
    data = tmp_path / 'data' / 'synthetic_motion'
    assert (data / 'test.txt').read_text().count('\n') == 6
    assert (data / 'tiny_clip_seed0.pth').is_file()
    # printed results of both models
    summary_lines = re.findall(
        r'^\s+(DiST|order-blind baseline)\s+(\d+\.\d) %', proc.stdout,
        re.MULTILINE)
    assert [name
            for name, _ in summary_lines] == ['DiST', 'order-blind baseline']
    assert 'chance 16.7 %' in proc.stdout
    summary = json.loads((tmp_path / 'work' / 'summary.json').read_text())
    assert summary['num_test_videos'] == 6 and summary['num_classes'] == 6
    for (name, printed), run in zip(summary_lines, summary['runs']):
        assert run['model'] == name
        assert printed == f"{100 * run['metrics']['acc/top1']:.1f}"
        work_dir = tmp_path / run['work_dir']
        # checkpoint, text log, curve plot, test metrics
        assert osp.isfile(run['checkpoint'])
        assert run['checkpoint'].endswith('epoch_1.pth')
        logs = list(work_dir.glob('*/*.log'))
        assert logs and 'Epoch(val) [1]' in logs[0].read_text()
        with open(work_dir / 'curves.png', 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'
        assert list((work_dir / 'test').glob('*/*.json'))
    # the training logs show progress with an ETA
    assert re.search(r'Epoch\(train\) \[1\]\[\s*\d+/\d+\].*eta:', out)
