"""Tests of projects/dist_tools/benchmark/data.py: synthetic batches and
the config's dataloaders (--real-data)."""
import pytest
import torch

from projects.dist_tools.benchmark import data, run
from tests.video_utils import write_video_list


def test_synthetic_batches_cycle_a_few_batches(num_classes):
    batches = data.synthetic_batches((3, 8, 32, 32), 2, 3, num_classes,
                                     torch.device('cpu'),
                                     torch.Generator().manual_seed(0))
    first, second, third = next(batches), next(batches), next(batches)
    assert third is first and second is not first  # made once, reused
    assert [x.shape for x in first['inputs']] == [(3, 3, 8, 32, 32)] * 2
    assert all(x.dtype == torch.uint8 for x in first['inputs'])
    labels = [int(s.gt_label) for s in first['data_samples']]
    assert all(0 <= label < num_classes for label in labels)


def test_real_data_reports_data_time(tmp_path, write_config, num_classes):
    ann = write_video_list(
        str(tmp_path), 2, num_classes, 'ann.txt', num_frames=10, size=(40, 36))
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
    cfg = write_config(extra)
    results = run.main([
        cfg, '--device', 'cpu', '--threads', '1', '--iters', '2', '--warmup',
        '1', '--batch-size', '2', '--real-data', '--modes', 'train,test'
    ])
    for r in results:
        assert r['data'] == 'real'
        assert r['data_time_s'] > 0
        assert r['clips_per_iter'] == 2


def test_real_data_without_loader_raises(write_config):
    cfg = write_config()
    with pytest.raises(ValueError, match='needs test_dataloader'):
        run.main([cfg, '--device', 'cpu', '--real-data'])
