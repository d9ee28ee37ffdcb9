"""The synthetic motion-order generator: class orders, rendering, files."""
import json
import os.path as osp

import decord
import numpy as np
import pytest
import torch
from mmaction.datasets.transforms import UniformSample

# yapf: disable
from projects.dist.datasets.synthetic_motion import (SYNTHETIC_MOTION_CLASSES,
                                                     SyntheticMotionGenerator,
                                                     render_clip,
                                                     sample_appearance,
                                                     visiting_order,
                                                     write_random_clip_weights,
                                                     write_video)
# yapf: enable
from projects.dist.models.backbones.clip_visual import DiSTCLIPVisual
from projects.dist.models.heads.clip_text import DiSTCLIPText
from tests.helpers import REPO_ROOT, tiny_clip_arch

TINY_ARCH = tiny_clip_arch()


def _runs(order: np.ndarray) -> list:
    """Directions (+1 right, -1 left) of the maximal monotone runs."""
    steps = np.sign(np.diff(order))
    runs = [steps[0]]
    for s in steps[1:]:
        if s != runs[-1]:
            runs.append(s)
    return runs


@pytest.mark.parametrize('num_frames', [6, 8, 16, 17])
def test_every_class_visits_the_same_positions(num_frames):
    orders = [
        visiting_order(c, num_frames)
        for c in range(len(SYNTHETIC_MOTION_CLASSES))
    ]
    for order in orders:
        assert sorted(order.tolist()) == list(range(num_frames))
    # all orders differ: the label is in the order only
    assert len({tuple(o) for o in orders}) == len(orders)


@pytest.mark.parametrize('num_frames', [8, 16])
def test_orders_match_the_class_names(num_frames):
    expected = {
        'moving right': [1],
        'moving left': [-1],
        'moving right then left': [1, -1],
        'moving left then right': [-1, 1],
        'moving right, left, then right': [1, -1, 1],
        'moving left, right, then left': [-1, 1, -1],
    }
    for label, name in enumerate(SYNTHETIC_MOTION_CLASSES):
        assert _runs(visiting_order(label, num_frames)) == expected[name]


def test_visiting_order_rejects_bad_input():
    with pytest.raises(ValueError, match=r'label must be in \[0, 6\), got 6'):
        visiting_order(6, 8)
    with pytest.raises(
            ValueError,
            match=r'num_frames must be at least 6 '
            r'\(three sweeps of two frames\), got 5'):
        visiting_order(0, 5)


def _object_columns(frames: np.ndarray) -> np.ndarray:
    """Mean column of the bright object in each frame."""
    mask = frames.mean(axis=-1) > 125  # object >= 150, background < 100
    cols = np.arange(frames.shape[2])[None, None, :]
    return (mask * cols).sum(axis=(1, 2)) / mask.sum(axis=(1, 2))


def test_render_clip_draws_the_visiting_order():
    rng = np.random.default_rng(0)
    app = sample_appearance(rng, 32)
    for label in range(len(SYNTHETIC_MOTION_CLASSES)):
        frames = render_clip(label, app, np.random.default_rng(1), 8, 32)
        assert frames.shape == (9, 32, 32, 3) and frames.dtype == np.uint8
        cols = _object_columns(frames)
        order = visiting_order(label, 8)
        # the object's column ranks follow the positions' ranks
        assert np.array_equal(np.argsort(cols[:8]), np.argsort(order))
        assert cols[8] == pytest.approx(cols[7])  # the object stops


def test_a_clip_as_a_set_of_frames_does_not_tell_the_class():
    app = sample_appearance(np.random.default_rng(3), 32)
    sets = []
    for label in range(len(SYNTHETIC_MOTION_CLASSES)):
        frames = render_clip(label, app, np.random.default_rng(1), 8, 32)
        sets.append(sorted(_object_columns(frames[:8]).round(3)))
    assert all(s == sets[0] for s in sets)


def test_sample_appearance_varies_and_rejects_tiny_frames():
    apps = [sample_appearance(np.random.default_rng(i), 32) for i in range(20)]
    assert len({a['shape'] for a in apps}) > 1
    assert len({tuple(a['background']) for a in apps}) == 20
    with pytest.raises(
            ValueError, match='frame_size must be at least 16, '
            'got 8'):
        sample_appearance(np.random.default_rng(0), 8)


