"""Convert official DiST checkpoints to this plugin's parameter names.

A pure key mapping plus shape-based inference of the architecture; the CLI
in ``tools/model_converters/dist_official_to_mmaction.py`` wraps it.

Official checkpoints (``{'model_state': state_dict}``) name every tensor
``backbone.base_encoder.<...>``: the CLIP towers with OpenAI names and the
trained side network under ``dist_net.`` (``ladder_net.`` and other
pre-release module names are accepted too).
"""
import math
import re
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

OFFICIAL_PREFIX = 'backbone.base_encoder.'

#: Pre-release module names -> released names (official
#: ``process_dist_cpkt.py`` did this renaming for the published files).
LEGACY_NAMES = {
    'ladder_net': 'dist_net',
    'input_map_feat_nets': 'input_linears',
    's2t_fuse_nets': 'integration2temporal_nets',
    't2s_fuse_nets': 'temporal2integration_nets',
    'spatial_nets': 'integration_nets',
    'final_temporal_nets': 'adapooling_nets',
}

_ADA_PARTS = [
    ('spatial_transformer.attn.out_proj.', 'spatial_attn.out_proj.'),
    ('spatial_transformer.attn.', 'spatial_attn.'),
    ('spatial_transformer.ln_1.', 'spatial_attn.norm.'),
    ('output_map_spatial_cls_token.c_fc.', 'spatial_mlp.fc1.'),
    ('output_map_spatial_cls_token.c_proj.', 'spatial_mlp.fc2.'),
    ('ln_out_spat_cls_token.', 'spatial_norm.'),
    ('temporal_transformer.attn.out_proj.', 'temporal_attn.out_proj.'),
    ('temporal_transformer.attn.', 'temporal_attn.'),
    ('temporal_transformer.ln_1.', 'temporal_attn.norm.'),
    ('output_map_cls_token.c_fc.', 'temporal_mlp.fc1.'),
    ('output_map_cls_token.c_proj.', 'temporal_mlp.fc2.'),
    ('ln_out_temp_cls_token.', 'temporal_norm.'),
    ('positional_embedding', 'positional_embedding'),
]

#: (official ``dist_net.`` pattern, plugin name) pairs, tried in order.
DIST_NET_RULES: List[Tuple[str, str]] = [
    (r'temporal_stem\.(weight|bias)', r'backbone.temporal_stem.\1'),
    (r'temporal_nets\.(\d+)\.ln\.(weight|bias)',
     r'backbone.temporal_blocks.\1.norm.\2'),
    (r'temporal_nets\.(\d+)\.temporal_net\.c_fc1\.(weight|bias)',
     r'backbone.temporal_blocks.\1.conv1.\2'),
    (r'temporal_nets\.(\d+)\.temporal_net\.c_fc2\.(weight|bias)',
     r'backbone.temporal_blocks.\1.conv2.\2'),
    (r'input_linears\.(\d+)\.(weight|bias)', r'backbone.input_projs.\1.\2'),
    (r'integration2temporal_nets\.(\d+)\.linear_fuse\.(weight|bias)',
     r'backbone.to_temporal.\1.proj.\2'),
    (r'temporal2integration_nets\.(\d+)\.cls_token',
     r'backbone.to_integration.\1.cls_token'),
    (r'temporal2integration_nets\.(\d+)\.linear_fuse\.(weight|bias)',
     r'backbone.to_integration.\1.conv.\2'),
    (r'integration_nets\.(\d+)\.ln\.(weight|bias)',
     r'backbone.integration_blocks.\1.norm.\2'),
    (r'integration_nets\.(\d+)\.ln_temporal\.(weight|bias)',
     r'backbone.integration_blocks.\1.norm_temporal.\2'),
    (r'integration_nets\.(\d+)\.ffn\.c_fc\.(weight|bias)',
     r'backbone.integration_blocks.\1.mlp.fc1.\2'),
    (r'integration_nets\.(\d+)\.ffn\.c_proj\.(weight|bias)',
     r'backbone.integration_blocks.\1.mlp.fc2.\2'),
    (r'integration_nets\.(\d+)\.temporal_ffn\.c_fc1\.(weight|bias)',
     r'backbone.integration_blocks.\1.temporal_mlp.reduce.\2'),
    (r'integration_nets\.(\d+)\.temporal_ffn\.c_fc2\.(weight|bias)',
     r'backbone.integration_blocks.\1.temporal_mlp.temporal.\2'),
    (r'integration_nets\.(\d+)\.temporal_ffn\.c_proj\.(weight|bias)',
     r'backbone.integration_blocks.\1.temporal_mlp.expand.\2'),
] + [
    (r'adapooling_nets\.(\d+)\.' + re.escape(old) + r'(.*)',
     r'backbone.aggregator.layers.\1.' + new + r'\2')
    for old, new in _ADA_PARTS
] + [
    (r'proj_spatial_cls_token\.(weight|bias)',
     r'backbone.aggregator.cls_proj.\1'),
    (r'ln_post\.(weight|bias)', r'backbone.aggregator.ln_post.\1'),
    (r'proj', r'backbone.aggregator.proj'),
    (r'aggregated_cls_token', r'backbone.aggregator.video_query'),
    (r'aggregated_spatial_cls_token', r'backbone.aggregator.spatial_query'),
]

