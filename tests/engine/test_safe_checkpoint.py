"""A kill during a checkpoint save never leaves a truncated "latest"
checkpoint for ``--resume`` with DiSTSafeCheckpointHook.

The kill is simulated by making the write of one checkpoint file store half
of its bytes and then raise a ``BaseException`` (nothing in MMEngine catches
it, and ``atomic_write``'s clean-up only handles ordinary errors), which is
what a SIGKILL/OOM/preemption in the middle of ``f.write`` leaves on disk.
The same scenarios are run with MMEngine's stock ``CheckpointHook`` to show
that they do corrupt its resume (so the simulation is not a no-op).

Resume needs ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``: torch >= 2.6 loads with
``weights_only=True`` by default, which cannot unpickle a full MMEngine
checkpoint (message hub, optimizer/scheduler states); tools/train.py sets it
for the same reason.
"""
import builtins
import itertools
import os
import os.path as osp
import re
import shutil
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.runner import Runner

from projects.dist.engine.hooks.safe_checkpoint_hook import (
    DiSTSafeCheckpointHook, atomic_write, is_complete_checkpoint)
from projects.dist.utils.checkpoint_loading import CheckpointFileError
from projects.dist.utils.work_dir import NothingToTrainError, WorkDirError

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

_names = itertools.count()


class SimulatedKill(BaseException):
    """Stands for the process being killed (not an ordinary Exception)."""


class ToyModel(BaseModel):
    """Linear regression, enough to have weights, optimizer and LR state."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 1)

    def forward(self, inputs, targets, mode: str = 'tensor'):
        """Return the MSE loss, or the predictions (N, 1)."""
        out = self.fc(torch.stack(inputs))
        if mode == 'loss':
            return dict(loss=((out - torch.stack(targets))**2).mean())
        return list(out)


class RisingMetric(BaseMetric):
    """A score that improves at every validation (forces a new best)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def process(self, data_batch, data_samples) -> None:
        """Record one dummy result per batch."""
        self.results.append(0)

    def compute_metrics(self, results) -> dict:
        """Return an increasing score."""
        self.count += 1
        return dict(score=float(self.count))


def toy_data(n: int = 8) -> list:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, generator=gen)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    return [dict(inputs=a, targets=b) for a, b in zip(x, y)]


def make_runner(work_dir: str,
                hook: str,
                resume: bool = False,
                max_epochs: int = 3,
                **hook_args) -> Runner:
    """A tiny Runner with validation, an LR schedule and ``hook``."""
    loader = dict(batch_size=2, num_workers=0, dataset=toy_data())
    torch.manual_seed(0)
    return Runner(
        model=ToyModel(),
        work_dir=work_dir,
        experiment_name=f'safe_ckpt_{next(_names)}',
        train_dataloader=dict(
            sampler=dict(type='DefaultSampler', shuffle=True), **loader),
        val_dataloader=dict(
            sampler=dict(type='DefaultSampler', shuffle=False), **loader),
        val_evaluator=[RisingMetric()],
        val_cfg=dict(),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs, val_interval=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        param_scheduler=dict(
            type='MultiStepLR', milestones=[2], by_epoch=True),
        default_hooks=dict(
            checkpoint=dict(type=hook, interval=1, **hook_args),
            logger=dict(type='LoggerHook', interval=100)),
        randomness=dict(seed=0),
        default_scope='mmaction',
        resume=resume,
        log_level='WARNING')


