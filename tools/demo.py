# Copyright (c) DiST-MMAction2 contributors. Licensed under Apache-2.0.
"""Classify one video with a trained recognizer and print the top-k classes.

The video is decoded and transformed by the config's test pipeline
(``test_pipeline``, else ``test_dataloader.dataset.pipeline``; DiST configs
decode with PyAV). ``--class-names`` (a file) or ``--classes`` (names on
the command line) replaces the label set of DiST's text classifier without
retraining: the classifier is the frozen CLIP text tower applied to the class
names, so any list of names works (zero-shot). ``--templates`` /
``--templates-file`` format every name with prompt templates; several
templates are ensembled (normalised mean of the per-template embeddings)::

    python tools/demo.py VIDEO CONFIG CHECKPOINT
    python tools/demo.py VIDEO CONFIG CHECKPOINT --class-names my_labels.txt \\
        --topk 3 --out result.json
    python tools/demo.py VIDEO CONFIG CHECKPOINT --classes 'riding a bike' \\
        'juggling' --templates 'a video of a person {}.' 'a clip of {}.'

Scores are the model's test-time scores: class probabilities for configs
with ``average_clips='prob'`` (all DiST configs).

The video is checked first (``projects/dist/datasets/video_probe.py``) with
the backend the test pipeline decodes with: a file that is not a video,
empty, truncated or in a codec the backend cannot decode (e.g. AV1 for
decord) is an error naming the file and the problem. A video with fewer
frames than the test pipeline samples per clip (its frames are repeated to
fill the clip), or whose frames MMAction2's ``DecordInit`` returns out of
time order (an MP4 cut with stream copy), is classified with a warning
naming the file; the warnings are also in the result (``warnings``).
``DiSTVideoInit(backend='decord')`` refuses such a file (use ``'pyav'``).
"""
import argparse
import json
import logging
import os.path as osp
from typing import Dict, List, Optional, Union

import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.logging import print_log
from mmengine.registry import init_default_scope

import projects.dist  # noqa: F401  -- compat fixes + registration

# projects.dist patches mmaction before its models load:
# isort: split
from mmaction.apis import init_recognizer

from projects.dist.datasets.video_probe import (VideoFileError, inspect_video,
                                                pipeline_backend,
                                                pipeline_sampling)
from projects.dist.models.utils.class_names import load_class_names
from projects.dist.utils import allow_full_unpickling_if_needed
from projects.dist.utils.cli import DictAction


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='Classify a video and print the top-k class names')
    parser.add_argument('video', help='video file')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    names = parser.add_mutually_exclusive_group()
    names.add_argument(
        '--class-names',
        help='label file (one class name per line) to classify against '
        'instead of the config\'s; needs the text classifier')
    names.add_argument(
        '--classes',
        nargs='+',
        metavar='NAME',
        help='class names to classify against, given on the command line '
        '(instead of --class-names)')
    templates = parser.add_mutually_exclusive_group()
    templates.add_argument(
        '--templates',
        nargs='+',
        metavar='TEMPLATE',
        help="prompt templates with one '{}' each, e.g. 'a video of {}.'; "
        'several are ensembled (replaces the config\'s templates)')
    templates.add_argument(
        '--templates-file',
        help='file with one prompt template per line (an ensemble), e.g. '
        'projects/dist/label_maps/templates/video_ensemble.txt')
    parser.add_argument(
        '--topk',
        type=int,
        default=5,
        help='how many classes to print (at most the number of classes)')
    parser.add_argument('--out', help='also write the result to this .json')
    parser.add_argument(
        '--device',
        default='cuda:0' if torch.cuda.is_available() else 'cpu',
        help='device, e.g. cpu or cuda:0 (default: cuda:0 if available)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries (key=value)')
    return parser.parse_args(argv)


def test_pipeline_cfg(cfg: Config) -> list:
    """The config's test pipeline (transform configs).

    Args:
        cfg (Config): The config.

    Returns:
        list[dict]: ``cfg.test_pipeline`` if present, else the pipeline of
        ``cfg.test_dataloader.dataset``.
    """
    pipeline = cfg.get('test_pipeline')
    if pipeline is None:
        dataset = cfg.test_dataloader.dataset
        # wrapped datasets (e.g. RepeatDataset) keep theirs one level down
        while 'pipeline' not in dataset and 'dataset' in dataset:
            dataset = dataset.dataset
        pipeline = dataset.get('pipeline')
    if not pipeline:
        raise KeyError('the config has neither test_pipeline nor '
                       'test_dataloader.dataset.pipeline')
    return pipeline


def build_test_pipeline(cfg: Config) -> Compose:
    """The config's test pipeline.

    Args:
        cfg (Config): The config.

    Returns:
        Compose: :func:`test_pipeline_cfg` composed.
    """
    return Compose(test_pipeline_cfg(cfg))


