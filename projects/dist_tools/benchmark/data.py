"""The benchmark's input: random clips on the device, or the config's data.
"""
import copy
from typing import Iterator, Optional, Sequence

import torch
from mmaction.structures import ActionDataSample
from mmengine.config import Config


def synthetic_batch(shape: Sequence[int], batch_size: int, num_clips: int,
                    num_classes: int, device: torch.device,
                    generator: torch.Generator) -> dict:
    """A random batch as a dataloader would give it, already on ``device``.

    Args:
        shape (Sequence[int]): (C, T, H, W) of one clip.
        batch_size (int): Videos B.
        num_clips (int): Views per video.
        num_classes (int): Label range.
        device (torch.device): Where the clips are placed.
        generator (torch.Generator): CPU random generator.

    Returns:
        dict: ``inputs`` (list of B uint8 tensors (num_clips, C, T, H, W))
        and ``data_samples`` (B ActionDataSamples with ``gt_label``).
    """
    inputs, samples = [], []
    for _ in range(batch_size):
        clip = torch.randint(
            0,
            256, (num_clips, *shape),
            dtype=torch.uint8,
            generator=generator)
        inputs.append(clip.to(device))
        label = int(torch.randint(0, num_classes, (1, ), generator=generator))
        samples.append(ActionDataSample().set_gt_label(label))
    return dict(inputs=inputs, data_samples=samples)


def synthetic_batches(shape: Sequence[int], batch_size: int, num_clips: int,
                      num_classes: int, device: torch.device,
                      generator: torch.Generator) -> Iterator[dict]:
    """Endless synthetic batches: a few distinct ones, reused, so making
    them is not timed.

    Args: as :func:`synthetic_batch`.

    Yields:
        dict: Batches of :func:`synthetic_batch`.
    """
    pool = [
        synthetic_batch(shape, batch_size, num_clips, num_classes, device,
                        generator) for _ in range(2)
    ]
    while True:
        yield from pool


def dataloader_batches(cfg: Config,
                       mode: str,
                       batch_size: int,
                       seed: Optional[int] = None) -> Iterator[dict]:
    """Endless batches from the config's ``train_dataloader`` (``train``)
    or ``test_dataloader`` (the other modes).

    Args:
        cfg (Config): The config.
        mode (str): The benchmark mode.
        batch_size (int): Videos per batch (replaces the config's).
        seed (int, optional): Seed of the dataloader's workers.

    Returns:
        Iterator[dict]: Batches as the Runner's dataloader gives them.
    """
    from mmengine.runner import Runner
    key = 'train_dataloader' if mode == 'train' else 'test_dataloader'
    if key not in cfg:
        raise ValueError(f'--real-data needs {key} in the config')
    loader_cfg = copy.deepcopy(cfg[key])
    loader_cfg['batch_size'] = batch_size
    loader_cfg.pop('persistent_workers', None)
    loader = Runner.build_dataloader(loader_cfg, seed=seed)
    return _endless(loader)


def _endless(loader) -> Iterator[dict]:
    while True:
        yield from loader
