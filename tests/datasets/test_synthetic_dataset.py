"""DiSTSyntheticMotionDataset: generation on first use, reuse, checks."""
import os.path as osp

import pytest
from mmaction.registry import DATASETS

from projects.dist.datasets import DiSTSyntheticMotionDataset
from tests.helpers import tiny_clip_arch

TINY_ARCH = tiny_clip_arch()

PIPELINE = [
    dict(type='DecordInit'),
    dict(type='UniformSample', clip_len=8, num_clips=1, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]


def _cfg(root, **kwargs):
    cfg = dict(
        type='DiSTSyntheticMotionDataset',
        ann_file='train.txt',
        pipeline=PIPELINE,
        data_root=str(root),
        num_per_class=dict(train=2, val=1, test=1),
        num_frames=8)
    cfg.update(kwargs)
    return cfg


def test_generates_on_first_use_and_loads_clips(tmp_path):
    root = tmp_path / 'syn'
    weights = str(root / 'clip.pth')
    ds = DATASETS.build(
        _cfg(root, clip_weights=dict(path=weights, arch=TINY_ARCH, seed=0)))
    assert isinstance(ds, DiSTSyntheticMotionDataset)
    assert len(ds) == 12 and osp.isfile(weights)
    item = ds[0]
    assert tuple(item['inputs'].shape) == (1, 3, 8, 32, 32)
    assert item['data_samples'].gt_label.item() == 0
    test = DATASETS.build(_cfg(root, ann_file='test.txt', test_mode=True))
    assert len(test) == 6


def test_existing_data_is_reused(tmp_path):
    DATASETS.build(_cfg(tmp_path))
    video = tmp_path / 'videos/train/000000.mp4'
    stamp = osp.getmtime(video)
    DATASETS.build(_cfg(tmp_path, ann_file='val.txt'))
    assert osp.getmtime(video) == stamp


def test_data_made_with_other_parameters_is_refused(tmp_path):
    DATASETS.build(_cfg(tmp_path))
    with pytest.raises(ValueError, match='other parameters'):
        DATASETS.build(_cfg(tmp_path, seed=1))


def test_without_generation_missing_data_fails(tmp_path):
    with pytest.raises(FileNotFoundError):
        DATASETS.build(_cfg(tmp_path, generate_if_missing=False))


def test_clip_weights_keys_are_checked(tmp_path):
    with pytest.raises(KeyError, match=r"got \['arch', 'file'\]"):
        DATASETS.build(
            _cfg(tmp_path, clip_weights=dict(file='x.pth', arch=TINY_ARCH)))
