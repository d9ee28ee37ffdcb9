"""When the side network's memory-saving autograd functions are needed."""
from typing import Optional

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
    return torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in tensors)
