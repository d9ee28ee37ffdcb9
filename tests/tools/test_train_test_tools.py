"""End-to-end tests of tools/train.py, tools/test.py and the dist_*.sh
launchers, run as a user runs them (subprocesses, CPU, gloo for 2 ranks),
plus fast in-process tests of their argument handling."""
import importlib.util
import os
import os.path as osp
import pickle
import re
import shutil
import socket
import subprocess
import sys
from types import ModuleType

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(REPO_ROOT, 'tools')
NUM_VIDEOS = 4

TINY_CONFIG = """
_base_ = ['mmaction::_base_/default_runtime.py']
custom_imports = dict(imports=['projects.dist'], allow_failed_imports=False)

model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='ResNet3d', depth=18, base_channels=4, pretrained=None,
        pretrained2d=False, inflate=(0, 0, 1, 1), norm_eval=False),
    cls_head=dict(
        type='I3DHead', num_classes=2, in_channels=32,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor', mean=[127.5] * 3, std=[127.5] * 3,
        format_shape='NCTHW'))

pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=4, frame_interval=1, num_clips=1,
         test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
dataset = dict(type='VideoDataset', ann_file='{ann}',
               data_prefix=dict(video='{root}'), pipeline=pipeline)
train_dataloader = dict(
    batch_size=2, num_workers=0, dataset=dataset,
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=2, num_workers=0, dataset=dataset,
    sampler=dict(type='DefaultSampler', shuffle=False))
test_dataloader = val_dataloader
val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
auto_scale_lr = dict(enable=False, base_batch_size=4)
default_hooks = dict(logger=dict(interval=1))
"""


def _load_tool(name: str) -> ModuleType:
    """Import ``tools/<name>.py`` as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        f'_dist_tools_{name}', osp.join(TOOLS, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def load_tool(monkeypatch):
    """``_load_tool``, with the environment variables the tools set undone
    after the test."""
    for name in ('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', 'LOCAL_RANK'):
        monkeypatch.setenv(name, 'unset')  # records the original state
        monkeypatch.delenv(name)
    return _load_tool


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _run(cmd: list, cwd: str, **env) -> subprocess.CompletedProcess:
    """Run a command as a user would, with the test's venv first on PATH."""
    full_env = dict(os.environ)
    full_env['PATH'] = (
        osp.dirname(sys.executable) + os.pathsep + full_env.get('PATH', ''))
    full_env.pop('PYTHONPATH', None)
    full_env.update(env)
    proc = subprocess.run(
        cmd, cwd=cwd, env=full_env, capture_output=True, text=True,
        timeout=300)
    assert proc.returncode == 0, (
        f'{cmd} exited with {proc.returncode}\n--- stdout\n'
        f'{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-6000:]}')
    return proc


