"""Tests of DiSTRobustVideoDataset: broken videos are skipped, counted,
reported once and capped; a tiny training run survives 10 % corrupt files."""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from mmaction.registry import DATASETS
from mmengine.config import Config
from mmengine.runner import Runner

from projects.dist.datasets import robust_video_dataset as rvd
from projects.dist.datasets.robust_video_dataset import (
    META_BROKEN, META_PADDED, META_STANDIN, AnnotationListError,
    BrokenVideoError, DiSTRobustVideoDataset, is_padded, read_annotation_list)
from tests.helpers import REPO_ROOT, load_tool
from tests.video_utils import make_videos, write_random_video

TINY_MODEL = osp.join(REPO_ROOT, 'configs', '_base_', 'models', 'dist_tiny.py')
CLASS_NAMES = ['moving left', 'moving right', 'growing', 'shrinking']
PIPELINE = [
    dict(type='DecordInit'),
    dict(type='UniformSample', clip_len=8, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs', meta_keys=('img_shape', 'filename'))
]
TEST_PIPELINE = [
    dict(type='DecordInit'),
    dict(type='UniformSample', clip_len=8, num_clips=1, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]


def load_check_videos():
    """Import ``tools/misc/check_videos.py`` (tools/ is not a package)."""
    return load_tool('misc/check_videos.py')


def build(ann: str, root: str, **kwargs) -> DiSTRobustVideoDataset:
    """Build the dataset through the registry (as a config would)."""
    cfg = dict(
        type='DiSTRobustVideoDataset',
        ann_file=ann,
        data_prefix=dict(video=root),
        pipeline=copy.deepcopy(
            TEST_PIPELINE if kwargs.get('test_mode') else PIPELINE))
    cfg.update(kwargs)
    return DATASETS.build(cfg)


@pytest.fixture
def warnings_log(monkeypatch):
    """Collect the messages the dataset logs."""
    messages = []
    monkeypatch.setattr(rvd, 'print_log',
                        lambda msg, **kw: messages.append(msg))
    return messages


def test_broken_sample_is_replaced_counted_and_warned_once(
        videos, warnings_log):
    ann, root, bad = videos
    ds = build(ann, root, max_broken=3)
    np.random.seed(0)
    for _ in range(2):  # the second pass must not warn again
        for idx in (0, 2, 4):
            sample = ds[idx]
            assert sample['inputs'].shape == (1, 3, 8, 32, 32)
            assert osp.basename(sample['data_samples'].filename) in {
                'clip_001.mp4', 'clip_003.mp4', 'clip_005.mp4'
            }
    assert sorted(ds.broken_files) == bad
    warned = [m for m in warnings_log if 'skipping undecodable' in m]
    assert len(warned) == 3
    for path in bad:
        assert sum(path in msg for msg in warned) == 1


def test_known_broken_file_is_not_decoded_again(videos, monkeypatch):
    ann, root, _ = videos
    ds = build(ann, root, max_broken=3)
    assert ds.prepare_data(0) is None
    calls = []
    original = ds._apply_pipeline
    monkeypatch.setattr(ds, '_apply_pipeline',
                        lambda d: calls.append(d['filename']) or original(d))
    assert ds.prepare_data(0) is None
    assert calls == []


def test_ceiling_count_raises_one_summary(videos):
    ann, root, bad = videos
    ds = build(ann, root, max_broken=1)
    assert ds.prepare_data(0) is None  # no replacement drawn here
    with pytest.raises(BrokenVideoError) as info:
        ds.prepare_data(2)
    msg = str(info.value)
    assert '2 of 6 videos' in msg and 'max_broken=1' in msg
    assert bad[0] in msg and bad[1] in msg
    assert 'check_videos.py' in msg


def test_ceiling_fraction_rounds_down(videos):
    ann, root, _ = videos
    assert build(ann, root, max_broken=0.5).broken_ceiling() == 3
    assert build(ann, root, max_broken=0.4).broken_ceiling() == 2
    ds = build(ann, root, max_broken=0.0)
    with pytest.raises(BrokenVideoError, match='1 of 6 videos'):
        ds[0]


@pytest.mark.parametrize('value, exc', [(-1, ValueError), (1.5, ValueError),
                                        ('5%', TypeError), (True, TypeError)])
def test_bad_ceiling_is_rejected(videos, value, exc):
    ann, root, _ = videos
    with pytest.raises(exc, match=f'max_broken .* got {value!r}'):
        build(ann, root, max_broken=value)


def test_test_mode_raises_naming_the_file(videos):
    ann, root, bad = videos
    ds = build(ann, root, test_mode=True)
    assert ds[1]['inputs'].shape == (1, 3, 8, 32, 32)
    with pytest.raises(BrokenVideoError, match=f"cannot decode '{bad[0]}'"):
        ds[0]


def test_check_on_init_drops_unreadable_files(videos, warnings_log):
    ann, root, bad = videos
    ds = build(ann, root, test_mode=True, check_on_init=True, max_broken=3)
    assert len(ds) == 3
    assert [osp.basename(ds.get_data_info(i)['filename']) for i in range(3)
            ] == ['clip_001.mp4', 'clip_003.mp4', 'clip_005.mp4']
    assert list(ds.broken_files) == bad
    assert any('dropped 3 unreadable of 6' in m for m in warnings_log)
    with pytest.raises(BrokenVideoError, match='3 of 6 videos'):
        build(ann, root, check_on_init=True, max_broken=2)


def test_errors_of_other_transforms_are_not_swallowed(videos):
    ann, root, _ = videos

    def buggy_transform(results):
        raise KeyError('imgs_typo')

    ds = build(ann, root)
    ds.pipeline.transforms.insert(3, buggy_transform)
    with pytest.raises(KeyError, match='imgs_typo'):
        ds[1]
    assert ds.broken_files == {}


def test_broken_list_file_collects_paths_from_dataloader_workers(
        videos, tmp_path):
    ann, root, bad = videos
    out = str(tmp_path / 'broken.txt')
    ds = build(ann, root, max_broken=3, broken_list_file=out)
    from mmengine.dataset import pseudo_collate
    loader = torch.utils.data.DataLoader(
        ds, batch_size=2, num_workers=2, collate_fn=pseudo_collate)
    seen = [s.filename for b in loader for s in b['data_samples']]
    assert len(seen) == 6 and not set(seen) & set(bad)
    with open(out) as f:
        assert sorted(set(f.read().split())) == sorted(bad)


def test_annotation_list_parsing(tmp_path):
    ann = tmp_path / 'a.txt'
    ann.write_text('a b.mp4 3\nc.mp4 1\n\nd.mp4 0\n')
    assert read_annotation_list(str(ann)) == [('a b.mp4', 3), ('c.mp4', 1),
                                              ('d.mp4', 0)]
    ann.write_text('x.mp4 1 4\n')
    assert read_annotation_list(
        str(ann), multi_class=True) == [('x.mp4', [1, 4])]
    ann.write_text('x.mp4 1\ny.mp4 cat\n')
    with pytest.raises(AnnotationListError, match=r"a.txt:2: labels \['cat'"):
        read_annotation_list(str(ann))


def test_annotation_lines_split_on_any_whitespace(tmp_path):
    ann = tmp_path / 'a.txt'
    ann.write_text('a b.mp4\t3\nc.mp4  1\ne.mp4 \t 2 \n')
    assert read_annotation_list(str(ann)) == [('a b.mp4', 3), ('c.mp4', 1),
                                              ('e.mp4', 2)]
    ann.write_text('x.mp4\t1  4\n')
    assert read_annotation_list(
        str(ann), multi_class=True) == [('x.mp4', [1, 4])]
    # a non-blank delimiter is still honoured
    ann.write_text('a b.mp4,3\n')
    assert read_annotation_list(str(ann), ',') == [('a b.mp4', 3)]


def test_double_space_and_tab_lists_find_existing_files(tmp_path):
    write_random_video(str(tmp_path / 'v.mp4'), num_frames=10)
    ann = tmp_path / 'a.txt'
    ann.write_text('v.mp4\t2\nv.mp4  3\n')
    ds = build(str(ann), str(tmp_path), test_mode=True, num_classes=4)
    assert [ds.get_data_info(i)['label'] for i in range(2)] == [2, 3]
    assert ds[1]['inputs'].shape == (1, 3, 8, 32, 32)
    assert ds.broken_files == {}


def test_missing_labels(tmp_path):
    ann = tmp_path / 'a.txt'
    ann.write_text('c.mp4 1\nd.mp4\n')
    with pytest.raises(
            AnnotationListError,
            match=r"a.txt:2: line 'd.mp4' has no label while"):
        read_annotation_list(str(ann))
    ann.write_text('c.mp4\nd.mp4\n')  # inference list: no label at all
    assert read_annotation_list(str(ann)) == [('c.mp4', -1), ('d.mp4', -1)]
    for kwargs in (dict(require_labels=True), dict(num_classes=4)):
        with pytest.raises(AnnotationListError, match=r'a.txt:1: .*no label'):
            read_annotation_list(str(ann), **kwargs)
    with pytest.raises(AnnotationListError, match=r'a.txt:1: .*no label'):
        build(str(ann), str(tmp_path), test_mode=True)


@pytest.mark.parametrize('line', ['x.mp4 7', 'x.mp4 -1', 'x.mp4\t4'])
def test_labels_out_of_range_name_file_line_and_class_count(tmp_path, line):
    ann = tmp_path / 'a.txt'
    ann.write_text(f'ok.mp4 0\n{line}\n')
    label = line.split()[-1]
    pattern = (rf'a.txt:2: label {label} .* out of range for num_classes=4;'
               r' expected a class id in 0..3')
    with pytest.raises(AnnotationListError, match=pattern):
        read_annotation_list(str(ann), num_classes=4)
    for test_mode in (False, True):  # at build time, not at the batch
        with pytest.raises(AnnotationListError, match=pattern):
            build(str(ann), str(tmp_path), test_mode=test_mode, num_classes=4)
    ann.write_text('x.mp4 1 9\n')
    with pytest.raises(AnnotationListError, match='label 9 .*num_classes=4'):
        read_annotation_list(str(ann), multi_class=True, num_classes=4)


def test_synthetic_dataset_checks_labels(tmp_path):
    from projects.dist.datasets import DiSTSyntheticMotionDataset
    (tmp_path / 'l.txt').write_text('a.mp4 0\nb.mp4 6\n')
    with pytest.raises(
            AnnotationListError, match='l.txt:2: label 6 .*num_classes=6'):
        DiSTSyntheticMotionDataset(
            ann_file='l.txt',
            pipeline=[],
            data_root=str(tmp_path),
            generate_if_missing=False,
            num_classes=6)


def _sample(sampler: dict, total_frames: int) -> dict:
    """Run a frame-sampling transform on a video of ``total_frames``."""
    from mmaction.registry import TRANSFORMS
    return TRANSFORMS.build(sampler)(
        dict(total_frames=total_frames, start_index=0))


@pytest.mark.parametrize('sampler, short, long', [
    (dict(type='UniformSample', clip_len=8, test_mode=True), 3, 10),
    (dict(type='UniformSample', clip_len=8), 5, 8),
    (dict(type='DiSTSegmentSample', clip_len=8, num_clips=3,
          test_mode=True), 7, 24),
    (dict(type='SampleFrames', clip_len=4, frame_interval=4,
          test_mode=True), 10, 16),
])
def test_is_padded(sampler, short, long):
    np.random.seed(0)
    assert is_padded(_sample(sampler, short))
    assert not is_padded(_sample(sampler, long))
    assert not is_padded(dict(total_frames=3))  # not sampled yet


def test_short_video_is_flagged_and_warned_once(tmp_path, warnings_log):
    write_random_video(str(tmp_path / 'short.mp4'), num_frames=3)
    write_random_video(str(tmp_path / 'long.mp4'), num_frames=10)
    ann = tmp_path / 'a.txt'
    ann.write_text('short.mp4 0\nlong.mp4 1\n')
    for test_mode in (True, False):
        ds = build(str(ann), str(tmp_path), test_mode=test_mode)
        first, again, long = ds[0], ds[0], ds[1]
        assert first['data_samples'].metainfo[META_PADDED] == dict(
            filename=str(tmp_path / 'short.mp4'), total_frames=3, clip_len=8)
        assert META_PADDED in again['data_samples'].metainfo
        assert META_PADDED not in long['data_samples'].metainfo
    warned = [m for m in warnings_log if 'short.mp4 has 3 frames' in m]
    assert len(warned) == 2  # once per dataset (process), not per sample
    assert not any('long.mp4' in m for m in warnings_log)


def test_test_mode_stand_in_is_flagged(videos):
    ann, root, bad = videos
    ds = build(ann, root, test_mode=True)
    with pytest.raises(BrokenVideoError, match='DiSTSkipBrokenMetric'):
        ds[0]
    ds = build(ann, root, test_mode=True, max_broken=3)
    ds.standins_enabled = True  # what DiSTVideoReportHook sets
    clean = ds[1]
    stand_in = ds[0]  # clip_000 is truncated: clip_001 stands in
    meta = stand_in['data_samples'].metainfo
    assert meta[META_STANDIN] == bad[0]
    assert [name for name, _ in meta[META_BROKEN]] == [bad[0]]
    assert torch.equal(stand_in['inputs'], clean['inputs'])
    assert META_STANDIN not in clean['data_samples'].metainfo
    # a known broken file: flagged again, but reported only once
    meta = ds[0]['data_samples'].metainfo
    assert meta[META_STANDIN] == bad[0] and META_BROKEN not in meta
    assert ds[2]['data_samples'].metainfo[META_STANDIN] == bad[1]


def test_training_reports_broken_files_in_the_next_sample(videos):
    ann, root, bad = videos
    ds = build(ann, root, max_broken=3)
    ds.report_hook_attached = True
    assert ds.prepare_data(0) is None and ds.prepare_data(2) is None
    meta = ds.prepare_data(1)['data_samples'].metainfo
    assert [name for name, _ in meta[META_BROKEN]] == bad[:2]
    assert META_BROKEN not in ds.prepare_data(1)['data_samples'].metainfo
    # the hook enforces the ceiling job-wide: no local stop
    ds = build(ann, root, max_broken=0)
    ds.report_hook_attached = True
    assert ds.prepare_data(0) is None


def _runner_cfg(work_dir: str, ann: str, root: str, **train_set) -> Config:
    """Tiny DiST + train/test loaders over ``ann`` (2 workers each)."""
    cfg = Config.fromfile(TINY_MODEL)
    cfg.model.cls_head.num_classes = len(CLASS_NAMES)
    cfg.model.cls_head.class_names = list(CLASS_NAMES)

    def loader(shuffle: bool, **dataset) -> dict:
        return dict(
            batch_size=4,
            num_workers=2,
            persistent_workers=False,
            sampler=dict(type='DefaultSampler', shuffle=shuffle),
            dataset=dict(
                type='DiSTRobustVideoDataset',
                ann_file=ann,
                data_prefix=dict(video=root),
                **dataset))

    cfg.merge_from_dict(
        dict(
            default_scope='mmaction',
            work_dir=work_dir,
            train_dataloader=loader(True, pipeline=PIPELINE, **train_set),
            test_dataloader=loader(
                False,
                pipeline=TEST_PIPELINE,
                test_mode=True,
                check_on_init=True,
                max_broken=0.1),
            test_evaluator=dict(type='AccMetric'),
            test_cfg=dict(type='TestLoop'),
            train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=1),
            optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
            default_hooks=dict(
                checkpoint=dict(type='CheckpointHook', interval=1),
                logger=dict(type='LoggerHook', interval=1)),
            randomness=dict(seed=0),
            env_cfg=dict(dist_cfg=dict(backend='gloo')),
            log_level='WARNING'))
    cfg.experiment_name = osp.basename(work_dir)
    return cfg


def test_training_survives_ten_percent_broken_videos(tmp_path, monkeypatch):
    """Done-when 2: the run finishes, reports exactly the broken files,
    check_videos.py lists the same files, and evaluation over a list with
    broken files equals evaluation over the clean list."""
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')  # load_from
    root = str(tmp_path / 'videos')
    ann, bad = make_videos(root, 20, {4: 'truncated', 15: 'garbage'})
    report = str(tmp_path / 'broken_in_training.txt')
    cfg = _runner_cfg(
        str(tmp_path / 'work'),
        ann,
        root,
        max_broken=0.1,
        broken_list_file=report)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 5  # 20 / 4: every batch was full
    with open(report) as f:
        reported = sorted(set(f.read().split()))
    assert reported == sorted(bad)

    # check_videos.py lists exactly the files the training skipped
    check_videos = load_check_videos()
    listed = str(tmp_path / 'bad.txt')
    assert check_videos.main([ann, root, '--out', listed]) == 1
    with open(listed) as f:
        assert sorted(f.read().split()) == reported

    # evaluation: the broken files are dropped, the rest is scored as if
    # the list were clean
    metrics = runner.test()
    clean = str(tmp_path / 'clean.txt')
    check_videos.main([ann, root, '--out-clean', clean])
    clean_cfg = _runner_cfg(str(tmp_path / 'work_clean'), clean, root)
    clean_cfg.load_from = osp.join(str(tmp_path / 'work'), 'epoch_1.pth')
    clean_metrics = Runner.from_cfg(clean_cfg).test()
    assert metrics == clean_metrics
    test_set = runner.test_dataloader.dataset
    assert len(test_set) == 18 and sorted(test_set.broken_files) == reported


# ---------------------------------------------------------------- job-wide
def _job_cfg(work_dir: str,
             train_ann: str,
             root: str,
             val: tuple = None,
             num_workers: int = 2,
             shuffle: bool = True,
             max_epochs: int = 1,
             **train_set) -> Config:
    """Tiny DiST trained on ``train_ann`` with DiSTVideoReportHook; with
    ``val = (ann, root)`` validated after each epoch through
    DiSTSkipBrokenMetric."""
    cfg = Config.fromfile(TINY_MODEL)
    cfg.model.cls_head.num_classes = len(CLASS_NAMES)
    cfg.model.cls_head.class_names = list(CLASS_NAMES)

    def loader(ann, prefix, pipeline, shuffle, **dataset) -> dict:
        return dict(
            batch_size=2,
            num_workers=num_workers,
            persistent_workers=False,
            sampler=dict(type='DefaultSampler', shuffle=shuffle),
            dataset=dict(
                type='DiSTRobustVideoDataset',
                ann_file=ann,
                data_prefix=dict(video=prefix),
                num_classes=len(CLASS_NAMES),
                pipeline=copy.deepcopy(pipeline),
                **dataset))

    cfg.merge_from_dict(
        dict(
            default_scope='mmaction',
            work_dir=work_dir,
            train_dataloader=loader(train_ann, root, PIPELINE, shuffle,
                                    **train_set),
            train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=max_epochs),
            optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
            custom_hooks=[dict(type='DiSTVideoReportHook')],
            default_hooks=dict(
                checkpoint=dict(type='CheckpointHook', interval=1),
                logger=dict(type='LoggerHook', interval=1)),
            randomness=dict(seed=0),
            env_cfg=dict(dist_cfg=dict(backend='gloo')),
            log_level='WARNING'))
    if val is not None:
        cfg.merge_from_dict(
            dict(
                val_dataloader=loader(
                    *val, TEST_PIPELINE, False, test_mode=True,
                    max_broken=0.2),
                val_evaluator=dict(
                    type='DiSTSkipBrokenMetric',
                    metric=dict(type='AccMetric')),
                val_cfg=dict(type='ValLoop')))
    cfg.experiment_name = osp.basename(work_dir)
    return cfg


