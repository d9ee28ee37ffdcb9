"""tools/data/generate_synthetic.py: parameters from flags or a config."""
import os.path as osp

import pytest

from projects.dist.datasets.synthetic_motion import SYNTHETIC_MOTION_CLASSES
from tests.helpers import REPO_ROOT, load_tool

CONFIG = osp.join(REPO_ROOT, 'configs', 'dist_tiny_synthetic.py')


@pytest.fixture(scope='module')
def tool():
    return load_tool('data/generate_synthetic.py')


def _lines(path):
    with open(path) as f:
        return f.read().splitlines()


def test_flags(tool, tmp_path, capsys):
    out = str(tmp_path / 'd')
    argv = [
        out, '--train', '2', '--val', '1', '--test', '1', '--num-frames', '8',
        '--seed', '3'
    ]
    assert tool.main(argv) == 0
    assert 'Writing 24 videos' in capsys.readouterr().out
    assert len(_lines(osp.join(out, 'train.txt'))) == 12
    assert tuple(_lines(osp.join(out, 'classes.txt'))) == \
        SYNTHETIC_MOTION_CLASSES
    tool.main(argv)  # same parameters: nothing is rewritten
    assert 'already generated' in capsys.readouterr().out
    with pytest.raises(ValueError, match='other parameters'):
        tool.main(argv[:-1] + ['4'])


def test_config_and_overrides(tool, tmp_path, capsys):
    root = str(tmp_path / 'syn')
    options = [
        f'train_dataloader.dataset.data_root={root}',
        f'train_dataloader.dataset.clip_weights.path={root}/w.pth',
        'train_dataloader.dataset.num_per_class.train=1',
        'train_dataloader.dataset.num_per_class.val=1',
        'train_dataloader.dataset.num_per_class.test=1'
    ]
    assert tool.main(['--config', CONFIG, '--cfg-options', *options]) == 0
    out = capsys.readouterr().out
    assert 'Wrote the random frozen CLIP tower' in out
    assert osp.isfile(osp.join(root, 'w.pth'))
    assert len(_lines(osp.join(root, 'test.txt'))) == 6


def test_bad_usage(tool, tmp_path):
    with pytest.raises(SystemExit, match='--cfg-options needs --config'):
        tool.main([str(tmp_path), '--cfg-options', 'a=1'])
    other = osp.join(REPO_ROOT, 'configs', 'dist_vitb_k400.py')
    with pytest.raises(ValueError, match="must be 'DiSTSyntheticMotion"):
        tool.main(['--config', other])
