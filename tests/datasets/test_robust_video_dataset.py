"""Tests of DiSTRobustVideoDataset: broken videos are skipped, counted,
reported once and capped; a tiny training run survives 10 % corrupt files."""
import copy
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmaction.registry import DATASETS
from projects.dist.datasets import robust_video_dataset as rvd
from projects.dist.datasets.robust_video_dataset import (
    AnnotationListError, BrokenVideoError, DiSTRobustVideoDataset,
    read_annotation_list)
from tests.video_utils import write_random_video

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
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
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'check_videos', osp.join(REPO_ROOT, 'tools', 'misc',
                                 'check_videos.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def corrupt(path: str, kind: str) -> None:
    """Damage a video in place: truncate, overwrite, empty or delete it."""
    with open(path, 'rb') as f:
        data = f.read()
    if kind == 'missing':
        os.remove(path)
        return
    new = dict(
        truncated=data[:len(data) // 2],
        garbage=bytes(
            np.random.default_rng(0).integers(
                0, 256, len(data), dtype=np.uint8)),
        empty=b'')[kind]
    with open(path, 'wb') as f:
        f.write(new)


def make_videos(root: str, num: int, broken: dict) -> tuple:
    """Write ``num`` clips and an annotation list; damage some of them.

    Args:
        root (str): Folder for the videos and ``ann.txt``.
        num (int): Number of clips.
        broken (dict[int, str]): Index -> kind of damage.

    Returns:
        tuple[str, list[str]]: The annotation list and the damaged paths.
    """
    os.makedirs(root, exist_ok=True)
    lines, bad = [], []
    for i in range(num):
        name = f'clip_{i:03d}.mp4'
        write_random_video(osp.join(root, name), seed=i, num_frames=10)
        lines.append(f'{name} {i % len(CLASS_NAMES)}')
        if i in broken:
            corrupt(osp.join(root, name), broken[i])
            bad.append(osp.join(root, name))
    ann = osp.join(root, 'ann.txt')
    with open(ann, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return ann, bad


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


@pytest.fixture
def videos(tmp_path):
    """Six clips: 0 truncated, 2 missing, 4 garbage; 1, 3, 5 fine."""
    ann, bad = make_videos(
        str(tmp_path), 6, {
            0: 'truncated',
            2: 'missing',
            4: 'garbage'
        })
    return ann, str(tmp_path), bad


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
    ann.write_text('a b.mp4 3\nc.mp4 1\n\nd.mp4\n')
    assert read_annotation_list(str(ann)) == [('a b.mp4', 3), ('c.mp4', 1),
                                              ('d.mp4', -1)]
    ann.write_text('x.mp4 1 4\n')
    assert read_annotation_list(
        str(ann), multi_class=True) == [('x.mp4', [1, 4])]
    ann.write_text('x.mp4 1\ny.mp4 cat\n')
    with pytest.raises(AnnotationListError, match=r"a.txt:2: labels \['cat'"):
        read_annotation_list(str(ann))


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
