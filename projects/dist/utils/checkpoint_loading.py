"""Reading checkpoint files: clear errors for files that are not
checkpoints, and when to let torch fully unpickle one.

:func:`register_checked_local_loader` (called when ``projects.dist`` is
imported) makes MMEngine read local checkpoints through
:func:`load_checkpoint_file`, so ``tools/train.py`` ``load_from`` and
``--resume``, ``tools/test.py``, ``tools/demo.py`` and
:func:`mmengine.runner.load_checkpoint` all name the path and what was
expected when given an empty, truncated, text or other non-checkpoint file
(instead of torch's bare ``EOFError`` or ``IndexError``).
"""
import logging
import os
import os.path as osp
import zipfile
from typing import Any

import torch
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader

#: First bytes of a legacy (non-zip) ``torch.save`` file: pickle protocol 2
#: and torch's magic number.
_LEGACY_MAGIC = b'\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19'
_ZIP_MAGIC = b'PK\x03\x04'
_EXPECTED = 'expected a PyTorch checkpoint written by torch.save'


class CheckpointFileError(ValueError):
    """A file given as a checkpoint is not a readable PyTorch checkpoint."""


def _describe_bytes(head: bytes) -> str:
    """Say what the first bytes of a file look like."""
    text = None
    for cut in range(4):  # a multi-byte character may be cut at the end
        try:
            text = head[:len(head) - cut].decode('utf-8')
            break
        except UnicodeDecodeError:
            continue
    if text and all(c.isprintable() or c in '\r\n\t' for c in text):
        first = (text.strip().splitlines() or [''])[0][:40]
        return f'it looks like a text file (starts with {first!r})'
    if head.startswith(b'\x80'):
        return ('it is a Python pickle but not a torch.save file (use '
                'torch.save, not pickle.dump)')
    return f'it starts with the bytes {head[:8]!r} of another format'