_TEXT_PREFIXES = ('transformer.', 'token_embedding.', 'positional_embedding',
                  'ln_final.', 'text_projection')


class NotOfficialCheckpointError(ValueError):
    """The input is not an official DiST checkpoint."""


class ConverterArgumentError(ValueError):
    """A conversion argument contradicts what the checkpoint holds."""


def resolve_text_heads(text_width: int,
                       text_heads: Optional[int] = None) -> int:
    """Attention heads of the official text tower.

    The head count is not stored in a checkpoint. The official code builds
    the CLIP towers with OpenAI's ``clip.build_model``, which sets
    ``transformer_heads = transformer_width // 64``: for a text tower at
    least 64 wide that rule is what the checkpoint was trained with, and a
    different ``text_heads`` is refused (it would change every logit).
    Narrower towers (test models) cannot be built by that rule, so their
    head count must be given and must divide the width.

    Args:
        text_width (int): Width of the text tower (from the tensors).
        text_heads (int, optional): The head count given by the user.

    Returns:
        int: The head count.

    Raises:
        ConverterArgumentError: ``text_heads`` contradicts the rule, is
            missing where it cannot be derived, or does not divide the
            width.
    """
    rule = text_width // 64
    if rule >= 1:
        if text_heads is not None and text_heads != rule:
            raise ConverterArgumentError(
                f'--text-heads {text_heads} contradicts the checkpoint: its '
                f'text tower is {text_width} wide, and the official code '
                f'(clip.build_model) builds it with width // 64 = {rule} '
                f'heads; drop --text-heads (or pass {rule})')
        return rule
    if text_heads is None:
        raise ConverterArgumentError(
            f'the checkpoint\'s text tower is only {text_width} wide, too '
            'narrow for the official width // 64 head rule, and the head '
            'count is not stored in the file; pass the head count it was '
            'made with as --text-heads')
    if text_heads < 1 or text_width % text_heads:
        raise ConverterArgumentError(
            f'--text-heads {text_heads} does not divide the checkpoint\'s '
            f'text width {text_width}')
    return text_heads


