"""Checks that a checkpoint fits the configured architecture, run while it
is loaded (also under ``strict=False``, which would otherwise leave
mismatched or absent tensors randomly initialised with only a warning).

Every loading path (``tools/test.py`` and ``tools/train.py`` ``load_from``,
``tools/demo.py``, :func:`mmengine.runner.load_checkpoint`,
``nn.Module.load_state_dict``) runs the modules' ``_load_from_state_dict``
and load-state-dict pre-hooks, so the checks live there:

* DiST's own modules (marked with ``checks_own_load = True``) check their
  tensors in ``_load_from_state_dict`` (:func:`check_complete`);
* the module that holds such a module (e.g. ``Recognizer3D``) gets a
  pre-hook (:func:`check_model_coverage`) that refuses a file covering none
  of the model, naming the file's key style, and checks the tensors of its
  other parts (e.g. an MMAction2 head).

A deliberate partial load (e.g. a backbone-only file for a new head) is
allowed with the environment variable ``DIST_ALLOW_PARTIAL_LOAD=1`` or the
:func:`allow_partial_load` context manager: the tensors the file does not
hold keep their initial values, and one warning per module lists them.
"""
import logging
import os
import re
from contextlib import contextmanager
from typing import Dict, Iterable, Iterator, Optional

import torch.nn as nn
from mmengine.logging import print_log
from torch.nn.modules.module import register_module_module_registration_hook

#: Environment variable that turns refused partial loads into warnings.
PARTIAL_LOAD_ENV = 'DIST_ALLOW_PARTIAL_LOAD'
#: The converter of official checkpoints, named in messages.
CONVERTER = 'tools/model_converters/dist_official_to_mmaction.py'
_OPT_IN = (f'to load only part of the model on purpose, set '
           f'{PARTIAL_LOAD_ENV}=1 (tensors absent from the file keep their '
           'initial values; a warning lists them)')


class CheckpointMismatchError(ValueError):
    """A checkpoint was made for a different architecture."""


def partial_load_allowed() -> bool:
    """bool: Whether ``DIST_ALLOW_PARTIAL_LOAD`` is set (not empty/'0')."""
    return os.environ.get(PARTIAL_LOAD_ENV, '') not in ('', '0')


@contextmanager
def allow_partial_load() -> Iterator[None]:
    """Allow partial checkpoint loads inside the ``with`` block (Python API
    counterpart of ``DIST_ALLOW_PARTIAL_LOAD=1``)."""
    old = os.environ.get(PARTIAL_LOAD_ENV)
    os.environ[PARTIAL_LOAD_ENV] = '1'
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(PARTIAL_LOAD_ENV, None)
        else:
            os.environ[PARTIAL_LOAD_ENV] = old


def _sample(keys: Iterable[str], n: int = 3) -> str:
    keys = list(keys)
    more = f' ... (+{len(keys) - n} more)' if len(keys) > n else ''
    return f'{keys[:n]}{more}'


def describe_key_style(keys: Iterable[str]) -> str:
    """Say what kind of file a checkpoint's keys come from.

    Args:
        keys (Iterable[str]): Keys of the state dict being loaded (for an
            MMEngine load: the file's ``state_dict``, or the whole file if it
            has none).

    Returns:
        str: A sentence naming the key style and, where known, the fix.
    """
    keys = list(keys)
    if not keys:
        return 'it holds no tensors (an empty state_dict)'
    if 'model_state' in keys or any(
            k.startswith(('backbone.base_encoder.',
                          'module.backbone.base_encoder.')) for k in keys):
        return (f'its keys {_sample(keys)} look like an official DiST '
                f'checkpoint (.pyth); convert it first with {CONVERTER}')
    if any(k.startswith(('visual.', 'token_embedding.')) for k in keys):
        return (f'its keys {_sample(keys)} look like CLIP weights; give '
                'them as model.backbone.spatial_encoder.pretrained and '
                'model.cls_head.text_encoder.pretrained instead')
    if set(keys) <= {
            'meta', 'optimizer', 'message_hub', 'param_schedulers', 'epoch',
            'iter'
    }:
        return (f'it holds {sorted(keys)} but no state_dict (was it saved '
                'without weights?)')
    tops = sorted({k.split('.', 1)[0] for k in keys})
    return (f'its keys look like {_sample(keys)} (top-level names '
            f'{_sample(tops, 6)}); was it made for another model?')


