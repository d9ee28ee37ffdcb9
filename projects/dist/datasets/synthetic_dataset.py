"""A VideoDataset over the synthetic motion-order videos, made on first use."""
import os.path as osp
from typing import Callable, Dict, List, Optional, Union

from mmengine.dist import barrier, get_dist_info
from mmengine.logging import print_log

from mmaction.datasets import VideoDataset
from mmaction.registry import DATASETS
from .robust_video_dataset import load_video_list
from .seeded_augmentation import SeededAugmentationMixin
from .synthetic_motion import (SyntheticMotionGenerator,
                               write_random_clip_weights)


@DATASETS.register_module()
class DiSTSyntheticMotionDataset(SeededAugmentationMixin, VideoDataset):
    """MMAction2 ``VideoDataset`` that generates its videos when missing.

    The built-in default dataset of this project (see
    :mod:`projects.dist.datasets.synthetic_motion`): six classes that differ
    only in the order in which an object visits the same positions. On
    construction, if ``data_root`` does not yet hold data made with the given
    generator parameters, rank 0 writes it (a few seconds) while other ranks
    wait. Afterwards this is a plain ``VideoDataset`` reading
    ``<data_root>/<ann_file>`` ("relative/path.mp4 label" lines).

    Args:
        ann_file (str): Annotation list, relative to ``data_root`` (e.g.
            ``'train.txt'``) or absolute.
        pipeline (list[dict | callable]): Data transforms.
        data_root (str): Dataset folder; generated there when missing.
        data_prefix (dict): Video folder relative to ``data_root``.
            Defaults to ``dict(video='')``.
        generate_if_missing (bool): Generate the data when absent. If False
            and the data is missing, loading fails as for any VideoDataset.
            Defaults to True.
        num_per_class (dict, optional): Videos per class per split, e.g.
            ``dict(train=60, val=15, test=20)``; all splits are generated
            together. Defaults to the generator's default.
        num_frames (int): Positions per clip (files hold one more frame).
            Defaults to 16.
        frame_size (int): Frame side in pixels (multiple of 32).
            Defaults to 32.
        seed (int): Generator seed. Defaults to 0.
        clip_weights (dict, optional): Also write the seeded random frozen
            CLIP tower used with this data, if missing: ``dict(path=...,
            arch=<CLIP dims>, seed=0)`` (see
            :func:`~projects.dist.datasets.synthetic_motion.write_random_clip_weights`).
            The model config then points its encoders' ``pretrained`` at
            ``path``. Defaults to None (nothing written).
        **kwargs: Passed to :class:`mmaction.datasets.VideoDataset`; with
            ``num_classes`` the labels are checked when the list is read
            (see :func:`~projects.dist.datasets.robust_video_dataset.
            read_annotation_list`).
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: List[Union[dict, Callable]],
                 data_root: str,
                 data_prefix: Dict = dict(video=''),
                 generate_if_missing: bool = True,
                 num_per_class: Optional[Dict[str, int]] = None,
                 num_frames: int = 16,
                 frame_size: int = 32,
                 seed: int = 0,
                 clip_weights: Optional[Dict] = None,
                 **kwargs) -> None:
        self.generator = SyntheticMotionGenerator(
            data_root,
            num_per_class=num_per_class,
            num_frames=num_frames,
            frame_size=frame_size,
            seed=seed)
        if clip_weights is not None:
            unknown = set(clip_weights) - {'path', 'arch', 'seed'}
            if unknown or not {'path', 'arch'} <= set(clip_weights):
                raise KeyError(
                    'clip_weights must have keys path, arch and optionally '
                    f'seed, got {sorted(clip_weights)}')
        self.clip_weights = clip_weights
        if generate_if_missing:
            self._generate_once()
        super().__init__(
            ann_file=ann_file,
            pipeline=pipeline,
            data_root=data_root,
            data_prefix=data_prefix,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        """Read and check the annotation list (labels against
        ``num_classes``, any whitespace between path and label).

        Returns:
            list[dict]: ``dict(filename=..., label=...)`` per sample.
        """
        return load_video_list(self)

    def _generate_once(self) -> None:
        """Generate on rank 0 if needed; all ranks wait for it."""
        rank, _ = get_dist_info()
        if rank == 0 and not self.generator.is_complete():
            print_log(
                'Generating the synthetic motion dataset in '
                f'{osp.abspath(self.generator.root)} '
                f'({len(self.generator.jobs())} videos) ...',
                logger='current')
            self.generator.generate(progress=False)
        if rank == 0 and self.clip_weights is not None:
            if write_random_clip_weights(**self.clip_weights):
                print_log(
                    'Wrote the random frozen CLIP tower (seed '
                    f"{self.clip_weights.get('seed', 0)}) to "
                    f"{self.clip_weights['path']}",
                    logger='current')
        barrier()
        # other ranks re-check: raises if the parameters do not match
        if not self.generator.is_complete():
            raise RuntimeError(
                f'synthetic data in {self.generator.root} is incomplete '
                'after generation')
