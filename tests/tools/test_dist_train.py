"""The headline config, run as the README says, with only a tiny model and
tiny data swapped in through --cfg-options: ``bash tools/dist_train.sh
configs/dist_vitb_k400.py 2 --cfg-options ...`` trains two gloo ranks on CPU
and validates."""
import json

from tests.video_utils import write_video_list
from .test_train_test_tools import REPO_ROOT, _free_port, _run

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


def tiny_options(ann: str, root: str) -> list:
    opts = []
    for path in ('model.backbone.spatial_encoder.arch',
                 'model.cls_head.text_encoder.arch'):
        opts.append(f'{path}._delete_=True')  # replaces 'ViT-B/16'
        opts += [f'{path}.{k}={v}' for k, v in TINY_ARCH.items()]
    opts += [
        'model.backbone.spatial_encoder.pretrained=None',
        'model.cls_head.text_encoder.pretrained=None',
        'model.cls_head.in_channels=16',
        'model.backbone.num_frames=4',
        'model.backbone.integration_dim=16',
        'model.backbone.temporal_dim=8',
        'model.backbone.spatial_patch_size=16',
        'model.backbone.ada_heads=2',
        'train_cfg.max_epochs=1',
    ]
    for loader in ('train', 'val', 'test'):
        key = f'{loader}_dataloader'
        opts += [
            f'{key}.batch_size=2', f'{key}.num_workers=1',
            f'{key}.persistent_workers=False', f'{key}.dataset.ann_file={ann}',
            f'{key}.dataset.data_prefix.video={root}',
            f'{key}.dataset.pipeline.1.clip_len=4'
        ]
    opts += ['train_dataloader.dataset.pipeline.4.scale=(32,32)']
    for loader in ('val', 'test'):
        opts += [
            f'{loader}_dataloader.dataset.pipeline.3.scale=(-1,32)',
            f'{loader}_dataloader.dataset.pipeline.4.crop_size=32'
        ]
    return opts


def test_dist_train_headline_config_two_ranks(tmp_path):
    data = tmp_path / 'videos'
    data.mkdir()
    ann = write_video_list(str(data), 8, 4, size=(40, 32))
    work = tmp_path / 'work'
    _run(
        [
            'bash', 'tools/dist_train.sh', 'configs/dist_vitb_k400.py', '2',
            '--work-dir',
            str(work), '--cfg-options'
        ] + tiny_options(ann, str(data)),
        cwd=REPO_ROOT,
        PORT=str(_free_port()))
    assert (work / 'epoch_1.pth').exists()
    logs = list(work.glob('*/vis_data/scalars.json'))
    assert logs, 'no scalar log written'
    records = [json.loads(line) for line in logs[0].read_text().splitlines()]
    assert any('loss' in r for r in records)  # trained
    assert any('acc/top1' in r for r in records)  # and validated
