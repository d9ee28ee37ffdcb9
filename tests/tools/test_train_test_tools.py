"""End-to-end tests of tools/train.py, tools/test.py and the dist_*.sh
launchers on the tiny DiST config, run as a user runs them (subprocesses, on
the CPU, gloo for 2 ranks), plus fast in-process tests of their argument
handling."""
import os
import os.path as osp
import pickle
import re
import shutil
import sys
from types import ModuleType

import pytest
import torch
from mmengine.config import Config

from tests.helpers import REPO_ROOT, find_step, free_port
from tests.helpers import load_tool as load_tool_module
from tests.helpers import run_command

TOOLS = osp.join(REPO_ROOT, 'tools')
CONFIG = osp.join(REPO_ROOT, 'configs', 'dist_tiny_synthetic.py')
# Keep the runs small: 2 training videos per class, 1 for val and test. All
# three datasets describe the same generated folder, so they must agree.
NUM_PER_CLASS = dict(train=2, val=1, test=1)
OVERRIDES = [
    'train_cfg.max_epochs=1',
    # the config's class-name file is relative to the repository root
    'model.cls_head.class_names=' + osp.join(
        REPO_ROOT, 'projects', 'dist', 'label_maps', 'synthetic_motion.txt'),
] + [
    f'{loader}_dataloader.dataset.num_per_class.{split}={num}'
    for loader in ('train', 'val', 'test')
    for split, num in NUM_PER_CLASS.items()
]


def _load_tool(name: str) -> ModuleType:
    """Import ``tools/<name>.py`` as a module (tools/ is not a package)."""
    return load_tool_module(f'{name}.py')


@pytest.fixture
def load_tool(monkeypatch):
    """``_load_tool``, with the environment variables the tools set undone
    after the test."""
    for name in ('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', 'LOCAL_RANK'):
        monkeypatch.setenv(name, 'unset')  # records the original state
        monkeypatch.delenv(name)
    return _load_tool


@pytest.fixture(scope='module')
def run_dir(tmp_path_factory) -> str:
    """Working directory of the tool runs: the config's relative data_root
    (data/synthetic_motion) is generated there once and shared."""
    return str(tmp_path_factory.mktemp('runs'))


@pytest.fixture(scope='module')
def num_classes() -> int:
    """Number of classes of the tiny config."""
    return Config.fromfile(CONFIG).num_classes


@pytest.fixture(scope='module')
def dist_work_dir(run_dir, tmp_path_factory) -> str:
    """Work dir of a 2-rank ``tools/dist_train.sh`` run (one epoch)."""
    work_dir = str(tmp_path_factory.mktemp('dist_train'))
    cmd = [
        'bash',
        osp.join(TOOLS, 'dist_train.sh'), CONFIG, '2', '--work-dir', work_dir,
        '--cfg-options', *OVERRIDES
    ]
    run_command(cmd, cwd=run_dir, PORT=str(free_port()))
    return work_dir


def test_train_py_one_epoch(run_dir, tmp_path):
    work_dir = tmp_path / 'work'
    # As a user runs it: from a folder outside the repository, with no
    # PYTHONPATH set.
    cmd = [
        sys.executable,
        osp.join(TOOLS, 'train.py'), CONFIG, '--work-dir',
        str(work_dir), '--cfg-options', *OVERRIDES
    ]
    run_command(cmd, cwd=run_dir)
    assert (work_dir / 'epoch_1.pth').is_file()
    assert (work_dir /
            'last_checkpoint').read_text().strip().endswith('epoch_1.pth')


def test_dist_train_two_ranks(dist_work_dir):
    ckpt = torch.load(
        osp.join(dist_work_dir, 'epoch_1.pth'),
        map_location='cpu',
        weights_only=False)
    assert ckpt['meta']['epoch'] == 1
    assert any(k.startswith('backbone.') for k in ckpt['state_dict'])
    logs = [
        osp.join(d, f) for d, _, fs in os.walk(dist_work_dir) for f in fs
        if f.endswith('.log')
    ]
    text = ''.join(open(p).read() for p in logs)
    assert 'Distributed training: True' in text
    assert 'GPU number: 2' in text  # MMEngine's name for the world size
    assert "dist_cfg: {'backend': 'gloo'}" in text


