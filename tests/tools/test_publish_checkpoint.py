"""Safe loading: released plugin checkpoints (published training
checkpoints, converted official ones) load with ``weights_only=True``.

``TORCH_FORCE_WEIGHTS_ONLY_LOAD=1`` makes every ``torch.load`` in the
process (MMEngine's ``load_checkpoint`` included) refuse full unpickling, so
a test that passes under it never unpickled arbitrary objects.
"""
import os
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.runner import Runner, load_checkpoint

from tests.helpers import REPO_ROOT, load_tool
from tests.video_utils import write_video_list

TINY_MODEL = osp.join(REPO_ROOT, 'configs', '_base_', 'models', 'dist_tiny.py')
CLASS_NAMES = ['moving left', 'moving right', 'growing', 'shrinking']
PARITY_DIR = osp.join(
    os.environ.get('DIST_SHARED_DIR',
                   osp.join(osp.dirname(REPO_ROOT), 'shared')), 'parity')


def safe_loading_only(monkeypatch) -> None:
    """Forbid full unpickling for every torch.load from here on."""
    monkeypatch.delenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', raising=False)
    monkeypatch.setenv('TORCH_FORCE_WEIGHTS_ONLY_LOAD', '1')


def tiny_cfg(work_dir: str, root: str) -> Config:
    """The tiny DiST with a 4-clip train/test list under ``root``."""
    write_video_list(root, 4, 4, num_frames=8)
    pipeline = [
        dict(type='DecordInit'),
        dict(type='UniformSample', clip_len=8, num_clips=1, test_mode=True),
        dict(type='DecordDecode'),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs')
    ]
    loader = dict(
        batch_size=4,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(
            type='DiSTRobustVideoDataset',
            ann_file=osp.join(root, 'list.txt'),
            data_prefix=dict(video=root),
            pipeline=pipeline))
    cfg = Config.fromfile(TINY_MODEL)
    cfg.model.cls_head.num_classes = len(CLASS_NAMES)
    cfg.model.cls_head.class_names = list(CLASS_NAMES)
    cfg.merge_from_dict(
        dict(
            default_scope='mmaction',
            work_dir=work_dir,
            train_dataloader=loader,
            test_dataloader=dict(
                loader, dataset=dict(loader['dataset'], test_mode=True)),
            test_evaluator=dict(type='AccMetric'),
            test_cfg=dict(type='TestLoop'),
            train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=1),
            optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-2)),
            default_hooks=dict(
                checkpoint=dict(type='DiSTSafeCheckpointHook', interval=1)),
            randomness=dict(seed=0),
            log_level='WARNING'))
    cfg.experiment_name = osp.basename(work_dir)
    return cfg


