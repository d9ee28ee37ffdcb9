"""DiSTSeededSampler: DefaultSampler's indices, each carrying seed/epoch."""
import pytest
import torch
from mmaction.registry import DATA_SAMPLERS
from mmengine.dataset import DefaultSampler
from torch.utils.data import DataLoader, Dataset

from projects.dist.datasets.samplers import DiSTSeededSampler, SeededIndex


class _Probe(Dataset):
    """Returns what arrived as the index: (type name, value, seed, epoch)."""

    def __len__(self) -> int:
        return 10

    def __getitem__(self, idx):
        return (type(idx).__name__, int(idx), getattr(idx, 'seed', None),
                getattr(idx, 'epoch', None))


@pytest.mark.parametrize('shuffle', [True, False])
@pytest.mark.parametrize('round_up', [True, False])
@pytest.mark.parametrize('world_size', [1, 3])
def test_same_indices_as_default_sampler(monkeypatch, shuffle, round_up,
                                         world_size):
    dataset = list(range(10))
    for rank in range(world_size):
        dist_info = (rank, world_size)
        monkeypatch.setattr(
            'mmengine.dataset.sampler.get_dist_info',
            lambda info=dist_info: info)
        ours = DiSTSeededSampler(
            dataset, shuffle=shuffle, seed=7, round_up=round_up)
        stock = DefaultSampler(
            dataset, shuffle=shuffle, seed=7, round_up=round_up)
        for epoch in (0, 1, 5):
            ours.set_epoch(epoch)
            stock.set_epoch(epoch)
            got = list(ours)
            assert got == list(stock), (rank, epoch)
            assert len(ours) == len(stock) == len(got)
            assert all(
                type(i) is SeededIndex and i.seed == 7 and i.epoch == epoch
                and i.key == i for i in got)


def test_shuffle_differs_between_epochs():
    sampler = DiSTSeededSampler(list(range(20)), shuffle=True, seed=0)
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first


def test_built_from_config_with_runner_seed():
    sampler = DATA_SAMPLERS.build(
        dict(type='DiSTSeededSampler', shuffle=True),
        default_args=dict(dataset=list(range(4)), seed=3))
    assert type(sampler) is DiSTSeededSampler and sampler.seed == 3


@pytest.mark.parametrize('num_workers,persistent', [(0, False), (1, True)])
def test_indices_reach_dataloader_workers(num_workers, persistent):
    sampler = DiSTSeededSampler(_Probe(), shuffle=True, seed=5)
    loader = DataLoader(
        _Probe(),
        batch_size=4,
        sampler=sampler,
        num_workers=num_workers,
        persistent_workers=persistent,
        collate_fn=list)
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        seen = [item for batch in loader for item in batch]
        expected = torch.randperm(
            10, generator=torch.Generator().manual_seed(5 + epoch)).tolist()
        assert seen == [('SeededIndex', i, 5, epoch) for i in expected]
