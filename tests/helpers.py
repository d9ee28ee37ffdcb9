"""Helpers shared by the tests: tiny DiST models, tool scripts, pipelines.

One place for what more than one test module needs. Two focused helpers sit
beside it: ``tests/numerics.py`` (tolerances of float comparisons) and
``tests/video_utils.py`` (tiny video files).

Tiny models come from one source, ``configs/_base_/models/dist_tiny.py``
(the tiny DiST of the configs): :func:`tiny_clip_arch` and
:func:`tiny_model_cfg` return it, with keyword overrides where a test needs
another shape, so every difference from the base is written at the call.
The model unit tests (``tests/models``) share one such variant, the
``UNIT_*`` names below.
"""
import contextlib
import copy
import functools
import importlib.util
import os
import os.path as osp
import socket
import subprocess
import sys
from types import ModuleType
from typing import Iterable, List, Optional, Sequence

import torch
from mmengine.config import Config

import projects.dist  # noqa: F401  -- compat fixes + registration

# projects.dist patches mmaction before its models load:
# isort: split

from mmaction.registry import MODELS  # noqa: E402

from projects.dist.models.utils.official_converter import (  # noqa: E402
    build_model_config, convert_official_state_dict, extract_official_state,
    infer_official_arch)

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

#: The tiny DiST of the configs, the source of every tiny test model.
TINY_MODEL_CONFIG = osp.join(REPO_ROOT, 'configs', '_base_', 'models',
                             'dist_tiny.py')


# ------------------------------------------------------------- tool scripts
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