def _log_text(work_dir: str) -> str:
    import glob
    return ''.join(
        open(p).read()
        for p in glob.glob(osp.join(work_dir, '**', '*.log'), recursive=True))


def test_training_with_unreadable_validation_videos_completes_and_reports(
        tmp_path, monkeypatch):
    """Done-when 3a: validation survives 2 unreadable of 12 videos, names
    them, and scores the other 10 as a clean list would."""
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')  # load_from
    train_ann, _ = make_videos(str(tmp_path / 'train'), 8, {})
    val_root = str(tmp_path / 'val')
    val_ann, bad = make_videos(val_root, 12, {3: 'truncated', 8: 'missing'})
    # one 3-frame video per list: its 8-frame clips repeat frames
    short_train = write_random_video(
        str(tmp_path / 'train' / 'clip_006.mp4'), seed=6, num_frames=3)
    short_val = write_random_video(
        osp.join(val_root, 'clip_010.mp4'), seed=10, num_frames=3)
    work = str(tmp_path / 'work')
    runner = Runner.from_cfg(
        _job_cfg(
            work, train_ann, str(tmp_path / 'train'), val=(val_ann, val_root)))
    runner.train()
    assert runner.epoch == 1 and osp.isfile(osp.join(work, 'epoch_1.pth'))
    log = _log_text(work)
    assert '2 of 12 videos skipped' in log
    for path in bad:
        assert path in log
    for what, short, total in (('epoch 1', short_train, 8), ('validation',
                                                             short_val, 12)):
        assert log.count(f'video {short} has 3 frames, fewer than the 8') \
            == 1
        assert (f"{what}: 1 of {total} videos are shorter than the sampled "
                f"frame count and were padded by repeating frames: "
                f"['{short}']") in log
    metrics = runner.val()

    clean_ann = str(tmp_path / 'clean.txt')
    with open(val_ann) as f, open(clean_ann, 'w') as out:
        out.writelines(
            line for line in f if osp.join(val_root,
                                           line.split()[0]) not in bad)
    clean_cfg = _job_cfg(
        str(tmp_path / 'work_clean'),
        train_ann,
        str(tmp_path / 'train'),
        val=(clean_ann, val_root))
    clean_cfg.load_from = osp.join(work, 'epoch_1.pth')
    assert metrics == Runner.from_cfg(clean_cfg).val()


