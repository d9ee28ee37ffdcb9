"""DiST: Disentangling Spatial and Temporal Learning for Efficient
Image-to-Video Transfer Learning (Qing et al., ICCV 2023), for MMAction2.

Importing this package registers DiST's models, datasets, transforms and hooks
into MMAction2's registries. Configs load it with::

    custom_imports = dict(
        imports=['projects.dist'], allow_failed_imports=False)
"""
from .compat import apply_all as _apply_compat_fixes

_apply_compat_fixes()

from .utils.checkpoint_loading import \
    register_checked_local_loader as _register_checked_local_loader  # noqa

# clear errors for local files that are not checkpoints (every tool, API)
_register_checked_local_loader()

from .version import __version__  # noqa: E402
from .models import *  # noqa: E402,F401,F403
from .datasets import *  # noqa: E402,F401,F403
from .engine import *  # noqa: E402,F401,F403
from .evaluation import *  # noqa: E402,F401,F403

__all__ = ['__version__']