def _refuse_or_warn(message: str) -> None:
    """Raise ``message`` or, with partial loads allowed, log it."""
    if partial_load_allowed():
        print_log(
            f'{message} [{PARTIAL_LOAD_ENV} is set: loading anyway]',
            logger='current',
            level=logging.WARNING)
        return
    raise CheckpointMismatchError(f'{message}; {_OPT_IN}')


def count_indices(state: Dict, prefix: str, pattern: str) -> Optional[int]:
    """Number of distinct indices ``i`` in keys ``prefix + pattern(i)``.

    Args:
        state (dict): State dict being loaded.
        prefix (str): Module prefix in ``state``.
        pattern (str): Regex with one ``(\\d+)`` group, relative to prefix.

    Returns:
        int | None: The count, or None if no key matches (partial loads).
    """
    rx = re.compile(re.escape(prefix) + pattern)
    found = {m.group(1) for k in state for m in [rx.match(k)] if m}
    return len(found) if found else None


def check_count(state: Dict,
                prefix: str,
                pattern: str,
                expected: int,
                what: str,
                hint: str = '') -> None:
    """Raise if the checkpoint has a different number of ``what``.

    Args:
        state (dict): State dict being loaded.
        prefix (str): Module prefix.
        pattern (str): Regex with one index group.
        expected (int): The configured count.
        what (str): Human name of the counted item.
        hint (str): Which config key to change.
    """
    got = count_indices(state, prefix, pattern)
    if got is not None and got != expected:
        raise CheckpointMismatchError(
            f'checkpoint has {got} {what} but the model is configured with '
            f'{expected}{hint}')


def _missing_and_misshapen(expected: Dict, state: Dict, prefix: str) -> tuple:
    """Keys of ``expected`` absent from ``state`` and those whose shape
    differs (as ``'key: file (a, b) != model (c, d)'``)."""
    missing, misshapen = [], []
    for k, v in expected.items():
        got = state.get(prefix + k)
        if got is None:
            missing.append(k)
        elif hasattr(got, 'shape') and tuple(got.shape) != tuple(v.shape):
            misshapen.append(f'{k}: file {tuple(got.shape)} != model '
                             f'{tuple(v.shape)}')
    return missing, misshapen


def check_complete(module: nn.Module, state: Dict, prefix: str,
                   what: str) -> None:
    """Refuse a ``state`` that lacks any of ``module``'s tensors or holds
    one of another shape.

    ``load_state_dict(strict=False)`` (MMEngine's ``load_from``, hence
    ``tools/test.py``) would otherwise only log the missing keys and keep
    their random initial values. With ``DIST_ALLOW_PARTIAL_LOAD=1`` absent
    tensors are logged in one warning instead (other shapes stay errors).

    Args:
        module (nn.Module): The module being loaded.
        state (dict): State dict being loaded (the part under ``prefix``).
        prefix (str): Module prefix in ``state``.
        what (str): Human name of the module for the message.
    """
    expected = module.state_dict(keep_vars=True)
    missing, misshapen = _missing_and_misshapen(expected, state, prefix)
    if misshapen:
        raise CheckpointMismatchError(
            f'checkpoint {what} tensor(s) of another shape: '
            f'{_sample(misshapen, 4)}; the file was made for another '
            'architecture (compare the config with the one it was trained '
            'with)')
    if not missing:
        return
    if len(missing) == len(expected):
        local = [k for k in state if k.startswith(prefix)]
        style = (
            describe_key_style(
                k[len(prefix):]
                for k in local) if local else 'it holds no key starting with '
            f'{prefix!r}')
        _refuse_or_warn(
            f'checkpoint holds none of the {len(expected)} {what} tensors '
            f'(expected keys like {_sample(prefix + k for k in expected)}): '
            f'{style}')
        return
    _refuse_or_warn(
        f'checkpoint lacks {len(missing)} {what} tensor(s) '
        f'{_sample(missing, 6)}; a DiST checkpoint must hold every tensor '
        'of the configured model (were it made for another architecture?)')


