"""metafile.yml, the model index in MMAction2's format, lists every top-level
config once, with figures that agree with the configs, with
``tools/analysis/get_flops.py`` and with README.md.

FLOPs (GMACs per view) are recomputed with the tool's ``analyse`` for a
representative subset of the configs only, ``FLOP_SUBSET``: one config per
backbone (type and CLIP size) and frame count. Counting all 16 configs took
19.5 s of CPU time (57 s wall on the shared 2-core development machine), the
subset 7.1 s (20 s wall);
``test_flop_subset_covers_every_backbone_and_frame_count`` fails when a
config with a new backbone or frame count is added without a subset entry.
The configs outside the subset differ from a subset config only in their
class count or number of ada-pooling layers. Parameters of every config are
recomputed (building a model on the meta device is cheap) with the tool's
own counter.
"""
import copy
import functools
import glob
import os.path as osp
import re
from typing import Dict, List, Tuple

import pytest
import torch
import yaml
from mmaction.registry import MODELS
from mmengine.config import Config

from projects.dist_tools import get_flops
from projects.dist_tools.flops import count_parameters
from tests.helpers import REPO_ROOT

METAFILE = osp.join(REPO_ROOT, 'metafile.yml')
CONFIGS = sorted(
    osp.relpath(p, REPO_ROOT)
    for p in glob.glob(osp.join(REPO_ROOT, 'configs', '*.py')))

# one config per backbone and frame count (see the module docstring)
FLOP_SUBSET = [
    'configs/dist_tiny_synthetic.py',  # DiST, tiny CLIP, 4+8 frames
    'configs/dist_tiny_synthetic_frame_avg.py',  # frame-average baseline
    'configs/dist_vitb_k400_tiny_width.py',  # ViT-B/16 layout, tiny width
    'configs/dist_vitb_k400.py',  # ViT-B/16, 8+16
    'configs/dist_vitb_f16_k400.py',  # ViT-B/16, 16+32
    'configs/dist_vitb_f32_k400.py',  # ViT-B/16, 32+64
    'configs/dist_vitl_f32_k400.py',  # ViT-L/14, 32+64
    'configs/dist_tiny_synthetic_mmpretrain.py',  # tiny mmpretrain ViT
    'configs/dist_dinov2_vitb14_k400.py',  # DINOv2 ViT-B/14, 8+16
    'configs/dist_openclip_vitb16_laion2b_k400.py',  # open_clip ViT-B-16
]

# README.md's Model zoo table titles -> the metafile's dataset names
README_DATASETS = {
    'Kinetics-400': 'Kinetics-400',
    'Something-Something V2': 'SthV2',
}
# | 8+16 | ViT-B/16 | CLIP | – | 83.6 / 96.3 | 3×1 | 162.8 | 26.07 M |
#   [dist_vitb_k400.py](configs/dist_vitb_k400.py) ...
ZOO_ROW = re.compile(r'^\| (\d+\+\d+) \|[^|]+\|[^|]+\|[^|]+\| '
                     r'([\d.]+) / ([\d.]+) \| (\d+)×(\d+) \| ([\d.]+) \| '
                     r'([\d.]+) M \| \[(\w+)\.py\]')
# "  DiST                    100.0 %   (configs/dist_tiny_synthetic.py)"
QUICK_START_ROW = re.compile(r'^ +\S.*? ([\d.]+) % +\(configs/(\w+)\.py\)$')


@functools.lru_cache(maxsize=None)
def metafile() -> dict:
    """The parsed metafile.yml."""
    with open(METAFILE, encoding='utf-8') as f:
        return yaml.safe_load(f)


def models_by_config() -> Dict[str, dict]:
    """Metafile model entries keyed by their ``Config`` path."""
    return {m['Config']: m for m in metafile()['Models']}


@functools.lru_cache(maxsize=None)
def load_config(path: str) -> Config:
    """``Config.fromfile`` of a repository-relative path, cached."""
    return Config.fromfile(osp.join(REPO_ROOT, path))


