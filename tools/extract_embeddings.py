# Copyright (c) DiST-MMAction2 contributors. Licensed under Apache-2.0.
"""Write the video embeddings of a trained recognizer for a list of videos.

The embedding of a video is DiST's pooled ``(E,)`` output (the backbone's,
before the classifier, not normalised), averaged over the views (clips) of
the config's test pipeline; ``--per-clip`` also keeps every view's embedding
(``clip_embeddings``, ``(N, V, E)``; raise the view count with e.g.
``--cfg-options test_pipeline.1.num_clips=8`` for more windows)::

    python tools/extract_embeddings.py CONFIG CHECKPOINT --videos DIR \\
        --out embeddings.npz
    bash tools/dist_extract_embeddings.sh CONFIG CHECKPOINT 8 \\
        --videos list.txt --data-prefix data/videos --out embeddings.npz

``--videos`` is a folder (its video files, recursively, sorted) or an
annotation list (``<path> [label]`` lines, as ``VideoDataset`` reads them).
The ``.npz`` holds ``embeddings`` (N, E) float32, ``files`` (N,) the names
as listed, ``labels`` (N,) (-1 where the list has none), ``clip_embeddings``
with ``--per-clip``, and ``failed_files`` / ``failed_reasons`` for the
videos that could not be read. A ``.npy`` output holds ``embeddings`` only,
with the file names in ``<out stem>_files.txt`` (one per line, same order).

Several processes (``--launcher pytorch``, as ``tools/dist_*.sh`` start
them; gloo without CUDA) each embed their share of the videos; rank 0
writes the merged result, in list order. Every process flushes what it has
done to ``<out>.parts/`` every ``--flush-every`` videos, so a run that is
killed and started again with the same arguments skips the videos already
done (the parts are removed once the result is written). Unreadable videos
(missing, empty, not a video, unsupported codec, truncated) are reported with
their reason and skipped; the run goes on and ends with a summary.
"""
import argparse
import glob
import hashlib
import json
import logging
import os
import os.path as osp
import signal
import uuid
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.logging import print_log
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar

import projects.dist  # noqa: F401  -- compat fixes + registration

# projects.dist patches mmaction before its models load:
# isort: split
from mmaction.apis import init_recognizer

from projects.dist.datasets.robust_video_dataset import (DECODE_TRANSFORMS,
                                                         read_annotation_list)
from projects.dist.datasets.video_probe import (inspect_video,
                                                pipeline_backend, probe_video)
from projects.dist.utils import allow_full_unpickling_if_needed
from projects.dist.utils.cli import DictAction
from projects.dist.utils.launch import LAUNCHERS

#: Extensions of the files taken from a ``--videos`` folder.
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mkv', '.webm', '.mov', '.m4v', '.mpg',
                    '.mpeg', '.flv', '.wmv', '.3gp')
