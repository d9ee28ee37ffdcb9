"""SeededIndex: an int that carries (seed, epoch, key) through pickling."""
import pickle

import numpy as np

from projects.dist.datasets.samplers import SeededIndex


def test_behaves_as_its_int_value():
    idx = SeededIndex(5, seed=3, epoch=2)
    assert idx == 5 and hash(idx) == hash(5)
    assert list(range(10))[idx] == 5
    assert np.arange(10)[idx] == 5
    assert {5: 'x'}[idx] == 'x'
    assert (idx.seed, idx.epoch, idx.key) == (3, 2, 5)
    # other arithmetic gives plain numbers
    assert type(idx + 1) is int and idx + 1 == 6
    assert type(idx * 2) is int
    assert type(idx - 1.5) is float


def test_pickles_with_its_attributes():
    idx = SeededIndex(7, seed=-4, epoch=9, key=11)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(idx, protocol=protocol))
        assert type(back) is SeededIndex
        assert (int(back), back.seed, back.epoch, back.key) == (7, -4, 9, 11)


def test_wrapper_index_maps_keep_seed_epoch_and_key():
    # ConcatDataset maps with "-", RepeatDataset with "%"
    idx = SeededIndex(12, seed=1, epoch=4)
    for local, expected in ((idx - 10, 2), (idx % 5, 2)):
        assert type(local) is SeededIndex and local == expected
        assert (local.seed, local.epoch, local.key) == (1, 4, 12)
    assert type(idx - np.int64(2)) is not SeededIndex
