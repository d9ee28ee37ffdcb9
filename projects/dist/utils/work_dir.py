"""Work-dir bookkeeping of training runs: the ``last_checkpoint`` pointer,
the lock that keeps two trainings out of one work dir, and the check that a
run has epochs (or iterations) left to train.

* ``last_checkpoint`` holds the checkpoint's path relative to the work dir
  when the checkpoint lives inside it (:func:`pointer_text`), so a copied or
  moved work dir resumes from its own files. A pointer written as an
  absolute path (by MMEngine's ``CheckpointHook`` or an older run) that
  names a file outside the work dir while a same-named file exists inside
  it resolves to the local file, with a log line
  (:func:`resolve_last_checkpoint`).
* :func:`lock_work_dir` takes an exclusive ``fcntl.flock`` on
  ``<work_dir>/.dist_train.lock``. The kernel releases it when the holder
  exits, however it exits, so a lock left by a dead run never blocks.
"""
import logging
import os
import os.path as osp
import socket
import sys
import time
from typing import IO, Dict, Optional

from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop

from .errors import DiSTUserError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, the check is skipped
    fcntl = None

#: File name of the training lock inside a work dir.
LOCK_NAME = '.dist_train.lock'
#: File name of MMEngine's pointer to the latest checkpoint.
POINTER_NAME = 'last_checkpoint'

# Locks held by this process, by real work-dir path.
_HELD: Dict[str, IO] = {}


class WorkDirError(DiSTUserError, RuntimeError):
    """A work dir is in use by another live training."""


class NothingToTrainError(DiSTUserError, ValueError):
    """The training settings leave no epoch or iteration to train."""


def _inside(path: str, folder: str) -> bool:
    """Whether ``path`` lies in ``folder`` (after resolving links)."""
    path, folder = osp.realpath(path), osp.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(osp.sep) + osp.sep)


def pointer_text(checkpoint: str, work_dir: str) -> str:
    """What ``last_checkpoint`` should hold for ``checkpoint``.

    Args:
        checkpoint (str): Path of the saved checkpoint.
        work_dir (str): The run's work dir.

    Returns:
        str: The path relative to ``work_dir`` if the checkpoint lies in it,
        else the absolute path.
    """
    if _inside(checkpoint, work_dir):
        return osp.relpath(osp.abspath(checkpoint), osp.abspath(work_dir))
    return osp.abspath(checkpoint)