def kill_on_write(monkeypatch, name: str, nth: int) -> list:
    """Make the ``nth`` opening for writing of the file ``name`` (or of a
    temporary file for it) write half of the data, then 'kill' the process.
    """
    pattern = re.compile(re.escape(name) + r'(\.dist_tmp\.\d+)?')
    real_open = builtins.open
    seen = []

    class HalfWriter:

        def __init__(self, f):
            self._f = f

        def write(self, data):
            self._f.write(data[:len(data) // 2])
            self._f.flush()
            raise SimulatedKill(seen[-1])

        def __getattr__(self, name):
            return getattr(self._f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._f.close()

    def fake_open(file, mode='r', *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        if isinstance(file, str) and pattern.fullmatch(
                osp.basename(file)) and ('w' in mode or 'x' in mode):
            seen.append(file)
            if len(seen) == nth:
                return HalfWriter(f)
        return f

    monkeypatch.setattr(builtins, 'open', fake_open)
    return seen


def final_weights(runner: Runner) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in runner.model.parameters()])


# scenario -> (hook arguments, which write of epoch_2.pth is killed)
SCENARIOS = {
    # the stock hook deletes epoch_1.pth before writing epoch_2.pth
    'max_keep_ckpts=1': (dict(max_keep_ckpts=1), 1),
    # after a new best, the stock hook rewrites epoch_2.pth in place while
    # last_checkpoint already names it
    'save_best re-save': (dict(save_best='score', rule='greater'), 2),
}

# what resuming then does with MMEngine's CheckpointHook
# (the plugin's checked loader, projects/dist/utils/checkpoint_loading.py,
# names the file and the fault)
STOCK_FAILURES = {
    'max_keep_ckpts=1':
    (FileNotFoundError, 'checkpoint not found: .*epoch_1.pth'),
    'save_best re-save':
    (CheckpointFileError, 'epoch_2.pth is a truncated or damaged zip'),
}


@pytest.mark.parametrize('scenario', list(SCENARIOS))
def test_kill_during_save_resumes_from_last_complete_checkpoint(
        tmp_path, monkeypatch, scenario):
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    hook_args, nth = SCENARIOS[scenario]
    reference = make_runner(
        str(tmp_path / 'uninterrupted'), 'DiSTSafeCheckpointHook', **hook_args)
    reference.train()

    work = str(tmp_path / 'killed')
    with monkeypatch.context() as patch:
        killed = kill_on_write(patch, 'epoch_2.pth', nth)
        with pytest.raises(SimulatedKill):
            make_runner(work, 'DiSTSafeCheckpointHook', **hook_args).train()
    assert len(killed) == nth
    with open(osp.join(work, 'last_checkpoint')) as f:
        latest = f.read().strip()
    assert is_complete_checkpoint(osp.join(work, latest))
    assert any('.dist_tmp.' in n for n in os.listdir(work))  # kill leftover

    resumed = make_runner(
        work, 'DiSTSafeCheckpointHook', resume=True, **hook_args)
    resumed.train()
    assert not any('.dist_tmp.' in n for n in os.listdir(work))
    assert resumed.epoch == 3
    assert torch.equal(final_weights(resumed), final_weights(reference))


@pytest.mark.parametrize('scenario', list(SCENARIOS))
def test_same_kill_breaks_resume_with_stock_hook(tmp_path, monkeypatch,
                                                 scenario):
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    hook_args, nth = SCENARIOS[scenario]
    error, match = STOCK_FAILURES[scenario]
    work = str(tmp_path / 'killed')
    with monkeypatch.context() as patch:
        kill_on_write(patch, 'epoch_2.pth', nth)
        with pytest.raises(SimulatedKill):
            make_runner(work, 'CheckpointHook', **hook_args).train()
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert not is_complete_checkpoint(f.read().strip())
    with pytest.raises(error, match=match):
        make_runner(work, 'CheckpointHook', resume=True, **hook_args).train()


def test_safe_hook_repairs_a_pointer_to_a_truncated_checkpoint(
        tmp_path, monkeypatch):
    """A work dir left by the stock hook: last_checkpoint names a truncated
    epoch_2.pth; the safe hook falls back to the complete epoch_1.pth."""
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    work = str(tmp_path / 'work')
    make_runner(work, 'CheckpointHook', max_epochs=2).train()
    path = osp.join(work, 'epoch_2.pth')
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 3])
    resumed = make_runner(
        work, 'DiSTSafeCheckpointHook', resume=True, max_epochs=2)
    resumed.train()  # resumes at epoch 1 and trains epoch 2 again
    assert resumed.epoch == 2
    assert is_complete_checkpoint(path)