#: Testing only: the process kills itself (SIGKILL) after embedding this
#: many videos, as an interrupted job would end.
KILL_AFTER_ENV = 'DIST_EMBEDDINGS_KILL_AFTER'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='Write video embeddings (.npz/.npy) for a list of videos')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--videos',
        required=True,
        help='folder of videos (searched recursively) or annotation list '
        '("<path> [label]" per line)')
    parser.add_argument(
        '--data-prefix',
        help='folder the paths of the list are relative to (default: as '
        'written; for a folder, the folder)')
    parser.add_argument(
        '--out', required=True, help='output file, .npz or .npy')
    parser.add_argument(
        '--per-clip',
        action='store_true',
        help='also keep the embedding of every view of the test pipeline '
        '(clip_embeddings, N x V x E; .npz only)')
    parser.add_argument(
        '--flush-every',
        type=int,
        default=16,
        help='write finished videos to <out>.parts/ every this many videos '
        '(what a restarted run skips); default 16')
    parser.add_argument(
        '--device',
        help='device (default: cuda:<local rank> if CUDA is available, else '
        'cpu)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries (key=value)')
    parser.add_argument(
        '--launcher',
        choices=list(LAUNCHERS),
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if args.flush_every < 1:
        parser.error(f'--flush-every must be >= 1, got {args.flush_every}')
    if not args.out.endswith(('.npz', '.npy')):
        parser.error(f'--out must end in .npz or .npy, got {args.out!r}')
    if args.per_clip and args.out.endswith('.npy'):
        parser.error('--per-clip needs an .npz output (a .npy holds one '
                     'array)')
    return args


def list_videos(
    videos: str,
    data_prefix: Optional[str] = None
) -> Tuple[List[str], List[int], Optional[str]]:
    """The videos to embed.

    Args:
        videos (str): A folder (video files by extension, recursively,
            sorted by relative path) or an annotation list.
        data_prefix (str, optional): Folder the listed paths are relative
            to; defaults to the folder itself, or none for a list.

    Returns:
        tuple: Names as listed (relative to the folder for a folder),
        labels (-1 without), and the prefix to join them with.
    """
    if osp.isdir(videos):
        found = sorted(
            osp.relpath(p, videos)
            for p in glob.glob(osp.join(videos, '**', '*'), recursive=True)
            if p.lower().endswith(VIDEO_EXTENSIONS) and osp.isfile(p))
        if not found:
            raise FileNotFoundError(
                f'no video files in folder {videos!r}; expected files ending '
                f'in one of {", ".join(VIDEO_EXTENSIONS)}')
        return found, [-1] * len(found), data_prefix or videos
    if not osp.isfile(videos):
        raise FileNotFoundError(
            f'--videos {videos!r} is neither a folder nor an annotation list')
    entries = read_annotation_list(videos)
    names = [name for name, _ in entries]
    dups = sorted({n for n, c in _counts(names).items() if c > 1})
    if dups:
        raise ValueError(f'{len(dups)} video(s) listed twice in {videos}, '
                         f'e.g. {dups[0]!r}; expected each video once')
    return names, [label for _, label in entries], data_prefix


def _counts(items: Sequence[str]) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


def test_pipeline_cfg(cfg: Config) -> list:
    """The config's ``test_pipeline``, else its test loader's pipeline."""
    pipeline = cfg.get('test_pipeline')
    if pipeline is None:
        dataset = cfg.test_dataloader.dataset
        while 'pipeline' not in dataset and 'dataset' in dataset:
            dataset = dataset.dataset
        pipeline = dataset.get('pipeline')
    if not pipeline:
        raise KeyError('the config has neither test_pipeline nor '
                       'test_dataloader.dataset.pipeline')
    return pipeline


class UnreadableVideo(Exception):
    """A video cannot be decoded; the message says why."""


def load_clip(pipeline: Compose, path: str) -> dict:
    """Run the test pipeline on one video.

    Args:
        pipeline (Compose): The test pipeline.
        path (str): Video file.

    Returns:
        dict: The packed sample (``inputs``: (V, C, T, H, W) uint8).

    Raises:
        UnreadableVideo: the file cannot be opened, or a decoding transform
            failed (errors of other transforms propagate: they are bugs of
            the config, not of the file).
    """
    report = inspect_video(
        path,
        check_order=False,
        decode=False,
        backend=pipeline_backend(pipeline.transforms) or 'decord')
    if report.problem is not None:
        raise UnreadableVideo(report.problem)
    data = dict(filename=path, label=-1, start_index=0, modality='RGB')
    for transform in pipeline.transforms:
        if type(transform).__name__ not in DECODE_TRANSFORMS:
            data = transform(data)
            continue
        try:
            data = transform(data)
        except Exception as exc:  # decord/PyAV raise many types
            reason = probe_video(path) or (f'{type(exc).__name__}: '
                                           f'{" ".join(str(exc).split())}')
            raise UnreadableVideo(reason) from None
    return data


@torch.no_grad()
def embed_clip(model: torch.nn.Module, data: dict) -> torch.Tensor:
    """Per-view embeddings of one video.

    Args:
        model (nn.Module): The recognizer (``extract_feat``).
        data (dict): Output of :func:`load_clip`.

    Returns:
        torch.Tensor: (V, E) float32 on the CPU.
    """
    batch = model.data_preprocessor(pseudo_collate([data]), False)
    feats, _ = model.extract_feat(batch['inputs'], test_mode=True)
    if not isinstance(feats, torch.Tensor) or feats.dim() != 2:
        shape = tuple(feats.shape) if isinstance(feats, torch.Tensor) else \
            type(feats).__name__
        raise ValueError(f'expected pooled (views, E) embeddings from the '
                         f'backbone, got {shape}; this tool needs a backbone '
                         'that pools (as DiST does)')
    return feats.float().cpu()


def run_signature(args: argparse.Namespace, names: Sequence[str]) -> dict:
    """What a resumed run must share with the one that wrote the parts."""
    digest = hashlib.sha1('\n'.join(names).encode()).hexdigest()
    ckpt = osp.abspath(args.checkpoint)
    return dict(
        config=osp.abspath(args.config),
        checkpoint=ckpt,
        checkpoint_size=osp.getsize(ckpt),
        cfg_options=sorted(f'{k}={v}'
                           for k, v in (args.cfg_options or {}).items()),
        per_clip=bool(args.per_clip),
        videos_sha1=digest)


def read_parts(parts_dir: str) -> Dict[str, dict]:
    """The videos finished by earlier (or killed) runs.

    Args:
        parts_dir (str): The ``<out>.parts`` folder.

    Returns:
        dict: name -> ``dict(embedding=(E,), clips=(V, E) | None)``.
    """
    done: Dict[str, dict] = {}
    for path in sorted(glob.glob(osp.join(parts_dir, 'part-*.npz'))):
        with np.load(path) as part:
            clips = part['clip_embeddings'] if 'clip_embeddings' in \
                part.files else None
            for i, name in enumerate(part['files'].tolist()):
                done[name] = dict(
                    embedding=part['embeddings'][i],
                    clips=None if clips is None else clips[i])
    return done


def read_failures(parts_dir: str) -> Dict[str, str]:
    """name -> reason of the videos found unreadable by any run."""
    failed: Dict[str, str] = {}
    for path in sorted(glob.glob(osp.join(parts_dir, 'failed-*.json'))):
        with open(path, encoding='utf-8') as f:
            failed.update(json.load(f))
    return failed


def _atomic_write(path: str, write) -> None:
    tmp = f'{path}.tmp-{uuid.uuid4().hex[:8]}'
    with open(tmp, 'wb') as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class PartWriter:
    """Buffers finished videos and writes them to the parts folder.

    Args:
        parts_dir (str): The ``<out>.parts`` folder.
        rank (int): This process's rank (in the file names).
        per_clip (bool): Keep per-view embeddings.
    """

    def __init__(self, parts_dir: str, rank: int, per_clip: bool) -> None:
        self.parts_dir = parts_dir
        self.prefix = f'rank{rank}-{uuid.uuid4().hex[:8]}'
        self.per_clip = per_clip
        self.names: List[str] = []
        self.clips: List[np.ndarray] = []
        self.failed: Dict[str, str] = {}
        self.seq = 0

    def add(self, name: str, clips: torch.Tensor) -> None:
        """Buffer one video's (V, E) view embeddings."""
        self.names.append(name)
        self.clips.append(clips.numpy())

    def flush(self) -> None:
        """Write the buffered videos (and failures) as one part."""
        if self.names:
            arrays = dict(
                files=np.array(self.names),
                embeddings=np.stack([c.mean(0) for c in self.clips]))
            if self.per_clip:
                arrays['clip_embeddings'] = np.stack(self.clips)
            path = osp.join(self.parts_dir,
                            f'part-{self.prefix}-{self.seq:05d}.npz')
            _atomic_write(path, lambda f: np.savez(f, **arrays))
            self.seq += 1
            self.names, self.clips = [], []
        if self.failed:
            path = osp.join(self.parts_dir, f'failed-{self.prefix}.json')
            text = json.dumps(self.failed, indent=1).encode()
            _atomic_write(path, lambda f: f.write(text))


def write_result(out: str, names: Sequence[str], labels: Sequence[int],
                 done: Dict[str, dict], failed: Dict[str, str],
                 per_clip: bool) -> int:
    """Write the merged result in list order.

    Returns:
        int: Number of videos with an embedding.
    """
    kept = [i for i, n in enumerate(names) if n in done]
    if not kept:
        raise RuntimeError(f'none of the {len(names)} videos could be read; '
                           'nothing written (see the reasons above)')
    emb = np.stack([done[names[i]]['embedding'] for i in kept])
    files = np.array([names[i] for i in kept])
    bad = [n for n in names if n in failed and n not in done]
    if out.endswith('.npy'):
        _atomic_write(out, lambda f: np.save(f, emb))
        listing = out[:-4] + '_files.txt'
        text = ''.join(f'{n}\n' for n in files.tolist()).encode()
        _atomic_write(listing, lambda f: f.write(text))
        return len(kept)
    arrays = dict(
        embeddings=emb,
        files=files,
        labels=np.array([int(labels[i]) for i in kept], dtype=np.int64),
        failed_files=np.array(bad, dtype=str),
        failed_reasons=np.array([failed[n] for n in bad], dtype=str))
    if per_clip:
        arrays['clip_embeddings'] = np.stack(
            [done[names[i]]['clips'] for i in kept])
    _atomic_write(out, lambda f: np.savez(f, **arrays))
    return len(kept)


def _setup_distributed(args: argparse.Namespace) -> Tuple[int, int, str]:
    """Initialise the process group; return (rank, world size, device)."""
    from mmengine.dist import get_dist_info, init_dist
    cuda = torch.cuda.is_available()
    if args.launcher != 'none':
        if 'LOCAL_RANK' not in os.environ:
            os.environ['LOCAL_RANK'] = str(args.local_rank)
        init_dist(args.launcher, backend='nccl' if cuda else 'gloo')
    rank, world = get_dist_info()
    local = int(os.environ.get('LOCAL_RANK', 0))
    device = args.device or (f'cuda:{local}' if cuda else 'cpu')
    return rank, world, device


def _barrier(world: int) -> None:
    if world > 1:
        from mmengine.dist import barrier
        barrier()


def main(argv: Optional[List[str]] = None) -> dict:
    """Embed the videos.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        dict: ``computed`` (videos embedded by this process in this run),
        ``skipped`` (already done by an earlier run), ``failed`` (name ->
        reason, job-wide on rank 0) and ``written`` (videos in the result;
        rank 0).
    """
    args = parse_args(argv)
    for path, what in ((args.config, 'config'), (args.checkpoint,
                                                 'checkpoint')):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{what} not found: {path}')
    names, labels, prefix = list_videos(args.videos, args.data_prefix)
    rank, world, device = _setup_distributed(args)

    parts_dir = args.out + '.parts'
    signature = run_signature(args, names)
    sig_file = osp.join(parts_dir, 'run.json')
    if rank == 0:
        os.makedirs(parts_dir, exist_ok=True)
        if osp.isfile(sig_file):
            with open(sig_file, encoding='utf-8') as f:
                before = json.load(f)
            if before != signature:
                changed = sorted(
                    k for k in signature if before.get(k) != signature[k])
                raise ValueError(
                    f'{parts_dir} holds the parts of a run with other '
                    f'settings ({", ".join(changed)} differ); resume with '
                    'the same arguments, or delete the folder to start over')
        else:
            text = json.dumps(signature, indent=1).encode()
            _atomic_write(sig_file, lambda f: f.write(text))
    _barrier(world)
    done = read_parts(parts_dir)
    _barrier(world)  # every rank has read the parts before any writes

    todo = [n for n in names if n not in done]
    mine = todo[rank::world]
    if done:
        print_log(
            f'resuming: {len(done)} of {len(names)} videos already done in '
            f'{parts_dir}; {len(todo)} to embed',
            logger='current')

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    allow_full_unpickling_if_needed(args.checkpoint)
    model = init_recognizer(cfg, args.checkpoint, device=device)
    pipeline = Compose(test_pipeline_cfg(cfg))

    writer = PartWriter(parts_dir, rank, args.per_clip)
    kill_after = int(os.environ.get(KILL_AFTER_ENV, 0))
    bar = ProgressBar(len(mine)) if rank == 0 and mine else None
    computed = 0
    for name in mine:
        path = osp.join(prefix, name) if prefix else name
        try:
            data = load_clip(pipeline, path)
        except UnreadableVideo as exc:
            writer.failed[name] = str(exc)
            print_log(
                f'skipped unreadable video {path}: {exc}',
                logger='current',
                level=logging.WARNING)
        else:
            writer.add(name, embed_clip(model, data))
            computed += 1
        if len(writer.names) >= args.flush_every:
            writer.flush()
        if bar is not None:
            bar.update()
        if kill_after and computed >= kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
    writer.flush()
    print_log(
        f'rank {rank}: embedded {computed} videos in this run '
        f'({len(done)} done before, {len(writer.failed)} unreadable)',
        logger='current')
    _barrier(world)

    result = dict(
        computed=computed, skipped=len(done), failed={}, written=None)
    if rank == 0:
        done = read_parts(parts_dir)
        failed = {
            n: r
            for n, r in read_failures(parts_dir).items() if n not in done
        }
        result['failed'] = failed
        result['written'] = write_result(args.out, names, labels, done, failed,
                                         args.per_clip)
        for path in glob.glob(osp.join(parts_dir, '*')):
            os.remove(path)
        os.rmdir(parts_dir)
        print_log(
            f'wrote {result["written"]} embeddings of {len(names)} videos '
            f'to {args.out}',
            logger='current')
        if failed:
            shown = '\n'.join(f'  {n}: {r}'
                              for n, r in list(failed.items())[:20])
            more = f'\n  ... and {len(failed) - 20} more' \
                if len(failed) > 20 else ''
            print_log(
                f'{len(failed)} of {len(names)} videos could not be read '
                f'and have no embedding:\n{shown}{more}',
                logger='current',
                level=logging.WARNING)
    _barrier(world)
    return result


if __name__ == '__main__':
    from projects.dist.utils.cli import run_tool  # repository root on path
    run_tool(main)
