"""Helpers shared by the tool tests: loading a tool script, a tiny DiST."""
import importlib.util
import os.path as osp
from types import ModuleType

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_tool(relpath: str) -> ModuleType:
    """Import ``tools/<relpath>`` as a module (tools/ is not a package).

    Args:
        relpath (str): Path below ``tools/``, e.g. ``'analysis/get_flops.py'``.

    Returns:
        ModuleType: The loaded module.
    """
    name = 'dist_tool_' + osp.splitext(relpath)[0].replace('/', '_')
    spec = importlib.util.spec_from_file_location(
        name, osp.join(REPO_ROOT, 'tools', relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_arch(width: int = 64) -> dict:
    """A 2-block CLIP on 32 px frames (4x4 patches of 8 px)."""
    return dict(
        embed_dim=32,
        image_size=32,
        patch_size=8,
        width=width,
        layers=2,
        heads=2,
        text_width=32,
        text_heads=2,
        text_layers=1)


def tiny_model_cfg(num_classes: int = 5, width: int = 64, **backbone) -> dict:
    """A tiny DiST recognizer config (class names given as a list).

    Args:
        num_classes (int): Classes ``'action 0'``, ``'action 1'``, ...
        width (int): CLIP width.
        **backbone: Overrides of the ``DiST`` arguments.

    Returns:
        dict: A ``Recognizer3D`` config.
    """
    arch = tiny_arch(width)
    cfg = dict(
        type='Recognizer3D',
        backbone=dict(
            type='DiST',
            spatial_encoder=dict(type='DiSTCLIPVisual', arch=arch),
            num_frames=8,
            alpha=2,
            integration_dim=32,
            temporal_dim=16,
            temporal_patch_size=3,
            num_ada_layers=1,
            ada_heads=2),
        cls_head=dict(
            type='DiSTTextHead',
            num_classes=num_classes,
            in_channels=32,
            class_names=[f'action {i}' for i in range(num_classes)],
            text_encoder=dict(type='DiSTCLIPText', arch=arch)),
        data_preprocessor=dict(
            type='ActionDataPreprocessor',
            mean=[122.8, 116.7, 104.1],
            std=[68.5, 66.6, 70.3],
            format_shape='NCTHW'))
    cfg['backbone'].update(backbone)
    return cfg