def test_kill_during_mmengine_pointer_write_resumes_from_the_new_checkpoint(
        tmp_path, monkeypatch):
    """MMEngine's hook writes ``last_checkpoint`` in place after each save
    (1st write: epoch 1; 2nd: the safe hook's atomic rewrite; 3rd: MMEngine
    at epoch 2). A kill in that 3rd write leaves half a path; resuming
    picks the complete epoch_2.pth and ends as the uninterrupted run."""
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    reference = make_runner(
        str(tmp_path / 'uninterrupted'), 'DiSTSafeCheckpointHook')
    reference.train()
    work = str(tmp_path / 'killed')
    with monkeypatch.context() as patch:
        killed = kill_on_write(patch, 'last_checkpoint', 3)
        with pytest.raises(SimulatedKill):
            make_runner(work, 'DiSTSafeCheckpointHook').train()
    pointer = osp.join(work, 'last_checkpoint')
    assert killed[0] == killed[2] == pointer  # MMEngine's in-place writes
    assert '.dist_tmp.' in killed[1]  # the safe hook's rewrite
    resumed = make_runner(work, 'DiSTSafeCheckpointHook', resume=True)
    resumed.train()
    assert resumed.epoch == 3
    assert torch.equal(final_weights(resumed), final_weights(reference))


def test_empty_pointer_is_repaired(tmp_path, monkeypatch):
    """A kill between truncating and writing ``last_checkpoint`` leaves it
    empty; the resume still starts from the newest complete checkpoint
    (here epoch 2 of 2: nothing left to train) instead of from scratch."""
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    work = str(tmp_path / 'work')
    make_runner(work, 'DiSTSafeCheckpointHook', max_epochs=2).train()
    pointer = osp.join(work, 'last_checkpoint')
    open(pointer, 'w').close()
    with pytest.raises(NothingToTrainError, match='epoch_2.pth'):
        make_runner(
            work, 'DiSTSafeCheckpointHook', resume=True, max_epochs=2).train()
    with open(pointer) as f:
        assert f.read() == 'epoch_2.pth'


def test_outdated_checkpoints_are_removed_after_the_new_one_is_in_place(
        tmp_path, monkeypatch):
    """max_keep_ckpts=1 and save_best: when epoch_N.pth is written, the
    previous regular and best checkpoints still exist; afterwards only the
    newest of each is left."""
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    work = str(tmp_path / 'work')
    real_save = torch.save
    seen = []

    def recording_save(obj, f, *args, **kwargs):
        seen.append(sorted(n for n in os.listdir(work) if n.endswith('.pth')))
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, 'save', recording_save)
    make_runner(
        work,
        'DiSTSafeCheckpointHook',
        max_keep_ckpts=1,
        save_best='score',
        rule='greater').train()
    # epoch 3's regular save, then its best save and re-save of epoch_3.pth
    assert seen[-3][:2] == ['best_score_epoch_2.pth', 'epoch_2.pth']
    assert sorted(n for n in os.listdir(work) if n.endswith('.pth')) == [
        'best_score_epoch_3.pth', 'epoch_3.pth'
    ]


def test_atomic_write_keeps_the_old_file_when_killed(tmp_path, monkeypatch):
    target = str(tmp_path / 'epoch_1.pth')
    torch.save(dict(w=torch.ones(3)), target)
    with open(target, 'rb') as f:
        before = f.read()
    with monkeypatch.context() as patch:
        kill_on_write(patch, 'epoch_1.pth', 1)
        with pytest.raises(SimulatedKill):
            atomic_write(b'x' * 1000, target)
    with open(target, 'rb') as f:
        assert f.read() == before
    assert is_complete_checkpoint(target)
    # an ordinary error (e.g. disk full) leaves no temporary file
    with monkeypatch.context() as patch:
        patch.setattr(
            os, 'fsync', lambda fd:
            (_ for _ in ()).throw(OSError(28, 'No space left on device')))
        with pytest.raises(OSError, match='No space left'):
            atomic_write(b'y' * 10, str(tmp_path / 'other.pth'))
    assert sorted(os.listdir(tmp_path)) == [
        'epoch_1.pth', f'epoch_1.pth.dist_tmp.{os.getpid()}'
    ]


def test_is_complete_checkpoint(tmp_path):
    path = str(tmp_path / 'c.pth')
    torch.save(dict(state_dict=dict(w=torch.zeros(4))), path)
    assert is_complete_checkpoint(path)
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:-10])
    assert not is_complete_checkpoint(path)
    assert not is_complete_checkpoint(str(tmp_path / 'missing.pth'))


