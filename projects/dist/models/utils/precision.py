"""Which dtype the side network's products run in under mixed precision."""
from typing import Optional

import torch


def autocast_dtype(device_type: str) -> Optional[torch.dtype]:
    """The dtype ``torch.autocast`` gives matrix products on a device.

    Args:
        device_type (str): ``'cpu'``, ``'cuda'``, ... Devices without
            autocast (e.g. ``'meta'``, used to count FLOPs) count as off.

    Returns:
        torch.dtype, optional: The autocast dtype if autocast is enabled for
        ``device_type``, else None.
    """
    if not (torch.amp.is_autocast_available(device_type)
            and torch.is_autocast_enabled(device_type)):
        return None
    return torch.get_autocast_dtype(device_type)