def as_written(written: str, unit: str, value: float) -> str:
    """Format ``value`` with the unit and number of decimals of ``written``.

    Args:
        written (str): A metafile figure such as ``'162.8G'``.
        unit (str): Its unit suffix, ``'G'`` or ``'M'``.
        value (float): The tool's value in that unit.

    Returns:
        str: ``value`` rounded as ``written`` is, e.g. ``'162.8G'``.
    """
    assert written.endswith(unit), f'{written!r} does not end with {unit}'
    number = written[:-len(unit)]
    # at least three significant digits, so rounding cannot hide a mismatch
    assert len(number.replace('.', '').lstrip('0')) >= 3, written
    decimals = len(number.partition('.')[2])
    return f'{value:.{decimals}f}{unit}'


def readme_section(title: str) -> List[str]:
    """Lines of README.md's ``## title`` section."""
    with open(osp.join(REPO_ROOT, 'README.md'), encoding='utf-8') as f:
        lines = f.read().splitlines()
    start = lines.index(f'## {title}') + 1
    end = next(
        (i for i in range(start, len(lines)) if lines[i].startswith('## ')),
        len(lines))
    return lines[start:end]


def readme_zoo_rows() -> Dict[str, Tuple[str, ...]]:
    """Model zoo rows of README.md, keyed by config name.

    Returns:
        dict: ``name -> (dataset, frames, top1, top5, views, gmacs,
        mparams)`` as the README writes them (strings).
    """
    rows, dataset = {}, None
    for line in readme_section('Model zoo'):
        title = re.fullmatch(r'\*\*(.+)\*\*', line.strip())
        if title:
            dataset = README_DATASETS[title.group(1)]
        match = ZOO_ROW.match(line)
        if match:
            frames, top1, top5, n_clips, n_crops, gmacs, mparams, name = (
                match.groups())
            rows[name] = (dataset, frames, top1, top5, f'{n_clips}x{n_crops}',
                          gmacs, mparams)
    return rows


def readme_quick_start_top1() -> Dict[str, str]:
    """Top-1 per config of README.md's quick-start output block."""
    section = readme_section('Quick start (CPU, minutes, no downloads)')
    return {
        m.group(2): m.group(1)
        for m in map(QUICK_START_ROW.match, section) if m
    }


def backbone_key(cfg: Config) -> Tuple[str, str, int]:
    """(backbone type, image tower, temporal frames) of a config's model."""
    backbone = cfg.model.backbone
    tower = backbone.spatial_encoder
    if 'arch' in tower:  # OpenAI CLIP
        arch = tower.arch
    elif 'model_name' in tower:  # open_clip / timm: model name and weights
        arch = (tower.model_name, tower.get('pretrained'))
    else:  # mmpretrain: config file and backbone
        arch = (tower.get('model_config'), tower.get('backbone'))
    return (backbone.type, f'{tower.type} {arch}', backbone.num_frames)


def test_collection_names_paper_and_readme():
    collections = metafile()['Collections']
    assert [c['Name'] for c in collections] == ['DiST']
    paper = collections[0]['Paper']
    assert paper['URL'] == 'https://arxiv.org/abs/2309.07911'
    assert paper['Title'].startswith('Disentangling Spatial and Temporal')
    assert osp.isfile(osp.join(REPO_ROOT, collections[0]['README']))


def test_every_config_listed_exactly_once():
    listed = [m['Config'] for m in metafile()['Models']]
    assert len(CONFIGS) >= 16
    assert sorted(listed) == CONFIGS  # nothing missing, extra or repeated
    for model in metafile()['Models']:
        assert osp.isfile(osp.join(REPO_ROOT, model['Config']))
        assert model['Name'] == osp.splitext(osp.basename(model['Config']))[0]
        assert model['In Collection'] == 'DiST'
        assert 'Weights' not in model  # no checkpoint is published


