"""Synthetic "motion order" videos: the built-in default dataset.

Every clip shows one object (random shape, colour and size) on a random,
noisy background. The object travels along a horizontal line through
``num_frames`` evenly spaced positions. The class is **the order** in which
those positions are visited:

====  ===============================  ===================================
id    class name                       visiting order of positions 0..T-1
====  ===============================  ===================================
0     moving right                     ascending
1     moving left                      descending (mirror of 0)
2     moving right then left           even positions up, odd ones down
3     moving left then right           mirror of 2
4     moving right, left, then right   three sweeps (positions mod 3)
5     moving left, right, then left    mirror of 4
====  ===============================  ===================================

Every class visits exactly the same set of positions, so the *multiset* of
frames of a clip carries no label: a model that averages per-frame features
(or any other function of the unordered frames) can not beat chance, while a
model that sees frame order can. Appearance (shape, colours, size, sweep
start, sweep length, height, noise) is drawn independently of the label.

Each video has ``num_frames + 1`` frames; the last one repeats the final
position (the object stops). With this length MMAction2's
``UniformSample(clip_len=num_frames, test_mode=True)`` picks exactly frames
``0 .. num_frames - 1`` and in training it jitters each index by at most
one frame.

Everything is deterministic from one seed: video ``i`` of split ``s`` is drawn
from ``numpy.random.default_rng([seed, split_id, i])``, so a video does not
depend on how many others are generated.

Layout written by :func:`generate_synthetic_motion` under ``root``::

    root/
    ├── classes.txt            # one class name per line, in label order
    ├── train.txt val.txt test.txt   # "videos/<split>/<name>.mp4 <label>"
    ├── meta.json              # the generation parameters (checked on reuse)
    └── videos/{train,val,test}/*.mp4   # MPEG-4 part 2 (mp4v), decord-readable
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

SYNTHETIC_MOTION_CLASSES: Tuple[str, ...] = (
    'moving right',
    'moving left',
    'moving right then left',
    'moving left then right',
    'moving right, left, then right',
    'moving left, right, then left',
)

SPLITS: Tuple[str, ...] = ('train', 'val', 'test')
SHAPES: Tuple[str, ...] = ('square', 'circle', 'triangle', 'diamond')
META_FILE = 'meta.json'
CLASSES_FILE = 'classes.txt'
# Bump when the rendering changes so that stale data is detected on reuse.
GENERATOR_VERSION = 1


def visiting_order(label: int, num_frames: int) -> np.ndarray:
    """Order in which a clip of class ``label`` visits its positions.

    Position ``k`` (``0 <= k < num_frames``) is the ``k``-th of
    ``num_frames`` evenly spaced points from the left to the right end of the
    sweep. Every order is a permutation of ``range(num_frames)``.

    Args:
        label (int): Class id in ``[0, len(SYNTHETIC_MOTION_CLASSES))``.
        num_frames (int): Number of positions T, at least 6.

    Returns:
        np.ndarray: Shape (T,), int64, a permutation of ``0 .. T-1``; entry
        ``t`` is the position shown in frame ``t``.
    """
    num_classes = len(SYNTHETIC_MOTION_CLASSES)
    if not 0 <= label < num_classes:
        raise ValueError(f'label must be in [0, {num_classes}), got {label}')
    if num_frames < 6:
        raise ValueError(
            f'num_frames must be at least 6 (three sweeps of two frames), '
            f'got {num_frames}')
    pos = np.arange(num_frames)
    if label in (0, 1):
        order = pos
    elif label in (2, 3):
        # right along the even positions, back left along the odd ones
        order = np.concatenate([pos[0::2], pos[1::2][::-1]])
    else:
        # right along 0,3,6..., left along 1,4,7... reversed, right along
        # 2,5,8...: the three residues mod 3 give three sweeps.
        first, second, third = pos[0::3], pos[1::3], pos[2::3]
        # end the first sweep at the larger of the two right-most residues so
        # that the way back starts from the right end
        if first[-1] < third[-1]:
            first, third = third, first
        order = np.concatenate([first, second[::-1], third])
    if label % 2 == 1:
        # mirror the positions (left <-> right). Reversing time instead
        # would map "right then left" onto itself.
        order = (num_frames - 1) - order
    return order.astype(np.int64)


def sample_appearance(rng: np.random.Generator, frame_size: int = 32) -> Dict:
    """Draw the label-independent appearance of one clip.

    Args:
        rng (np.random.Generator): Source of randomness.
        frame_size (int): Side of the square frame in pixels. Defaults to 32.

    Returns:
        dict: ``shape`` (str), ``radius`` (int, half the object's side in
        px), ``color`` and ``background`` (RGB uint8 arrays of shape (3,)),
        ``noise_std`` (float), ``y`` (int, row of the object's centre),
        ``x_left`` and ``x_right`` (float, ends of the sweep).
    """
    if frame_size < 16:
        raise ValueError(f'frame_size must be at least 16, got {frame_size}')
    radius = int(rng.integers(frame_size // 8, frame_size // 5 + 1))
    # random hues; a dark background and a bright object keep it visible
    background = rng.integers(0, 100, size=3)
    color = rng.integers(150, 256, size=3)
    span = frame_size - 2 * radius - 1
    length = float(rng.uniform(0.8, 1.0) * span)
    x_left = float(radius + rng.uniform(0, span - length))
    return dict(
        shape=SHAPES[int(rng.integers(len(SHAPES)))],
        radius=radius,
        color=color.astype(np.uint8),
        background=background.astype(np.uint8),
        noise_std=float(rng.uniform(2.0, 8.0)),
        y=int(rng.integers(radius, frame_size - radius)),
        x_left=x_left,
        x_right=x_left + length,
    )


def draw_object(frame: np.ndarray, shape: str, cx: float, cy: float,
                radius: int, color: np.ndarray) -> None:
    """Draw a filled object in place.

    Args:
        frame (np.ndarray): RGB image of shape (H, W, 3), uint8; modified.
        shape (str): One of ``SHAPES``.
        cx (float): Column of the centre in pixels.
        cy (float): Row of the centre in pixels.
        radius (int): Half side / radius in pixels.
        color (np.ndarray): RGB colour, shape (3,).
    """
    c = tuple(int(v) for v in color)
    x, y, r = int(round(cx)), int(round(cy)), int(radius)
    if shape == 'square':
        cv2.rectangle(frame, (x - r, y - r), (x + r, y + r), c, -1)
    elif shape == 'circle':
        cv2.circle(frame, (x, y), r, c, -1)
    elif shape == 'triangle':
        pts = np.array([[x, y - r], [x - r, y + r], [x + r, y + r]], np.int32)
        cv2.fillPoly(frame, [pts], c)
    elif shape == 'diamond':
        pts = np.array([[x, y - r], [x + r, y], [x, y + r], [x - r, y]],
                       np.int32)
        cv2.fillPoly(frame, [pts], c)
    else:
        raise ValueError(f'shape must be one of {SHAPES}, got {shape!r}')


def render_clip(label: int,
                appearance: Dict,
                rng: np.random.Generator,
                num_frames: int = 16,
                frame_size: int = 32) -> np.ndarray:
    """Render the frames of one clip.

    Args:
        label (int): Class id, see :data:`SYNTHETIC_MOTION_CLASSES`.
        appearance (dict): Output of :func:`sample_appearance`.
        rng (np.random.Generator): Source of the per-frame noise.
        num_frames (int): Number of positions T. Defaults to 16.
        frame_size (int): Side S of the frame. Defaults to 32.

    Returns:
        np.ndarray: RGB frames of shape (T + 1, S, S, 3), uint8. The last
        frame repeats the final position (see the module docstring).
    """
    order = visiting_order(label, num_frames)
    xs = np.linspace(appearance['x_left'], appearance['x_right'], num_frames)
    order = np.concatenate([order, order[-1:]])
    frames = np.empty((len(order), frame_size, frame_size, 3), np.uint8)
    base = np.broadcast_to(appearance['background'].astype(np.float32),
                           (frame_size, frame_size, 3))
    for t, k in enumerate(order):
        canvas = base + rng.normal(
            0.0, appearance['noise_std'], size=base.shape)
        frame = np.clip(canvas, 0, 255).astype(np.uint8)
        draw_object(frame, appearance['shape'], xs[k], appearance['y'],
                    appearance['radius'], appearance['color'])
        frames[t] = frame
    return frames


def write_video(frames: np.ndarray, path: str, fps: int = 8) -> None:
    """Write RGB frames as an MPEG-4 part 2 (``mp4v``) file.

    Args:
        frames (np.ndarray): Shape (N, H, W, 3), uint8, RGB. H and W must be
            multiples of 32 so that decord 0.6 decodes them without padding
            errors.
        path (str): Output ``.mp4`` path; parent folders are created.
        fps (int): Frame rate stored in the file. Defaults to 8.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError('frames must be a uint8 array of shape (N, H, W, 3), '
                         f'got {frames.dtype} {frames.shape}')
    height, width = frames.shape[1:3]
    if height % 32 or width % 32:
        raise ValueError('frame height and width must be multiples of 32 '
                         f'(decord), got {height}x{width}')
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             (width, height))
    if not writer.isOpened():
        raise RuntimeError(f'cv2.VideoWriter could not open {path}')
    try:
        for frame in frames:
            writer.write(np.ascontiguousarray(frame[..., ::-1]))
    finally:
        writer.release()


