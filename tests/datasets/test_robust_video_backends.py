"""DiSTRobustVideoDataset with the DiST decoding steps, for every backend:
broken videos are skipped or stood in for, short clips are padded and
flagged, and seeded augmentation gives the same sample whatever the RNG."""
import copy
import os.path as osp
import random

import numpy as np
import pytest
import torch
from mmaction.registry import DATASETS

from projects.dist.datasets.robust_video_dataset import (META_PADDED,
                                                         META_STANDIN,
                                                         BrokenVideoError)
from projects.dist.datasets.samplers import SeededIndex
from tests.video_utils import write_pyav_video, write_random_video

BACKENDS = ('pyav', 'decord')


def pipeline(backend: str, test_mode: bool) -> list:
    """The recipe's steps on 32 px clips of 8 frames, with random crops
    and flips in training."""
    steps = [
        dict(type='DiSTVideoInit', backend=backend),
        dict(
            type='DiSTSegmentSample',
            clip_len=8,
            num_clips=1,
            test_mode=test_mode),
        dict(type='DiSTVideoDecode'),
    ]
    if not test_mode:
        steps += [
            dict(type='RandomResizedCrop', area_range=(0.4, 1.0)),
            dict(type='Flip', flip_ratio=0.5)
        ]
    return steps + [
        dict(type='Resize', scale=(32, 32), keep_ratio=False),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs', meta_keys=('img_shape', 'filename'))
    ]


def build(ann: str, root: str, backend: str, **kwargs):
    cfg = dict(
        type='DiSTRobustVideoDataset',
        ann_file=ann,
        data_prefix=dict(video=root),
        pipeline=pipeline(backend, kwargs.get('test_mode', False)))
    cfg.update(kwargs)
    return DATASETS.build(copy.deepcopy(cfg))


@pytest.mark.parametrize('backend', BACKENDS)
def test_broken_videos_are_replaced_and_counted(backend, videos):
    ann, root, bad = videos
    ds = build(ann, root, backend, max_broken=3)
    np.random.seed(0)
    for idx in (0, 2, 4):
        sample = ds[idx]
        assert sample['inputs'].shape == (1, 3, 8, 32, 32)
        assert osp.basename(sample['data_samples'].filename) in {
            'clip_001.mp4', 'clip_003.mp4', 'clip_005.mp4'
        }
    assert sorted(ds.broken_files) == bad


@pytest.mark.parametrize('backend', BACKENDS)
def test_test_mode_stand_in(backend, videos):
    ann, root, bad = videos
    ds = build(ann, root, backend, test_mode=True)
    with pytest.raises(BrokenVideoError, match=f"cannot decode '{bad[0]}'"):
        ds[0]
    ds = build(ann, root, backend, test_mode=True, max_broken=3)
    ds.standins_enabled = True
    stand_in, clean = ds[0], ds[1]
    assert stand_in['data_samples'].metainfo[META_STANDIN] == bad[0]
    assert torch.equal(stand_in['inputs'], clean['inputs'])


@pytest.mark.parametrize('backend', BACKENDS)
def test_short_video_is_padded_and_flagged(backend, tmp_path):
    write_random_video(str(tmp_path / 'short.mp4'), num_frames=3)
    (tmp_path / 'a.txt').write_text('short.mp4 0\n')
    sample = build(str(tmp_path / 'a.txt'), str(tmp_path), backend)[0]
    assert sample['inputs'].shape == (1, 3, 8, 32, 32)
    assert sample['data_samples'].metainfo[META_PADDED] == dict(
        filename=str(tmp_path / 'short.mp4'), total_frames=3, clip_len=8)


@pytest.mark.parametrize('backend', BACKENDS)
def test_seeded_sample_is_the_same_whatever_the_rng(backend, videos):
    ann, root, _ = videos
    ds = build(ann, root, backend, max_broken=3)
    index = SeededIndex(1, seed=0, epoch=2)
    first = ds[index]['inputs']
    for outer in (1, 2):
        random.seed(outer)
        np.random.seed(outer)
        torch.manual_seed(outer)
        assert torch.equal(ds[index]['inputs'], first)


def test_backends_give_the_same_samples(videos):
    """Same frames decoded: same samples, augmentation included."""
    ann, root, _ = videos
    for test_mode in (False, True):
        datasets = [
            build(ann, root, b, max_broken=3, test_mode=test_mode)
            for b in BACKENDS
        ]
        for i in (1, 3, 5):
            index = SeededIndex(i, seed=0, epoch=1)
            a, b = (ds[index]['inputs'] for ds in datasets)
            assert torch.equal(a, b)


@pytest.mark.parametrize('backend', BACKENDS)
def test_check_on_init_probes_with_the_pipelines_backend(
        backend, videos, tmp_path):
    """check_on_init drops what the configured backend cannot decode: the
    broken files for both, the AV1 file only for decord (PyAV decodes it,
    and the pipeline then reads it)."""
    ann, root, bad = videos
    write_pyav_video(osp.join(root, 'av1.mp4'), 'libsvtav1', size=(64, 64))
    with open(ann, 'a') as f:
        f.write('av1.mp4 0\n')
    ds = build(
        ann, root, backend, test_mode=True, check_on_init=True, max_broken=4)
    assert ds.probe_backend == backend
    dropped = bad + [osp.join(root, 'av1.mp4')] if backend == 'decord' \
        else bad
    assert list(ds.broken_files) == dropped
    kept = [
        osp.basename(ds.get_data_info(i)['filename']) for i in range(len(ds))
    ]
    if backend == 'pyav':
        assert kept[-1] == 'av1.mp4'
        assert ds[len(ds) - 1]['inputs'].shape == (1, 3, 8, 32, 32)
    else:
        assert 'av1.mp4' not in kept
