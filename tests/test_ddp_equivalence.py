"""Two-process DDP (gloo, CPU) updates DiST exactly like one process.

Each of two ranks runs ``MMDistributedDataParallel.train_step`` on its half of
a fixed global batch; one process runs ``Recognizer3D.train_step`` on the
whole batch. With a per-sample mean loss, DDP's gradient all-reduce (mean
over ranks) gives the global-batch gradient, so after the same optimizer
steps the trainable weights must agree up to float32 reduction-order noise.
``find_unused_parameters=False`` also checks that every trainable parameter
gets a gradient in every step (DDP raises at the second step otherwise) and
that the frozen CLIP towers (``requires_grad=False``) are left out.
"""
import copy
import os.path as osp

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.config import Config
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope

import projects.dist  # noqa: F401  -- registration + CPU set_device no-op

# projects.dist patches mmaction before its models load:
# isort: split
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_MODEL = osp.join(REPO_ROOT, 'configs', '_base_', 'models', 'dist_tiny.py')
CLASS_NAMES = ['moving left', 'moving right', 'growing', 'shrinking']
GLOBAL_BATCH = 4
STEPS = 2
TOLERANCE = 1e-5


def build_model() -> torch.nn.Module:
    """The tiny DiST recognizer of ``dist_tiny.py``, seeded, 4 classes.

    Returns:
        nn.Module: An initialised ``Recognizer3D``.
    """
    init_default_scope('mmaction')  # also in spawned workers
    cfg = copy.deepcopy(Config.fromfile(TINY_MODEL).model)
    cfg.cls_head.num_classes = len(CLASS_NAMES)
    cfg.cls_head.class_names = list(CLASS_NAMES)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def make_batches() -> list:
    """Fixed global batches: ``STEPS`` x ``GLOBAL_BATCH`` uint8 clips.

    Returns:
        list[dict]: ``inputs`` (1, 3, 8, 32, 32) uint8 per sample and
        ``data_samples`` with labels, as a DataLoader would give them.
    """
    gen = torch.Generator().manual_seed(1)
    batches = []
    for _ in range(STEPS):
        inputs = [
            torch.randint(
                0, 256, (1, 3, 8, 32, 32), generator=gen, dtype=torch.uint8)
            for _ in range(GLOBAL_BATCH)
        ]
        labels = torch.randint(
            0, len(CLASS_NAMES), (GLOBAL_BATCH, ), generator=gen)
        samples = [ActionDataSample().set_gt_label(int(y)) for y in labels]
        batches.append(dict(inputs=inputs, data_samples=samples))
    return batches


def make_optim_wrapper(model: torch.nn.Module) -> OptimWrapper:
    """SGD with momentum and gradient clipping over trainable params."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.05, momentum=0.9)
    return OptimWrapper(optimizer, clip_grad=dict(max_norm=1.0))


def trainable_state(model: torch.nn.Module) -> dict:
    """Trainable parameters by name, detached copies."""
    return {
        n: p.detach().clone()
        for n, p in model.named_parameters() if p.requires_grad
    }


def _ddp_worker(rank: int, world_size: int, init_file: str,
                out_file: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        'gloo',
        init_method=f'file://{init_file}',
        rank=rank,
        world_size=world_size)
    try:
        model = build_model()
        ddp = MMDistributedDataParallel(
            module=model,
            device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=False)
        optim_wrapper = make_optim_wrapper(model)
        per_rank = GLOBAL_BATCH // world_size
        part = slice(rank * per_rank, (rank + 1) * per_rank)
        for batch in make_batches():
            ddp.train_step(
                dict(
                    inputs=batch['inputs'][part],
                    data_samples=batch['data_samples'][part]), optim_wrapper)
        if rank == 0:
            torch.save(trainable_state(model), out_file)
    finally:
        dist.destroy_process_group()


def test_two_process_gloo_step_equals_one_process(tmp_path):
    torch.set_num_threads(1)
    model = build_model()
    before = trainable_state(model)
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert any(n.startswith('backbone.spatial_encoder.') for n in frozen)
    assert any(n.startswith('cls_head.text_encoder.') for n in frozen)
    optim_wrapper = make_optim_wrapper(model)
    for batch in make_batches():
        model.train_step(batch, optim_wrapper)
    single = trainable_state(model)

    out_file = str(tmp_path / 'ddp_rank0.pth')
    mp.start_processes(
        _ddp_worker,
        args=(2, str(tmp_path / 'pg_init'), out_file),
        nprocs=2,
        join=True,
        # fork: the workers inherit the imported stack (0.5 s instead of
        # ~10 s per spawned interpreter); spawn where fork does not exist
        start_method='fork'
        if 'fork' in mp.get_all_start_methods() else 'spawn')
    ddp = torch.load(out_file, weights_only=True)

    assert set(ddp) == set(single)
    moved = max((single[k] - before[k]).abs().max().item() for k in single)
    assert moved > 1e-3, 'the optimizer steps did not change the weights'
    diff = max((ddp[k] - single[k]).abs().max().item() for k in single)
    print(f'max |DDP(2) - single| over trainable params: {diff:.3e} '
          f'(update size {moved:.3e})')
    assert diff <= TOLERANCE, f'DDP result differs by {diff:.3e}'


if __name__ == '__main__':  # pragma: no cover
    pytest.main([__file__, '-s', '-q'])