def test_write_video_is_read_back_by_decord(tmp_path):
    frames = render_clip(0, sample_appearance(np.random.default_rng(0)),
                         np.random.default_rng(0), 8, 32)
    path = str(tmp_path / 'a' / 'clip.mp4')
    write_video(frames, path)
    reader = decord.VideoReader(path)
    assert len(reader) == 9
    assert reader[0].shape == (32, 32, 3)
    with pytest.raises(ValueError, match='multiples of 32'):
        write_video(np.zeros((2, 48, 48, 3), np.uint8), path)
    with pytest.raises(ValueError, match='shape'):
        write_video(np.zeros((2, 32, 32), np.uint8), path)


def _generate(root, seed=0, **kwargs):
    gen = SyntheticMotionGenerator(
        str(root),
        dict(train=2, val=1, test=1),
        num_frames=8,
        seed=seed,
        **kwargs)
    return gen, gen.generate()


def test_generate_writes_lists_classes_and_meta(tmp_path):
    gen, out = _generate(tmp_path)
    with open(out['classes']) as f:
        assert tuple(f.read().splitlines()) == SYNTHETIC_MOTION_CLASSES
    for split, per_class in (('train', 2), ('val', 1), ('test', 1)):
        with open(out[split]) as f:
            lines = f.read().splitlines()
        labels = [int(line.split()[1]) for line in lines]
        assert sorted(labels) == sorted(list(range(6)) * per_class)
        for line in lines:
            assert osp.isfile(tmp_path / line.split()[0])
    with open(tmp_path / 'meta.json') as f:
        assert json.load(f) == gen.meta
    assert gen.is_complete()


def test_label_map_file_matches_the_generator():
    path = osp.join(REPO_ROOT, 'projects/dist/label_maps/synthetic_motion.txt')
    with open(path) as f:
        assert tuple(f.read().splitlines()) == SYNTHETIC_MOTION_CLASSES


def test_generation_is_deterministic_per_seed(tmp_path):
    _generate(tmp_path / 'a', seed=0)
    _generate(tmp_path / 'b', seed=0)
    _generate(tmp_path / 'c', seed=1)

    def frames(root):
        reader = decord.VideoReader(str(root / 'videos/train/000003.mp4'))
        return reader.get_batch(list(range(len(reader)))).asnumpy()

    assert np.array_equal(frames(tmp_path / 'a'), frames(tmp_path / 'b'))
    assert not np.array_equal(frames(tmp_path / 'a'), frames(tmp_path / 'c'))


def test_other_parameters_in_an_existing_root_are_refused(tmp_path):
    _generate(tmp_path, seed=0)
    other = SyntheticMotionGenerator(
        str(tmp_path), dict(train=2, val=1, test=1), num_frames=8, seed=5)
    with pytest.raises(ValueError, match='other parameters'):
        other.is_complete()


def test_generator_rejects_bad_parameters(tmp_path):
    with pytest.raises(ValueError, match="split must be one of .*'dev'"):
        SyntheticMotionGenerator(str(tmp_path), dict(dev=1))
    with pytest.raises(
            ValueError, match=r"num_per_class\['train'\] must be "
            '>= 1, got 0'):
        SyntheticMotionGenerator(str(tmp_path), dict(train=0))
    with pytest.raises(ValueError, match='multiple of 32, got 40'):
        SyntheticMotionGenerator(str(tmp_path), frame_size=40)


def test_test_mode_uniform_sample_takes_every_position_once(tmp_path):
    _generate(tmp_path)
    reader = decord.VideoReader(str(tmp_path / 'videos/test/000000.mp4'))
    sample = UniformSample(clip_len=8, num_clips=1, test_mode=True)
    out = sample(dict(total_frames=len(reader), start_index=0))
    assert out['frame_inds'].tolist() == list(range(8))


def test_random_clip_weights_are_seeded_and_load_strictly(tmp_path):
    a, b, c = (str(tmp_path / f'{n}.pth') for n in 'abc')
    assert write_random_clip_weights(a, TINY_ARCH, seed=0)
    assert not write_random_clip_weights(a, TINY_ARCH, seed=0)  # kept
    write_random_clip_weights(b, TINY_ARCH, seed=0)
    write_random_clip_weights(c, TINY_ARCH, seed=1)
    sa, sb, sc = (torch.load(p, weights_only=True) for p in (a, b, c))
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa['visual.conv1.weight'],
                           sc['visual.conv1.weight'])
    visual = DiSTCLIPVisual(arch=TINY_ARCH, pretrained=a)
    visual.init_weights()
    assert torch.equal(visual.visual.conv1.weight, sa['visual.conv1.weight'])
    text = DiSTCLIPText(arch=TINY_ARCH, pretrained=a)
    text.init_weights()
    assert torch.equal(text.text.text_projection, sa['text_projection'])
