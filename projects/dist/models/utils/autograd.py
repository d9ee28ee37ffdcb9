"""When the side network's memory-saving autograd functions are needed, and
what their backward passes share."""
from typing import List, Optional, Sequence

import torch


def records_grad(*tensors: Optional[torch.Tensor]) -> bool:
    """Whether autograd would record an operation on these tensors.

    The side network's custom autograd functions only change what is kept
    for backward; when nothing is recorded (inference, ``torch.no_grad()``,
    frozen inputs) their plain forward is called instead, which also keeps
    ``torch.compile`` from tracing a function context it cannot use there.

    Args:
        *tensors (torch.Tensor, optional): The operation's tensor inputs;
            None entries are ignored.

    Returns:
        bool: True if grad mode is on and any input requires grad.
    """
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad
                                           for t in tensors)


def conv3d_backward(grad: torch.Tensor, x: torch.Tensor, weight: torch.Tensor,
                    bias_sizes: Optional[List[int]], padding: Sequence[int],
                    need_x: bool, need_weight: bool, need_bias: bool) -> tuple:
    """Gradients of ``F.conv3d(x, weight, bias, padding=padding)`` with
    stride and dilation 1 and one group.

    Args:
        grad (torch.Tensor): Gradient of the output, (B, C_out, T', H', W').
        x (torch.Tensor): The convolution's input, (B, C_in, T, H, W); only
            its shape is read when ``need_weight`` is False.
        weight (torch.Tensor): (C_out, C_in, kT, kH, kW).
        bias_sizes (list[int], optional): ``list(bias.shape)``, or None
            without a bias.
        padding (Sequence[int]): The forward's zero padding (T, H, W).
        need_x, need_weight, need_bias (bool): Which gradients to compute.

    Returns:
        tuple: Gradients of ``x``, ``weight`` and ``bias``; None where not
        needed (or without a bias).
    """
    return torch.ops.aten.convolution_backward(
        grad, x, weight, bias_sizes, [1, 1, 1], list(padding), [1, 1, 1],
        False, [0, 0, 0], 1,
        [need_x, need_weight, need_bias and bias_sizes is not None])