def test_published_runner_checkpoint_loads_weights_only(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    root = str(tmp_path / 'videos')
    runner = Runner.from_cfg(tiny_cfg(str(tmp_path / 'train'), root))
    runner.train()
    trained = osp.join(str(tmp_path / 'train'), 'epoch_1.pth')
    expected = runner.test()

    tool = load_tool('misc/publish_checkpoint.py')
    published = tool.publish_checkpoint(trained, str(tmp_path / 'release.pth'))
    assert osp.basename(published).startswith('release-')

    safe_loading_only(monkeypatch)
    # the training checkpoint itself cannot be read without unpickling ...
    with pytest.raises(pickle.UnpicklingError):
        torch.load(trained, map_location='cpu')
    # ... the published one can, and it holds the same weights
    released = torch.load(published, map_location='cpu', weights_only=True)
    assert set(released) == {'state_dict', 'meta'}
    assert released['meta']['epoch'] == 1
    full = runner.model.state_dict()
    assert released['state_dict'].keys() == full.keys()
    assert all(torch.equal(released['state_dict'][k], full[k]) for k in full)
    # the tools/test.py code path (Runner.test with load_from) under
    # forced weights-only loading gives the trained model's results
    cfg = tiny_cfg(str(tmp_path / 'test'), root)
    cfg.load_from = published
    assert Runner.from_cfg(cfg).test() == expected


def test_strip_checkpoint_keeps_plain_meta_only():
    tool = load_tool('misc/publish_checkpoint.py')
    checkpoint = dict(
        state_dict={'module.fc.weight': torch.ones(2, 2)},
        meta=dict(
            epoch=np.int64(3),
            seed=np.int32(0),
            dataset_meta=dict(classes=('a', 'b'), mean=np.zeros(2)),
            hook_msgs=dict(a=1),
            time='20250101_000000',
            cfg='model = dict()',
            experiment_name=object()),
        optimizer=dict(state={}),
        message_hub=object())
    out, dropped = tool.strip_checkpoint(checkpoint)
    assert list(out['state_dict']) == ['fc.weight']
    assert out['meta'] == dict(
        epoch=3,
        seed=0,
        dataset_meta=dict(classes=('a', 'b'), mean=[0.0, 0.0]),
        time='20250101_000000',
        cfg='model = dict()',
        experiment_name=None)
    assert dropped == ['experiment_name (object)']
    with pytest.raises(TypeError, match="entry 'x' is a str, expected a"):
        tool.strip_checkpoint(dict(state_dict=dict(x='not a tensor')))


def test_converted_official_checkpoint_loads_weights_only(
        tmp_path, monkeypatch):
    official = osp.join(PARITY_DIR, 'ckpt_tiny_p16.pyth')
    if not osp.isfile(official):
        raise FileNotFoundError(
            f'shared official checkpoint not found at {official}; set '
            'DIST_SHARED_DIR to the folder holding parity/')
    safe_loading_only(monkeypatch)
    names = tmp_path / 'names.txt'
    names.write_text('arm wrestling\nplaying guitar\npushing something from '
                     'left to right\nabseiling\nzumba\n')
    dst, cfg_out = str(tmp_path / 'dist.pth'), str(tmp_path / 'dist_cfg.py')
    converter = load_tool('model_converters/dist_official_to_mmaction.py')
    converter.main([
        official, dst, '--config-out', cfg_out, '--class-names',
        str(names), '--text-heads', '1'
    ])
    released = torch.load(dst, map_location='cpu', weights_only=True)
    assert set(released) == {'state_dict', 'meta'}
    model = MODELS.build(Config.fromfile(cfg_out).model)
    load_checkpoint(model, dst, map_location='cpu', strict=True)
    for k, v in model.state_dict().items():
        assert torch.equal(v, released['state_dict'][k]), k


@pytest.mark.parametrize('content, match', [
    (b'', r'bad.pth is empty \(0 bytes\)'),
    (b'epoch_3.pth\n', r'bad.pth is not a PyTorch checkpoint: it looks like '
     'a text file'),
])
def test_non_checkpoint_input_is_named(tmp_path, content, match):
    tool = load_tool('misc/publish_checkpoint.py')
    bad = tmp_path / 'bad.pth'
    bad.write_bytes(content)
    with pytest.raises(SystemExit, match=match):
        tool.main([str(bad), str(tmp_path / 'out.pth')])
    assert not list(tmp_path.glob('out*'))


def test_official_checkpoint_input_points_to_the_converter(tmp_path):
    tool = load_tool('misc/publish_checkpoint.py')
    src = str(tmp_path / 'DIST.pyth')
    torch.save({'model_state': {
        'backbone.base_encoder.proj': torch.zeros(1)
    }}, src)
    with pytest.raises(
            SystemExit,
            match=r'DIST.pyth: .* official DiST checkpoint .*'
            'dist_official_to_mmaction.py'):
        tool.main([src, str(tmp_path / 'out.pth')])


def test_output_equal_to_input_is_refused(tmp_path):
    tool = load_tool('misc/publish_checkpoint.py')
    src = tmp_path / 'epoch_1.pth'
    torch.save(dict(state_dict={'w': torch.ones(1)}, meta={}), src)
    before = src.read_bytes()
    with pytest.raises(SystemExit, match='is the input checkpoint'):
        tool.main([str(src), str(src), '--no-hash'])
    assert src.read_bytes() == before
