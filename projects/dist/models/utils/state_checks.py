"""Checks that a checkpoint fits the configured architecture, run while it
is loaded (also under ``strict=False``, which would otherwise leave
mismatched tensors randomly initialised with only a warning)."""
import re
from typing import Dict, Optional


class CheckpointMismatchError(ValueError):
    """A checkpoint was made for a different architecture."""


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


def check_count(state: Dict, prefix: str, pattern: str, expected: int,
                what: str, hint: str = '') -> None:
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


def check_complete(module, state: Dict, prefix: str, what: str) -> None:
    """Raise if ``state`` holds some but not all of ``module``'s tensors.

    ``load_state_dict(strict=False)`` (MMEngine's ``load_from``, hence
    ``tools/test.py``) would otherwise only log the missing keys and keep
    their random initial values.

    Args:
        module (nn.Module): The module being loaded.
        state (dict): State dict being loaded.
        prefix (str): Module prefix in ``state``.
        what (str): Human name of the module for the message.
    """
    if not any(k.startswith(prefix) for k in state):
        return  # the checkpoint does not cover this module at all
    missing = [k for k in module.state_dict(keep_vars=True)
               if prefix + k not in state]
    if missing:
        shown = missing[:6]
        more = f' ... (+{len(missing) - 6} more)' if len(missing) > 6 else ''
        raise CheckpointMismatchError(
            f'checkpoint lacks {len(missing)} {what} tensor(s) {shown}{more}; '
            'a DiST checkpoint must hold every tensor of the configured '
            'model (were it made for another architecture?)')
