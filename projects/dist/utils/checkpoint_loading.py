"""When to let torch fully unpickle a checkpoint."""
import logging
import os
import os.path as osp

import torch
from mmengine.logging import print_log


def allow_full_unpickling_if_needed(checkpoint: str) -> bool:
    """Let torch fully unpickle ``checkpoint`` only if it has to.

    torch>=2.6 loads with ``weights_only=True``, which refuses MMEngine
    training checkpoints (message hub, numpy scalars). Weights-only files —
    converted, published (``tools/misc/publish_checkpoint.py``) and released
    checkpoints — keep the safe default. For a full training checkpoint (the
    user's own run) the full unpickler is allowed, with a warning, by setting
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``, which torch reads at every
    ``torch.load``. An explicit user setting of that variable wins.

    Args:
        checkpoint (str): Local checkpoint path (remote URLs keep the safe
            default).

    Returns:
        bool: True if full unpickling was allowed by this call.
    """
    if 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' in os.environ or not osp.isfile(
            checkpoint):
        return False
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(
            checkpoint)
    except Exception:  # not a zip checkpoint: let torch.load report it
        return False
    if not unsafe:
        return False
    print_log(
        f'{checkpoint} is a full training checkpoint (it pickles '
        f'{", ".join(sorted(unsafe)[:3])}, ...); loading it with the full '
        'unpickler. Only do this with checkpoints you trust; release files '
        'made with tools/misc/publish_checkpoint.py load safely.',
        logger='current',
        level=logging.WARNING)
    os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] = '1'
    return True