def test_broken_ceiling_is_job_wide_with_4_workers(tmp_path):
    """Done-when 3b: 4 of 40 files missing (10 %), max_broken=5 % (2
    files), 4 workers that each meet about one: the run stops in epoch 1.
    """
    root = str(tmp_path / 'videos')
    ann, bad = make_videos(root, 40, {i: 'missing' for i in (5, 15, 25, 35)})
    work = str(tmp_path / 'work')
    runner = Runner.from_cfg(
        _job_cfg(
            work, ann, root, num_workers=4, max_epochs=2, max_broken=0.05))
    with pytest.raises(BrokenVideoError) as info:
        runner.train()
    msg = str(info.value)
    assert 'counted over all workers and ranks' in msg
    assert 'more than max_broken=0.05 allows (2)' in msg
    assert any(f'{n} of 40 videos' in msg for n in (3, 4))
    assert sum(path in msg for path in bad) >= 3
    assert runner.epoch == 0
    assert not osp.exists(osp.join(work, 'epoch_1.pth'))


def _ceiling_rank(rank: int, init_file: str, ann: str, root: str,
                  out_dir: str) -> None:
    import json

    import torch.distributed as dist
    torch.set_num_threads(1)
    dist.init_process_group(
        'gloo', init_method=f'file://{init_file}', rank=rank, world_size=2)
    try:
        # launcher 'none' over the initialised group: the sampler, the
        # hook's all-reduce and the metric's gather use both ranks
        cfg = _job_cfg(
            osp.join(out_dir, f'work{rank}'),
            ann,
            root,
            num_workers=1,
            shuffle=False,
            max_epochs=2,
            max_broken=0.05)
        runner = Runner.from_cfg(cfg)
        outcome = dict(error=None)
        try:
            runner.train()
        except Exception as exc:  # reported to the parent
            outcome = dict(error=type(exc).__name__, message=str(exc))
        outcome['epoch'] = runner.epoch
        with open(osp.join(out_dir, f'rank{rank}.json'), 'w') as f:
            json.dump(outcome, f)
    finally:
        dist.destroy_process_group()


def test_broken_ceiling_is_job_wide_with_2_gloo_ranks(tmp_path):
    """Done-when 3b: each of 2 ranks (1 worker each) meets 2 of the 4
    missing files, which a per-process count (limit 2) tolerates; the
    job-wide count stops both ranks in epoch 1."""
    import json

    import torch.multiprocessing as mp
    root = str(tmp_path / 'videos')
    # unshuffled, rank r reads indices r, r + 2, ...: 2 missing each
    ann, bad = make_videos(root, 40, {i: 'missing' for i in (4, 5, 14, 15)})
    mp.start_processes(
        _ceiling_rank,
        args=(str(tmp_path / 'pg_init'), ann, root, str(tmp_path)),
        nprocs=2,
        join=True,
        start_method='fork'
        if 'fork' in mp.get_all_start_methods() else 'spawn')
    for rank in range(2):
        with open(tmp_path / f'rank{rank}.json') as f:
            outcome = json.load(f)
        assert outcome['error'] == 'BrokenVideoError', outcome
        assert 'counted over all workers and ranks' in outcome['message']
        assert '4 of 40 videos' in outcome['message']
        assert outcome['epoch'] == 0
