"""Seed each sample's random augmentation from (seed, epoch, index).

MMAction2 and MMCV transforms draw from the global RNGs of the process that
runs them: python ``random``, ``numpy.random`` and ``torch``. In DataLoader
workers those are running streams that MMEngine neither resets per epoch
(with ``persistent_workers=True``) nor stores in checkpoints, so a resumed
run augments differently from an uninterrupted one. With
:class:`SeededAugmentationMixin` a dataset fetching a
:class:`~projects.dist.datasets.samplers.SeededIndex` (from
:class:`~projects.dist.datasets.samplers.DiSTSeededSampler`) runs the stock
``__getitem__`` with all three RNGs seeded from ``(seed, epoch, index)``
and puts the previous RNG states back afterwards. A sample's augmentation is
then a function of the seed, the epoch and the sample alone, whatever
``num_workers``, ``persistent_workers``, the worker or the rank.
"""
import random
from contextlib import contextmanager
from typing import Iterator, List, Optional

import numpy as np
import torch

from .samplers import SeededIndex

_UINT64 = 1 << 64
#: First key of the per-sample seeds of :class:`SeededAugmentationMixin`.
SAMPLE_STREAM = 1
#: First key of the per-iteration seeds of ``DiSTIterationSeedHook``.
ITERATION_STREAM = 2


def seed_global_rngs(*keys: int, cuda: bool = False) -> None:
    """Seed python ``random``, ``numpy.random`` and torch's CPU generator.

    The three seeds are derived from ``keys`` with
    ``numpy.random.SeedSequence``, so nearby keys (index 7 and 8, epoch 1
    and 2) give unrelated streams. Callers put a constant naming their use
    first (:data:`SAMPLE_STREAM`, ...), so that different uses never share
    a stream.

    Args:
        *keys (int): Integers identifying the draw, e.g.
            ``(SAMPLE_STREAM, seed, epoch, index, attempt)``. Negative
            values are taken modulo 2**64.
        cuda (bool): Also seed every CUDA device's generator (with torch's
            seed), if CUDA is initialised in this process. Defaults to
            False.
    """
    words = np.random.SeedSequence([k % _UINT64 for k in keys
                                    ]).generate_state(6, np.uint32)
    random.seed((int(words[0]) << 32) | int(words[1]))
    np.random.seed(words[2:4])
    torch_seed = (int(words[4]) << 32) | int(words[5])
    torch.random.default_generator.manual_seed(torch_seed)
    if cuda and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.manual_seed_all(torch_seed)


@contextmanager
def seeded_global_rngs(*keys: int) -> Iterator[None]:
    """Run a block with seeded global RNGs, then restore their states.

    Args:
        *keys (int): Passed to :func:`seed_global_rngs`.

    Yields:
        None: inside the block python ``random``, ``numpy.random`` and
        torch's CPU generator are seeded from ``keys``; on exit (also by an
        exception) they are back in their previous states.
    """
    py_state = random.getstate()
    np_state = np.random.get_state()
    torch_state = torch.random.default_generator.get_state()
    try:
        seed_global_rngs(*keys)
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.random.default_generator.set_state(torch_state)


class SeededAugmentationMixin:
    """Dataset mixin: per-sample RNG seeds for a
    :class:`~projects.dist.datasets.samplers.SeededIndex`.

    Put it before the MMEngine dataset class::

        class MyDataset(SeededAugmentationMixin, VideoDataset): ...

    ``dataset[i]`` with a :class:`SeededIndex` runs the stock
    ``BaseDataset.__getitem__(int(i))`` inside
    :func:`seeded_global_rngs` keyed by
    ``(SAMPLE_STREAM, i.seed, i.epoch, i.key, 0)``
    (``i.key`` is the index the sampler drew; it equals ``i`` unless a
    dataset wrapper mapped it). When the pipeline returns None (a broken
    video, a failed augmentation), MMEngine draws a replacement with
    ``_rand_another``; here each retry ``k`` first re-seeds the RNGs from
    ``(SAMPLE_STREAM, i.seed, i.epoch, i.key, k)``, so the
    replacement and its augmentation do not depend on how many random
    numbers the failed attempt drew either. A plain ``int`` index (stock
    ``DefaultSampler``, ``dataset[3]``) behaves exactly as without the
    mixin.

    Only transforms that draw from the global RNGs are covered; a transform
    holding its own generator object keeps its own stream. MMEngine's
    ``ConcatDataset`` and ``RepeatDataset`` pass the seeding on to the
    datasets they wrap (see :class:`SeededIndex`); a wrapper that looks
    indices up in a table (``ClassBalancedDataset``) passes plain ints and
    so switches it off.
    """

    #: ``[seed, epoch, index, attempt]`` of the fetch in progress, or None
    _seeded_draw: Optional[List[int]] = None

    def __getitem__(self, idx: int) -> dict:
        """Fetch and transform sample ``idx``.

        Args:
            idx (int | SeededIndex): Sample index.

        Returns:
            dict: The sample after the pipeline, as
            ``BaseDataset.__getitem__`` returns it.
        """
        if not isinstance(idx, SeededIndex):
            return super().__getitem__(idx)
        outer = self._seeded_draw
        self._seeded_draw = [idx.seed, idx.epoch, idx.key, 0]
        try:
            with seeded_global_rngs(SAMPLE_STREAM, *self._seeded_draw):
                return super().__getitem__(int(idx))
        finally:
            self._seeded_draw = outer

    def _rand_another(self) -> int:
        """Draw a replacement index (retry ``k`` re-seeded, see class doc).

        Returns:
            int: A random index in ``[0, len(self))``.
        """
        if self._seeded_draw is not None:
            self._seeded_draw[3] += 1
            seed_global_rngs(SAMPLE_STREAM, *self._seeded_draw)
        return super()._rand_another()