def check_selected_layers(selected_layers: Optional[Sequence[int]],
                          num_selected: int, depth: int) -> List[int]:
    """Check ``--selected-layers`` against the checkpoint.

    Args:
        selected_layers (Sequence[int], optional): CLIP block indices given
            by the user; None means every block.
        num_selected (int): DiST layers in the checkpoint.
        depth (int): CLIP blocks in the checkpoint.

    Returns:
        list[int]: The selected CLIP blocks.

    Raises:
        ConverterArgumentError: The indices are missing where they cannot be
            derived, their number differs from the checkpoint's DiST layers,
            or they are not distinct ascending blocks of the tower.
    """
    if selected_layers is None:
        if num_selected != depth:
            raise ConverterArgumentError(
                f'the checkpoint has {num_selected} DiST layers for a '
                f'{depth}-block CLIP tower; pass --selected-layers (the '
                f'official SELECTED_LAYERS, {num_selected} indices)')
        return list(range(depth))
    layers = [int(i) for i in selected_layers]
    if len(layers) != num_selected:
        raise ConverterArgumentError(
            f'--selected-layers names {len(layers)} blocks but the '
            f'checkpoint has {num_selected} DiST layers')
    if layers != sorted(set(layers)) or layers[0] < 0 or layers[-1] >= depth:
        raise ConverterArgumentError(
            f'--selected-layers {layers} must be distinct ascending CLIP '
            f'block indices in [0, {depth - 1}] (the checkpoint\'s tower has '
            f'{depth} blocks)')
    return layers


def check_model_config(model_cfg: dict, converted: Dict[str,
                                                        torch.Tensor]) -> None:
    """Build ``model_cfg`` without memory (meta device) and check that its
    tensors are exactly the converted ones, with the same shapes.

    Args:
        model_cfg (dict): Output of :func:`build_model_config`.
        converted (dict): Output of :func:`convert_official_state_dict`.

    Raises:
        ConverterArgumentError: The config does not build, or its tensors
            differ from the converted ones.
    """
    from mmengine.registry import DefaultScope

    from mmaction.registry import MODELS
    try:
        with DefaultScope.overwrite_default_scope('mmaction'), \
                torch.device('meta'):
            model = MODELS.build(model_cfg)
    except (ValueError, KeyError, AssertionError) as exc:
        raise ConverterArgumentError(
            f'the model config made from the arguments does not build: '
            f'{exc}') from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(converted))
    extra = sorted(set(converted) - set(expected))
    shapes = [
        f'{k}: checkpoint {tuple(converted[k].shape)} != config '
        f'{tuple(v.shape)}' for k, v in expected.items()
        if k in converted and tuple(v.shape) != tuple(converted[k].shape)
    ]
    if missing or extra or shapes:
        raise ConverterArgumentError(
            'the model config made from the arguments does not match the '
            f'converted tensors: missing {missing[:5]}, unexpected '
            f'{extra[:5]}, other shapes {shapes[:5]}')


def extract_official_state(checkpoint: dict) -> Dict[str, torch.Tensor]:
    """Return the official ``backbone.base_encoder.*`` tensors, unprefixed.

    Accepts ``{'model_state': sd}`` (released format), ``{'state_dict': sd}``
    or a bare state dict, with or without a DDP ``module.`` prefix, and
    renames pre-release module names (``ladder_net`` ...).

    Args:
        checkpoint (dict): The loaded file.

    Returns:
        dict[str, torch.Tensor]: Keys such as ``visual.conv1.weight`` and
        ``dist_net.temporal_stem.weight``.
    """
    if not isinstance(checkpoint, dict):
        raise NotOfficialCheckpointError(
            f'expected a dict checkpoint, got {type(checkpoint).__name__}')
    state = checkpoint
    for key in ('model_state', 'state_dict', 'model'):
        if isinstance(checkpoint.get(key), dict):
            state = checkpoint[key]
            break
    out = {}
    for k, v in state.items():
        if not isinstance(v, torch.Tensor):
            continue
        k = k[len('module.'):] if k.startswith('module.') else k
        if not k.startswith(OFFICIAL_PREFIX):
            continue
        k = k[len(OFFICIAL_PREFIX):]
        parts = k.split('.')
        parts = [
            LEGACY_NAMES.get(p, p) if i < 2 else p for i, p in enumerate(parts)
        ]
        out['.'.join(parts)] = v
    if not any(k.startswith('dist_net.') for k in out):
        sample = list(state)[:5]
        raise NotOfficialCheckpointError(
            'not an official DiST checkpoint: expected tensors named '
            f"'{OFFICIAL_PREFIX}dist_net.*' (or 'ladder_net.*'), found keys "
            f'like {sample}')
    return out