def _write_video(path: str, seed: int) -> None:
    """An 8-frame 32x24 mp4v clip of random noise."""
    rng = np.random.default_rng(seed)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 8,
                             (32, 24))
    for _ in range(8):
        writer.write(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    writer.release()


@pytest.fixture(scope='module')
def tiny_config(tmp_path_factory) -> str:
    """Path of a tiny Recognizer3D config over 4 tiny videos."""
    root = tmp_path_factory.mktemp('tiny_data')
    lines = []
    for i in range(NUM_VIDEOS):
        _write_video(str(root / f'vid{i}.mp4'), seed=i)
        lines.append(f'vid{i}.mp4 {i % 2}')
    (root / 'ann.txt').write_text('\n'.join(lines) + '\n')
    cfg_path = root / 'tiny_recognizer.py'
    cfg_path.write_text(
        TINY_CONFIG.replace('{ann}', str(root / 'ann.txt')).replace(
            '{root}', str(root)))
    return str(cfg_path)


@pytest.fixture(scope='module')
def dist_work_dir(tiny_config, tmp_path_factory) -> str:
    """Work dir of a 2-rank ``tools/dist_train.sh`` run (one epoch)."""
    work_dir = str(tmp_path_factory.mktemp('dist_train'))
    proc = _run([
        'bash', osp.join(TOOLS, 'dist_train.sh'), tiny_config, '2',
        '--work-dir', work_dir, '--seed', '0'
    ], cwd=work_dir, PORT=str(_free_port()))
    assert "dist_cfg: {'backend': 'gloo'}" in proc.stdout + proc.stderr
    return work_dir


def test_train_py_one_epoch(tiny_config, tmp_path):
    work_dir = tmp_path / 'work'
    # Runs from a foreign directory with no PYTHONPATH: train.py must find
    # the repository (projects.dist) itself.
    _run([
        sys.executable,
        osp.join(TOOLS, 'train.py'), tiny_config, '--work-dir',
        str(work_dir), '--seed', '0', '--deterministic'
    ], cwd=str(tmp_path))
    assert (work_dir / 'epoch_1.pth').is_file()
    assert (work_dir / 'last_checkpoint').read_text().strip().endswith(
        'epoch_1.pth')


def test_dist_train_two_ranks(dist_work_dir):
    ckpt = torch.load(
        osp.join(dist_work_dir, 'epoch_1.pth'), map_location='cpu',
        weights_only=False)
    assert ckpt['meta']['epoch'] == 1
    # 4 videos, batch 2 per rank, 2 ranks: one iteration per epoch.
    assert ckpt['meta']['iter'] == 1
    logs = [
        osp.join(d, f) for d, _, fs in os.walk(dist_work_dir) for f in fs
        if f.endswith('.log')
    ]
    text = ''.join(open(p).read() for p in logs)
    assert 'Distributed training: True' in text
    assert 'GPU number: 2' in text  # MMEngine's name for the world size


def test_test_py_on_dist_checkpoint(tiny_config, dist_work_dir, tmp_path):
    dump = tmp_path / 'preds.pkl'
    proc = _run([
        sys.executable,
        osp.join(TOOLS, 'test.py'), tiny_config,
        osp.join(dist_work_dir, 'epoch_1.pth'), '--work-dir',
        str(tmp_path / 'work'), '--dump',
        str(dump)
    ], cwd=str(tmp_path))
    assert 'acc/top1' in proc.stdout + proc.stderr
    with open(dump, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == NUM_VIDEOS
    assert preds[0]['pred_score'].shape == (2, )


def test_dist_test_sh_on_dist_checkpoint(tiny_config, dist_work_dir,
                                         tmp_path):
    proc = _run([
        'bash', osp.join(TOOLS, 'dist_test.sh'), tiny_config,
        osp.join(dist_work_dir, 'epoch_1.pth'), '2', '--work-dir',
        str(tmp_path / 'work')
    ], cwd=str(tmp_path), PORT=str(_free_port()))
    assert re.search(r'acc/top1: \d', proc.stdout + proc.stderr)


def test_train_py_resume_continues(tiny_config, dist_work_dir, tmp_path):
    work_dir = tmp_path / 'work'
    shutil.copytree(dist_work_dir, work_dir)
    proc = _run([
        sys.executable,
        osp.join(TOOLS, 'train.py'), tiny_config, '--work-dir',
        str(work_dir), '--resume', '--cfg-options',
        'train_cfg.max_epochs=2'
    ], cwd=str(tmp_path))
    assert 'resumed epoch: 1' in proc.stdout + proc.stderr
    ckpt = torch.load(
        work_dir / 'epoch_2.pth', map_location='cpu', weights_only=False)
    assert ckpt['meta']['epoch'] == 2


# ------------------------------------------------ argument handling (fast)
def test_train_parse_args_mmaction_flags(load_tool):
    train = load_tool('train')
    args = train.parse_args(['cfg.py', '--resume', '--local-rank', '3'])
    assert args.resume == 'auto' and args.local_rank == 3
    args = train.parse_args(
        ['cfg.py', '--resume', 'a.pth', '--cfg-options', 'x.y=1'])
    assert args.resume == 'a.pth' and args.cfg_options == {'x.y': 1}
    with pytest.raises(SystemExit):
        train.parse_args(['cfg.py', '--launcher', 'torchrun'])


def test_train_merge_args(load_tool, tiny_config):
    train = load_tool('train')
    cfg = train.merge_args(
        Config.fromfile(tiny_config),
        train.parse_args([tiny_config, '--no-validate', '--seed', '7']))
    assert cfg.work_dir == osp.join('./work_dirs', 'tiny_recognizer')
    assert cfg.val_dataloader is None and cfg.val_cfg is None
    assert cfg.randomness.seed == 7
    assert cfg.launcher == 'none' and 'model_wrapper_cfg' not in cfg

    cfg = train.merge_args(
        Config.fromfile(tiny_config),
        train.parse_args([tiny_config, '--resume', 'x.pth']))
    assert cfg.resume is True and cfg.load_from == 'x.pth'


def test_train_amp_needs_accelerator(load_tool, tiny_config, monkeypatch):
    train = load_tool('train')
    args = train.parse_args([tiny_config, '--amp'])
    monkeypatch.setattr(train, 'has_amp_device', lambda: False)
    with pytest.raises(SystemExit, match='--amp needs a GPU'):
        train.merge_args(Config.fromfile(tiny_config), args)
    monkeypatch.setattr(train, 'has_amp_device', lambda: True)
    cfg = train.merge_args(Config.fromfile(tiny_config), args)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'


@pytest.mark.parametrize('tool', ['train', 'test'])
def test_cpu_launcher_uses_gloo_and_cpu_ddp(load_tool, tool, tiny_config,
                                            monkeypatch):
    module = load_tool(tool)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    argv = [tiny_config] + (['x.pth'] if tool == 'test' else [])
    cfg = Config.fromfile(tiny_config)
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'  # from default_runtime
    cfg = module.merge_args(cfg,
                            module.parse_args(argv + ['--launcher', 'pytorch']))
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg == dict(
        type='MMDistributedDataParallel',
        device_ids=None,
        broadcast_buffers=False)

    # A user's own wrapper settings survive; only device_ids is added.
    cfg = Config.fromfile(tiny_config)
    cfg.model_wrapper_cfg = dict(broadcast_buffers=True)
    cfg.find_unused_parameters = True
    cfg = module.merge_args(cfg,
                            module.parse_args(argv + ['--launcher', 'pytorch']))
    assert cfg.model_wrapper_cfg.broadcast_buffers is True
    assert cfg.model_wrapper_cfg.device_ids is None
    assert 'find_unused_parameters' not in cfg.model_wrapper_cfg


def test_cpu_launcher_keeps_find_unused_parameters(load_tool, tiny_config,
                                                   monkeypatch):
    train = load_tool('train')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = Config.fromfile(tiny_config)
    cfg.find_unused_parameters = True
    cfg = train.merge_args(
        cfg, train.parse_args([tiny_config, '--launcher', 'pytorch']))
    assert cfg.model_wrapper_cfg.find_unused_parameters is True


def test_test_merge_args_dump_and_load_from(load_tool, tiny_config):
    test = load_tool('test')
    cfg = test.merge_args(
        Config.fromfile(tiny_config),
        test.parse_args([tiny_config, 'ckpt.pth', '--dump', 'out.pkl']))
    assert cfg.load_from == 'ckpt.pth'
    assert cfg.test_evaluator[-1] == dict(
        type='DumpResults', out_file_path='out.pkl')
    with pytest.raises(SystemExit, match="'out.json'"):
        test.merge_args(
            Config.fromfile(tiny_config),
            test.parse_args([tiny_config, 'ckpt.pth', '--dump', 'out.json']))


def test_tools_set_trusted_checkpoint_loading(load_tool, monkeypatch):
    load_tool('test')
    assert os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] == '1'
    # An explicit user choice is kept.
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '0')
    load_tool('train')
    assert os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] == '0'
