"""Report GMACs per view and parameter counts of a DiST recognizer config.

The model is built on the ``meta`` device (no memory, no weights loaded) and
one view, ``(1, 3, T, H, W)``, is run through its backbone and head under
:class:`torch.utils.flop_counter.FlopCounterMode`; matmuls, convolutions and
attention (``scaled_dot_product_attention`` included) are counted and
reported as MACs (FLOPs / 2). The CLIP text tower is excluded: its class
features are computed once and cached, so per view the head only costs the
similarity matmul. Element-wise operations are not counted.

Examples::

    python tools/analysis/get_flops.py configs/dist_vitb_k400.py
    python tools/analysis/get_flops.py configs/_base_/models/dist_tiny.py \\
        --shape 1 3 8 32 32 --json
"""
import argparse
import copy
import json
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import projects.dist  # noqa: F401  -- compat fixes + registration

# projects.dist patches mmaction before its models load:
# isort: split
from mmaction.registry import MODELS

from projects.dist.models import DiSTCLIPVisual
from projects.dist.models.layers import CrossAttention
from projects.dist.utils.cli import DictAction
from .flops import count_model_macs, count_parameters
from .model_inputs import default_clip_shape


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments without the program name.
            Defaults to None, which reads ``sys.argv``.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='GMACs per view and parameters of a DiST config')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        default=None,
        help='input shape of one view: "T H W", "C T H W" or "N C T H W" '
        '(N views are counted and divided by N). Default: 1 3 num_frames '
        'S S with S the CLIP input size of the config')
    parser.add_argument(
        '--device',
        choices=['meta', 'cpu'],
        default='meta',
        help='where to build and run the model; meta is exact and costs no '
        'compute (default); cpu is a fallback for modules that cannot run '
        'on meta tensors')
    parser.add_argument(
        '--json',
        action='store_true',
        help='print one JSON object instead of the table')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, as in tools/train.py')
    return parser.parse_args(argv)


def resolve_shape(shape: Optional[Sequence[int]],
                  backbone: torch.nn.Module) -> Tuple[int, ...]:
    """Return the full (N, C, T, H, W) input shape.

    Args:
        shape (Sequence[int], optional): ``T H W``, ``C T H W`` or
            ``N C T H W``; None derives ``(1, 3, T, S, S)`` from the
            backbone (``num_frames`` and the tower's ``image_size``).
        backbone (torch.nn.Module): The recognizer's backbone.

    Returns:
        tuple[int, ...]: (N, C, T, H, W).
    """
    if shape is None:
        return (1, ) + default_clip_shape(backbone)
    shape = tuple(int(s) for s in shape)
    if len(shape) == 3:
        shape = (1, 3) + shape
    elif len(shape) == 4:
        shape = (1, ) + shape
    elif len(shape) != 5:
        raise ValueError(f'--shape takes 3, 4 or 5 integers (T H W, C T H W '
                         f'or N C T H W), got {len(shape)}: {list(shape)}')
    if min(shape) < 1:
        raise ValueError(f'--shape must be positive, got {list(shape)}')
    return shape


