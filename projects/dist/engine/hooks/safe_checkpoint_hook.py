"""A ``CheckpointHook`` whose "latest" checkpoint is never a truncated file.

Why MMEngine 0.10.7's ``CheckpointHook`` is not enough (local disk):

* ``LocalBackend.put`` opens the final file name (``epoch_N.pth``) and writes
  into it; a process killed mid-write (OOM killer, preemption, disk full)
  leaves a truncated file under the real name.
* With ``max_keep_ckpts``, the oldest checkpoint is deleted BEFORE the new
  one is written: a kill during the write leaves ``last_checkpoint`` naming
  a deleted file, and ``--resume`` fails.
* With ``save_best``, after a new best checkpoint the hook writes
  ``epoch_N.pth`` AGAIN, in place, while ``last_checkpoint`` already names
  it: a kill during that write leaves exactly the file ``--resume`` picks
  truncated.
* ``last_checkpoint`` itself is rewritten in place (truncate, then write).

:class:`DiSTSafeCheckpointHook` writes every checkpoint to a temporary file
in the same folder, fsyncs it and renames it over the final name
(``os.replace`` is atomic on POSIX and Windows), writes ``last_checkpoint``
the same way (MMEngine's in-place pointer write is rewritten at once), and
deletes outdated checkpoints only after both are in place. Before a run it
also repairs a ``last_checkpoint`` that names a missing or truncated file
(e.g. left by the stock hook), pointing it at the newest complete
checkpoint.

It also keeps work dirs apart (see :mod:`projects.dist.utils.work_dir`):
``last_checkpoint`` names the checkpoint relative to the work dir, so a
copied work dir resumes from its own files; a second training into a work
dir that a live training holds is refused; and a run whose ``max_epochs``
(``max_iters``) leaves nothing to train is an error, not a silent exit 0.
"""
import logging
import os
import os.path as osp
import re
import zipfile
from pathlib import Path
from typing import Any, List, Optional, Tuple, Union

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, get_file_backend, register_backend
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmengine.runner import BaseLoop

from mmaction.registry import HOOKS
from projects.dist.utils.work_dir import (check_work_left, lock_work_dir,
                                          pointer_text,
                                          resolve_last_checkpoint,
                                          unlock_work_dir)

#: Name under which :class:`AtomicLocalBackend` is registered in MMEngine's
#: file-backend registry.
ATOMIC_BACKEND = 'dist_atomic_local'

_TMP_MARK = '.dist_tmp.'


def atomic_write(data: Union[bytes, str], filepath: str) -> None:
    """Write ``data`` to ``filepath`` so that the file is never partial.

    The bytes go to ``<filepath>.dist_tmp.<pid>`` in the same folder, are
    flushed and fsynced, and the temporary file is renamed over
    ``filepath``; the folder is fsynced afterwards so the rename survives
    a power loss. A process killed at any point leaves either the old file
    or the new one (plus, at worst, a stale temporary file).

    Args:
        data (bytes | str): Content; ``str`` is written as UTF-8.
        filepath (str): Destination.
    """
    filepath = str(filepath)
    folder = osp.dirname(osp.abspath(filepath))
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode('utf-8')
    tmp = f'{filepath}{_TMP_MARK}{os.getpid()}'
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except Exception:
        # an ordinary error (e.g. disk full): leave no stray file. A killed
        # process cannot get here; its temporary file is removed by the
        # next run's DiSTSafeCheckpointHook.before_run.
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    if hasattr(os, 'O_DIRECTORY'):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class AtomicLocalBackend(LocalBackend):
    """MMEngine ``LocalBackend`` whose ``put``/``put_text`` are atomic.

    Registered as ``'dist_atomic_local'``; select it with
    ``backend_args=dict(backend='dist_atomic_local')``.
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write bytes atomically, see :func:`atomic_write`."""
        atomic_write(obj, str(filepath))

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        """Write text atomically, see :func:`atomic_write`."""
        atomic_write(obj.encode(encoding), str(filepath))