class SyntheticMotionGenerator:
    """Writes the synthetic motion-order dataset to disk.

    Args:
        root (str): Output folder.
        num_per_class (dict): Videos per class for each split, e.g.
            ``dict(train=60, val=15, test=20)``. Splits must be among
            ``SPLITS``.
        num_frames (int): Positions T per clip; the files hold T + 1 frames.
            Defaults to 16.
        frame_size (int): Frame side in pixels, a multiple of 32.
            Defaults to 32.
        seed (int): Seed of everything. Defaults to 0.
        fps (int): Frame rate written to the files. Defaults to 8.
    """

    def __init__(self,
                 root: str,
                 num_per_class: Optional[Dict[str, int]] = None,
                 num_frames: int = 16,
                 frame_size: int = 32,
                 seed: int = 0,
                 fps: int = 8) -> None:
        if num_per_class is None:
            num_per_class = dict(train=60, val=15, test=20)
        for split, n in num_per_class.items():
            if split not in SPLITS:
                raise ValueError(
                    f'split must be one of {SPLITS}, got {split!r}')
            if int(n) < 1:
                raise ValueError(
                    f'num_per_class[{split!r}] must be >= 1, got {n}')
        if frame_size % 32:
            raise ValueError(
                f'frame_size must be a multiple of 32, got {frame_size}')
        visiting_order(0, num_frames)  # validates num_frames
        self.root = root
        self.num_per_class = {k: int(v) for k, v in num_per_class.items()}
        self.num_frames = int(num_frames)
        self.frame_size = int(frame_size)
        self.seed = int(seed)
        self.fps = int(fps)

    @property
    def meta(self) -> Dict:
        """dict: The parameters that determine the generated files."""
        return dict(
            generator_version=GENERATOR_VERSION,
            classes=list(SYNTHETIC_MOTION_CLASSES),
            num_per_class=dict(sorted(self.num_per_class.items())),
            num_frames=self.num_frames,
            frame_size=self.frame_size,
            seed=self.seed,
            fps=self.fps)

    def jobs(self) -> List[Tuple[str, int, int]]:
        """List every video to write.

        Returns:
            list[tuple[str, int, int]]: ``(split, index, label)`` triples;
            labels cycle through the classes so each split is balanced.
        """
        num_classes = len(SYNTHETIC_MOTION_CLASSES)
        out = []
        for split in SPLITS:
            count = self.num_per_class.get(split, 0) * num_classes
            out.extend((split, i, i % num_classes) for i in range(count))
        return out

    def video_path(self, split: str, index: int) -> str:
        """Path of a video relative to ``root``.

        Args:
            split (str): Split name.
            index (int): Video index within the split.

        Returns:
            str: e.g. ``videos/train/000042.mp4``.
        """
        return f'videos/{split}/{index:06d}.mp4'

    def make_clip(self, split: str, index: int, label: int) -> np.ndarray:
        """Render one clip deterministically.

        Args:
            split (str): Split name (enters the seed).
            index (int): Video index within the split (enters the seed).
            label (int): Class id.

        Returns:
            np.ndarray: Frames of shape (T + 1, S, S, 3), uint8 RGB.
        """
        rng = np.random.default_rng([self.seed, SPLITS.index(split), index])
        appearance = sample_appearance(rng, self.frame_size)
        return render_clip(label, appearance, rng, self.num_frames,
                           self.frame_size)

    def is_complete(self) -> bool:
        """Whether ``root`` already holds data made with these parameters.

        Raises:
            ValueError: If ``root`` holds data made with other parameters.

        Returns:
            bool: True when ``meta.json`` exists and matches.
        """
        meta_path = osp.join(self.root, META_FILE)
        if not osp.isfile(meta_path):
            return False
        with open(meta_path, encoding='utf-8') as f:
            found = json.load(f)
        if found != self.meta:
            raise ValueError(
                f'{self.root} holds synthetic data generated with other '
                f'parameters: found {found}, expected {self.meta}. Delete '
                'the folder or choose another root.')
        return True

    def generate(self, progress: bool = False) -> Dict[str, str]:
        """Write videos, annotation lists, the class file and ``meta.json``.

        ``meta.json`` is written last, so an interrupted run is redone.

        Args:
            progress (bool): Show an MMEngine progress bar. Defaults to False.

        Returns:
            dict[str, str]: Annotation file path per split, plus
            ``'classes'``: the class-name file path.
        """
        os.makedirs(self.root, exist_ok=True)
        jobs = self.jobs()
        lines: Dict[str, List[str]] = {s: [] for s in self.num_per_class}
        bar = None
        if progress:
            from mmengine.utils import ProgressBar
            bar = ProgressBar(len(jobs))
        for split, index, label in jobs:
            rel = self.video_path(split, index)
            write_video(
                self.make_clip(split, index, label),
                osp.join(self.root, rel),
                fps=self.fps)
            lines[split].append(f'{rel} {label}')
            if bar is not None:
                bar.update()
        if bar is not None:
            bar.file.write('\n')
        out = {}
        for split, split_lines in lines.items():
            out[split] = osp.join(self.root, f'{split}.txt')
            with open(out[split], 'w', encoding='utf-8') as f:
                f.write('\n'.join(split_lines) + '\n')
        out['classes'] = osp.join(self.root, CLASSES_FILE)
        with open(out['classes'], 'w', encoding='utf-8') as f:
            f.write('\n'.join(SYNTHETIC_MOTION_CLASSES) + '\n')
        with open(osp.join(self.root, META_FILE), 'w', encoding='utf-8') as f:
            json.dump(self.meta, f, indent=2)
        return out


