"""Seed the training process's RNGs from (seed, iteration) every step.

Random operations in the training process itself (batch-level Mixup/CutMix
of the data preprocessor's ``blending``, dropout, drop-path) draw from the
global RNGs of that process. MMEngine seeds them once when the Runner
starts and does not store their states in checkpoints, so after
``--resume`` they continue from a fresh seed instead of from where the
uninterrupted run was. :class:`DiSTIterationSeedHook` re-seeds them before
every training iteration from ``(seed, iteration)``: what the iteration
draws then depends on neither what ran before it nor whether the run was
resumed.
"""
from typing import Optional

from mmengine.hooks import Hook

from mmaction.registry import HOOKS
from projects.dist.datasets.seeded_augmentation import (ITERATION_STREAM,
                                                        seed_global_rngs)


@HOOKS.register_module()
class DiSTIterationSeedHook(Hook):
    """Re-seed python/numpy/torch (and CUDA) RNGs before each train step.

    Before training iteration ``i`` (``runner.iter``, counted over the whole
    run, so the same after a resume) python ``random``, ``numpy.random``,
    torch's CPU generator and, if CUDA is initialised, every CUDA
    generator are seeded from ``(runner.seed, i)``. ``runner.seed`` is
    ``randomness.seed`` (plus the rank with ``diff_rank_seed=True``). The
    batch is already loaded at that point; data loading is made exact by
    ``DiSTSeededSampler`` (see docs/reliability.md, "Exact resume").

    Add it to a config with::

        custom_hooks = [dict(type='DiSTIterationSeedHook')]

    Args:
        cuda (bool): Also seed the CUDA generators (dropout on GPU).
            Defaults to True.
    """

    priority = 'VERY_HIGH'

    def __init__(self, cuda: bool = True) -> None:
        self.cuda = cuda

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        """Seed the RNGs from ``(runner.seed, runner.iter)``.

        Args:
            runner (Runner): The runner.
            batch_idx (int): Index of the batch in the epoch (unused).
            data_batch (dict, optional): The loaded batch (unused).
        """
        seed_global_rngs(
            ITERATION_STREAM, runner.seed, runner.iter, cuda=self.cuda)