def patch_embedded_frames(model: torch.nn.Module, shape: Tuple[int, ...],
                          patch_embed_macs: int) -> Optional[float]:
    """Convert the tower's patch-embedding MACs into frames per view.

    Args:
        model (torch.nn.Module): The recognizer.
        shape (tuple[int, ...]): (N, C, T, H, W).
        patch_embed_macs (int): MACs of the tower's patch-embedding
            convolution for all N views.

    Returns:
        float, optional: Frames per view the tower patch-embedded; None for a
        backbone whose tower is not a :class:`DiSTCLIPVisual`.
    """
    tower = getattr(model.backbone, 'spatial_encoder', None)
    if not isinstance(tower, DiSTCLIPVisual):
        return None
    n, c, _, h, w = shape
    patch = tower.patch_size
    # a (width, C, patch, patch) convolution at every patch position
    one_frame = tower.width * c * patch * patch * (h // patch) * (w // patch)
    return patch_embed_macs / one_frame / n


def analyse(cfg: Config,
            shape: Optional[Sequence[int]] = None,
            device: str = 'meta') -> dict:
    """Build the model of ``cfg`` and count its MACs and parameters.

    Args:
        cfg (Config): A config with ``model``.
        shape (Sequence[int], optional): See :func:`resolve_shape`.
        device (str): ``'meta'`` or ``'cpu'``. Defaults to ``'meta'``.

    Returns:
        dict: ``input_shape``, ``gmacs_per_view`` (dict of ``total``,
        ``frozen_tower``, ``side_network``, ``head``), ``macs_per_view``
        (same keys, exact integers), ``patch_embedded_frames``, ``params``
        (dict of counts) and ``gmacs_per_view_standard``: the count of the
        same model with DiST's folded ada-pooling attention replaced by the
        standard formulation (what papers report; None if nothing is
        folded).
    """
    if device not in ('meta', 'cpu'):
        raise ValueError(f"device must be 'meta' or 'cpu', got {device!r}")
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    model_cfg = copy.deepcopy(cfg.model)
    preprocessor = model_cfg.get('data_preprocessor', None)
    if isinstance(preprocessor, dict):
        # Mixup/CutMix only mix training inputs (no MACs) and their Beta
        # distributions cannot be built on the meta device
        preprocessor.pop('blending', None)
    with torch.device(device):
        model = MODELS.build(model_cfg)
    model.eval()
    full_shape = resolve_shape(shape, model.backbone)
    inputs = torch.zeros(full_shape, device=device)
    macs = count_model_macs(model, inputs)
    patch_embed = macs.pop('patch_embed')
    standard = None
    if any(
            isinstance(m, CrossAttention) and m.fold_queries and m.fused
            for m in model.modules()):
        # the folded attention is exact but needs fewer MACs: also count the
        # standard formulation, comparable with published figures
        std_cfg = copy.deepcopy(cfg)
        std_cfg.model.backbone.ada_fold_queries = False
        standard = analyse(std_cfg, shape, device)['gmacs_per_view']
    views = full_shape[0]
    per_view = {k: v / views for k, v in macs.items()}
    return dict(
        input_shape=list(full_shape),
        macs_per_view={
            k: int(round(v))
            for k, v in per_view.items()
        },
        gmacs_per_view={
            k: round(v / 1e9, 4)
            for k, v in per_view.items()
        },
        patch_embedded_frames=patch_embedded_frames(model, full_shape,
                                                    patch_embed),
        params=count_parameters(model),
        gmacs_per_view_standard=standard)


def format_report(result: dict, config: str) -> str:
    """Render :func:`analyse`'s result as a text table.

    Args:
        result (dict): Output of :func:`analyse`.
        config (str): Config path (shown in the header).

    Returns:
        str: The report.
    """
    g = result['gmacs_per_view']
    p = result['params']
    n, c, t, h, w = result['input_shape']
    lines = [
        '=' * 64,
        f'Config: {config}',
        f'Input per view: ({c}, {t}, {h}, {w})  (counted for N={n}, '
        'divided by N)',
        f"GMACs per view (total):        {g['total']:10.3f}",
        f"  frozen CLIP image tower:     {g['frozen_tower']:10.3f}",
        f"  side network (trainable):    {g['side_network']:10.3f}",
        f"  head (cached text features): {g['head']:10.3f}",
    ]
    std = result.get('gmacs_per_view_standard')
    if std is not None:
        lines += [
            f"GMACs per view, standard attention: {std['total']:10.3f}",
            '  (the count papers report; DiST computes its few-query',
            '  ada-pooling attention in an exact folded form with fewer MACs)',
        ]
    if result['patch_embedded_frames'] is not None:
        lines.append(f"Frames patch-embedded by the tower: "
                     f"{result['patch_embedded_frames']:g} of {t}")
    lines += [
        f"Params total:      {p['total']:>14,}",
        f"Params trainable:  {p['trainable']:>14,}",
        f"  frozen image tower: {p['frozen_tower']:>11,}",
        f"  frozen text tower:  {p['text_tower']:>11,}",
        f"  side network:       {p['side_network']:>11,}",
        '=' * 64,
        'MACs = FLOPs / 2 of matmuls, convolutions and attention '
        '(torch FlopCounterMode); element-wise operations are not '
        'counted; the text tower is excluded (features cached).',
    ]
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> dict:
    """Entry point.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        dict: The result of :func:`analyse` (also printed).
    """
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    result = analyse(cfg, args.shape, args.device)
    if args.json:
        print(json.dumps(dict(config=args.config, **result)))
    else:
        print(format_report(result, args.config))
    return result
