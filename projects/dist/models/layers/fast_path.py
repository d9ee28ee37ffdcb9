"""One switch between the paper's plain formulas and DiST's fast path.

The side network's T-Blocks, I-Blocks and ada-pooling layers and the frozen
tower's inference blocks compute their formula two ways:

* the **plain path**: the formula as the paper writes it, built from the
  block's own submodules (``nn.Conv3d``, ``nn.Linear``, ``LayerNorm``,
  ``QuickGELU``) with PyTorch's own autograd;
* the **fast path** (default): the same values up to float rounding, with
  LayerNorm affines and QuickGELU's 1.702 folded into neighbouring
  products, in-place accumulation into matrix-product outputs, and custom
  autograd functions that keep less for backward.

The choice is global (like timm's ``fused_attn``), so it reaches every block
of every model in the process without a config change, and it is made per
group of fusions (:data:`GROUPS`) so that each group can be measured:

* environment: ``DIST_FAST_PATH=0`` (all plain), ``1`` (all fast, the
  default) or a comma-separated list of the groups to run fast, before the
  process starts;
* code: ``set_fast_path(False)``, ``set_fast_path({'tower'})`` or
  ``with fast_path_mode(False): ...``.

With every group plain, no custom autograd function of this package runs
(see ``tests/models/test_fast_path.py``, which also checks that both paths
give the same logits and gradients).
"""
import contextlib
import os
from typing import AbstractSet, Iterable, Iterator, Optional, Union

#: Environment variable that sets the initial choice.
ENV_VAR = 'DIST_FAST_PATH'

#: The groups of fusions, each behind its own switch:
#: ``tower``: the frozen CLIP blocks without autograd (fused q/k/v views,
#: residual sums accumulated into the products, in-place SiLU);
#: ``temporal_block``: the T-Block's folded LayerNorm/convolutions/QuickGELU
#: with custom autograd; ``integration_block``: the I-Block's shared
#: normalisation, concatenated input product, folded QuickGELU and one
#: output buffer; ``aggregator``: one normalisation of F for all
#: ada-pooling layers and few-query attention without key/value
#: projections.
GROUPS = ('tower', 'temporal_block', 'integration_block', 'aggregator')

_TRUE = ('1', 'true', 'yes', 'on')
_FALSE = ('0', 'false', 'no', 'off')

Setting = Union[bool, Iterable[str]]


def fast_groups(enable: Setting) -> AbstractSet[str]:
    """The groups that run fast for a setting, validated.

    Args:
        enable (bool | Iterable[str]): As in :func:`set_fast_path`.

    Returns:
        frozenset[str]: Names from :data:`GROUPS`.
    """
    if isinstance(enable, bool):
        return frozenset(GROUPS) if enable else frozenset()
    if isinstance(enable, str) or not isinstance(enable, Iterable):
        raise TypeError('enable must be a bool or a collection of group '
                        f'names from {GROUPS}, got {enable!r}')
    groups = frozenset(enable)
    unknown = sorted(groups - set(GROUPS))
    if unknown:
        raise ValueError(f'unknown fast-path groups {unknown}; expected '
                         f'names from {GROUPS}')
    return groups


def _parse(value: str) -> AbstractSet[str]:
    """Read a setting of :data:`ENV_VAR`."""
    text = value.strip().lower()
    if text in _TRUE:
        return fast_groups(True)
    if text in _FALSE:
        return fast_groups(False)
    names = [n.strip() for n in text.split(',') if n.strip()]
    if not names or not set(names) <= set(GROUPS):
        raise ValueError(f'{ENV_VAR}={value!r} is neither a boolean '
                         f'({_TRUE + _FALSE}) nor a comma-separated list of '
                         f'groups from {GROUPS}')
    return fast_groups(names)


_enabled = _parse(os.environ.get(ENV_VAR, '1'))


def use_fast_path(group: Optional[str] = None) -> bool:
    """Whether a group of fusions (or all of them) runs its fast path.

    Args:
        group (str, optional): One of :data:`GROUPS`; None asks whether
            every group runs fast. Defaults to None.

    Returns:
        bool: True for the fast path, False for the plain formulas.
    """
    if group is None:
        return len(_enabled) == len(GROUPS)
    if group not in GROUPS:
        raise ValueError(f'unknown fast-path group {group!r}; expected one '
                         f'of {GROUPS}')
    return group in _enabled


def set_fast_path(enable: Setting) -> AbstractSet[str]:
    """Choose the fast path or the plain formulas.

    Args:
        enable (bool | Iterable[str]): True for every group fast (the
            default), False for every group plain, or the names of the
            groups (:data:`GROUPS`) to run fast.

    Returns:
        frozenset[str]: The previous setting, as the groups that ran fast
        (pass it back to restore).
    """
    global _enabled
    previous, _enabled = _enabled, fast_groups(enable)
    return previous


@contextlib.contextmanager
def fast_path_mode(enable: Setting) -> Iterator[None]:
    """Run a block of code with the fast path on, off, or per group.

    Args:
        enable (bool | Iterable[str]): As in :func:`set_fast_path`.

    Yields:
        None
    """
    previous = set_fast_path(enable)
    try:
        yield
    finally:
        set_fast_path(previous)