def test_test_py_on_dist_checkpoint(run_dir, dist_work_dir, num_classes,
                                    tmp_path):
    dump = tmp_path / 'preds.pkl'
    cmd = [
        sys.executable,
        osp.join(TOOLS, 'test.py'), CONFIG,
        osp.join(dist_work_dir, 'epoch_1.pth'), '--work-dir',
        str(tmp_path / 'work'), '--dump',
        str(dump), '--cfg-options', *OVERRIDES
    ]
    proc = run_command(cmd, cwd=run_dir)
    assert re.search(r'acc/top1: \d', proc.stdout + proc.stderr)
    with open(dump, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == NUM_PER_CLASS['test'] * num_classes
    assert preds[0]['pred_score'].shape == (num_classes, )


def test_dist_test_sh_on_dist_checkpoint(run_dir, dist_work_dir, tmp_path):
    cmd = [
        'bash',
        osp.join(TOOLS, 'dist_test.sh'), CONFIG,
        osp.join(dist_work_dir, 'epoch_1.pth'), '2', '--work-dir',
        str(tmp_path / 'work'), '--cfg-options', *OVERRIDES
    ]
    proc = run_command(cmd, cwd=run_dir, PORT=str(free_port()))
    out = proc.stdout + proc.stderr
    assert 'Distributed training: True' in out
    assert re.search(r'Epoch\(test\).*acc/top1: \d', out)


def test_train_py_resume_continues(run_dir, dist_work_dir, tmp_path):
    work_dir = tmp_path / 'work'
    shutil.copytree(dist_work_dir, work_dir)
    cmd = [
        sys.executable,
        osp.join(TOOLS, 'train.py'), CONFIG, '--work-dir',
        str(work_dir), '--resume', '--cfg-options', *OVERRIDES,
        'train_cfg.max_epochs=2'
    ]
    proc = run_command(cmd, cwd=run_dir)
    assert 'resumed epoch: 1' in proc.stdout + proc.stderr
    ckpt = torch.load(
        work_dir / 'epoch_2.pth', map_location='cpu', weights_only=False)
    assert ckpt['meta']['epoch'] == 2


def test_dump_names_each_video_after_unreadable_ones_are_dropped(
        run_dir, dist_work_dir, tmp_path):
    """Unreadable videos at the head and in the middle of the list shift
    every later position: only the dumped file names tell which prediction
    belongs to which video (and label)."""
    root = osp.join(run_dir, 'data', 'synthetic_motion')
    with open(osp.join(root, 'test.txt')) as f:
        readable = [line.split() for line in f if line.strip()]
    readable = [(osp.join(root, path), int(label)) for path, label in readable]
    empty = tmp_path / 'empty.mp4'
    empty.write_bytes(b'')
    text = tmp_path / 'text.mp4'
    text.write_text('not a video\n')
    listed = ([(str(empty), 0)] + readable[:2] + [(str(text), 1)] +
              readable[2:])
    ann = tmp_path / 'mixed.txt'
    ann.write_text(''.join(f'{p} {label}\n' for p, label in listed))
    pipeline = [dict(t) for t in Config.fromfile(CONFIG).test_pipeline]
    config = tmp_path / 'robust_test.py'
    config.write_text(
        f'_base_ = [{CONFIG!r}]\n'
        'test_dataloader = dict(dataset=dict(\n'
        "    _delete_=True, type='DiSTRobustVideoDataset',\n"
        f'    ann_file={str(ann)!r},\n'
        f'    pipeline={pipeline!r},\n'
        '    test_mode=True, check_on_init=True, max_broken=1.0))\n')
    dump = tmp_path / 'preds.pkl'
    cmd = [
        sys.executable,
        osp.join(TOOLS, 'test.py'),
        str(config),
        osp.join(dist_work_dir, 'epoch_1.pth'), '--work-dir',
        str(tmp_path / 'work'), '--dump',
        str(dump), '--cfg-options', OVERRIDES[1]
    ]
    run_command(cmd, cwd=run_dir)
    with open(dump, 'rb') as f:
        preds = pickle.load(f)
    labels = dict(readable)
    assert sorted(p['filename'] for p in preds) == sorted(labels)
    for pred in preds:
        assert int(pred['gt_label']) == labels[pred['filename']]
    # positions no longer match the list: that is why names are needed
    assert [p['filename'] for p in preds] != [p for p, _ in listed[:6]]


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


def test_train_merge_args(load_tool):
    train = load_tool('train')
    cfg = train.merge_args(
        Config.fromfile(CONFIG),
        train.parse_args([CONFIG, '--no-validate', '--auto-scale-lr']))
    assert cfg.work_dir == osp.join('./work_dirs', 'dist_tiny_synthetic')
    assert cfg.val_dataloader is None and cfg.val_cfg is None
    assert cfg.auto_scale_lr.enable is True
    assert cfg.launcher == 'none' and 'model_wrapper_cfg' not in cfg

    cfg = train.merge_args(
        Config.fromfile(CONFIG),
        train.parse_args([CONFIG, '--resume', 'x.pth', '--work-dir', 'w']))
    assert cfg.resume is True and cfg.load_from == 'x.pth'
    assert cfg.work_dir == 'w'


def test_train_seed_flags_fill_missing_randomness(load_tool):
    train = load_tool('train')
    cfg = Config.fromfile(CONFIG)
    cfg.randomness = None
    cfg = train.merge_args(
        cfg, train.parse_args([CONFIG, '--seed', '7', '--diff-rank-seed']))
    assert cfg.randomness == dict(
        seed=7, diff_rank_seed=True, deterministic=False)


def test_train_refuses_a_schedule_with_nothing_to_train(load_tool):
    from projects.dist.utils.work_dir import NothingToTrainError
    train = load_tool('train')
    args = train.parse_args(
        [CONFIG, '--cfg-options', 'train_cfg.max_epochs=0'])
    with pytest.raises(
            NothingToTrainError,
            match=r'train_cfg.max_epochs=0 trains nothing.*'
            r'--cfg-options train_cfg.max_epochs=1'):
        train.merge_args(Config.fromfile(CONFIG), args)


def test_dump_adds_video_identity_to_every_packer(load_tool):
    test = load_tool('test')
    cfg = test.merge_args(
        Config.fromfile(CONFIG),
        test.parse_args([CONFIG, 'ckpt.pth', '--dump', 'out.pkl']))
    pack = find_step(cfg.test_dataloader.dataset.pipeline, 'PackActionInputs')
    assert pack.meta_keys == ('img_shape', 'img_key', 'video_id', 'timestamp',
                              'filename', 'frame_dir')
    # wrapped datasets, own meta_keys kept, no duplicates
    wrapped = dict(
        type='ConcatDataset',
        datasets=[
            dict(pipeline=[
                dict(type='PackActionInputs', meta_keys=('filename', ))
            ]),
            dict(
                type='RepeatDataset',
                dataset=dict(pipeline=[dict(
                    type='mmaction.PackActionInputs')]))
        ])
    assert test.add_video_identity(wrapped) == 2
    concat, repeat = wrapped['datasets']
    assert find_step(concat['pipeline'],
                     'PackActionInputs')['meta_keys'] == ('filename',
                                                          'frame_dir')
    assert find_step(
        repeat['dataset']['pipeline'],
        'mmaction.PackActionInputs')['meta_keys'][-2:] == ('filename',
                                                           'frame_dir')
    assert test.add_video_identity(dict(pipeline=[dict(type='X')])) == 0


def test_train_auto_scale_lr_needs_config_entry(load_tool):
    train = load_tool('train')
    with pytest.raises(SystemExit, match='base_batch_size'):
        train.merge_args(
            Config(dict(model=dict(type='Recognizer3D'))),
            train.parse_args([CONFIG, '--auto-scale-lr']))


def test_train_amp_needs_accelerator(load_tool, monkeypatch):
    train = load_tool('train')
    args = train.parse_args([CONFIG, '--amp'])
    monkeypatch.setattr(train, 'has_amp_device', lambda: False)
    with pytest.raises(SystemExit, match='--amp needs a GPU'):
        train.merge_args(Config.fromfile(CONFIG), args)
    monkeypatch.setattr(train, 'has_amp_device', lambda: True)
    cfg = train.merge_args(Config.fromfile(CONFIG), args)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'


@pytest.mark.parametrize('tool', ['train', 'test'])
def test_cpu_launcher_uses_gloo_and_cpu_ddp(load_tool, tool, monkeypatch):
    module = load_tool(tool)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    argv = [CONFIG] + (['x.pth'] if tool == 'test' else [])
    argv += ['--launcher', 'pytorch']
    cfg = Config.fromfile(CONFIG)
    cfg.env_cfg.dist_cfg.backend = 'nccl'  # as in MMAction2's runtime base
    cfg = module.merge_args(cfg, module.parse_args(argv))
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg == dict(
        type='MMDistributedDataParallel',
        device_ids=None,
        broadcast_buffers=False)

    # A user's own wrapper settings survive; only device_ids is added.
    cfg = Config.fromfile(CONFIG)
    cfg.model_wrapper_cfg = dict(broadcast_buffers=True)
    cfg.find_unused_parameters = True
    cfg = module.merge_args(cfg, module.parse_args(argv))
    assert cfg.model_wrapper_cfg == dict(
        type='MMDistributedDataParallel',
        device_ids=None,
        broadcast_buffers=True)


@pytest.mark.parametrize('tool', ['train', 'test'])
def test_launcher_none_or_cuda_keeps_config(load_tool, tool, monkeypatch):
    module = load_tool(tool)
    argv = [CONFIG] + (['x.pth'] if tool == 'test' else [])
    # Single process: nothing to adapt, even without CUDA.
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = Config.fromfile(CONFIG)
    cfg.env_cfg.dist_cfg.backend = 'nccl'
    cfg = module.merge_args(cfg, module.parse_args(argv))
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    assert 'model_wrapper_cfg' not in cfg
    # With CUDA, a distributed run keeps MMEngine's GPU defaults.
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = Config.fromfile(CONFIG)
    cfg.env_cfg.dist_cfg.backend = 'nccl'
    cfg = module.merge_args(
        cfg, module.parse_args(argv + ['--launcher', 'pytorch']))
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    assert 'model_wrapper_cfg' not in cfg


def test_cpu_launcher_keeps_find_unused_parameters(load_tool, monkeypatch):
    train = load_tool('train')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = Config.fromfile(CONFIG)
    cfg.find_unused_parameters = True
    cfg = train.merge_args(cfg,
                           train.parse_args([CONFIG, '--launcher', 'pytorch']))
    assert cfg.model_wrapper_cfg.find_unused_parameters is True


def test_test_merge_args_dump_and_load_from(load_tool):
    test = load_tool('test')
    cfg = test.merge_args(
        Config.fromfile(CONFIG),
        test.parse_args([CONFIG, 'ckpt.pth', '--dump', 'out.pkl']))
    assert cfg.load_from == 'ckpt.pth'
    assert cfg.work_dir == osp.join('./work_dirs', 'dist_tiny_synthetic')
    assert cfg.test_evaluator[-1] == dict(
        type='DumpResults', out_file_path='out.pkl')
    with pytest.raises(SystemExit, match="'out.json'"):
        test.merge_args(
            Config.fromfile(CONFIG),
            test.parse_args([CONFIG, 'ckpt.pth', '--dump', 'out.json']))


def test_test_show_dir_enables_visualization(load_tool, tmp_path):
    test = load_tool('test')
    args = test.parse_args(
        [CONFIG, 'ckpt.pth', '--show-dir',
         str(tmp_path), '--interval', '3'])
    cfg = Config.fromfile(CONFIG)
    cfg.default_hooks.pop('visualization', None)
    with pytest.raises(SystemExit, match='VisualizationHook'):
        test.merge_args(cfg, args)

    cfg.default_hooks.visualization = dict(
        type='VisualizationHook', enable=False)
    cfg = test.merge_args(cfg, args)
    vis = cfg.default_hooks.visualization
    assert vis.enable is True and vis.out_dir == str(tmp_path)
    assert vis.interval == 3 and vis.show is False


def test_train_trusts_its_own_checkpoints(load_tool, monkeypatch):
    load_tool('train')  # --resume / load_from read MMEngine checkpoints
    assert os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] == '1'
    # An explicit user choice is kept.
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '0')
    load_tool('train')
    assert os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] == '0'


