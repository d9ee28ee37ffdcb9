"""The UCF101 / HMDB51 zero-shot configs end to end with
tools/zero_shot_eval.py: synthetic videos laid out as MMAction2's UCF101 and
HMDB51 folders and split lists, a tiny DiST swapped in with ``--cfg-options``.

The labels of each split are chosen from the model's own predictions (made
here, before the run) so that the accuracy of every split is known: split 1
all right, split 2 all wrong, split 3 half right; the tool must report
1, 0, 0.5 and their mean ± std."""
import argparse
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate

from projects.dist.models.utils.class_names import load_class_names
from projects.dist.utils.cli import DictAction
from tests.helpers import REPO_ROOT, load_tool
from tests.video_utils import write_random_video

# a tiny CLIP on 32 px frames, 2 x 2 patches
TINY_ARCH = dict(
    embed_dim=16,
    image_size=32,
    patch_size=16,
    width=32,
    layers=2,
    heads=2,
    text_width=16,
    text_heads=2,
    text_layers=1)
FRAMES = 4
DATASETS = {
    'ucf101': 'configs/dist_vitb_k400_zeroshot_ucf101.py',
    'hmdb51': 'configs/dist_vitb_k400_zeroshot_hmdb51.py',
}


def tiny_options(data_root: str, ann_template: str) -> list:
    """``--cfg-options`` that swap the tiny model and the data in."""
    opts = []
    for tower in ('model.backbone.spatial_encoder',
                  'model.cls_head.text_encoder'):
        opts += [f'{tower}.arch._delete_=True', f'{tower}.pretrained=None']
        opts += [f'{tower}.arch.{k}={v}' for k, v in TINY_ARCH.items()]
    opts += [
        f'model.backbone.num_frames={FRAMES}',
        'model.backbone.integration_dim=16',
        'model.backbone.temporal_dim=8',
        'model.backbone.spatial_patch_size=16',
        'model.backbone.ada_heads=2',
        'model.cls_head.in_channels=16',
        f'test_dataloader.dataset.pipeline.1.clip_len={FRAMES}',
        'test_dataloader.dataset.pipeline.3.scale=(-1,32)',
        'test_dataloader.dataset.pipeline.4.crop_size=32',
        f'test_dataloader.dataset.data_prefix.video={data_root}',
        'test_dataloader.batch_size=1',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        f'zero_shot.ann_file={ann_template}',
    ]
    return opts


def _cfg(config: str, options: list) -> Config:
    """The config with ``options`` parsed and merged as the tools do."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction)
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    cfg.merge_from_dict(parser.parse_args(['--o', *options]).o)
    return cfg


def _camel(name: str) -> str:
    return ''.join(w.capitalize() for w in name.split())


def _layout(dataset: str, class_name: str, index: int) -> str:
    """A path as the dataset's folder has it (relative to videos/)."""
    if dataset == 'ucf101':
        cls = _camel(class_name)
        return f'{cls}/v_{cls}_g{index + 1:02d}_c01.avi'
    cls = class_name.replace(' ', '_')
    return f'{cls}/clip_{cls}_u_nm_np1_fr_goo_{index}.avi'


@pytest.mark.parametrize('dataset', list(DATASETS))
def test_zero_shot_config_three_splits_mean_std(dataset, tmp_path):
    config = DATASETS[dataset]
    names = load_class_names(
        osp.join(REPO_ROOT, 'projects', 'dist', 'label_maps',
                 f'{dataset}.txt'))
    videos = tmp_path / 'videos'
    ann_template = str(tmp_path / f'{dataset}_val_split_{{split}}_videos.txt')
    options = tiny_options(str(videos), ann_template)
    cfg = _cfg(config, options)
    assert cfg.model.cls_head.num_classes == len(names)

    # a tiny K400-style checkpoint: random weights, the config's model
    from mmaction.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    ckpt = str(tmp_path / 'k400_tiny.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    model.eval()

    # six clips, two per split; the model's prediction for each
    pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
    staged = tmp_path / 'staged'
    staged.mkdir()
    preds = []
    for i in range(6):
        path = write_random_video(
            str(staged / f'{i}.avi'), seed=i, num_frames=8 + i)
        data = pipeline(
            dict(filename=path, label=-1, start_index=0, modality='RGB'))
        with torch.no_grad():
            sample = model.test_step(pseudo_collate([data]))[0]
        preds.append(int(sample.pred_score.argmax()))
    # split 1: both right; split 2: both wrong; split 3: one of two
    right = [True, True, False, False, True, False]
    for i, ok in enumerate(right):
        label = preds[i] if ok else (preds[i] + 1) % len(names)
        rel = _layout(dataset, names[label], i)
        os.makedirs(videos / osp.dirname(rel), exist_ok=True)
        shutil.move(str(staged / f'{i}.avi'), str(videos / rel))
        split = i // 2 + 1
        with open(ann_template.format(split=split), 'a') as f:
            f.write(f'{rel} {label}\n')

    tool = load_tool('zero_shot_eval.py')
    out = tmp_path / 'zero_shot.json'
    result = tool.main([
        osp.join(REPO_ROOT, config), ckpt, '--work-dir',
        str(tmp_path / 'work'), '--out',
        str(out), '--cfg-options', *options
    ])
    top1 = [result['splits'][k]['acc/top1'] for k in (1, 2, 3)]
    assert top1 == pytest.approx([1.0, 0.0, 0.5])
    summary = result['mean_std']['acc/top1']
    assert summary['mean'] == pytest.approx(0.5)
    assert summary['std'] == pytest.approx(np.std([1.0, 0.0, 0.5]))
    written = json.loads(out.read_text())
    assert written['mean_std']['acc/top1'] == summary
    assert written['std'] == 'population (ddof=0)'
    assert written['ann_files'] == {
        str(k): ann_template.format(split=k)
        for k in (1, 2, 3)
    }
    # each split ran in its own work dir
    for k in (1, 2, 3):
        assert osp.isdir(tmp_path / 'work' / f'split_{k}')


def test_missing_split_list_and_config_without_zero_shot(tmp_path):
    tool = load_tool('zero_shot_eval.py')
    cfg = Config(
        dict(
            zero_shot=dict(
                splits=(1, 2), ann_file=str(tmp_path / 'l_{split}.txt'))))
    (tmp_path / 'l_1.txt').write_text('a.avi 0\n')
    with pytest.raises(FileNotFoundError, match=r"split 2: '.*l_2.txt'"):
        tool.split_lists(cfg, None)
    assert tool.split_lists(cfg, [1]) == {1: str(tmp_path / 'l_1.txt')}
    with pytest.raises(KeyError, match='no zero_shot.ann_file'):
        tool.split_lists(Config(dict()), None)
    bad = Config(dict(zero_shot=dict(splits=(1, ), ann_file='x.txt')))
    with pytest.raises(ValueError, match=r"has no '\{split\}'"):
        tool.split_lists(bad, None)
    with pytest.raises(ValueError, match='repeats a split'):
        tool.split_lists(cfg, [1, 1])
