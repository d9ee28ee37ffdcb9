"""Tiny videos for the tests: written with OpenCV (mp4v), read by decord."""
import os
import os.path as osp
from typing import Sequence

import cv2
import numpy as np


def write_random_video(path: str,
                       seed: int = 0,
                       num_frames: int = 12,
                       size: Sequence[int] = (32, 32),
                       fps: int = 8) -> str:
    """Write an mp4 of uniformly random frames.

    Args:
        path (str): Output file.
        seed (int): Seed of the frames. Defaults to 0.
        num_frames (int): Frame count. Defaults to 12.
        size (Sequence[int]): (width, height). Defaults to (32, 32).
        fps (int): Frame rate. Defaults to 8.

    Returns:
        str: ``path``.
    """
    w, h = size
    rng = np.random.default_rng(seed)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             (w, h))
    assert writer.isOpened(), f'cannot write {path}'
    for _ in range(num_frames):
        writer.write(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    writer.release()
    return path


def write_video_list(root: str,
                     num: int,
                     num_classes: int,
                     list_name: str = 'list.txt',
                     **video_kwargs) -> str:
    """Write ``num`` random videos ``c{i}.mp4`` and a VideoDataset list.

    Video ``i`` gets seed ``i`` and label ``i % num_classes``.

    Args:
        root (str): Folder for the videos and the list (created).
        num (int): Number of videos.
        num_classes (int): Labels cycle through ``range(num_classes)``.
        list_name (str): File name of the list. Defaults to 'list.txt'.
        **video_kwargs: Passed to :func:`write_random_video`.

    Returns:
        str: Path of the annotation list (``c{i}.mp4 <label>`` lines).
    """
    os.makedirs(root, exist_ok=True)
    lines = []
    for i in range(num):
        write_random_video(osp.join(root, f'c{i}.mp4'), seed=i, **video_kwargs)
        lines.append(f'c{i}.mp4 {i % num_classes}')
    ann = osp.join(root, list_name)
    with open(ann, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return ann
