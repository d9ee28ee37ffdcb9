"""Named CLIP architectures and their open_clip counterparts."""
import copy
from typing import Dict, Union

#: Dimensions of the OpenAI CLIP towers DiST is used with. ``heads`` follow
#: OpenAI's ``width // 64`` rule; ``text_heads`` are ``text_width // 64``.
CLIP_ARCHS: Dict[str, dict] = {
    'ViT-B/32':
    dict(
        embed_dim=512,
        image_size=224,
        patch_size=32,
        width=768,
        layers=12,
        heads=12,
        text_width=512,
        text_heads=8,
        text_layers=12),
    'ViT-B/16':
    dict(
        embed_dim=512,
        image_size=224,
        patch_size=16,
        width=768,
        layers=12,
        heads=12,
        text_width=512,
        text_heads=8,
        text_layers=12),
    'ViT-L/14':
    dict(
        embed_dim=768,
        image_size=224,
        patch_size=14,
        width=1024,
        layers=24,
        heads=16,
        text_width=768,
        text_heads=12,
        text_layers=12),
    'ViT-L/14-336':
    dict(
        embed_dim=768,
        image_size=336,
        patch_size=14,
        width=1024,
        layers=24,
        heads=16,
        text_width=768,
        text_heads=12,
        text_layers=12),
}

#: open_clip model names of the named architectures (for pretrained tags).
OPEN_CLIP_NAMES: Dict[str, str] = {
    'ViT-B/32': 'ViT-B-32',
    'ViT-B/16': 'ViT-B-16',
    'ViT-L/14': 'ViT-L-14',
    'ViT-L/14-336': 'ViT-L-14-336',
}

_DEFAULTS = dict(mlp_ratio=4.0, context_length=77, vocab_size=49408)
_REQUIRED = ('embed_dim', 'image_size', 'patch_size', 'width', 'layers')


def resolve_clip_arch(arch: Union[str, dict]) -> dict:
    """Return the full dimension dict of a CLIP architecture.

    Args:
        arch (str | dict): A name from :data:`CLIP_ARCHS` (``'ViT-B/16'``;
            ``'ViT-B-16'`` is accepted too) or a dict with at least
            ``embed_dim, image_size, patch_size, width, layers``; missing
            ``heads`` default to ``width // 64``, text keys to the vision ones.

    Returns:
        dict: Keys ``embed_dim, image_size, patch_size, width, layers, heads,
        mlp_ratio, text_width, text_heads, text_layers, context_length,
        vocab_size`` and ``name`` (the open_clip name or None).
    """
    if isinstance(arch, str):
        key = arch.replace('-', '/', 1) if arch not in CLIP_ARCHS else arch
        key = key.replace('/14/336', '/14-336')
        if key not in CLIP_ARCHS:
            raise KeyError(f'unknown CLIP arch {arch!r}; expected one of '
                           f'{sorted(CLIP_ARCHS)} or a dict of dimensions')
        cfg = dict(CLIP_ARCHS[key], name=OPEN_CLIP_NAMES[key])
    elif isinstance(arch, dict):
        cfg = copy.deepcopy(dict(arch))
        missing = [k for k in _REQUIRED if k not in cfg]
        if missing:
            raise KeyError(f'CLIP arch dict lacks {missing}; it needs '
                           f'{list(_REQUIRED)}')
        cfg.setdefault('name', None)
    else:
        raise TypeError(f'arch must be a str or dict, got {type(arch)}')
    for k, v in _DEFAULTS.items():
        cfg.setdefault(k, v)
    cfg.setdefault('heads', max(cfg['width'] // 64, 1))
    cfg.setdefault('text_width', cfg['width'])
    cfg.setdefault('text_heads', max(cfg['text_width'] // 64, 1))
    cfg.setdefault('text_layers', cfg['layers'])
    if cfg['image_size'] % cfg['patch_size']:
        raise ValueError(f"image_size {cfg['image_size']} is not a multiple "
                         f"of patch_size {cfg['patch_size']}")
    return cfg
