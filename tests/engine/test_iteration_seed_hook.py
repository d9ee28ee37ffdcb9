"""DiSTIterationSeedHook: training-process RNGs seeded from (seed, iter)."""
import os.path as osp
import random
from types import SimpleNamespace

import numpy as np
import torch
from mmaction.registry import HOOKS, MODELS
from mmaction.structures import ActionDataSample
from mmengine.config import Config

from projects.dist.engine.hooks import DiSTIterationSeedHook

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: the shipped dataset config whose Mixup/CutMix blending is replayed
RECIPE_AUGMENTATION = osp.join(REPO_ROOT, 'configs', '_base_', 'datasets',
                               'kinetics400_dist.py')


def draw_all() -> tuple:
    """One draw from each global RNG: (python, numpy, torch)."""
    return (random.random(), float(np.random.rand()), float(torch.rand(1)))


def step(hook, seed: int, iteration: int) -> tuple:
    hook.before_train_iter(
        SimpleNamespace(seed=seed, iter=iteration), batch_idx=0)
    return draw_all()


def test_draws_depend_only_on_seed_and_iteration():
    hook = HOOKS.build(dict(type='DiSTIterationSeedHook'))
    assert isinstance(hook, DiSTIterationSeedHook)
    first = step(hook, 0, 5)
    for _ in range(3):  # whatever ran before (other seeds, draws)
        torch.manual_seed(len(draw_all()))
        draw_all()
        assert step(hook, 0, 5) == first
    assert step(hook, 0, 6) != first
    assert step(hook, 1, 5) != first


def test_recipe_mixup_cutmix_replays_after_a_resume():
    # the Kinetics recipe's batch blending (Mixup/CutMix) runs in the
    # training process. Iteration 3 of an uninterrupted run (RNGs after
    # iterations 0-2) and of a resumed run (a fresh process whose RNGs the
    # Runner seeded) must blend the same way.
    blending = Config.fromfile(RECIPE_AUGMENTATION).to_dict()['blending']
    for augment in blending['augments']:
        augment['num_classes'] = 5
    blend = MODELS.build(blending)
    imgs = torch.rand(4, 1, 3, 2, 8, 8)

    def run(iterations, hook) -> tuple:
        """Fresh process seeded as the Runner does; blend per iteration."""
        torch.manual_seed(0)
        np.random.seed(0)
        random.seed(0)
        for it in iterations:
            if hook is not None:
                hook.before_train_iter(
                    SimpleNamespace(seed=0, iter=it), batch_idx=0)
            samples = [ActionDataSample().set_gt_label(i) for i in range(4)]
            mixed, samples = blend(imgs.clone(), samples)
        return mixed, torch.stack([s.gt_label for s in samples])

    def same(a: tuple, b: tuple) -> bool:
        return all(torch.equal(x, y) for x, y in zip(a, b))

    hook = DiSTIterationSeedHook()
    assert same(run(range(4), hook), run([3], hook))
    # without the hook they differ (so the check above can fail)
    assert not same(run(range(4), None), run([3], None))