def free_port() -> int:
    """A TCP port that is free now, for torchrun's rendezvous."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def run_command(cmd: List[str], cwd: str,
                **env: str) -> subprocess.CompletedProcess:
    """Run a command as a user would, with the test's venv first on PATH.

    Args:
        cmd (list[str]): The command line.
        cwd (str): Its working directory.
        **env (str): Extra environment variables.

    Returns:
        subprocess.CompletedProcess: The finished run (stdout and stderr as
        text); a non-zero exit status fails the test with both streams.
    """
    full_env = dict(os.environ)
    full_env['PATH'] = (
        osp.dirname(sys.executable) + os.pathsep + full_env.get('PATH', ''))
    full_env.pop('PYTHONPATH', None)
    full_env.update(env)
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300)
    assert proc.returncode == 0, (
        f'{cmd} exited with {proc.returncode}\n--- stdout\n'
        f'{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-6000:]}')
    return proc


# ---------------------------------------------------------------- pipelines
def find_step(pipeline: Iterable[dict], step_type: str) -> dict:
    """The one step of ``pipeline`` whose ``type`` is ``step_type``.

    Args:
        pipeline (Iterable[dict]): Transform configs (dicts or ConfigDicts).
        step_type (str): The transform's registered name, e.g.
            ``'UniformSample'``.

    Returns:
        dict: The step (the object in the pipeline, so edits reach it).
    """
    steps = [s for s in pipeline if s['type'] == step_type]
    if len(steps) != 1:
        raise AssertionError(
            f'expected one {step_type!r} step, found {len(steps)} in '
            f'{[s["type"] for s in pipeline]}')
    return steps[0]


# ------------------------------------------------- tiny trained recognizer
TINY_SYNTHETIC_CONFIG = osp.join(REPO_ROOT, 'configs',
                                 'dist_tiny_synthetic.py')
SYNTHETIC_LABELS = osp.join(REPO_ROOT, 'projects', 'dist', 'label_maps',
                            'synthetic_motion.txt')


def tiny_synthetic_run_cfg(run_dir: str, num_per_class: dict,
                           epochs: int) -> Config:
    """``configs/dist_tiny_synthetic.py`` set up to train in ``run_dir``.

    Its synthetic videos and random tiny CLIP weights are generated under
    ``run_dir/data/synthetic_motion`` on first use; loaders run in the main
    process; one checkpoint is written after the last epoch
    (``run_dir/work/epoch_{epochs}.pth``); no custom hooks. The schedule is
    left to the caller.

    Args:
        run_dir (str): Folder of the run (data and work dir).
        num_per_class (dict): Videos per class of each split, e.g.
            ``dict(train=2, val=1, test=1)``.
        epochs (int): ``train_cfg.max_epochs``.

    Returns:
        Config: The config.
    """
    data_root = osp.join(run_dir, 'data', 'synthetic_motion')
    weights = osp.join(data_root, 'tiny_clip_seed0.pth')
    cfg = Config.fromfile(TINY_SYNTHETIC_CONFIG)
    synthetic = dict(
        data_root=data_root,
        num_per_class=num_per_class,
        clip_weights=dict(path=weights))
    for loader in ('train', 'val', 'test'):
        cfg[f'{loader}_dataloader'].dataset.update(synthetic)
        cfg[f'{loader}_dataloader'].num_workers = 0
        cfg[f'{loader}_dataloader'].persistent_workers = False
    cfg.model.backbone.spatial_encoder.pretrained = weights
    cfg.model.cls_head.text_encoder.pretrained = weights
    cfg.model.cls_head.class_names = SYNTHETIC_LABELS
    cfg.train_cfg.max_epochs = epochs
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=epochs, save_best=None)
    cfg.custom_hooks = []
    cfg.work_dir = osp.join(run_dir, 'work')
    return cfg


def train_one_thread(cfg: Config) -> str:
    """Train ``cfg`` with one torch thread (the tiny model is
    overhead-bound); the thread count is restored after.

    Returns:
        str: The checkpoint of the last epoch.
    """
    from mmengine.runner import Runner
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        Runner.from_cfg(cfg).train()
    finally:
        torch.set_num_threads(threads)
    return osp.join(cfg.work_dir, f'epoch_{cfg.train_cfg.max_epochs}.pth')


# -------------------------------------------------------------- tiny models
@functools.lru_cache(maxsize=1)
def _read_base_model_cfg() -> dict:
    """The ``model`` of :data:`TINY_MODEL_CONFIG`, read once."""
    return Config.fromfile(TINY_MODEL_CONFIG).model.to_dict()


def _base_model_cfg() -> dict:
    """A fresh copy of the ``model`` of :data:`TINY_MODEL_CONFIG`."""
    return copy.deepcopy(_read_base_model_cfg())


def tiny_clip_arch(**overrides) -> dict:
    """The tiny CLIP architecture of ``dist_tiny.py``, with overrides.

    Args:
        **overrides: Architecture keys to change (e.g. ``layers=3``,
            ``image_size=224``); each must be a key of the base or a key the
            CLIP builders accept (e.g. ``context_length``).

    Returns:
        dict: A new arch dict (2 blocks, 64 wide, 32 px frames of 8 px
        patches, 32-dim embeddings unless overridden).
    """
    arch = _base_model_cfg()['backbone']['spatial_encoder']['arch']
    arch.update(overrides)
    return arch


def tiny_model_cfg(*,
                   clip: Optional[dict] = None,
                   num_classes: Optional[int] = None,
                   class_names: Optional[Sequence[str]] = None,
                   head: Optional[dict] = None,
                   **backbone) -> dict:
    """The tiny ``Recognizer3D`` config of ``dist_tiny.py``, with overrides.

    Args:
        clip (dict, optional): Overrides of the CLIP architecture of both
            towers (see :func:`tiny_clip_arch`); the head's ``in_channels``
            follows ``embed_dim``. Defaults to None (the base CLIP).
        num_classes (int, optional): Use classes ``'action 0'``,
            ``'action 1'``, ... instead of the base's label file.
        class_names (Sequence[str], optional): Use these class names (and
            their count) instead of the base's label file.
        head (dict, optional): Other ``DiSTTextHead`` overrides.
        **backbone: Overrides of the ``DiST`` arguments.

    Returns:
        dict: A new config dict, ready for ``MODELS.build``.
    """
    if num_classes is not None and class_names is not None:
        raise ValueError('give num_classes or class_names, not both')
    cfg = _base_model_cfg()
    arch = tiny_clip_arch(**(clip or {}))
    cfg['backbone']['spatial_encoder']['arch'] = arch
    cfg['backbone'].update(backbone)
    cls_head = cfg['cls_head']
    cls_head['text_encoder']['arch'] = copy.deepcopy(arch)
    cls_head['in_channels'] = arch['embed_dim']
    if num_classes is not None:
        class_names = [f'action {i}' for i in range(num_classes)]
    if class_names is not None:
        cls_head.update(
            num_classes=len(class_names), class_names=list(class_names))
    else:  # the base's label file, found from any working directory
        cls_head['class_names'] = osp.join(REPO_ROOT, cls_head['class_names'])
    cls_head.update(head or {})
    return cfg


def tiny_model_options(**backbone) -> dict:
    """Config options that swap the tiny DiST into a full-size config.

    The CLIP towers (no weights), the head's input size and the side
    network's sizes become those of :func:`tiny_model_cfg`; the rest of the
    config (recipe, hooks, other backbone settings) is kept. Apply with
    ``Config.merge_from_dict`` or write as ``--cfg-options`` with
    :func:`as_cli_options`.

    Args:
        **backbone: Overrides of the tiny ``DiST`` arguments (e.g.
            ``num_frames=4``).

    Returns:
        dict: Dotted keys (``'model.backbone.num_frames'``) to values; the
        arch dicts carry ``_delete_=True`` so they replace a named arch
        such as ``'ViT-B/16'``.
    """
    cfg = tiny_model_cfg(**backbone)
    bb = cfg['backbone']
    arch = bb['spatial_encoder']['arch']
    opts = {}
    for tower in ('model.backbone.spatial_encoder',
                  'model.cls_head.text_encoder'):
        opts[f'{tower}.arch'] = dict(_delete_=True, **arch)
        opts[f'{tower}.pretrained'] = None
    opts['model.cls_head.in_channels'] = cfg['cls_head']['in_channels']
    for key in ('num_frames', 'integration_dim', 'temporal_dim', 'ada_heads'):
        opts[f'model.backbone.{key}'] = bb[key]
    opts['model.backbone.spatial_patch_size'] = arch['patch_size']
    return opts


def as_cli_options(options: dict) -> List[str]:
    """``key=value`` strings for ``--cfg-options`` (dict values spread into
    one ``key.sub=value`` per entry, ``_delete_`` first)."""
    out = []
    for key, value in options.items():
        if isinstance(value, dict):
            out += [f'{key}.{k}={v}' for k, v in value.items()]
        else:
            out.append(f'{key}={value}')
    return out


def build_tiny_model(cfg: Optional[dict] = None,
                     seed: int = 0) -> torch.nn.Module:
    """Build and initialise a tiny recognizer with a fixed seed.

    Args:
        cfg (dict, optional): A model config; defaults to
            :func:`tiny_model_cfg` ``()``.
        seed (int): ``torch.manual_seed`` before building. Defaults to 0.

    Returns:
        torch.nn.Module: The model after ``init_weights`` (CLIP towers
        random: the tiny configs load no weights).
    """
    torch.manual_seed(seed)
    model = MODELS.build(tiny_model_cfg() if cfg is None else cfg)
    model.init_weights()
    return model


# The model unit tests' variant of the tiny DiST (tests/models): a third CLIP
# block, so that selected-layer cases have three blocks to choose from, at
# half the width with a short text context, on 4 frames with 2 ada-pooling
# layers and 3 class names.
UNIT_CLIP = tiny_clip_arch(
    layers=3,
    width=32,
    embed_dim=16,
    text_width=16,
    text_layers=1,
    context_length=16)
UNIT_BACKBONE = dict(
    num_frames=4, integration_dim=16, temporal_dim=8, num_ada_layers=2)
UNIT_CLASS_NAMES = ['moving left', 'moving right', 'growing']


def unit_model_cfg(backbone: Optional[dict] = None,
                   head: Optional[dict] = None) -> dict:
    """The model unit tests' tiny recognizer (see ``UNIT_*``).

    Args:
        backbone (dict, optional): A whole backbone config replacing the
            variant's (e.g. from :func:`unit_backbone_cfg`).
        head (dict, optional): A whole head config replacing the variant's
            (e.g. from :func:`unit_head_cfg`).

    Returns:
        dict: A new ``Recognizer3D`` config.
    """
    cfg = tiny_model_cfg(
        clip=UNIT_CLIP, class_names=UNIT_CLASS_NAMES, **UNIT_BACKBONE)
    if backbone is not None:
        cfg['backbone'] = copy.deepcopy(backbone)
    if head is not None:
        cfg['cls_head'] = copy.deepcopy(head)
    return cfg


def unit_backbone_cfg(**overrides) -> dict:
    """The unit variant's ``DiST`` config with ``overrides``."""
    cfg = unit_model_cfg()['backbone']
    cfg.update(copy.deepcopy(overrides))
    return cfg