def check_video(video: str, pipeline: list) -> List[str]:
    """Refuse a file the pipeline's decoder cannot decode; warn about a clip
    that will not be what the pipeline expects.

    Args:
        video (str): Video file.
        pipeline (list[dict]): The test pipeline's transform configs.

    Returns:
        list[str]: The warnings, each also logged (``print_log``, level
        WARNING): frames out of time order, or fewer frames than the
        pipeline's sampling step takes (its frames are then repeated).

    Raises:
        VideoFileError: The file is not a video, is empty or truncated,
            uses a codec the pipeline's backend cannot decode, or (DiST's
            decode step) that backend would return its frames out of time
            order; the message names the file and the problem.
    """
    backend = pipeline_backend(pipeline) or 'decord'
    report = inspect_video(video, backend=backend)
    if report.problem is not None:
        raise VideoFileError(video, report.problem)
    if report.order and any(
            step.get('type') == 'DiSTVideoInit' for step in pipeline):
        # DiST's readers refuse what they cannot return in time order
        raise VideoFileError(
            video, f'frames out of time order with backend {backend!r}: '
            f"{report.order[0]}; use backend='pyav' or re-encode the file")
    warnings = [
        f'{video}: frames out of time order, the scores may be wrong: '
        f'{problem}' for problem in report.order
    ]
    sampling = pipeline_sampling(pipeline)
    if sampling is not None and report.num_frames < sampling[0]:
        need, step = sampling
        warnings.append(
            f'{video} has {report.num_frames} frames but the test '
            f"pipeline's {step} samples {need} per clip: frames are repeated "
            'to fill the clip, so the scores come from a padded clip')
    for message in warnings:
        print_log(message, logger='current', level=logging.WARNING)
    return warnings


def predict(video: str,
            config: str,
            checkpoint: str,
            class_names: Optional[Union[str, List[str]]] = None,
            topk: int = 5,
            device: str = 'cpu',
            cfg_options: Optional[Dict] = None,
            templates: Optional[Union[str, List[str]]] = None) -> Dict:
    """Classify one video.

    Args:
        video (str): Video file.
        config (str): Config file.
        checkpoint (str): Checkpoint file.
        class_names (str | list[str], optional): Label file or names
            replacing the config's class names (``model.cls_head.class_names``,
            and ``num_classes`` is set to match). Defaults to None.
        topk (int): Number of classes returned (clipped to the number of
            classes). Defaults to 5.
        device (str): Torch device. Defaults to 'cpu'.
        cfg_options (dict, optional): Config overrides.
        templates (str | list[str], optional): Prompt templates (or a
            template file) replacing the config's
            (``model.cls_head.prompt_templates``); several are ensembled.
            Defaults to None (the config's).

    Returns:
        dict: ``video``, ``class_names`` (the label source),
        ``prompt_templates`` (those used, None for the raw names), ``topk``: a
        list of ``{'label': int, 'name': str, 'score': float}``, best first,
        and ``warnings`` (see :func:`check_video`).

    Raises:
        VideoFileError: ``video`` cannot be decoded (see
            :func:`check_video`).
    """
    if not osp.isfile(video):
        raise FileNotFoundError(f'video not found: {video}')
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    if topk < 1:
        raise ValueError(f'topk must be >= 1, got {topk}')
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    pipeline = test_pipeline_cfg(cfg)
    warnings = check_video(video, pipeline)
    head = cfg.model.cls_head
    if class_names is not None:
        names = load_class_names(class_names)
        head.class_names = class_names
        head.num_classes = len(names)
    if templates is not None:
        head.prompt_template = None
        head.prompt_templates = templates
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    allow_full_unpickling_if_needed(checkpoint)
    model = init_recognizer(cfg, checkpoint, device=device)
    names = getattr(model.cls_head, 'class_names', None)

    data = Compose(pipeline)(
        dict(filename=video, label=-1, start_index=0, modality='RGB'))
    with torch.no_grad():
        sample = model.test_step(pseudo_collate([data]))[0]
    scores = sample.pred_score.float().cpu()
    k = min(topk, scores.numel())
    values, labels = scores.topk(k)
    return dict(
        video=video,
        class_names=class_names or head.get('class_names'),
        prompt_templates=getattr(model.cls_head, 'prompt_templates', None),
        topk=[
            dict(
                label=int(i),
                name=names[int(i)] if names else str(int(i)),
                score=float(v)) for v, i in zip(values, labels)
        ],
        warnings=warnings)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the demo.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        int: Exit status (0 on success).
    """
    args = parse_args(argv)
    result = predict(
        args.video,
        args.config,
        args.checkpoint,
        args.class_names or args.classes,
        args.topk,
        args.device,
        args.cfg_options,
        templates=args.templates or args.templates_file)
    print(f'Top-{len(result["topk"])} for {args.video}:')
    for rank, item in enumerate(result['topk'], 1):
        print(f'{rank:>3}. {item["name"]:<40} {item["score"]:.4f}')
    if args.out:
        with open(args.out, 'w', encoding='utf-8') as f:
            json.dump(result, f, indent=2)
        print(f'Result written to {args.out}')
    return 0


if __name__ == '__main__':
    from projects.dist.utils.cli import run_tool  # repository root on path
    run_tool(main)
