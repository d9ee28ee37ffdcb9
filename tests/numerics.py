"""Tolerances for comparing two ways of computing the same tensor.

Two float computations that differ only in the order of their operations
(a fused kernel and the formula it replaces, AVX-512 and AVX2 kernels of one
operator) agree up to rounding. Rounding scales with the dtype's machine
epsilon, the magnitude of the values and the length of the sums involved,
so the tolerances here are built from those three, never from what one CPU
happened to produce.

A sum of ``n`` rounded terms carries an error of about
``sqrt(n) * eps * max|term|`` when the rounding errors are independent (the
usual case for blocked/vectorised reductions) and ``n * eps * max|term|`` in
the worst case. A test names the longest reduction in the computation it
checks (e.g. tokens x batch for a gradient summed over both); the bound
allows ``ROUNDING_FACTOR`` times the independent-error estimate, which
leaves room for a few chained reductions (a backward pass chains several)
without admitting a real error: a wrong formula differs by O(1) relative to
the tensor scale, many orders of magnitude above these bounds.
"""
import math
from typing import Optional

import torch

#: Multiple of ``sqrt(reduction) * eps * scale`` allowed between two orders
#: of the same float computation (covers a few chained reductions).
ROUNDING_FACTOR = 16.0


def rounding_tolerance(reference: torch.Tensor, reduction: int = 1) -> float:
    """Absolute tolerance for a recomputation of ``reference``.

    Args:
        reference (torch.Tensor): The reference tensor (any shape, floating
            point); its dtype sets the machine epsilon and its largest
            magnitude the scale.
        reduction (int): Length of the longest sum that produced the values
            (1 for element-wise results). Defaults to 1.

    Returns:
        float: ``ROUNDING_FACTOR * sqrt(reduction) * eps * max|reference|``
        (scale floored at 1 ulp of 1.0 so an all-zero reference still
        tolerates denormal noise).
    """
    if reduction < 1:
        raise ValueError(f'reduction must be >= 1, got {reduction}')
    eps = torch.finfo(reference.dtype).eps
    scale = reference.detach().abs().max().item() if reference.numel() else 0
    return ROUNDING_FACTOR * math.sqrt(reduction) * eps * max(scale, eps)


def assert_close_rounding(got: torch.Tensor,
                          want: torch.Tensor,
                          reduction: int = 1,
                          msg: Optional[str] = None) -> None:
    """Assert ``got`` equals ``want`` up to rounding (see module doc).

    Shapes and dtypes must match exactly; values must agree within
    :func:`rounding_tolerance` of ``want`` (one absolute bound per tensor,
    relative to the tensor's scale, as the official-parity criterion).

    Args:
        got (torch.Tensor): Tensor from the path under test.
        want (torch.Tensor): Tensor from the reference path.
        reduction (int): Longest reduction length (see
            :func:`rounding_tolerance`). Defaults to 1.
        msg (str, optional): Prefix of the failure message (e.g. a
            parameter name). Defaults to None.
    """
    _assert_within(
        got, want, rounding_tolerance(want, reduction), msg,
        f'{ROUNDING_FACTOR:g} * sqrt({reduction}) * eps * max|want|')


#: The project's criterion for two implementations of a whole model (the
#: official-parity criterion): ``max|got - want| <= 1e-5 * max|want|`` per
#: tensor, i.e. about 84 float32 ulps of the tensor's scale.
MODEL_RELATIVE_TOLERANCE = 1e-5


def assert_close_model(got: torch.Tensor,
                       want: torch.Tensor,
                       msg: Optional[str] = None) -> None:
    """Assert two model-level tensors agree per the parity criterion.

    Args:
        got (torch.Tensor): Output (or gradient) of the path under test.
        want (torch.Tensor): The reference path's tensor.
        msg (str, optional): Prefix of the failure message. Defaults to
            None.
    """
    _assert_within(got, want,
                   MODEL_RELATIVE_TOLERANCE * want.detach().abs().max().item(),
                   msg, f'{MODEL_RELATIVE_TOLERANCE:g} * max|want|')


def _assert_within(got: torch.Tensor, want: torch.Tensor, tol: float,
                   msg: Optional[str], formula: str) -> None:
    """``max|got - want| <= tol`` (same shape and dtype), with a message
    naming ``msg`` and how ``tol`` was derived (``formula``)."""
    prefix = f'{msg}: ' if msg else ''
    torch.testing.assert_close(
        got,
        want,
        rtol=0,
        atol=tol,
        msg=lambda m: f'{prefix}{m}\n(tolerance {tol:.3g} = {formula})')