def unit_head_cfg(**overrides) -> dict:
    """The unit variant's ``DiSTTextHead`` config with ``overrides``."""
    cfg = unit_model_cfg()['cls_head']
    cfg.update(copy.deepcopy(overrides))
    return cfg


# --------------------------------------------- devices and the parity case
#: Devices the device-dependent model tests run on: always the CPU, plus the
#: GPU on machines that have one (no test is skipped on CPU-only machines).
DEVICES: List[str] = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])


@contextlib.contextmanager
def exact_fp32():
    """Disable TF32 in CUDA matrix products and convolutions (parity runs).

    TF32 rounds float32 inputs to a 10-bit mantissa, which is far outside the
    1e-5 parity tolerance; cuDNN enables it for convolutions by default.
    """
    matmul = torch.backends.cuda.matmul.allow_tf32
    cudnn = torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul
        torch.backends.cudnn.allow_tf32 = cudnn


def shared_dir() -> str:
    """Folder with the shared reference material (``../shared``)."""
    path = os.environ.get('DIST_SHARED_DIR',
                          osp.join(osp.dirname(REPO_ROOT), 'shared'))
    if not osp.isdir(osp.join(path, 'parity')):
        raise FileNotFoundError(
            f'shared parity material not found at {path}; set '
            'DIST_SHARED_DIR to the folder holding parity/')
    return path