def check_checkpoint_file(path: str, what: str = 'checkpoint') -> None:
    """Raise a clear error unless ``path`` looks like a ``torch.save`` file.

    Cheap: reads the first bytes (and a zip file's directory), not the
    tensors.

    Args:
        path (str): Local file path.
        what (str): What the file is for, used in messages.
            Defaults to ``'checkpoint'``.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        CheckpointFileError: The file is empty, a truncated zip archive or
            not a PyTorch checkpoint (text, plain pickle, other formats).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path}')
    size = osp.getsize(path)
    if size == 0:
        raise CheckpointFileError(
            f'{what} {path} is empty (0 bytes); {_EXPECTED} (was it written '
            'only in part, or created by mistake?)')
    with open(path, 'rb') as f:
        head = f.read(64)
    if head.startswith(_ZIP_MAGIC):
        if not zipfile.is_zipfile(path):
            raise CheckpointFileError(
                f'{what} {path} is a truncated or damaged zip archive '
                f'({size} bytes, no central directory); {_EXPECTED} in full '
                '(was the copy or download interrupted?)')
        return
    if head.startswith(_LEGACY_MAGIC):
        return
    raise CheckpointFileError(
        f'{what} {path} is not a PyTorch checkpoint: {_describe_bytes(head)}'
        f'; {_EXPECTED} (a zip archive starting with b"PK")')


def load_checkpoint_file(path: str,
                         map_location: Any = None,
                         what: str = 'checkpoint',
                         **load_kwargs) -> Any:
    """``torch.load`` a checkpoint, with clear errors for non-checkpoints.

    Args:
        path (str): Local file path.
        map_location: As for :func:`torch.load`.
        what (str): What the file is for, used in messages.
        **load_kwargs: Further :func:`torch.load` arguments (e.g.
            ``weights_only``).

    Returns:
        The loaded object.

    Raises:
        FileNotFoundError, CheckpointFileError: See
            :func:`check_checkpoint_file`; also a file torch cannot read
            past its first bytes (cut short, damaged). Refusals of the safe
            (``weights_only``) unpickler are passed on unchanged.
    """
    check_checkpoint_file(path, what)
    try:
        return torch.load(path, map_location=map_location, **load_kwargs)
    except (EOFError, IndexError, KeyError) as exc:
        error = exc
    except RuntimeError as exc:
        if 'PytorchStreamReader' not in str(exc) and 'zip' not in str(exc):
            raise
        error = exc
    first = str(error).strip().splitlines()[0][:120] if str(error) else ''
    raise CheckpointFileError(
        f'{what} {path} cannot be read ({type(error).__name__}: {first}); '
        f'{_EXPECTED} (is it cut short or damaged?)') from None


def load_from_local_checked(filename: str, map_location: Any = None):
    """MMEngine local-file checkpoint loader with clear errors.

    A full training checkpoint (see :func:`needs_full_unpickling`) is read
    with the full unpickler, with a warning, so that MMAction2's own API
    (``mmaction.apis.init_recognizer``, the Inferencers) loads the user's
    trained checkpoints as the tools do; every other file keeps torch's
    safe (``weights_only``) default.
    """
    filename = osp.expanduser(filename)
    load_kwargs = {}
    if needs_full_unpickling(filename):
        load_kwargs['weights_only'] = False
    checkpoint = load_checkpoint_file(filename, map_location, **load_kwargs)
    if not isinstance(checkpoint, dict):
        raise CheckpointFileError(
            f'checkpoint {filename} holds a {type(checkpoint).__name__}, '
            "expected a dict (a state dict or {'state_dict': ..., 'meta': "
            '...})')
    return checkpoint


def register_checked_local_loader() -> None:
    """Make MMEngine read local checkpoint files with
    :func:`load_checkpoint_file` (MMEngine's extension point for loaders;
    remote schemes are unchanged)."""
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local_checked, force=True)


def allow_full_unpickling_if_needed(checkpoint: str) -> bool:
    """Let torch fully unpickle ``checkpoint`` only if it has to.

    torch>=2.6 loads with ``weights_only=True``, which refuses MMEngine
    training checkpoints (message hub, numpy scalars). Weights-only files —
    converted, published (``tools/misc/publish_checkpoint.py``) and released
    checkpoints — keep the safe default. For a full training checkpoint (the
    user's own run) the full unpickler is allowed, with a warning, by setting
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``, which torch reads at every
    ``torch.load``. An explicit user setting of that variable wins.

    A local file that is not a checkpoint at all (empty, text, truncated)
    is refused here, before anything is built.

    Args:
        checkpoint (str): Local checkpoint path (remote URLs keep the safe
            default).

    Returns:
        bool: True if full unpickling was allowed by this call.

    Raises:
        CheckpointFileError: ``checkpoint`` is a local file that is not a
            PyTorch checkpoint.
    """
    if not needs_full_unpickling(checkpoint):
        return False
    os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] = '1'
    return True


def needs_full_unpickling(checkpoint: str) -> bool:
    """Whether ``checkpoint`` is a full training checkpoint that torch's
    safe unpickler refuses, and the user has not decided otherwise.

    Logs a warning (once per call) when it returns True.

    Args:
        checkpoint (str): Local checkpoint path (anything else: False).

    Returns:
        bool: True if ``checkpoint`` is a local zip checkpoint pickling
        objects other than tensors and plain containers (MMEngine's message
        hub, numpy scalars) and neither ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``
        nor ``TORCH_FORCE_WEIGHTS_ONLY_LOAD`` is set.

    Raises:
        CheckpointFileError: ``checkpoint`` is a local file that is not a
            PyTorch checkpoint.
    """
    if not osp.isfile(checkpoint):
        return False
    check_checkpoint_file(checkpoint)
    if ('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' in os.environ
            or 'TORCH_FORCE_WEIGHTS_ONLY_LOAD' in os.environ):
        return False
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(
            checkpoint)
    except Exception:  # not a zip checkpoint: let torch.load report it
        return False
    if not unsafe:
        return False
    print_log(
        f'{checkpoint} is a full training checkpoint (it pickles '
        f'{", ".join(sorted(unsafe)[:3])}, ...); loading it with the full '
        'unpickler. Only do this with checkpoints you trust; release files '
        'made with tools/misc/publish_checkpoint.py load safely.',
        logger='current',
        level=logging.WARNING)
    return True
