"""A sample index that carries the seed and epoch it was drawn for."""
from typing import Optional


class SeededIndex(int):
    """An ``int`` sample index that also carries ``(seed, epoch, key)``.

    :class:`~projects.dist.datasets.samplers.DiSTSeededSampler` yields these.
    Everywhere an index is used (list indexing, comparisons, hashing) it is
    the plain integer. Datasets with
    :class:`~projects.dist.datasets.seeded_augmentation.SeededAugmentationMixin`
    read ``seed``, ``epoch`` and ``key`` to seed the random augmentation of
    the sample. It pickles with its attributes, so it reaches DataLoader
    worker processes (persistent or not) through their index queues
    unchanged.

    ``key`` is the index the sampler drew. Dataset wrappers map that global
    index to a sub-dataset's local one with ``-`` (MMEngine's
    ``ConcatDataset``) or ``%`` (``RepeatDataset``); those two operators
    with an ``int`` return a :class:`SeededIndex` with the new value and
    the same ``seed``, ``epoch`` and ``key``, so the seeding reaches the
    wrapped dataset and stays unique per drawn index. Every other operation
    gives a plain ``int``.

    Args:
        value (int): The sample index.
        seed (int): The sampler's seed (the same on every rank).
        epoch (int): The epoch the index was drawn for.
        key (int, optional): The index as drawn by the sampler. Defaults
            to ``value``.

    Examples:
        >>> idx = SeededIndex(5, seed=0, epoch=2)
        >>> idx == 5, idx + 1, (idx.seed, idx.epoch, idx.key)
        (True, 6, (0, 2, 5))
        >>> idx - 3
        SeededIndex(2, seed=0, epoch=2, key=5)
    """

    seed: int
    epoch: int
    key: int

    def __new__(cls,
                value: int,
                seed: int,
                epoch: int,
                key: Optional[int] = None) -> 'SeededIndex':
        self = super().__new__(cls, value)
        self.seed = int(seed)
        self.epoch = int(epoch)
        self.key = int(value) if key is None else int(key)
        return self

    def __reduce__(self) -> tuple:
        """Pickle as ``SeededIndex(value, seed, epoch, key)``."""
        return type(self), (int(self), self.seed, self.epoch, self.key)

    def __repr__(self) -> str:
        return (f'SeededIndex({int(self)}, seed={self.seed}, '
                f'epoch={self.epoch}, key={self.key})')

    def _carry(self, value: object) -> object:
        """Wrap an ``int`` result with this index's seed, epoch and key."""
        if type(value) is int:
            return SeededIndex(value, self.seed, self.epoch, self.key)
        return value

    def __sub__(self, other: object) -> object:
        """``self - other``; an ``int`` result stays a SeededIndex."""
        return self._carry(int.__sub__(self, other))

    def __mod__(self, other: object) -> object:
        """``self % other``; an ``int`` result stays a SeededIndex."""
        return self._carry(int.__mod__(self, other))
