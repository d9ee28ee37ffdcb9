"""The headline config, run as the README says, with only a tiny model and
tiny data swapped in through --cfg-options: ``bash tools/dist_train.sh
configs/dist_vitb_k400.py 2 --cfg-options ...`` trains two gloo ranks on CPU
and validates."""
import json
import os.path as osp

from mmengine.config import Config

# yapf: disable
from tests.helpers import (REPO_ROOT, as_cli_options, find_step, free_port,
                           run_command, tiny_model_options)
# yapf: enable
from tests.video_utils import write_video_list

CONFIG = 'configs/dist_vitb_k400.py'
#: The frame sampler of each loader's pipeline.
SAMPLERS = dict(
    train='UniformSample', val='DiSTSegmentSample', test='DiSTSegmentSample')


def step_option(cfg: Config, loader: str, step_type: str, key: str,
                value) -> str:
    """``--cfg-options`` entry setting ``key`` of the ``step_type`` step of
    a loader's pipeline (the command line addresses a list item by position:
    the position is looked up by type)."""
    pipeline = cfg[f'{loader}_dataloader'].dataset.pipeline
    index = pipeline.index(find_step(pipeline, step_type))
    return f'{loader}_dataloader.dataset.pipeline.{index}.{key}={value}'


def tiny_options(ann: str, root: str) -> list:
    cfg = Config.fromfile(osp.join(REPO_ROOT, CONFIG))
    opts = as_cli_options(tiny_model_options(num_frames=4))
    opts += ['train_cfg.max_epochs=1']
    for loader in ('train', 'val', 'test'):
        key = f'{loader}_dataloader'
        opts += [
            f'{key}.batch_size=2', f'{key}.num_workers=1',
            f'{key}.persistent_workers=False', f'{key}.dataset.ann_file={ann}',
            f'{key}.dataset.data_prefix.video={root}',
            step_option(cfg, loader, SAMPLERS[loader], 'clip_len', 4)
        ]
    opts.append(step_option(cfg, 'train', 'Resize', 'scale', '(32,32)'))
    for loader in ('val', 'test'):
        opts += [
            step_option(cfg, loader, 'Resize', 'scale', '(-1,32)'),
            step_option(cfg, loader, 'CenterCrop', 'crop_size', 32)
        ]
    return opts


def test_dist_train_headline_config_two_ranks(tmp_path):
    data = tmp_path / 'videos'
    data.mkdir()
    ann = write_video_list(str(data), 8, 4, size=(40, 32))
    work = tmp_path / 'work'
    run_command(
        [
            'bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir',
            str(work), '--cfg-options'
        ] + tiny_options(ann, str(data)),
        cwd=REPO_ROOT,
        PORT=str(free_port()))
    assert (work / 'epoch_1.pth').exists()
    logs = list(work.glob('*/vis_data/scalars.json'))
    assert logs, 'no scalar log written'
    records = [json.loads(line) for line in logs[0].read_text().splitlines()]
    assert any('loss' in r for r in records)  # trained
    assert any('acc/top1' in r for r in records)  # and validated
