"""Tests of projects/dist/utils/work_dir.py (the Runner-level behaviour is
tested with DiSTSafeCheckpointHook in tests/engine/test_safe_checkpoint.py).
"""
import fcntl
import os
import os.path as osp

import pytest
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop

from projects.dist.utils.work_dir import (LOCK_NAME, NothingToTrainError,
                                          WorkDirError, check_train_schedule,
                                          check_work_left, lock_work_dir,
                                          pointer_text,
                                          resolve_last_checkpoint,
                                          unlock_work_dir)


def test_pointer_text(tmp_path):
    work = str(tmp_path / 'work')
    assert pointer_text(osp.join(work, 'epoch_3.pth'), work) == 'epoch_3.pth'
    assert pointer_text(osp.join(work, 'sub', 'a.pth'),
                        work) == osp.join('sub', 'a.pth')
    outside = str(tmp_path / 'elsewhere' / 'epoch_3.pth')
    assert pointer_text(outside, work) == outside
    # a sibling folder whose name starts like the work dir is outside
    sibling = str(tmp_path / 'work2' / 'epoch_3.pth')
    assert pointer_text(sibling, work) == sibling


def write_pointer(work, text):
    os.makedirs(work, exist_ok=True)
    with open(osp.join(work, 'last_checkpoint'), 'w') as f:
        f.write(text + '\n')


def test_resolve_last_checkpoint(tmp_path):
    work = str(tmp_path / 'work')
    assert resolve_last_checkpoint(work) is None  # no pointer
    write_pointer(work, '')
    assert resolve_last_checkpoint(work) is None
    write_pointer(work, 'epoch_2.pth')
    assert resolve_last_checkpoint(work) == osp.join(work, 'epoch_2.pth')
    inside = osp.join(work, 'epoch_1.pth')
    write_pointer(work, inside)
    assert resolve_last_checkpoint(work) == inside

    other = tmp_path / 'other'
    other.mkdir()
    (other / 'epoch_4.pth').write_bytes(b'x')
    write_pointer(work, str(other / 'epoch_4.pth'))
    # no local copy: the named file (e.g. a separate out_dir)
    assert resolve_last_checkpoint(work) == str(other / 'epoch_4.pth')
    # a local copy wins
    open(osp.join(work, 'epoch_4.pth'), 'wb').close()
    assert resolve_last_checkpoint(work) == osp.join(work, 'epoch_4.pth')


def test_lock_refuses_a_live_holder_and_names_it(tmp_path):
    work = str(tmp_path / 'work')
    os.makedirs(work)
    # another holder: a separate open file with the flock held
    with open(osp.join(work, LOCK_NAME), 'w') as other:
        other.write('pid 4242 on node7, started 2026-01-01 10:00:00: x\n')
        other.flush()
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(
                WorkDirError,
                match=r'in use by a live training '
                r'\(pid 4242 on node7'):
            lock_work_dir(work)
    # the holder closed its file (as a dead process does): free again
    handle = lock_work_dir(work)
    assert f'pid {os.getpid()} ' in open(osp.join(work, LOCK_NAME)).read()
    # the same process may take its own lock over (a run that raised)
    again = lock_work_dir(work)
    assert handle.closed and not again.closed
    unlock_work_dir(again)
    assert again.closed
    unlock_work_dir(None)


def epoch_loop(epoch, max_epochs):
    loop = object.__new__(EpochBasedTrainLoop)
    loop._epoch, loop._max_epochs = epoch, max_epochs
    return loop


def iter_loop(it, max_iters):
    loop = object.__new__(IterBasedTrainLoop)
    loop._iter, loop._max_iters = it, max_iters
    return loop


def test_check_work_left():
    check_work_left(epoch_loop(0, 1))
    check_work_left(epoch_loop(2, 3), resumed_from='w/epoch_2.pth')
    with pytest.raises(NothingToTrainError, match='max_epochs=0 trains'):
        check_work_left(epoch_loop(0, 0))
    with pytest.raises(
            NothingToTrainError,
            match=r"'w/epoch_3.pth' is at epoch 3 and "
            r'train_cfg.max_epochs=2.*max_epochs=4'):
        check_work_left(epoch_loop(3, 2), resumed_from='w/epoch_3.pth')
    check_work_left(iter_loop(10, 11))
    with pytest.raises(
            NothingToTrainError,
            match=r'at iter 50 and train_cfg.max_iters=50'):
        check_work_left(iter_loop(50, 50))
    check_work_left(object())  # a custom loop: not checked


@pytest.mark.parametrize('train_cfg', [
    dict(max_epochs=0),
    dict(by_epoch=False, max_iters=0),
    dict(max_epochs=-1)
])
def test_check_train_schedule_refuses_zero(train_cfg):
    key = 'max_iters' if 'max_iters' in train_cfg else 'max_epochs'
    with pytest.raises(
            NothingToTrainError,
            match=f'train_cfg.{key}=-?[01] trains nothing.*'
            f'--cfg-options train_cfg.{key}=1'):
        check_train_schedule(train_cfg)


def test_check_train_schedule_accepts():
    check_train_schedule(dict(max_epochs=1))
    check_train_schedule(dict(by_epoch=False, max_iters=5))
    check_train_schedule(None)
