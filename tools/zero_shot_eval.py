# Copyright (c) DiST-MMAction2 contributors. Licensed under Apache-2.0.
"""Zero-shot evaluation over several splits, reported as mean ± std.

The protocol of X-CLIP and ViFi-CLIP for UCF101 and HMDB51: a model trained
on Kinetics classifies the test list of each of the three official splits
against the target dataset's class names; the top-1 accuracy is reported as
the mean ± standard deviation over the splits. For every split this runs
``tools/test.py``'s code path (its config merging, launcher handling and
MMEngine Runner) with the config's ``zero_shot.ann_file`` formatted with the
split number::

    python tools/zero_shot_eval.py configs/dist_vitb_k400_zeroshot_ucf101.py \\
        work_dirs/dist_vitb_k400/best_checkpoint.pth --out ucf101_zs.json
    bash tools/dist_zero_shot_eval.sh CONFIG CHECKPOINT 8

The config needs ``zero_shot = dict(splits=(1, 2, 3),
ann_file='.../list_split_{split}.txt')``. Each split's logs and metrics go to
``<work dir>/split_<k>``. The standard deviation is the population one
(``ddof=0``) of the per-split values; ``--out`` writes every split's
metrics, the mean and the std of each metric as JSON.
"""
import argparse
import importlib.util
import json
import os.path as osp
from typing import Dict, List, Optional

import numpy as np
from mmengine.config import Config
from mmengine.dist import get_dist_info

import projects.dist  # noqa: F401  -- compat fixes + registration

# projects.dist patches mmaction before its models load:
# isort: split
from projects.dist.utils import allow_full_unpickling_if_needed
from projects.dist.utils.launch import (build_runner, launch_parser,
                                        parse_launch_args)


def _test_tool():
    """``tools/test.py`` as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        'dist_tool_test',
        osp.join(osp.dirname(osp.abspath(__file__)), 'test.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = launch_parser(
        description='Zero-shot evaluation over the splits of a config '
        '(mean ± std)',
        config_help='zero-shot config (with zero_shot)',
        work_dir_help='root of the per-split work dirs (split_<k>)',
        cfg_options_example='model.cls_head.prompt_templates=FILE')
    parser.add_argument('checkpoint', help='checkpoint (e.g. Kinetics-400)')
    parser.add_argument(
        '--splits',
        type=int,
        nargs='+',
        help="splits to evaluate (default: the config's zero_shot.splits)")
    parser.add_argument(
        '--out', help='write per-split metrics and mean/std to this .json')
    args = parse_launch_args(parser, argv)
    if args.out is not None and not args.out.endswith('.json'):
        parser.error(f'--out must name a .json file, got {args.out!r}')
    return args


def split_lists(cfg: Config, splits: Optional[List[int]]) -> Dict[int, str]:
    """The annotation list of every split.

    Args:
        cfg (Config): The config, ``--cfg-options`` merged.
        splits (list[int], optional): Splits asked for; None takes the
            config's ``zero_shot.splits``.

    Returns:
        dict[int, str]: split -> annotation list.
    """
    zero_shot = cfg.get('zero_shot')
    expected = ("expected zero_shot = dict(splits=(1, 2, 3), ann_file='"
                ".../list_split_{split}.txt') in the config")
    if not isinstance(zero_shot, dict) or 'ann_file' not in zero_shot:
        raise KeyError(f'the config has no zero_shot.ann_file; {expected}')
    template = zero_shot['ann_file']
    if '{split}' not in template:
        raise ValueError(f"zero_shot.ann_file {template!r} has no '{{split}}' "
                         f'placeholder; {expected}')
    splits = list(splits or zero_shot.get('splits') or [])
    if not splits:
        raise ValueError(f'no splits to evaluate; {expected} or pass '
                         '--splits')
    if len(set(splits)) != len(splits):
        raise ValueError(f'--splits {splits} repeats a split')
    lists = {k: template.format(split=k) for k in splits}
    missing = {k: p for k, p in lists.items() if not osp.isfile(p)}
    if missing:
        raise FileNotFoundError('annotation list(s) not found: ' +
                                ', '.join(f'split {k}: {p!r}'
                                          for k, p in missing.items()) +
                                ' (see docs/data_preparation.md)')
    return lists


def summarize(per_split: Dict[int, dict]) -> Dict[str, dict]:
    """Mean and population std (ddof=0) of every numeric metric.

    Args:
        per_split (dict[int, dict]): split -> metrics.

    Returns:
        dict[str, dict]: metric -> ``dict(mean=..., std=...)``, for the
        metrics every split reports.
    """
    keys = [
        k for k, v in next(iter(per_split.values())).items()
        if isinstance(v, (int, float)) and all(
            isinstance(m.get(k), (int, float)) for m in per_split.values())
    ]
    summary = {}
    for key in keys:
        values = np.array([float(m[key]) for m in per_split.values()])
        summary[key] = dict(
            mean=float(values.mean()), std=float(values.std(ddof=0)))
    return summary


def main(argv: Optional[List[str]] = None) -> dict:
    """Evaluate every split and print the mean ± std.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        dict: ``splits`` (split -> metrics), ``mean_std`` (see
        :func:`summarize`) and ``ann_files`` (split -> list).
    """
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    allow_full_unpickling_if_needed(args.checkpoint)
    test_tool = _test_tool()
    base = Config.fromfile(args.config)
    if args.cfg_options:
        base.merge_from_dict(args.cfg_options)
    lists = split_lists(base, args.splits)
    root = args.work_dir or base.get('work_dir') or osp.join(
        './work_dirs',
        osp.splitext(osp.basename(args.config))[0])

    per_split = {}
    for split, ann_file in lists.items():
        cfg = Config.fromfile(args.config)
        split_args = argparse.Namespace(**vars(args))
        split_args.work_dir = osp.join(root, f'split_{split}')
        split_args.cfg_options = dict(
            args.cfg_options or {}, **{
                'test_dataloader.dataset.ann_file': ann_file,
                'experiment_name': f'zero_shot_split_{split}'
            })
        # tools/test.py's flags this tool does not offer
        split_args.dump, split_args.show, split_args.show_dir = None, False, \
            None
        cfg = test_tool.merge_args(cfg, split_args)
        per_split[split] = dict(build_runner(cfg).test())

    summary = summarize(per_split)
    result = dict(splits=per_split, mean_std=summary, ann_files=lists)
    rank, _ = get_dist_info()
    if rank == 0:
        names = list(summary)
        print(f'Zero-shot over splits {list(per_split)} ({args.config}):')
        print('  ' + ' '.join(f'{n:>22}' for n in ['split'] + names))
        for split, metrics in per_split.items():
            print('  ' + ' '.join([f'{split:>22}'] +
                                  [f'{metrics[n]:>22.4f}' for n in names]))
        print('  ' + ' '.join([f'{"mean ± std":>22}'] + [
            f'{summary[n]["mean"]:>13.4f} ± {summary[n]["std"]:.4f}'
            for n in names
        ]))
        if args.out:
            with open(args.out, 'w', encoding='utf-8') as f:
                json.dump(
                    dict(
                        config=args.config,
                        checkpoint=args.checkpoint,
                        std='population (ddof=0)',
                        **result),
                    f,
                    indent=2)
            print(f'Results written to {args.out}')
    return result


if __name__ == '__main__':
    from projects.dist.utils.cli import run_tool  # repository root on path
    run_tool(main)
