"""The DiST data pipelines of configs/_base_/datasets on tiny real videos.

The pipelines are taken unchanged from the dataset base configs (loaded with
MMEngine's Config); the videos are written here with OpenCV and read back by
decord, as in training.
"""
import copy
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmaction.registry import TRANSFORMS
from mmengine.config import Config
from mmengine.dataset import Compose

REPO_ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
DATASET_CFG_DIR = osp.join(REPO_ROOT, 'configs', '_base_', 'datasets')


def load_dataset_cfg(name: str) -> Config:
    """Load ``configs/_base_/datasets/<name>.py``."""
    return Config.fromfile(osp.join(DATASET_CFG_DIR, f'{name}.py'))


def write_video(path: str, num_frames: int = 20, size=(40, 32)) -> str:
    """Write a small colourful mp4 whose frame t is a constant hue ramp."""
    w, h = size
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 10, (w, h))
    assert writer.isOpened()
    xs = np.linspace(0, 255, w, dtype=np.float32)[None, :]
    for t in range(num_frames):
        frame = np.zeros((h, w, 3), np.uint8)
        frame[..., 0] = xs  # blue ramp left -> right
        frame[..., 1] = (t * 12) % 256  # green encodes time
        frame[..., 2] = 200
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope='module')
def video(tmp_path_factory) -> str:
    return write_video(str(tmp_path_factory.mktemp('vid') / 'clip.mp4'))


def run(pipeline_cfg: list, video: str, label: int = 3) -> dict:
    """Run a pipeline config on one video file."""
    pipeline = Compose(copy.deepcopy(pipeline_cfg))
    return pipeline(
        dict(filename=video, label=label, start_index=0, modality='RGB'))


@pytest.mark.parametrize('name', [
    'kinetics400_dist', 'kinetics700_dist', 'kinetics710_dist', 'sthv2_dist',
    'ucf101_dist', 'hmdb51_dist'
])
def test_train_pipeline_one_clip(name, video):
    cfg = load_dataset_cfg(name)
    assert cfg.num_frames == 16
    out = run(cfg.train_pipeline, video)
    # one view: (num_views, C, T_t, H, W)
    assert tuple(out['inputs'].shape) == (1, 3, cfg.num_frames, 224, 224)
    assert out['inputs'].dtype == torch.uint8
    assert out['data_samples'].gt_label.item() in (3, )


def test_val_and_test_views(video):
    cfg = load_dataset_cfg('kinetics400_dist')
    val = run(cfg.val_pipeline, video)
    assert tuple(val['inputs'].shape) == (1, 3, 16, 224, 224)
    test = run(cfg.test_pipeline, video)
    assert cfg.num_test_views == 3
    assert tuple(test['inputs'].shape) == (3, 3, 16, 224, 224)
    # the three views are different frames of the video (green = time)
    greens = test['inputs'][:, 1, :, 112, 112].float()  # (views, T)
    assert not torch.equal(greens[0], greens[1])
    assert not torch.equal(greens[1], greens[2])


def test_frame_count_override(tmp_path, video):
    # the recipe for a leaf config with another T_t (docs/data_preparation)
    leaf = tmp_path / 'leaf.py'
    leaf.write_text(
        f"_base_ = ['{osp.join(DATASET_CFG_DIR, 'kinetics400_dist.py')}']\n"
        'num_frames = 8\n'
        'train_pipeline, test_pipeline = (\n'
        '    [dict(s, clip_len=num_frames) if "clip_len" in s else s\n'
        '     for s in pipeline]\n'
        '    for pipeline in (_base_.train_pipeline, _base_.test_pipeline))\n'
        'train_dataloader = dict(dataset=dict(pipeline=train_pipeline))\n'
        'test_dataloader = dict(dataset=dict(pipeline=test_pipeline))\n')
    cfg = Config.fromfile(str(leaf))
    out = run(cfg.train_dataloader.dataset.pipeline, video)
    assert tuple(out['inputs'].shape) == (1, 3, 8, 224, 224)
    out = run(cfg.test_dataloader.dataset.pipeline, video)
    assert tuple(out['inputs'].shape) == (3, 3, 8, 224, 224)


def test_sthv2_train_pipeline_swaps_labels(video):
    cfg = load_dataset_cfg('sthv2_dist')
    types = [t['type'] for t in cfg.train_pipeline]
    assert 'Flip' not in types and 'DiSTLabelSwapFlip' in types
    np.random.seed(1)
    labels = set()
    for _ in range(12):
        labels.add(
            run(cfg.train_pipeline, video,
                label=86)['data_samples'].gt_label.item())
    assert labels == {86, 87}


def test_kinetics_train_pipeline_keeps_labels(video):
    cfg = load_dataset_cfg('kinetics400_dist')
    assert 'Flip' in [t['type'] for t in cfg.train_pipeline]
    for _ in range(4):
        out = run(cfg.train_pipeline, video, label=86)
        assert out['data_samples'].gt_label.item() == 86


def test_random_grayscale_rate_and_consistency():
    cfg = load_dataset_cfg('kinetics400_dist')
    gray_cfg = [
        t for t in cfg.train_pipeline if t.get('op') == 'RandomGrayscale'
    ]
    assert len(gray_cfg) == 1 and gray_cfg[0]['p'] == 0.2
    gray = TRANSFORMS.build(copy.deepcopy(gray_cfg[0]))
    rng = np.random.default_rng(0)
    clip = [rng.integers(0, 256, (6, 7, 3), dtype=np.uint8) for _ in range(4)]
    torch.manual_seed(0)
    trials, fired = 1000, 0
    for _ in range(trials):
        out = gray(dict(imgs=[f.copy() for f in clip]))['imgs']
        is_gray = [
            bool(
                np.all(f[..., 0] == f[..., 1])
                and np.all(f[..., 1] == f[..., 2])) for f in out
        ]
        assert len(set(is_gray)) == 1  # one decision for the whole clip
        if is_gray[0]:
            fired += 1
        else:
            assert all(np.array_equal(a, b) for a, b in zip(out, clip))
        assert out[0].shape == (6, 7, 3) and out[0].dtype == np.uint8
    # binomial(1000, 0.2): std 0.0126, so +-0.04 is over 3 sigma
    assert abs(fired / trials - 0.2) < 0.04


def test_blending_builds_mixup_and_cutmix():
    from mmaction.registry import MODELS
    cfg = load_dataset_cfg('sthv2_dist')
    blend = MODELS.build(copy.deepcopy(cfg.blending))
    assert [type(a).__name__
            for a in blend.augments] == ['MixupBlending', 'CutmixBlending']
    assert blend.probs is None  # one of the two on every batch, 50/50
    assert [a.num_classes for a in blend.augments] == [174, 174]


def test_kinetics710_concat_dataset_builds(tmp_path, video):
    from mmaction.registry import DATASETS
    cfg = load_dataset_cfg('kinetics710_dist')
    dataset_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    assert dataset_cfg.type == 'ConcatDataset'
    for i, sub in enumerate(dataset_cfg.datasets):
        ann = tmp_path / f'list{i}.txt'
        ann.write_text(f'{osp.basename(video)} {400 + i}\n')
        sub.ann_file = str(ann)
        sub.data_prefix = dict(video=osp.dirname(video))
    dataset = DATASETS.build(dataset_cfg)
    assert len(dataset) == 3
    for i in range(3):
        item = dataset[i]
        assert tuple(item['inputs'].shape) == (1, 3, 16, 224, 224)
        assert item['data_samples'].gt_label.item() == 400 + i