register_backend(ATOMIC_BACKEND, AtomicLocalBackend)


def is_complete_checkpoint(path: str) -> bool:
    """Cheaply tell whether ``path`` is a complete ``torch.save`` file.

    ``torch.save`` writes a zip archive whose directory sits at the END of
    the file, so a truncated file has no readable zip directory. This reads
    only that directory, not the tensors.

    Args:
        path (str): Checkpoint file.

    Returns:
        bool: True if the file exists and its zip directory is intact and
        lists a pickled object.
    """
    if not osp.isfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    return any(n.endswith('data.pkl') for n in names)


def _read_text(path: str) -> Optional[str]:
    """The content of a small text file, or None if it does not exist."""
    if not osp.isfile(path):
        return None
    with open(path, encoding='utf-8') as f:
        return f.read()


class _DeferredRemovals:
    """A file backend whose ``remove``/``rmtree`` wait for
    :meth:`remove_deferred`.

    Every other call goes to the wrapped backend. A file or folder that was
    written again after its removal was asked for (another inode or
    modification time, e.g. a checkpoint saved anew under the same name) is
    kept.

    Args:
        backend (LocalBackend): The backend that writes and removes.
    """

    def __init__(self, backend: LocalBackend) -> None:
        self.backend = backend
        self._pending: List[Tuple[str, Tuple[int, int]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    def remove(self, filepath: Union[str, Path]) -> None:
        """Remember a file to remove."""
        self._defer(str(filepath))

    def rmtree(self, dir_path: Union[str, Path]) -> None:
        """Remember a folder to remove."""
        self._defer(str(dir_path))

    def _defer(self, path: str) -> None:
        stat = os.stat(path)
        self._pending.append((path, (stat.st_ino, stat.st_mtime_ns)))

    def remove_deferred(self) -> None:
        """Remove what was asked for, unless written again since."""
        pending, self._pending = self._pending, []
        for path, identity in pending:
            if not osp.exists(path):
                continue
            stat = os.stat(path)
            if (stat.st_ino, stat.st_mtime_ns) != identity:
                continue
            if osp.isdir(path):
                self.backend.rmtree(path)
            else:
                self.backend.remove(path)


@HOOKS.register_module()
class DiSTSafeCheckpointHook(CheckpointHook):
    """``CheckpointHook`` that never leaves a truncated latest checkpoint.

    A drop-in replacement (same arguments) for MMEngine's ``CheckpointHook``:
    ``default_hooks = dict(checkpoint=dict(type='DiSTSafeCheckpointHook',
    interval=1, max_keep_ckpts=3, save_best='auto'))``. On local disk it

    * writes each checkpoint (regular and best) to a temporary file and
      renames it into place after an fsync (:class:`AtomicLocalBackend`);
    * writes ``last_checkpoint`` the same way, after the checkpoint;
    * deletes checkpoints beyond ``max_keep_ckpts`` only after that;
    * before the run (rank 0), removes stale temporary files and, if
      ``last_checkpoint`` names a missing or truncated file, points it at
      the newest complete ``filename_tmpl`` checkpoint (warning), so that
      ``--resume`` (auto) picks a loadable file;
    * in a training run, takes the work dir's lock (rank 0) and refuses a
      second live training there (``WorkDirError``);
    * writes ``last_checkpoint`` relative to the work dir and resolves it
      relative to the work dir when resuming;
    * refuses ``max_epochs``/``max_iters`` of 0 or not beyond the resumed
      checkpoint (``NothingToTrainError``).

    The previous best checkpoint, too, is removed only after the new best
    one is in place; best checkpoints are never resumed from.

    MMEngine's saving code runs unchanged: the hook only selects the atomic
    backend (``backend_args``), hands MMEngine a ``file_backend`` whose
    removals wait, and after each public hook call that may save
    (``after_train_iter``, ``after_train_epoch``, ``after_val_epoch``)
    rewrites the pointer MMEngine wrote in place, then removes.

    Other storage backends (``backend_args`` naming e.g. petrel) are used
    unchanged: object stores already make each upload atomic.

    Args:
        **kwargs: Arguments of :class:`mmengine.hooks.CheckpointHook`.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._atomic = False

    # --------------------------------------------------------------- set-up
    def _enable_atomic(self, out_dir: str) -> bool:
        """Switch to the atomic backend if ``out_dir`` is on local disk."""
        if self.file_client_args is not None:
            return False
        backend = get_file_backend(out_dir, backend_args=self.backend_args)
        if not isinstance(backend, LocalBackend):
            return False
        args = dict(self.backend_args or {})
        args['backend'] = ATOMIC_BACKEND
        self.backend_args = args
        return True

    def before_run(self, runner) -> None:
        """Lock the work dir and pick the checkpoint ``--resume`` reads.

        In a training run, rank 0 takes the work dir's lock
        (:func:`~projects.dist.utils.work_dir.lock_work_dir`; a second live
        training into the same work dir stops here with a
        ``WorkDirError``), then removes stale temporary files and repairs
        a ``last_checkpoint`` that names a missing or truncated file. Every
        rank resolves ``last_checkpoint`` relative to the work dir
        (a copied work dir resumes from its own files) and, for an
        automatic resume, hands that path to the runner.
        """
        super().before_run(runner)
        self._lock = None
        if not isinstance(getattr(runner, '_train_loop', None), BaseLoop):
            return  # a test or val run: it neither resumes nor saves
        if is_main_process():
            self._lock = lock_work_dir(runner.work_dir)
        latest = resolve_last_checkpoint(runner.work_dir)
        if latest is None and not osp.isfile(
                osp.join(runner.work_dir, 'last_checkpoint')):
            return  # a new work dir
        # latest is None for an empty pointer: a kill between truncating
        # and writing it
        folder = self._checkpoint_folder(runner)
        if not osp.isdir(folder) or not isinstance(
                get_file_backend(folder, backend_args=self.backend_args),
                LocalBackend):
            return
        if is_main_process():
            self._remove_stale_temporaries(folder)
        if latest is None or not is_complete_checkpoint(latest):
            latest = self._repair_pointer(runner, latest or '', folder)
        if runner._resume and runner._load_from is None and latest:
            # MMEngine's find_latest_checkpoint would take an absolute
            # pointer as it is and a relative one relative to the cwd.
            runner._load_from = latest
            print_log(
                f'resuming from {latest} (named by '
                f'{osp.join(runner.work_dir, "last_checkpoint")})',
                logger='current')

    def _repair_pointer(self, runner, latest: str, folder: str):
        """Fall back to the newest complete checkpoint of ``folder``.

        Rank 0 also rewrites ``last_checkpoint``; every rank computes the
        same answer from the same files.

        Args:
            runner (Runner): The runner.
            latest (str): The missing or truncated checkpoint named.
            folder (str): Where to look for complete ones.

        Returns:
            str | None: The newest complete checkpoint, or None.
        """
        candidates = self._complete_checkpoints(folder)
        if not candidates:
            print_log(
                f'last_checkpoint names {latest!r}, which is missing or '
                f'truncated, and {folder} holds no complete checkpoint',
                logger='current',
                level=logging.WARNING)
            return None
        if is_main_process():
            atomic_write(
                pointer_text(candidates[0], runner.work_dir),
                osp.join(runner.work_dir, 'last_checkpoint'))
        print_log(
            f'last_checkpoint named {latest!r}, which is missing or '
            f'truncated (an interrupted save?); it now names the newest '
            f'complete checkpoint {candidates[0]!r}',
            logger='current',
            level=logging.WARNING)
        return candidates[0]

    def after_run(self, runner) -> None:
        """Release the work dir's lock."""
        super().after_run(runner)
        unlock_work_dir(getattr(self, '_lock', None))
        self._lock = None

    def before_train(self, runner) -> None:
        """Refuse a run with nothing to train, resolve the output folder
        and select the atomic backend.

        Raises:
            NothingToTrainError: ``max_epochs`` (``max_iters``) is 0, or
                not greater than the epoch (iteration) resumed from.
        """
        check_work_left(
            runner.train_loop,
            resumed_from=runner._load_from if runner._resume else None)
        super().before_train(runner)
        if self._enable_atomic(self.out_dir):
            self._atomic = True
            self.file_backend = _DeferredRemovals(
                get_file_backend(self.out_dir, backend_args=self.backend_args))

    # --------------------------------------------------------------- saving
    # MMEngine's own saving code runs unchanged. It writes through
    # ``runner.save_checkpoint(backend_args=self.backend_args)`` (the atomic
    # backend), removes outdated checkpoints through ``self.file_backend``
    # (here a _DeferredRemovals, which holds them back) and writes the
    # absolute pointer in place; after each public hook call that may save,
    # _finish_saves rewrites the pointer atomically and only then removes.
    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        """Save every ``interval`` iterations (iteration-based runs)."""
        super().after_train_iter(runner, batch_idx, data_batch, outputs)
        if not self.by_epoch:
            self._finish_saves(runner)

    def after_train_epoch(self, runner) -> None:
        """Save every ``interval`` epochs (epoch-based runs)."""
        super().after_train_epoch(runner)
        self._finish_saves(runner)

    def after_val_epoch(self, runner, metrics) -> None:
        """Save a new best checkpoint (``save_best``)."""
        super().after_val_epoch(runner, metrics)
        self._finish_saves(runner)

    def _finish_saves(self, runner) -> None:
        """Point ``last_checkpoint`` at the newest save, then prune.

        Rank 0 rewrites ``last_checkpoint`` atomically, relative to the work
        dir, if it does not already name ``self.last_ckpt`` that way (the
        hook has just saved), then removes the checkpoints MMEngine asked to
        remove during the save.
        """
        if not self._atomic or not is_main_process():
            return
        if self.last_ckpt is not None:
            pointer = osp.join(runner.work_dir, 'last_checkpoint')
            text = pointer_text(self.last_ckpt, runner.work_dir)
            if _read_text(pointer) != text:
                atomic_write(text, pointer)
        self.file_backend.remove_deferred()

    # --------------------------------------------------------------- helpers
    def _checkpoint_folder(self, runner) -> str:
        """Where this hook saves: the work dir, or ``out_dir/<work dir
        name>`` as MMEngine's ``CheckpointHook.before_train`` makes it."""
        if self.out_dir is None or self.out_dir == runner.work_dir:
            return runner.work_dir
        return osp.join(self.out_dir,
                        osp.basename(runner.work_dir.rstrip(osp.sep)))

    def _complete_checkpoints(self, folder: str) -> List[str]:
        """Complete ``filename_tmpl`` checkpoints in ``folder``, newest first.

        Args:
            folder (str): Where to look.

        Returns:
            list[str]: Paths, by decreasing step.
        """
        head, _, tail = self.filename_tmpl.partition('{}')
        pattern = re.compile(
            re.escape(head) + r'(\d+)' + re.escape(tail) + r'\Z')
        found = []
        for name in os.listdir(folder):
            match = pattern.match(name)
            if match:
                found.append((int(match.group(1)), osp.join(folder, name)))
        return [
            path for _, path in sorted(found, reverse=True)
            if is_complete_checkpoint(path)
        ]

    @staticmethod
    def _remove_stale_temporaries(folder: str) -> None:
        for name in os.listdir(folder):
            if _TMP_MARK in name:
                os.remove(osp.join(folder, name))
                print_log(
                    f'removed {name}, left by an interrupted checkpoint '
                    'save',
                    logger='current')
