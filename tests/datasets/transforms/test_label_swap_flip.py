"""DiSTLabelSwapFlip: clip-wide flip that swaps SSv2 left/right labels."""
import numpy as np
import pytest
from mmaction.registry import TRANSFORMS

from projects.dist.datasets.transforms import (SSV2_FLIP_PAIRS,
                                               DiSTLabelSwapFlip)


def make_results(label, num_frames: int = 3) -> dict:
    """A 3-frame clip of distinct 4x5 RGB frames."""
    rng = np.random.default_rng(label if isinstance(label, int) else 0)
    imgs = [
        rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
        for _ in range(num_frames)
    ]
    return dict(
        imgs=imgs,
        label=label,
        img_shape=(4, 5),
        modality='RGB',
        original=[im.copy() for im in imgs])


def test_registered_with_ssv2_default():
    assert TRANSFORMS.get('DiSTLabelSwapFlip') is DiSTLabelSwapFlip
    flip = TRANSFORMS.build(dict(type='DiSTLabelSwapFlip'))
    assert flip.label_pairs == SSV2_FLIP_PAIRS == ((86, 87), (93, 94),
                                                   (166, 167))
    assert flip.flip_ratio == 0.5


def test_always_flip_swaps_exactly_the_pairs():
    flip = DiSTLabelSwapFlip(flip_ratio=1.0)
    expected = {86: 87, 87: 86, 93: 94, 94: 93, 166: 167, 167: 166}
    for label in range(174):
        res = flip(make_results(label))
        assert res['flip']
        assert res['label'] == expected.get(label, label), label
        # every frame mirrored left-right, none otherwise changed
        for out, orig in zip(res['imgs'], res['original']):
            assert np.array_equal(out, orig[:, ::-1])


def test_never_flip_keeps_label_and_pixels():
    flip = DiSTLabelSwapFlip(flip_ratio=0.0)
    res = flip(make_results(86))
    assert res['label'] == 86 and not res['flip']
    for out, orig in zip(res['imgs'], res['original']):
        assert np.array_equal(out, orig)


def test_half_of_the_clips_flip_consistently():
    np.random.seed(0)
    flip = DiSTLabelSwapFlip()
    flipped = 0
    for _ in range(400):
        res = flip(make_results(93))
        mirrored = [
            np.array_equal(out, orig[:, ::-1])
            for out, orig in zip(res['imgs'], res['original'])
        ]
        assert len(set(mirrored)) == 1  # all frames or none
        assert mirrored[0] == bool(res['flip'])
        assert res['label'] == (94 if res['flip'] else 93)
        flipped += mirrored[0]
    assert abs(flipped / 400 - 0.5) < 0.1


def test_numpy_label_is_accepted():
    res = DiSTLabelSwapFlip(flip_ratio=1.0)(make_results(np.int64(166)))
    assert res['label'] == 167 and isinstance(res['label'], int)


def test_custom_pairs():
    flip = DiSTLabelSwapFlip(label_pairs=[(0, 1)], flip_ratio=1.0)
    assert flip(make_results(1))['label'] == 0
    assert flip(make_results(86))['label'] == 86


@pytest.mark.parametrize('pairs,match', [
    ([(1, 1)], 'two different labels'),
    ([(1, 2, 3)], 'two ints'),
    ([(1, 2), (2, 3)], 'more than one pair'),
    ([(-1, 2)], 'out of range'),
    ([(0.5, 2)], 'two ints'),
])
def test_bad_pairs(pairs, match):
    with pytest.raises(ValueError, match=match):
        DiSTLabelSwapFlip(label_pairs=pairs)


def test_pairs_checked_against_num_classes():
    with pytest.raises(ValueError, match=r'num_classes \(100\)'):
        DiSTLabelSwapFlip(num_classes=100)
    DiSTLabelSwapFlip(num_classes=174)


def test_bad_flip_ratio_and_label():
    with pytest.raises(ValueError, match='flip_ratio'):
        DiSTLabelSwapFlip(flip_ratio=1.5)
    with pytest.raises(TypeError, match='single integer label'):
        DiSTLabelSwapFlip()(make_results([1, 2]))