def _count(state: dict, pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in state for m in [rx.match(k)] if m})


def infer_official_arch(state: Dict[str, torch.Tensor],
                        text_heads: Optional[int] = None) -> dict:
    """Infer every dimension of an official DiST model from tensor shapes.

    Args:
        state (dict): Output of :func:`extract_official_state`.
        text_heads (int, optional): Text-tower heads, checked by
            :func:`resolve_text_heads` (the count is not stored).

    Returns:
        dict: ``clip`` (arch dict for ``DiSTCLIPVisual``/``DiSTCLIPText``)
        and ``dist`` (keyword arguments of ``DiST`` except the spatial
        encoder, ``num_frames``, ``alpha`` and ``selected_layers``) plus
        ``num_selected``, ``num_spatial_frames``, ``alpha`` (from the
        temporal->integration kernel).
    """

    def get(key):
        if key not in state:
            raise NotOfficialCheckpointError(f'checkpoint lacks {key!r}')
        return state[key]

    conv1 = get('visual.conv1.weight')  # (D, 3, p, p)
    pos = get('visual.positional_embedding')  # (L, D)
    width, patch = conv1.shape[0], conv1.shape[-1]
    grid = math.isqrt(pos.shape[0] - 1)
    text_width = get('token_embedding.weight').shape[1]
    clip = dict(
        embed_dim=get('visual.proj').shape[1],
        image_size=grid * patch,
        patch_size=patch,
        width=width,
        layers=_count(state, r'visual\.transformer\.resblocks\.(\d+)\.'),
        heads=max(width // 64, 1),
        mlp_ratio=get(
            'visual.transformer.resblocks.0.mlp.c_fc.weight').shape[0] / width,
        text_width=text_width,
        text_heads=resolve_text_heads(text_width, text_heads),
        text_layers=_count(state, r'transformer\.resblocks\.(\d+)\.'),
        context_length=get('positional_embedding').shape[0],
        vocab_size=get('token_embedding.weight').shape[0])
    d = 'dist_net.'
    stem = get(d + 'temporal_stem.weight')  # (C_t, 3, kt, p, p)
    c_t = stem.shape[0]
    c_i = get(d + 'input_linears.0.weight').shape[0]
    t2i = get(d + 'temporal2integration_nets.0.linear_fuse.weight')
    fc1 = get(d + 'temporal_nets.0.temporal_net.c_fc1.weight')
    tffn = get(d + 'integration_nets.0.temporal_ffn.c_fc2.weight')
    dist = dict(
        integration_dim=c_i,
        temporal_dim=c_t,
        spatial_patch_size=stem.shape[-1],
        temporal_patch_size=stem.shape[2],
        temporal_kernel_size=fc1.shape[2],
        integration_kernel_size=tffn.shape[2],
        temporal_mlp_ratio=fc1.shape[0] / c_t,
        integration_mlp_ratio=get(
            d + 'integration_nets.0.ffn.c_fc.weight').shape[0] / c_i,
        integration_temporal_mlp_ratio=get(
            d + 'integration_nets.0.temporal_ffn.c_fc1.weight').shape[0] / c_i,
        num_ada_layers=_count(state, r'dist_net\.adapooling_nets\.(\d+)\.'),
        ada_heads=max(c_i // 64, 1),
        ada_mlp_ratio=get(
            d + 'adapooling_nets.0.output_map_cls_token.c_fc.weight').shape[0]
        / c_i,
        output_dim=get(d + 'proj').shape[1])
    return dict(
        clip=clip,
        dist=dist,
        num_selected=_count(state, r'dist_net\.input_linears\.(\d+)\.'),
        num_spatial_frames=get(
            d + 'temporal2integration_nets.0.cls_token').shape[2],
        alpha=t2i.shape[2])


def _map_key(key: str, num_selected: int) -> Optional[str]:
    """Map one official key; None for the dropped never-used tensors."""
    if key.startswith('visual.'):
        return 'backbone.spatial_encoder.' + key
    if key.startswith(_TEXT_PREFIXES):
        return 'cls_head.text_encoder.text.' + key
    if key == 'logit_scale':
        return 'cls_head.text_encoder.logit_scale'
    if key.startswith('dist_net.'):
        rest = key[len('dist_net.'):]
        m = re.fullmatch(r'integration2temporal_nets\.(\d+)\..*', rest)
        if m and int(m.group(1)) == num_selected - 1:
            return None  # its output is never used by the official forward
        for pattern, repl in DIST_NET_RULES:
            if re.fullmatch(pattern, rest):
                return re.sub(r'\A' + pattern + r'\Z', repl, rest)
    raise KeyError(f'unknown official key {key!r}')


def convert_official_state_dict(
    state: Dict[str, torch.Tensor],
    progress: Optional[Callable] = None
) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """Rename official tensors to the plugin's ``Recognizer3D`` names.

    Args:
        state (dict): Output of :func:`extract_official_state`.
        progress (callable, optional): Wraps the list of (key, tensor) items
            for progress display, e.g. ``mmengine.utils.track_iter_progress``.

    Returns:
        tuple[dict, list[str]]: The converted state dict (for
        ``Recognizer3D(backbone=DiST, cls_head=DiSTTextHead)``) and the
        official keys that were dropped (the last layer's unused
        integration->temporal projection).
    """
    n_sel = _count(state, r'dist_net\.input_linears\.(\d+)\.')
    out, dropped, unknown = {}, [], []
    items = list(state.items())
    for k, v in (progress(items) if progress else items):
        try:
            new = _map_key(k, n_sel)
        except KeyError:
            unknown.append(k)
            continue
        if new is None:
            dropped.append(k)
        else:
            out[new] = v.detach().clone().contiguous()
    if unknown:
        raise NotOfficialCheckpointError(
            f'{len(unknown)} tensor(s) with unknown official names: '
            f'{unknown[:10]}')
    return out, dropped


def build_model_config(arch: dict,
                       num_frames: int,
                       alpha: int,
                       selected_layers: Sequence[int],
                       class_names: Sequence[str],
                       prompt_template: Optional[str] = None) -> dict:
    """Build the ``model`` config of a converted checkpoint.

    Args:
        arch (dict): Output of :func:`infer_official_arch`.
        num_frames (int): T_t.
        alpha (int): Temporal frames per spatial frame.
        selected_layers (Sequence[int]): CLIP blocks, ascending.
        class_names (Sequence[str]): Names in label order.
        prompt_template (str, optional): Prompt for class names.

    Returns:
        dict: A ``Recognizer3D`` config with CLIP mean/std preprocessing.
    """
    clip = dict(arch['clip'])
    mean = [0.48145466 * 255, 0.4578275 * 255, 0.40821073 * 255]
    std = [0.26862954 * 255, 0.26130258 * 255, 0.27577711 * 255]
    return dict(
        type='Recognizer3D',
        backbone=dict(
            type='DiST',
            spatial_encoder=dict(type='DiSTCLIPVisual', arch=clip),
            num_frames=num_frames,
            alpha=alpha,
            selected_layers=list(selected_layers),
            **arch['dist']),
        cls_head=dict(
            type='DiSTTextHead',
            num_classes=len(class_names),
            in_channels=arch['dist']['output_dim'],
            class_names=list(class_names),
            text_encoder=dict(type='DiSTCLIPText', arch=clip),
            prompt_template=prompt_template,
            average_clips='prob'),
        data_preprocessor=dict(
            type='ActionDataPreprocessor',
            mean=mean,
            std=std,
            format_shape='NCTHW'))