def resolve_last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``<work_dir>/last_checkpoint`` names, as a path.

    A relative entry is relative to ``work_dir``. An absolute entry outside
    ``work_dir`` (a work dir copied from elsewhere) yields the same-named
    file of ``work_dir`` if there is one, with a log line; otherwise the
    entry is kept (the checkpoint hook may save to another ``out_dir``),
    with a warning.

    Args:
        work_dir (str): The run's work dir.

    Returns:
        str | None: The checkpoint path (it may not exist), or None if there
        is no pointer or it is empty.
    """
    pointer = osp.join(work_dir, POINTER_NAME)
    if not osp.isfile(pointer):
        return None
    with open(pointer, encoding='utf-8') as f:
        entry = f.read().strip()
    if not entry:
        return None
    if not osp.isabs(entry):
        return osp.join(work_dir, entry)
    if _inside(entry, work_dir):
        return entry
    local = osp.join(work_dir, osp.basename(entry))
    if osp.isfile(local):
        print_log(
            f'{pointer} names {entry!r}, outside this work dir (a copied '
            f'work dir?); resuming from the same-named local file {local!r} '
            'instead',
            logger='current',
            level=logging.WARNING)
        return local
    print_log(
        f'{pointer} names {entry!r}, outside this work dir, and the work dir '
        f'holds no {osp.basename(entry)!r}; resuming from that file',
        logger='current',
        level=logging.WARNING)
    return entry


def lock_work_dir(work_dir: str) -> Optional[IO]:
    """Take the training lock of ``work_dir``, or refuse clearly.

    The lock is an exclusive ``fcntl.flock`` on ``<work_dir>/.dist_train.lock``
    held as long as the returned file stays open (at the latest until the
    process exits); the file records the holder's pid, host, start time and
    command line for the error message of a second run. A second call from
    the same process (a run that raised, then a new one) takes over the
    process's own lock.

    Args:
        work_dir (str): The run's work dir (created if missing).

    Returns:
        file | None: The open lock file (pass it to
        :func:`unlock_work_dir`), or None where ``fcntl`` does not exist.

    Raises:
        WorkDirError: Another live process holds the lock.
    """
    if fcntl is None:
        return None
    os.makedirs(work_dir, exist_ok=True)
    key = osp.realpath(work_dir)
    unlock_work_dir(_HELD.pop(key, None))
    path = osp.join(work_dir, LOCK_NAME)
    handle = open(path, 'a+', encoding='utf-8')
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or 'another process'
        handle.close()
        raise WorkDirError(
            f'work dir {work_dir!r} is in use by a live training '
            f'({holder}); two trainings in one work dir overwrite each '
            'other\'s checkpoints. Give this run another --work-dir, or '
            'wait for that run to end (stop it first to restart it)') from None
    handle.seek(0)
    handle.truncate()
    handle.write(f'pid {os.getpid()} on {socket.gethostname()}, started '
                 f'{time.strftime("%Y-%m-%d %H:%M:%S")}: '
                 f'{" ".join(sys.argv)}\n')
    handle.flush()
    _HELD[key] = handle
    return handle


def unlock_work_dir(handle: Optional[IO]) -> None:
    """Release a lock taken by :func:`lock_work_dir` (None is ignored).

    Args:
        handle (file | None): Its return value.
    """
    if handle is None or handle.closed:
        return
    for key, held in list(_HELD.items()):
        if held is handle:
            del _HELD[key]
    handle.close()  # closing the file releases the flock


def check_work_left(loop, resumed_from: Optional[str] = None) -> None:
    """Refuse a training loop that would stop without training anything.

    Args:
        loop (BaseLoop): The runner's train loop, after any resume; only
            MMEngine's ``EpochBasedTrainLoop`` and ``IterBasedTrainLoop``
            (and subclasses) are checked.
        resumed_from (str, optional): The checkpoint resumed from, named in
            the message.

    Raises:
        NothingToTrainError: ``max_epochs`` (``max_iters``) is 0 or not
            greater than the epoch (iteration) resumed from.
    """
    if isinstance(loop, EpochBasedTrainLoop):
        unit, done, total = 'epoch', loop.epoch, loop.max_epochs
    elif isinstance(loop, IterBasedTrainLoop):
        unit, done, total = 'iter', loop.iter, loop.max_iters
    else:  # a custom loop: its own rules
        return
    key = f'train_cfg.max_{unit}s'
    check_train_schedule({f'max_{unit}s': total})
    if done >= total:
        source = f'the checkpoint {resumed_from!r}' if resumed_from else (
            'the resumed checkpoint')
        raise NothingToTrainError(
            f'{source} is at {unit} {done} and {key}={total}, so the resumed '
            f'run has nothing left to train; raise {key} above {done} (e.g. '
            f'--cfg-options {key}={done + 1}) to train further, or test the '
            'checkpoint with tools/test.py')


def check_train_schedule(train_cfg: Optional[dict]) -> None:
    """Refuse a ``train_cfg`` that trains nothing, before anything is built.

    Args:
        train_cfg (dict | None): The config's ``train_cfg``.

    Raises:
        NothingToTrainError: ``max_epochs`` or ``max_iters`` is set to a
            number below 1.
    """
    for key in ('max_epochs', 'max_iters'):
        value = (train_cfg or {}).get(key)
        if isinstance(value, (int, float)) and value < 1:
            raise NothingToTrainError(
                f'train_cfg.{key}={value} trains nothing; set it to at least '
                f'1 (e.g. --cfg-options train_cfg.{key}=1)')