def test_is_a_drop_in_checkpoint_hook():
    from mmaction.registry import HOOKS
    from mmengine.hooks import CheckpointHook
    hook = HOOKS.build(
        dict(type='DiSTSafeCheckpointHook', interval=2, max_keep_ckpts=3))
    assert isinstance(hook, (CheckpointHook, DiSTSafeCheckpointHook))
    assert hook.interval == 2 and hook.max_keep_ckpts == 3


# ------------------------------------------------------------- work dirs
def test_pointer_is_relative_and_a_copied_work_dir_resumes_its_own_files(
        tmp_path, monkeypatch):
    """The original work dir is gone after the copy: an absolute pointer
    would name a missing file."""
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    original = tmp_path / 'original'
    make_runner(str(original), 'DiSTSafeCheckpointHook', max_epochs=2).train()
    assert (original / 'last_checkpoint').read_text() == 'epoch_2.pth'
    copy = tmp_path / 'copy'
    shutil.copytree(original, copy)
    shutil.rmtree(original)
    resumed = make_runner(
        str(copy), 'DiSTSafeCheckpointHook', resume=True, max_epochs=3)
    resumed.train()
    assert resumed._load_from == str(copy / 'epoch_2.pth')
    assert resumed.epoch == 3
    assert (copy / 'last_checkpoint').read_text() == 'epoch_3.pth'


def test_absolute_pointer_into_another_work_dir_uses_the_local_file(
        tmp_path, monkeypatch):
    """A pointer written as an absolute path (stock hook, older runs) into
    the work dir it was copied from: the same-named local file wins, even
    while the other folder's file exists."""
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    original = tmp_path / 'original'
    make_runner(str(original), 'CheckpointHook', max_epochs=2).train()
    copy = tmp_path / 'copy'
    shutil.copytree(original, copy)
    pointer = (copy / 'last_checkpoint').read_text()
    assert pointer == str(original / 'epoch_2.pth')  # what MMEngine writes
    # the other run goes on and its epoch_2.pth is now another file
    (original / 'epoch_2.pth').write_bytes(b'not this one')
    resumed = make_runner(
        str(copy), 'DiSTSafeCheckpointHook', resume=True, max_epochs=3)
    resumed.train()
    assert resumed._load_from == str(copy / 'epoch_2.pth')
    assert resumed.epoch == 3


_HOLD_LOCK = '''
import sys
from projects.dist.utils.work_dir import lock_work_dir
lock_work_dir(sys.argv[1])
print('locked', flush=True)
sys.stdin.read()
'''


def test_second_training_into_a_live_work_dir_is_refused(
        tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    work = str(tmp_path / 'work')
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    holder = subprocess.Popen([sys.executable, '-c', _HOLD_LOCK, work],
                              stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE,
                              env=env,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == 'locked'
        with pytest.raises(WorkDirError) as info:
            make_runner(work, 'DiSTSafeCheckpointHook', max_epochs=1).train()
        msg = str(info.value)
        assert f'in use by a live training (pid {holder.pid} ' in msg
        assert 'another --work-dir' in msg
        assert not any(n.startswith('epoch_') for n in os.listdir(work))
    finally:
        holder.communicate('', timeout=60)
    # the holder is dead: its lock file stays but no longer blocks
    assert osp.isfile(osp.join(work, '.dist_train.lock'))
    runner = make_runner(work, 'DiSTSafeCheckpointHook', max_epochs=1)
    runner.train()
    assert runner.epoch == 1
    # and a finished run releases it for the next one in the same process
    make_runner(
        work, 'DiSTSafeCheckpointHook', resume=True, max_epochs=2).train()


def test_resume_with_no_epoch_left_is_an_error(tmp_path, monkeypatch):
    """(``max_epochs=0`` is refused by tools/train.py before the Runner,
    whose LR scheduler would fail first.)"""
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    work = str(tmp_path / 'work')
    make_runner(work, 'DiSTSafeCheckpointHook', max_epochs=2).train()
    for max_epochs in (1, 2):
        with pytest.raises(NothingToTrainError) as info:
            make_runner(
                work,
                'DiSTSafeCheckpointHook',
                resume=True,
                max_epochs=max_epochs).train()
        msg = str(info.value)
        assert (f"checkpoint '{osp.join(work, 'epoch_2.pth')}' is at "
                'epoch 2') in msg
        assert f'train_cfg.max_epochs={max_epochs}' in msg
        assert '--cfg-options train_cfg.max_epochs=3' in msg
