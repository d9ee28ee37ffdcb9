"""Narrow run-time fixes for known defects of the pinned third-party stack.

Each fix is applied only when the defect is present, touches nothing on
disk, and is documented in README.md ("Installation / what the installer
fixes"):

* ``mmaction2==1.2.0`` wheels lack ``mmaction/models/localizers/drn``
  (open-mmlab/mmaction2#2714), so ``import mmaction.models`` fails. When the
  sub-package is missing, an empty stand-in module is registered; DRN (a
  temporal-grounding localizer) stays unavailable, nothing else changes.
* ``mmaction2==1.2.0`` imports its VindLU models whenever ``transformers``
  is installed, and they need names that transformers 5 removed (e.g.
  ``transformers.modeling_utils.apply_chunking_to_forward``), so with such a
  transformers ``import mmaction.models`` fails. When one of those names is
  missing, MMAction2 is told that the multimodal extra is unavailable: the
  VindLU models become its usual "please install" placeholders and a warning
  says why; nothing else changes.
* On machines without CUDA, MMEngine's ``launcher='pytorch'`` calls
  ``torch.cuda.set_device``, which raises on CPU-only hosts. There it is made a
  no-op so that ``torchrun`` + gloo works (this is how CI runs DDP).
"""
import importlib
import importlib.util
import sys
import types
import warnings

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


# What mmaction2 1.2.0's models/multimodal/vindlu imports from transformers.
_VINDLU_TRANSFORMERS_NAMES = {
    'transformers': ('BertTokenizer', ),
    'transformers.activations': ('ACT2FN', ),
    'transformers.configuration_utils': ('PretrainedConfig', ),
    'transformers.file_utils':
    ('ModelOutput', 'add_start_docstrings',
     'add_start_docstrings_to_model_forward', 'replace_return_docstrings'),
    'transformers.modeling_outputs':
    ('BaseModelOutputWithPastAndCrossAttentions',
     'BaseModelOutputWithPoolingAndCrossAttentions',
     'CausalLMOutputWithCrossAttentions', 'MaskedLMOutput',
     'MultipleChoiceModelOutput', 'NextSentencePredictorOutput',
     'QuestionAnsweringModelOutput', 'SequenceClassifierOutput',
     'TokenClassifierOutput'),
    'transformers.modeling_utils':
    ('PreTrainedModel', 'apply_chunking_to_forward',
     'find_pruneable_heads_and_indices', 'prune_linear_layer'),
    'transformers.models.beit': ('BeitConfig', 'BeitModel'),
    'transformers.models.beit.modeling_beit':
    ('BeitAttention', 'BeitDropPath', 'BeitEmbeddings', 'BeitLayer',
     'BeitRelativePositionBias'),
}


def _missing_vindlu_names() -> dict:
    """What VindLU imports from ``transformers`` and cannot get.

    Returns:
        dict[str, str]: Module -> the missing names (comma-separated), or the
        error raised while importing the module.
    """
    missing = {}
    for module, names in _VINDLU_TRANSFORMERS_NAMES.items():
        try:
            mod = importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 -- any failure disables it
            missing[module] = f'{type(exc).__name__}: {exc}'
            continue
        lacking = [n for n in names if not hasattr(mod, n)]
        if lacking:
            missing[module] = ', '.join(lacking)
    return missing


def patch_mmaction_multimodal() -> bool:
    """Disable MMAction2's VindLU models if ``transformers`` cannot run them.

    Must run before the first ``import mmaction.models``. Only looks at
    transformers when MMAction2 would import it (it is installed, >= 4.28).

    Returns:
        bool: True if the multimodal models were disabled, else False.
    """
    if 'mmaction.models' in sys.modules:
        return False
    from mmaction.utils import dependency
    if not dependency.WITH_MULTIMODAL:
        return False
    missing = _missing_vindlu_names()
    if not missing:
        return False
    dependency.WITH_MULTIMODAL = False
    from importlib_metadata import version
    shown = '; '.join(f'{mod}: {what}' for mod, what in missing.items())
    warnings.warn(
        f'transformers {version("transformers")} lacks what mmaction2 '
        f"1.2.0's VindLU models import ({shown}); they are disabled so "
        'that mmaction.models imports (DiST does not use them). Install '
        'transformers<5 to use VindLU.',
        stacklevel=2)
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
    patch_mmaction_multimodal()
    patch_cpu_set_device()