def check_model_coverage(module: nn.Module, state: Dict, prefix: str,
                         *args) -> None:
    """Load-state-dict pre-hook of a module holding DiST modules.

    Refuses a state dict that covers none of ``module``'s tensors, naming
    the file's key style, and one that lacks tensors of the parts that do
    not check themselves (e.g. an MMAction2 head next to the DiST
    backbone). DiST's own modules check their tensors themselves.

    Args:
        module (nn.Module): The module being loaded (e.g. the recognizer).
        state (dict): State dict being loaded.
        prefix (str): ``module``'s prefix in ``state``.
        *args: The remaining arguments of a load-state-dict pre-hook.
    """
    expected = module.state_dict(prefix=prefix, keep_vars=True)
    if not expected:
        return
    if not any(k in state for k in expected):
        local = [k[len(prefix):] for k in state if k.startswith(prefix)]
        _refuse_or_warn(
            f'checkpoint covers none of the {len(expected)} tensors of the '
            f'{type(module).__name__} model: {describe_key_style(local)}. '
            f'The model expects keys like {_sample(expected)}')
        return
    checked = [
        prefix + name + '.' for name, m in module.named_modules()
        if name and _checks_itself(m)
    ]
    missing = [
        k for k in expected
        if k not in state and not k.startswith(tuple(checked))
    ]
    if missing:
        _refuse_or_warn(
            f'checkpoint lacks {len(missing)} of the '
            f'{type(module).__name__} model\'s tensors '
            f'{_sample(missing, 6)}; under strict=False they would keep '
            'their random initial values')


def _checks_itself(module: nn.Module) -> bool:
    """Whether ``module`` checks its tensors when loaded (read without
    ``getattr`` on the instance, which some wrappers override)."""
    return bool(
        getattr(type(module), 'checks_own_load', False)
        or vars(module).get('_dist_coverage_checked', False))


def _attach_coverage_check(parent: nn.Module, name: str,
                           child: nn.Module) -> None:
    """Global module-registration hook: give the holder of a DiST module
    (e.g. ``Recognizer3D``) the :func:`check_model_coverage` pre-hook."""
    if (getattr(type(child), 'checks_own_load', False)
            and not _checks_itself(parent)):
        parent.register_load_state_dict_pre_hook(check_model_coverage)
        vars(parent)['_dist_coverage_checked'] = True
    return None


#: Handle of the global hook (``.remove()`` detaches it).
COVERAGE_HOOK_HANDLE = register_module_module_registration_hook(
    _attach_coverage_check)


def expect_weights_later(tower: nn.Module, config_key: str) -> None:
    """Note that a frozen tower was initialised without ``pretrained``.

    Called from the tower's ``init_weights``. Unless a checkpoint fills the
    tower before its first forward (``load_from``, ``--resume``: see
    :func:`weights_loaded`), that forward logs one WARNING naming
    ``config_key``: a frozen tower with random weights gives the side
    network noise to learn from.

    Args:
        tower (nn.Module): The frozen tower.
        config_key (str): Its ``pretrained`` key in the usual configs, e.g.
            ``'model.backbone.spatial_encoder.pretrained'``.
    """
    state = vars(tower)
    state['_random_weights_key'] = config_key
    if state.get('_random_weights_hook') is None:
        handle = tower.register_forward_pre_hook(_warn_random_weights)
        state['_random_weights_hook'] = handle.id


def _remove_hook(tower: nn.Module) -> None:
    """Detach the hook of :func:`expect_weights_later` (by id: a handle
    object would not survive ``copy.deepcopy`` of the model cleanly)."""
    hook_id = vars(tower).pop('_random_weights_hook', None)
    if hook_id is not None:
        tower._forward_pre_hooks.pop(hook_id, None)


def weights_loaded(tower: nn.Module) -> None:
    """Note that a checkpoint filled ``tower`` (see
    :func:`expect_weights_later`)."""
    vars(tower).pop('_random_weights_key', None)
    _remove_hook(tower)


def _warn_random_weights(module: nn.Module, args) -> None:
    """Forward pre-hook: warn once if the frozen tower is still random."""
    key = vars(module).pop('_random_weights_key', None)
    _remove_hook(module)
    if key is not None:
        print_log(
            f'{type(module).__name__} is frozen but has RANDOM weights: '
            f'{key} is None and no checkpoint loaded the tower, so its '
            'features are noise and nothing trains them. Set '
            f'{key} to CLIP weights (an OpenAI .pt file, a CLIP state dict '
            "or an open_clip tag such as 'openai'), or load a checkpoint "
            'that holds them; ignore this only in tests.',
            logger='current',
            level=logging.WARNING)