@pytest.mark.parametrize('config', CONFIGS)
def test_metadata_matches_config(config):
    cfg = load_config(config)
    meta = models_by_config()[config]['Metadata']
    backbone = cfg.model.backbone
    frames = backbone.num_frames
    spatial = frames // backbone.alpha if 'alpha' in backbone else frames
    temporal = frames if backbone.type == 'DiST' else 0
    assert meta['Frame'] == f'{spatial}+{temporal}'
    if 'Batch Size' in meta:
        assert meta['Batch Size'] == cfg.train_dataloader.batch_size
    if 'Epochs' in meta:
        assert meta['Epochs'] == cfg.train_cfg.max_epochs
    if 'Views' in meta:
        clips = next(t.num_clips for t in cfg.test_pipeline
                     if 'num_clips' in t)
        crops = 3 if any(t.type == 'ThreeCrop'
                         for t in cfg.test_pipeline) else 1
        assert meta['Views'] == f'{clips}x{crops}'


@pytest.mark.parametrize('config', CONFIGS)
def test_parameters_are_the_tools_trainable_count(config):
    model_cfg = copy.deepcopy(load_config(config).model)
    # as get_flops.analyse builds it: Mixup/CutMix cannot be built on meta
    model_cfg.get('data_preprocessor', {}).pop('blending', None)
    with torch.device('meta'):
        model = MODELS.build(model_cfg)
    trainable = count_parameters(model)['trainable']
    written = models_by_config()[config]['Metadata']['Parameters']
    assert written == as_written(written, 'M', trainable / 1e6)


def test_flop_subset_covers_every_backbone_and_frame_count():
    covered = {backbone_key(load_config(c)) for c in FLOP_SUBSET}
    for config in CONFIGS:
        assert backbone_key(load_config(config)) in covered, (
            f'{config}: add a config with its backbone and frame count to '
            'FLOP_SUBSET')


@pytest.mark.parametrize('config', FLOP_SUBSET)
def test_flops_and_parameters_are_the_tools(config):
    result = get_flops.analyse(load_config(config))
    meta = models_by_config()[config]['Metadata']
    # the standard formulation when DiST folds its ada-pooling attention
    gmacs = (result['gmacs_per_view_standard']
             or result['gmacs_per_view'])['total']
    assert meta['FLOPs'] == as_written(meta['FLOPs'], 'G', gmacs)
    trainable = result['params']['trainable']
    assert meta['Parameters'] == as_written(meta['Parameters'], 'M',
                                            trainable / 1e6)
    _, _, frames, height, width = result['input_shape']
    assert meta['Frame'].endswith(f'+{frames}') or meta['Frame'] == (
        f'{frames}+0')
    assert meta['Resolution'] == f'{height}x{width}'


def test_results_are_readmes_and_only_where_readme_has_one():
    zoo = readme_zoo_rows()
    quick = readme_quick_start_top1()
    assert len(zoo) >= 9 and len(quick) == 2  # the README tables parsed
    by_name = {m['Name']: m for m in metafile()['Models']}
    assert set(zoo) | set(quick) <= set(by_name)
    for name, model in by_name.items():
        if name in zoo:
            dataset, frames, top1, top5, views, gmacs, mparams = zoo[name]
            assert model['Results'] == [
                dict(
                    Dataset=dataset,
                    Task='Action Recognition',
                    Metrics={
                        'Top 1 Accuracy': float(top1),
                        'Top 5 Accuracy': float(top5)
                    })
            ]
            assert 'reference' in model['Results Source']
            assert 'not reproduced' in model['Results Source']
            meta = model['Metadata']
            assert (meta['Frame'], meta['Views'], meta['FLOPs'],
                    meta['Parameters']) == (frames, views, f'{gmacs}G',
                                            f'{mparams}M')
        elif name in quick:
            (result, ) = model['Results']
            assert 'synthetic' in result['Dataset']
            assert result['Metrics'] == {'Top 1 Accuracy': float(quick[name])}
            assert model['Results Source'].startswith('measured')
        else:  # MMAction2's format: no Results key without a result
            assert 'Results' not in model, name
            assert 'Results Source' not in model, name
