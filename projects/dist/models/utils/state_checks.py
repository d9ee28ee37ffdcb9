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
