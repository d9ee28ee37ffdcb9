"""One switch between the paper's plain formulas and DiST's fast path.

Every block of the side network (T-Block, I-Block, ada-pooling, the input
projections) and the frozen tower's inference blocks compute their formula
two ways:

* the **plain path**: the formula as the paper writes it, built from the
  block's own submodules (``nn.Conv3d``, ``nn.Linear``, ``LayerNorm``,
  ``QuickGELU``) with PyTorch's own autograd;
* the **fast path** (default): the same values up to float rounding, with
  LayerNorm affines and QuickGELU's 1.702 folded into neighbouring
  products, in-place accumulation into matrix-product outputs, and custom
  autograd functions that keep less for backward.

The choice is global (like timm's ``fused_attn``), so it reaches every block
of every model in the process without a config change:

* environment: ``DIST_FAST_PATH=0`` before the process starts;
* code: ``set_fast_path(False)`` or ``with fast_path_mode(False): ...``.

With the plain path no custom autograd function of this package runs (see
``tests/models/test_fast_path.py``, which also checks that both paths give
the same logits and gradients).
"""
import contextlib
import os
from typing import Iterator

#: Environment variable that sets the initial choice (1/0, true/false).
ENV_VAR = 'DIST_FAST_PATH'

_TRUE = ('1', 'true', 'yes', 'on')
_FALSE = ('0', 'false', 'no', 'off')


def _parse(value: str) -> bool:
    """Read a boolean setting of :data:`ENV_VAR`."""
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f'{ENV_VAR}={value!r} is not a boolean; expected one '
                     f'of {_TRUE + _FALSE}')


_enabled = _parse(os.environ.get(ENV_VAR, '1'))


def use_fast_path() -> bool:
    """Whether the blocks run their fast path.

    Returns:
        bool: True (the default) for the fast path, False for the plain
        formulas.
    """
    return _enabled


def set_fast_path(enable: bool) -> bool:
    """Choose the fast path (True) or the plain formulas (False).

    Args:
        enable (bool): The new setting.

    Returns:
        bool: The previous setting.
    """
    global _enabled
    if not isinstance(enable, bool):
        raise TypeError(f'enable must be a bool, got {enable!r}')
    previous, _enabled = _enabled, enable
    return previous


@contextlib.contextmanager
def fast_path_mode(enable: bool) -> Iterator[None]:
    """Run a block of code with the fast path on or off.

    Args:
        enable (bool): The setting inside the ``with`` block.

    Yields:
        None
    """
    previous = set_fast_path(enable)
    try:
        yield
    finally:
        set_fast_path(previous)