def generate_synthetic_motion(root: str,
                              num_per_class: Optional[Dict[str, int]] = None,
                              num_frames: int = 16,
                              frame_size: int = 32,
                              seed: int = 0,
                              overwrite: bool = False,
                              progress: bool = False) -> bool:
    """Generate the dataset unless ``root`` already holds the same data.

    Args:
        root (str): Output folder.
        num_per_class (dict, optional): Videos per class per split. Defaults
            to ``dict(train=60, val=15, test=20)``.
        num_frames (int): Positions T per clip. Defaults to 16.
        frame_size (int): Frame side, multiple of 32. Defaults to 32.
        seed (int): Seed. Defaults to 0.
        overwrite (bool): Regenerate even if complete data with other
            parameters is found. Defaults to False.
        progress (bool): Show a progress bar. Defaults to False.

    Returns:
        bool: True if files were written, False if they already existed.
    """
    gen = SyntheticMotionGenerator(
        root,
        num_per_class=num_per_class,
        num_frames=num_frames,
        frame_size=frame_size,
        seed=seed)
    if not overwrite:
        if gen.is_complete():
            return False
    gen.generate(progress=progress)
    return True


def write_random_clip_weights(path: str,
                              arch: Dict,
                              seed: int = 0,
                              overwrite: bool = False) -> bool:
    """Save a seeded, randomly initialised CLIP state dict.

    The built-in default trains DiST on top of a *frozen* tiny CLIP whose
    weights are random (no pretrained weights are needed offline). Saving
    them once makes every run, and the order-blind baseline, use the very
    same frozen tower. The file is a full CLIP state dict with OpenAI names
    (``visual.*``, the text tower's keys, ``logit_scale``), i.e. what
    ``DiSTCLIPVisual(pretrained=...)`` and ``DiSTCLIPText(pretrained=...)``
    read.

    Args:
        path (str): Output ``.pth`` file.
        arch (dict): CLIP dimensions, see
            :func:`projects.dist.models.utils.clip_arch.resolve_clip_arch`.
        seed (int): ``torch.manual_seed`` used for the initialisation.
            Defaults to 0.
        overwrite (bool): Rewrite an existing file. Defaults to False.

    Returns:
        bool: True if the file was written, False if it already existed.
    """
    if osp.isfile(path) and not overwrite:
        return False
    import torch

    from ..models.backbones.clip_visual import DiSTCLIPVisual
    from ..models.heads.clip_text import DiSTCLIPText
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() \
        else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        visual = DiSTCLIPVisual(arch=arch)
        text = DiSTCLIPText(arch=arch)
    state = {f'visual.{k}': v for k, v in visual.visual.state_dict().items()}
    state.update(text.text.state_dict())
    state['logit_scale'] = text.logit_scale.clone()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = path + '.tmp'
    torch.save(state, tmp)
    os.replace(tmp, path)
    return True