def test_test_unpickles_only_training_checkpoints(load_tool, tmp_path,
                                                  monkeypatch):
    import numpy as np
    test = load_tool('test')
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ
    released = tmp_path / 'release.pth'
    torch.save({'state_dict': {'w': torch.zeros(2)}, 'meta': {}}, released)
    test.allow_full_unpickling_if_needed(str(released))
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ  # safe
    training = tmp_path / 'epoch_1.pth'
    torch.save({'state_dict': {}, 'meta': {'seed': np.int64(0)}}, training)
    test.allow_full_unpickling_if_needed(str(training))
    assert os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] == '1'
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '0')
    test.allow_full_unpickling_if_needed(str(training))  # user choice kept
    assert os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] == '0'


# ------------------------------------------------ slurm launchers (fake srun)
def _fake_srun(tmp_path) -> dict:
    """Environment whose ``srun`` writes its arguments, one per line, to
    ``tmp_path/srun_args``."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    srun = bin_dir / 'srun'
    srun.write_text('#!/usr/bin/env bash\n'
                    'printf "%s\\n" "$@" > "$(dirname "$0")/../srun_args"\n'
                    'echo "PYTHONPATH=$PYTHONPATH" >> '
                    '"$(dirname "$0")/../srun_args"\n')
    srun.chmod(0o755)
    return dict(PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}')


def test_slurm_train_sh_arguments(tmp_path):
    env = _fake_srun(tmp_path)
    cmd = [
        'bash',
        osp.join(TOOLS, 'slurm_train.sh'), 'gpu', 'dist_job', 'my cfg.py',
        'wd', '--seed', '1'
    ]
    run_command(
        cmd, cwd=str(tmp_path), GPUS='16', SRUN_ARGS='--quotatype=auto', **env)
    args = (tmp_path / 'srun_args').read_text().splitlines()
    assert args[:8] == [
        '-p', 'gpu', '--job-name=dist_job', '--gres=gpu:8', '--ntasks=16',
        '--ntasks-per-node=8', '--cpus-per-task=5', '--kill-on-bad-exit=1'
    ]
    assert args[8:-1] == [
        '--quotatype=auto', 'python', '-u',
        osp.join(TOOLS, 'train.py'), 'my cfg.py', '--launcher=slurm',
        '--work-dir', 'wd', '--seed', '1'
    ]
    assert args[-1].startswith(f'PYTHONPATH={TOOLS}/..:')

    # Without WORK_DIR the extra arguments go straight to train.py.
    cmd = [
        'bash',
        osp.join(TOOLS, 'slurm_train.sh'), 'gpu', 'dist_job', 'c.py', '--amp'
    ]
    run_command(cmd, cwd=str(tmp_path), **env)
    args = (tmp_path / 'srun_args').read_text().splitlines()
    assert args[-4:-1] == ['c.py', '--launcher=slurm', '--amp']


def test_slurm_test_sh_arguments(tmp_path):
    env = _fake_srun(tmp_path)
    cmd = [
        'bash',
        osp.join(TOOLS, 'slurm_test.sh'), 'gpu', 'dist_job', 'c.py', 'ck.pth',
        '--dump', 'r.pkl'
    ]
    run_command(
        cmd, cwd=str(tmp_path), GPUS_PER_NODE='4', CPUS_PER_TASK='2', **env)
    args = (tmp_path / 'srun_args').read_text().splitlines()
    assert '--gres=gpu:4' in args and '--cpus-per-task=2' in args
    assert args[args.index('-u') + 1:-1] == [
        osp.join(TOOLS, 'test.py'), 'c.py', 'ck.pth', '--launcher=slurm',
        '--dump', 'r.pkl'
    ]
