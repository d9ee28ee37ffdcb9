"""Narrow run-time fixes for known defects of the pinned third-party stack.

Each fix is applied only when the defect is present, touches nothing on
disk, and is documented in README.md ("Installation / what the installer
fixes"):

* ``mmaction2==1.2.0`` wheels lack ``mmaction/models/localizers/drn``
  (open-mmlab/mmaction2#2714), so ``import mmaction.models`` fails. When the
  sub-package is missing, an empty stand-in module is registered; DRN (a
  temporal-grounding localizer) stays unavailable, nothing else changes.
* On machines without CUDA, MMEngine's ``launcher='pytorch'`` calls
  ``torch.cuda.set_device``, which raises on CPU-only hosts. There it is made a
  no-op so that ``torchrun`` + gloo works (this is how CI runs DDP).
"""
import importlib.util
import sys
import types

import torch

_DRN_MODULES = ('mmaction.models.localizers.drn',
                'mmaction.models.localizers.drn.drn')


def patch_mmaction_drn() -> bool:
    """Register an empty ``drn`` stand-in when the mmaction2 wheel lacks it.

    Must run before the first ``import mmaction.models``.

    Returns:
        bool: True if the stand-in was installed, False if not needed.
    """
    if 'mmaction.models' in sys.modules or _DRN_MODULES[0] in sys.modules:
        return False
    spec = importlib.util.find_spec('mmaction')
    if spec is None or not spec.submodule_search_locations:
        return False
    import os.path as osp
    root = list(spec.submodule_search_locations)[0]
    if osp.isdir(osp.join(root, 'models', 'localizers', 'drn')):
        return False
    for name in _DRN_MODULES:
        sys.modules[name] = types.ModuleType(name)
    sys.modules[_DRN_MODULES[1]].DRN = None
    sys.modules[_DRN_MODULES[0]].drn = sys.modules[_DRN_MODULES[1]]
    return True


def patch_cpu_set_device() -> bool:
    """Make ``torch.cuda.set_device`` a no-op on hosts without CUDA.

    Returns:
        bool: True if patched.
    """
    if torch.cuda.is_available():
        return False
    if getattr(torch.cuda.set_device, '_dist_cpu_noop', False):
        return False

    def _noop(device) -> None:  # noqa: ARG001 -- same signature as torch's
        return None

    _noop._dist_cpu_noop = True
    torch.cuda.set_device = _noop
    return True


def apply_all() -> None:
    """Apply every fix whose defect is present."""
    patch_mmaction_drn()
    patch_cpu_set_device()
