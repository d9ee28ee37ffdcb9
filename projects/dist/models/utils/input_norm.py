"""The model's input normalisation must be the one its frozen tower expects.

A frozen image tower only works on inputs normalised as in its training
(OpenAI CLIP, ImageNet, Inception-style 0.5/0.5, ...). Each spatial encoder
states its ``mean``/``std`` (0-255 scale, see
:class:`~projects.dist.models.backbones.spatial_encoder.DiSTSpatialEncoder`);
when a recognizer gets a backbone with such a tower, the normalisation of
its ``data_preprocessor`` is compared with them (a global module
registration hook: MMAction2's recognizers build ``data_preprocessor``
before ``backbone``). A preprocessor that normalises with other values is
refused with both named; one that does not normalise (inputs normalised
beforehand) is left alone.
"""
from typing import Optional, Sequence

import torch.nn as nn
from torch.nn.modules.module import register_module_module_registration_hook

#: Allowed difference per channel on the 0-255 scale: configs write the
#: values rounded to one decimal (122.8 for OpenAI's 122.77...), while the
#: normalisations in use differ by more (ImageNet 123.675, Inception 127.5).
ATOL = 0.1


class NormalisationMismatchError(ValueError):
    """The data preprocessor normalises differently from the tower."""


def _values(x) -> Optional[tuple]:
    """The values of a mean/std buffer or list; None when absent or on the
    meta device (a model built for counting, without values)."""
    if x is None or getattr(x, 'is_meta', False):
        return None
    if hasattr(x, 'flatten'):
        x = x.flatten().tolist()
    return tuple(float(v) for v in x)


def check_input_normalisation(data_preprocessor: nn.Module,
                              tower: nn.Module) -> None:
    """Refuse a data preprocessor whose mean/std differ from the tower's.

    Args:
        data_preprocessor (nn.Module): E.g. ``ActionDataPreprocessor``; its
            ``mean``/``std`` (0-255 scale) are compared when it normalises.
        tower (nn.Module): A spatial encoder with ``mean``/``std``.
    """
    got_mean = _values(getattr(data_preprocessor, 'mean', None))
    got_std = _values(getattr(data_preprocessor, 'std', None))
    if got_mean is None or got_std is None:
        return  # no normalisation in the model: inputs come normalised
    want_mean, want_std = tuple(tower.mean), tuple(tower.std)

    def close(a: Sequence[float], b: Sequence[float]) -> bool:
        return len(a) == len(b) and all(
            abs(x - y) <= ATOL for x, y in zip(a, b))

    if close(got_mean, want_mean) and close(got_std, want_std):
        return

    def fmt(values: Sequence[float]) -> str:
        return '[' + ', '.join(f'{v:.4f}' for v in values) + ']'

    raise NormalisationMismatchError(
        f'model.data_preprocessor normalises with mean={fmt(got_mean)} '
        f'std={fmt(got_std)}, but the spatial encoder {tower.tower_name} '
        f'expects mean={fmt(want_mean)} std={fmt(want_std)} (0-255 scale, '
        f'per channel within {ATOL}); set model.data_preprocessor.mean/std '
        'to the tower\'s values')


def _check_on_registration(parent: nn.Module, name: str,
                           child: nn.Module) -> None:
    """Global module-registration hook: compare a recognizer's
    ``data_preprocessor`` with the tower of the ``backbone`` it receives."""
    if name != 'backbone':
        return None
    tower = getattr(child, 'spatial_encoder', None)
    preprocessor = getattr(parent, 'data_preprocessor', None)
    if (isinstance(preprocessor, nn.Module) and hasattr(tower, 'mean')
            and hasattr(tower, 'std')):
        check_input_normalisation(preprocessor, tower)
    return None


#: Handle of the global hook (``.remove()`` detaches it).
NORMALISATION_HOOK_HANDLE = register_module_module_registration_hook(
    _check_on_registration)
