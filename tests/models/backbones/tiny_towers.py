"""Tiny random towers of every supported family (no downloads).

open_clip towers are registered as model configs (JSON files written to a
temporary folder and added with ``open_clip.add_model_config``, open_clip's
public way to add models); timm towers are built from timm's own model
names with small dimensions (``model_kwargs``).
"""
import json
import os.path as osp
import tempfile

import open_clip
from timm.models import VisionTransformer, register_model

#: 32 px frames, 8 px patches (4x4 grid), as the tiny CLIP of the configs
IMAGE_SIZE = 32
EMBED_DIM = 32  # the joint size of configs/_base_/models/dist_tiny.py

_TEXT = dict(context_length=16, vocab_size=49408, width=32, heads=2, layers=1)
_VIT = dict(
    image_size=IMAGE_SIZE, layers=3, width=32, patch_size=8, head_width=16)

#: open_clip model configs: an OpenAI-style QuickGELU ViT, a GELU ViT, a
#: timm ViT trunk without class token but with register tokens
#: (SigLIP-like), and a ModifiedResNet (no token sequence)
OPEN_CLIP_CONFIGS = {
    'DiSTTiny-ViT-quickgelu':
    dict(
        embed_dim=EMBED_DIM, quick_gelu=True, vision_cfg=_VIT, text_cfg=_TEXT),
    'DiSTTiny-ViT':
    dict(embed_dim=EMBED_DIM, vision_cfg=_VIT, text_cfg=_TEXT),
    'DiSTTiny-SigLIP':
    dict(
        embed_dim=EMBED_DIM,
        custom_text=True,
        vision_cfg=dict(
            image_size=IMAGE_SIZE,
            timm_model_name='dist_tiny_vit_siglip',
            timm_model_pretrained=False,
            timm_pool='map',
            timm_proj='none'),
        text_cfg=_TEXT),
    'DiSTTiny-RN':
    dict(
        embed_dim=EMBED_DIM,
        vision_cfg=dict(image_size=IMAGE_SIZE, layers=[1, 1, 1, 1], width=8),
        text_cfg=_TEXT),
}

#: timm ViTs: with class token and registers, and without class token
TIMM_KWARGS = dict(
    img_size=IMAGE_SIZE, patch_size=8, embed_dim=32, depth=3, num_heads=2)
TIMM_TOWERS = {
    'class+registers':
    dict(
        type='DiSTTimmVisual',
        model_name='vit_base_patch16_224',
        model_kwargs=dict(TIMM_KWARGS, reg_tokens=2)),
    'no class token':
    dict(
        type='DiSTTimmVisual',
        model_name='vit_base_patch16_224',
        model_kwargs=dict(TIMM_KWARGS, class_token=False, global_pool='avg')),
}

_registered = []


@register_model
def dist_tiny_vit_siglip(pretrained: bool = False, **kwargs):
    """A tiny SigLIP-style timm ViT: no class token, 2 register tokens,
    attention-pool head (registered in timm for the open_clip config)."""
    for key in ('pretrained_cfg', 'pretrained_cfg_overlay', 'cache_dir'):
        kwargs.pop(key, None)
    args = dict(
        TIMM_KWARGS, class_token=False, reg_tokens=2, global_pool='map')
    args.update(kwargs)
    return VisionTransformer(**args)


def register_open_clip_configs() -> None:
    """Add :data:`OPEN_CLIP_CONFIGS` to open_clip's model registry (once)."""
    if _registered:
        return
    folder = tempfile.mkdtemp(prefix='dist_tiny_open_clip_')
    for name, cfg in OPEN_CLIP_CONFIGS.items():
        with open(osp.join(folder, name + '.json'), 'w') as f:
            json.dump(cfg, f)
    open_clip.add_model_config(folder)
    _registered.append(folder)
