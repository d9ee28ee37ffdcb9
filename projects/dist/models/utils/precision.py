"""Which dtype the side network's products run in under mixed precision."""
from typing import Dict, Optional

import torch


def _known_autocast_devices() -> Dict[str, bool]:
    """``torch.amp.is_autocast_available`` of every device type torch names.

    Computed once at import: TorchDynamo in torch 2.11 cannot trace that
    builtin (a graph break in every block that asks), while a lookup in this
    dict it traces.
    """
    table = {}
    for device_type in ('cpu', 'cuda', 'xpu', 'mps', 'hpu', 'mtia', 'maia',
                        'xla', 'ipu', 'privateuseone', 'lazy', 'meta'):
        try:
            table[device_type] = torch.amp.is_autocast_available(device_type)
        except RuntimeError:  # a device type this build does not know
            continue
    return table


_AUTOCAST_AVAILABLE = _known_autocast_devices()


def autocast_available(device_type: str) -> bool:
    """Whether ``torch.autocast`` exists for a device type.

    Same answer as ``torch.amp.is_autocast_available``, but traceable by
    ``torch.compile`` for the device types torch knows.

    Args:
        device_type (str): ``'cpu'``, ``'cuda'``, ``'meta'``, ...

    Returns:
        bool: False for devices without autocast (e.g. ``'meta'``).
    """
    available = _AUTOCAST_AVAILABLE.get(device_type)
    if available is None:  # an out-of-tree device type: ask torch
        available = torch.amp.is_autocast_available(device_type)
    return available


def autocast_dtype(device_type: str) -> Optional[torch.dtype]:
    """The dtype ``torch.autocast`` gives matrix products on a device.

    Args:
        device_type (str): ``'cpu'``, ``'cuda'``, ... Devices without
            autocast (e.g. ``'meta'``, used to count FLOPs) count as off.

    Returns:
        torch.dtype, optional: The autocast dtype if autocast is enabled for
        ``device_type``, else None.
    """
    if not (autocast_available(device_type)
            and torch.is_autocast_enabled(device_type)):
        return None
    return torch.get_autocast_dtype(device_type)
