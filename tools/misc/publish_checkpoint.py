"""Turn a training checkpoint into a releasable, weights-only file.

A checkpoint written by MMEngine's Runner holds pickled Python objects (the
message hub's history buffers, optimizer and scheduler states, numpy
scalars), so ``torch.load(..., weights_only=True)`` (the torch >= 2.6
default) refuses it, and loading it with full unpickling runs arbitrary
code from the file. This tool keeps only what inference needs::

    python tools/misc/publish_checkpoint.py \
        work_dirs/dist_k400/epoch_30.pth work_dirs/dist_k400_release.pth

writes ``work_dirs/dist_k400_release-<sha256[:8]>.pth`` holding
``{'state_dict': tensors, 'meta': plain values}``, checks that it loads
with ``weights_only=True`` and prints its path. ``tools/test.py`` and
:func:`mmengine.runner.load_checkpoint` read it without unsafe unpickling.

Reading the INPUT needs full unpickling (``weights_only=False``): only
publish checkpoints you trained yourself.
"""
import argparse
import hashlib
import os
import os.path as osp
from typing import Any, List, Optional

import numpy as np
import torch

from projects.dist.models.utils.state_checks import describe_key_style
from projects.dist.utils.checkpoint_loading import (CheckpointFileError,
                                                    load_checkpoint_file)

#: ``meta`` entries copied to the published file (if present).
META_KEYS = ('epoch', 'iter', 'seed', 'experiment_name', 'time',
             'mmengine_version', 'dataset_meta', 'cfg')


def plain(value: Any, where: str, dropped: List[str]) -> Any:
    """Return ``value`` made of types ``weights_only`` loading accepts.

    Numpy scalars and arrays become Python numbers and lists; dicts, lists
    and tuples are converted recursively; anything else is dropped (its
    location appended to ``dropped``).

    Args:
        value: A meta value.
        where (str): Its location, for the report.
        dropped (list[str]): Collects the locations of dropped values.

    Returns:
        The converted value, or None if dropped.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, (str, int)):
                dropped.append(f'{where}[{k!r}]')
                continue
            converted = plain(v, f'{where}[{k!r}]', dropped)
            if converted is not None or v is None:
                out[k] = converted
        return out
    if isinstance(value, (list, tuple)):
        items = [
            plain(v, f'{where}[{i}]', dropped) for i, v in enumerate(value)
        ]
        return type(value)(items)
    dropped.append(f'{where} ({type(value).__name__})')
    return None


def strip_checkpoint(checkpoint: dict) -> tuple:
    """Keep the weights and plain meta of a Runner checkpoint.

    Args:
        checkpoint (dict): A loaded checkpoint (``state_dict`` + ``meta`` +
            optimizer, message hub, ...) or a bare state dict.

    Returns:
        tuple[dict, list[str]]: ``{'state_dict', 'meta'}`` and what was
        dropped from ``meta``.
    """
    if not isinstance(checkpoint, dict):
        raise TypeError('expected a checkpoint dict, got '
                        f'{type(checkpoint).__name__}')
    state = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state, dict):
        raise TypeError(f"'state_dict' is a {type(state).__name__}, "
                        'expected a dict of tensors')
    tensors = {}
    for k, v in state.items():
        if not isinstance(v, torch.Tensor):
            raise TypeError(
                f'state_dict entry {k!r} is a {type(v).__name__}, expected '
                f'a tensor; {describe_key_style(state)}')
        k = k[len('module.'):] if k.startswith('module.') else k
        tensors[k] = v.detach().cpu().contiguous()
    if not tensors:
        raise ValueError('the checkpoint holds no tensors; expected a Runner '
                         "checkpoint with a non-empty 'state_dict'")
    dropped: List[str] = []
    meta = {
        k: plain(v, k, dropped)
        for k, v in checkpoint.get('meta', {}).items() if k in META_KEYS
    }
    return dict(state_dict=tensors, meta=meta), dropped


def publish_checkpoint(in_file: str,
                       out_file: str,
                       add_hash: bool = True) -> str:
    """Write the weights-only release file of a training checkpoint.

    Args:
        in_file (str): Runner checkpoint (trusted: fully unpickled).
        out_file (str): Output path (``.pth``).
        add_hash (bool): Append ``-<first 8 hex digits of sha256>`` to the
            file name, as OpenMMLab model zoos do. Defaults to True.

    Returns:
        str: The path written.

    Raises:
        FileNotFoundError, CheckpointFileError: ``in_file`` is missing or
            not a PyTorch checkpoint (empty, text, truncated).
        TypeError, ValueError: It is not a Runner checkpoint or state dict
            of tensors, or ``out_file`` is ``in_file``.
    """
    if osp.exists(out_file) and osp.samefile(in_file, out_file) or (
            osp.realpath(in_file) == osp.realpath(out_file)):
        raise ValueError(f'output {out_file} is the input checkpoint; '
                         'choose another output path')
    checkpoint = load_checkpoint_file(
        in_file,
        map_location='cpu',
        what='training checkpoint',
        weights_only=False)
    published, dropped = strip_checkpoint(checkpoint)
    published['meta']['published_from'] = osp.basename(in_file)
    if dropped:
        print(f'dropped non-plain meta values: {dropped}')
    folder = osp.dirname(osp.abspath(out_file))
    os.makedirs(folder, exist_ok=True)
    tmp = f'{out_file}.tmp.{os.getpid()}'
    torch.save(published, tmp)
    check = torch.load(tmp, map_location='cpu', weights_only=True)
    if check['state_dict'].keys() != published['state_dict'].keys():
        raise RuntimeError(f'{tmp} did not read back correctly')
    if add_hash:
        with open(tmp, 'rb') as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:8]
        stem, ext = osp.splitext(out_file)
        out_file = f'{stem}-{digest}{ext or ".pth"}'
    os.replace(tmp, out_file)
    return out_file


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse command-line arguments."""
    p = argparse.ArgumentParser(
        description='Strip a training checkpoint to a weights-only release '
        'file (loadable with torch.load(weights_only=True)).')
    p.add_argument('in_file', help='training checkpoint (trusted)')
    p.add_argument('out_file', help='output .pth')
    p.add_argument(
        '--no-hash',
        action='store_true',
        help='do not append the sha256 prefix to the file name')
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    """Run the tool."""
    args = parse_args(argv)
    if not osp.isfile(args.in_file):
        raise SystemExit(f'error: no such file: {args.in_file}')
    try:
        path = publish_checkpoint(
            args.in_file, args.out_file, add_hash=not args.no_hash)
    except CheckpointFileError as exc:  # names the path itself
        raise SystemExit(f'error: {exc}') from None
    except (TypeError, ValueError) as exc:
        raise SystemExit(f'error: {args.in_file}: {exc}') from None
    print(f'wrote {path} (loads with torch.load(weights_only=True))')


if __name__ == '__main__':
    from projects.dist.utils.cli import run_tool
    run_tool(main)