def build_parity_model(spatial_dtype: Optional[str] = None) -> tuple:
    """The shared parity case and its official checkpoint, converted.

    Args:
        spatial_dtype (str, optional): ``dtype`` of the frozen CLIP tower
            (e.g. ``'bf16'``); None keeps the default float32.

    Returns:
        tuple: The case (dict), the model with the converted weights loaded
        (strict) and the official tensors the converter dropped.
    """
    folder = osp.join(shared_dir(), 'parity')
    case = torch.load(osp.join(folder, 'case_tiny_p16.pt'), weights_only=True)
    ckpt = torch.load(
        osp.join(folder, case['state_dict_file']), weights_only=True)
    cfg = case['config']
    state = extract_official_state(ckpt)
    arch = infer_official_arch(
        state, text_heads=case['clip_arch']['transformer_heads'])
    model_cfg = build_model_config(arch, cfg['DATA.NUM_INPUT_FRAMES'],
                                   cfg['DATA.SPARSE_SAMPLE_ALPHA'],
                                   cfg['VIDEO.BACKBONE.DIST.SELECTED_LAYERS'],
                                   case['class_names'])
    if spatial_dtype is not None:
        model_cfg['backbone']['spatial_encoder']['dtype'] = spatial_dtype
    model = MODELS.build(model_cfg)
    converted, dropped = convert_official_state_dict(state)
    model.load_state_dict(converted, strict=True)
    return case, model, dropped
