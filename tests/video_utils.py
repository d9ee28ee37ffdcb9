"""Tiny videos for the tests: written with OpenCV (mp4v) or PyAV (any codec
its bundled FFmpeg encodes: H.264, AV1, VP9, ...), read by decord."""
import os
import os.path as osp
from fractions import Fraction
from typing import Dict, Optional, Sequence

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


def frame_level(index: int) -> int:
    """Grey level of frame ``index`` in :func:`write_pyav_video` files."""
    return (16 + 12 * index) % 256


def write_pyav_video(path: str,
                     codec: str = 'libx264',
                     num_frames: int = 12,
                     size: Sequence[int] = (64, 64),
                     fps: int = 10,
                     options: Optional[Dict[str, str]] = None,
                     times_ms: Optional[Sequence[int]] = None) -> str:
    """Encode a video with PyAV; frame ``i`` is uniform grey
    :func:`frame_level` ``(i)``, so the decoded order can be read back.

    Args:
        path (str): Output file; its extension picks the container.
        codec (str): FFmpeg encoder, e.g. ``'libx264'``, ``'libsvtav1'``.
            Defaults to 'libx264'.
        num_frames (int): Frame count. Defaults to 12.
        size (Sequence[int]): (width, height). Defaults to (64, 64) (the
            AV1 encoder needs at least 64 x 64).
        fps (int): Frame rate. Defaults to 10.
        options (dict[str, str], optional): Encoder options, e.g.
            ``{'g': '4'}`` for a keyframe every 4 frames.
        times_ms (Sequence[int], optional): Presentation time of each
            frame in ms, for a variable frame rate. Defaults to None
            (``1 / fps`` apart).

    Returns:
        str: ``path``.
    """
    import av
    w, h = size
    ms = Fraction(1, 1000)
    with av.open(path, 'w') as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, 'yuv420p'
        if options:
            stream.options = dict(options)
        if times_ms is not None:
            stream.time_base = stream.codec_context.time_base = ms
        for i in range(num_frames):
            image = np.full((h, w, 3), frame_level(i), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format='rgb24')
            if times_ms is not None:
                frame.pts, frame.time_base = int(times_ms[i]), ms
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def cut_with_stream_copy(src: str, dst: str, start: float) -> str:
    """Cut ``src`` at ``start`` seconds without re-encoding, as
    ``ffmpeg -ss START -i SRC -c copy DST`` does.

    The cut keeps the packets from the last keyframe at or before ``start``
    and shifts the timestamps so that ``start`` becomes 0: the frames before
    it get negative times and the MP4 muxer writes an edit list that hides
    them (FFmpeg does not show them; decord does).

    Args:
        src (str): Input MP4.
        dst (str): Output MP4.
        start (float): Cut position (s), not on a keyframe for an edit list.

    Returns:
        str: ``dst``.
    """
    import av
    with av.open(src) as source:
        stream = source.streams.video[0]
        packets = [p for p in source.demux(stream) if p.dts is not None]
        offset = int(round(start / stream.time_base))
        first = max(p.pts for p in packets
                    if p.is_keyframe and p.pts <= offset)
        with av.open(dst, 'w') as target:
            out = target.add_stream_from_template(stream)
            for packet in packets:
                if packet.pts < first:
                    continue
                packet.pts -= offset
                packet.dts -= offset
                packet.stream = out
                target.mux(packet)
    return dst


def corrupt(path: str, kind: str) -> None:
    """Damage a video in place: truncate, overwrite, empty or delete it."""
    with open(path, 'rb') as f:
        data = f.read()
    if kind == 'missing':
        os.remove(path)
        return
    new = dict(
        truncated=data[:len(data) // 2],
        garbage=bytes(
            np.random.default_rng(0).integers(
                0, 256, len(data), dtype=np.uint8)),
        empty=b'')[kind]
    with open(path, 'wb') as f:
        f.write(new)


def make_videos(root: str,
                num: int,
                broken: dict,
                num_classes: int = 4) -> tuple:
    """Write ``num`` clips and an annotation list; damage some of them.

    Args:
        root (str): Folder for the videos and ``ann.txt``.
        num (int): Number of clips.
        broken (dict[int, str]): Index -> kind of damage (see
            :func:`corrupt`).
        num_classes (int): Labels cycle through ``0 .. num_classes - 1``.
            Defaults to 4.

    Returns:
        tuple[str, list[str]]: The annotation list and the damaged paths.
    """
    os.makedirs(root, exist_ok=True)
    lines, bad = [], []
    for i in range(num):
        name = f'clip_{i:03d}.mp4'
        write_random_video(osp.join(root, name), seed=i, num_frames=10)
        lines.append(f'{name} {i % num_classes}')
        if i in broken:
            corrupt(osp.join(root, name), broken[i])
            bad.append(osp.join(root, name))
    ann = osp.join(root, 'ann.txt')
    with open(ann, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return ann, bad
