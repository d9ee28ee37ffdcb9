"""``DefaultSampler`` whose indices carry the seed and epoch (exact resume).

Random data augmentation that runs in DataLoader workers draws from each
worker's running RNG. MMEngine does not store those RNG states in
checkpoints, and with ``persistent_workers=True`` they run on from epoch to
epoch, so a resumed run draws different crops, flips and frame offsets than
the uninterrupted run. :class:`DiSTSeededSampler` yields the same indices as
MMEngine's ``DefaultSampler`` as :class:`SeededIndex` objects that also carry
``(seed, epoch)``; datasets with
:class:`~projects.dist.datasets.seeded_augmentation.SeededAugmentationMixin`
seed each sample's augmentation from ``(seed, epoch, index)``. The random
numbers of a sample then depend on neither the worker that loads it nor the
history of that worker, and a resumed run repeats them exactly.
"""
from typing import Iterator

from mmengine.dataset import DefaultSampler

from mmaction.registry import DATA_SAMPLERS
from .seeded_index import SeededIndex


@DATA_SAMPLERS.register_module()
class DiSTSeededSampler(DefaultSampler):
    """MMEngine's ``DefaultSampler`` yielding :class:`SeededIndex` indices.

    Same arguments, same order of indices for a given ``seed``, epoch
    (``set_epoch``), rank and world size, same length and ``round_up``
    behaviour as ``DefaultSampler``. Each index additionally carries the
    sampler's ``seed`` and the current epoch. Use it as the training
    sampler::

        train_dataloader = dict(
            sampler=dict(type='DiSTSeededSampler', shuffle=True), ...)

    With a dataset that has no
    :class:`~projects.dist.datasets.seeded_augmentation.SeededAugmentationMixin`
    the extra attributes are ignored and it behaves as ``DefaultSampler``.

    Args:
        dataset (Sized): The dataset.
        shuffle (bool): Shuffle the indices with ``seed + epoch``.
            Defaults to True.
        seed (int, optional): Shuffling and augmentation seed, the same on
            all ranks; None draws one and synchronises it across ranks.
            The Runner passes ``randomness.seed``. Defaults to None.
        round_up (bool): Pad the indices so that every rank gets the same
            number. Defaults to True.
    """

    def __iter__(self) -> Iterator[SeededIndex]:
        """Iterate this rank's indices of the current epoch.

        Returns:
            Iterator[SeededIndex]: ``DefaultSampler``'s indices, each
            carrying ``(self.seed, self.epoch)``.
        """
        seed, epoch = self.seed, self.epoch
        return iter([
            SeededIndex(index, seed=seed, epoch=epoch)
            for index in super().__iter__()
        ])
