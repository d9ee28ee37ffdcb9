"""SeededAugmentationMixin: augmentation seeded from (seed, epoch, index)."""
import random

import numpy as np
import pytest
import torch
from mmengine.dataset import BaseDataset, ConcatDataset, RepeatDataset
from torch.utils.data import DataLoader

from projects.dist.datasets import (DiSTRobustVideoDataset,
                                    DiSTSyntheticMotionDataset)
from projects.dist.datasets.samplers import DiSTSeededSampler, SeededIndex
from projects.dist.datasets.seeded_augmentation import (
    SeededAugmentationMixin, seeded_global_rngs)


def draw_all() -> tuple:
    """One draw from each global RNG: (python, numpy, torch)."""
    return (random.random(), float(np.random.rand()), float(torch.rand(1)))


def rng_states() -> tuple:
    return (random.getstate(), np.random.get_state()[1].tobytes(),
            torch.get_rng_state().numpy().tobytes())


class _Augment:
    """A 'transform' that records one draw of every global RNG."""

    def __call__(self, results: dict) -> dict:
        results['draws'] = draw_all()
        return results


class _DropBroken:
    """Returns None for broken samples after drawing a variable amount."""

    def __init__(self, broken: set, burn: list) -> None:
        self.broken = broken
        self.burn = burn  # how many numbers a failed attempt draws

    def __call__(self, results: dict):
        if results['sample'] in self.broken:
            np.random.rand(self.burn[0])
            random.random()
            return None
        return results


class _Toy(SeededAugmentationMixin, BaseDataset):

    def __init__(self, n: int = 8, broken=(), burn=None, **kwargs) -> None:
        self.n = n
        self.burn = [1] if burn is None else burn
        pipeline = [_DropBroken(set(broken), self.burn), _Augment()]
        super().__init__(pipeline=pipeline, serialize_data=False, **kwargs)

    def load_data_list(self) -> list:
        return [dict(sample=i) for i in range(self.n)]


def test_seeded_global_rngs_seeds_and_restores():
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    before = rng_states()
    with seeded_global_rngs(3, 0, 5):
        first = draw_all()
    assert rng_states() == before
    draw_all()  # move the outer streams on
    with seeded_global_rngs(3, 0, 5):
        assert draw_all() == first
    with seeded_global_rngs(3, 1, 5):
        assert draw_all() != first
    with pytest.raises(KeyError):
        with seeded_global_rngs(3, 0, 5):
            draw_all()
            raise KeyError('inside')
    draw_all()
    assert rng_states() != before  # restored, then advanced by us only


def test_seeded_index_gives_the_same_augmentation_whatever_the_rng():
    data = _Toy()
    idx = SeededIndex(4, seed=0, epoch=2)
    np.random.seed(0)
    first = data[idx]['draws']
    for outer_seed in (1, 2):
        random.seed(outer_seed)
        np.random.seed(outer_seed)
        torch.manual_seed(outer_seed)
        before = rng_states()
        assert data[idx]['draws'] == first
        # no side effect on the caller's RNGs (num_workers=0)
        assert rng_states() == before
    assert data[SeededIndex(4, seed=0, epoch=3)]['draws'] != first
    assert data[SeededIndex(4, seed=1, epoch=2)]['draws'] != first
    assert data[SeededIndex(5, seed=0, epoch=2)]['draws'] != first


def test_plain_int_index_uses_the_global_rngs_as_before():
    data = _Toy()
    np.random.seed(0)
    random.seed(0)
    torch.manual_seed(0)
    first = data[4]['draws']
    assert data[4]['draws'] != first  # the running streams moved on
    np.random.seed(0)
    random.seed(0)
    torch.manual_seed(0)
    assert data[4]['draws'] == first


def test_replacement_of_a_broken_sample_is_deterministic():
    # sample 4 is broken; how many numbers its failed attempt draws must
    # not change which sample replaces it nor that sample's augmentation
    results = []
    for burn in (1, 17):
        data = _Toy(broken={4}, burn=[burn])
        np.random.seed(burn)
        results.append(data[SeededIndex(4, seed=0, epoch=1)])
    assert results[0]['sample'] != 4
    assert results[0] == results[1]
    # another epoch draws another replacement sequence
    other = [
        _Toy(broken={4})[SeededIndex(4, seed=0, epoch=e)]['draws']
        for e in range(2, 5)
    ]
    assert results[0]['draws'] not in other


def test_wrappers_pass_the_seeding_on():
    parts = [_Toy(n=3), _Toy(n=5)]
    concat = ConcatDataset(parts)
    idx = SeededIndex(6, seed=0, epoch=0)  # sample 3 of the second part
    got = concat[idx]
    assert got['sample'] == 3
    assert got == concat[SeededIndex(6, seed=0, epoch=0)]
    # seeded by the drawn index 6, not by the local index 3
    assert got['draws'] != parts[1][SeededIndex(3, seed=0, epoch=0)]['draws']
    assert got['draws'] == parts[1][SeededIndex(3, seed=0, epoch=0,
                                                key=6)]['draws']
    repeat = RepeatDataset(_Toy(n=4), times=2)
    a, b = (repeat[SeededIndex(i, seed=0, epoch=0)] for i in (1, 5))
    assert a['sample'] == b['sample'] == 1 and a['draws'] != b['draws']


@pytest.mark.parametrize('num_workers,persistent', [(0, False), (2, True)])
def test_dataloader_result_independent_of_workers(num_workers, persistent):
    data = _Toy(n=10)
    sampler = DiSTSeededSampler(data, shuffle=True, seed=0)
    loader = DataLoader(
        data,
        batch_size=3,
        sampler=sampler,
        num_workers=num_workers,
        persistent_workers=persistent,
        collate_fn=list)
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        got = [(d['sample'], d['draws']) for batch in loader for d in batch]
        # fetched one by one in this process, without a DataLoader
        reference = DiSTSeededSampler(data, shuffle=True, seed=0)
        reference.set_epoch(epoch)
        expected = [(int(i), data[i]['draws']) for i in reference]
        assert got == expected


@pytest.mark.parametrize('cls',
                         [DiSTRobustVideoDataset, DiSTSyntheticMotionDataset])
def test_dist_datasets_use_the_mixin_first(cls):
    # the mixin must come before BaseDataset in the MRO to wrap __getitem__
    mro = cls.__mro__
    assert mro.index(SeededAugmentationMixin) < mro.index(BaseDataset)
