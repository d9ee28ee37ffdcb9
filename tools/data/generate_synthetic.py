# Copyright (c) DiST-MMAction2 contributors. Licensed under Apache-2.0.
"""Generate the synthetic motion-order dataset (the built-in default).

Writes small mp4 videos, ``train.txt``/``val.txt``/``test.txt`` annotation
lists (MMAction2 ``VideoDataset`` format) and ``classes.txt``; optionally
also the seeded random frozen tiny CLIP tower used by
``configs/dist_tiny_synthetic.py``. With ``--config`` every parameter is
read from that config's training dataset, so the files are exactly those
the config would generate on first use::

    python tools/data/generate_synthetic.py \
        --config configs/dist_tiny_synthetic.py
    python tools/data/generate_synthetic.py data/my_motion --train 100 --seed 3

Already generated data with the same parameters is left as is.
"""
import argparse
import time

from mmengine.config import Config

from projects.dist.datasets.synthetic_motion import (SyntheticMotionGenerator,
                                                     write_random_clip_weights)
from projects.dist.utils.cli import DictAction


def parse_args(argv: list = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='Generate the synthetic motion-order video dataset')
    parser.add_argument(
        'out_dir',
        nargs='?',
        help='output folder (default: the config\'s data_root, else '
        'data/synthetic_motion)')
    parser.add_argument(
        '--config',
        help='take every generation parameter from this config\'s '
        'train_dataloader.dataset (a DiSTSyntheticMotionDataset)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override entries of --config (key=value), e.g. '
        'train_dataloader.dataset.data_root=data/x')
    parser.add_argument(
        '--train',
        type=int,
        default=None,
        help='videos per class in the train split')
    parser.add_argument(
        '--val',
        type=int,
        default=None,
        help='videos per class in the val split')
    parser.add_argument(
        '--test',
        type=int,
        default=None,
        help='videos per class in the test split')
    parser.add_argument(
        '--num-frames',
        type=int,
        default=None,
        help='positions per clip T (files hold T + 1)')
    parser.add_argument(
        '--frame-size',
        type=int,
        default=None,
        help='frame side in pixels, a multiple of 32')
    parser.add_argument('--seed', type=int, default=None, help='seed')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='regenerate even if data with other parameters is there')
    return parser.parse_args(argv)


def _params_from_config(path: str, options: dict = None) -> dict:
    """Generation parameters of a config's training dataset.

    Args:
        path (str): Config file.
        options (dict, optional): ``--cfg-options`` overrides.

    Returns:
        dict: ``root``, ``num_per_class``, ``num_frames``, ``frame_size``,
        ``seed``, ``clip_weights`` (dict or None).
    """
    cfg = Config.fromfile(path)
    if options:
        cfg.merge_from_dict(options)
    ds = cfg.train_dataloader.dataset
    if ds.get('type') != 'DiSTSyntheticMotionDataset':
        raise ValueError(
            f'{path}: train_dataloader.dataset.type must be '
            f"'DiSTSyntheticMotionDataset', got {ds.get('type')!r}")
    clip_weights = ds.get('clip_weights')
    return dict(
        root=ds.data_root,
        num_per_class=dict(ds.get('num_per_class') or {}) or None,
        num_frames=ds.get('num_frames', 16),
        frame_size=ds.get('frame_size', 32),
        seed=ds.get('seed', 0),
        clip_weights=None if clip_weights is None else dict(
            path=clip_weights['path'],
            arch=dict(clip_weights['arch']),
            seed=clip_weights.get('seed', 0)))


def main(argv: list = None) -> int:
    """Run the tool.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        int: Exit status (0 on success).
    """
    args = parse_args(argv)
    params = dict(
        root='data/synthetic_motion',
        num_per_class=None,
        num_frames=16,
        frame_size=32,
        seed=0,
        clip_weights=None)
    if args.config:
        params.update(_params_from_config(args.config, args.cfg_options))
    elif args.cfg_options:
        raise SystemExit('generate_synthetic.py: error: --cfg-options needs '
                         '--config')
    if args.out_dir:
        params['root'] = args.out_dir
    counts = dict(params['num_per_class'] or dict(train=60, val=15, test=20))
    for split in ('train', 'val', 'test'):
        if getattr(args, split) is not None:
            counts[split] = getattr(args, split)
    for key in ('num_frames', 'frame_size', 'seed'):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)

    gen = SyntheticMotionGenerator(
        params['root'],
        num_per_class=counts,
        num_frames=params['num_frames'],
        frame_size=params['frame_size'],
        seed=params['seed'])
    start = time.time()
    if not args.overwrite and gen.is_complete():
        print(f'{params["root"]}: already generated with these parameters')
    else:
        print(f'Writing {len(gen.jobs())} videos to {params["root"]}')
        gen.generate(progress=True)
        print(f'Done in {time.time() - start:.1f} s')
    weights = params['clip_weights']
    if weights is not None:
        if write_random_clip_weights(
                weights['path'],
                weights['arch'],
                weights.get('seed', 0),
                overwrite=args.overwrite):
            print(f'Wrote the random frozen CLIP tower to {weights["path"]}')
        else:
            print(f'{weights["path"]}: already there')
    return 0


if __name__ == '__main__':
    from projects.dist.utils.cli import run_tool  # repository root on path
    run_tool(main)
