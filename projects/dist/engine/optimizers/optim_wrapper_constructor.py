"""An optimizer constructor that leaves frozen sub-modules out quietly and
groups the trainable tensors by their options."""
import logging
from contextlib import contextmanager
from typing import Any, Iterator, List, Optional, Union

import torch
import torch.nn as nn
from mmengine.logging import MMLogger, print_log
from mmengine.optim import DefaultOptimWrapperConstructor

from mmaction.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class DiSTOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """``DefaultOptimWrapperConstructor`` that skips frozen sub-modules and
    merges parameter groups with identical options.

    MMEngine's constructor already leaves parameters with
    ``requires_grad=False`` out when ``paramwise_cfg`` is set, but logs one
    warning per tensor (about 300 for the frozen CLIP ViT-B/16 towers) and,
    without ``paramwise_cfg``, hands every parameter to the optimizer. This
    constructor always goes through the param-wise path, skips sub-modules
    without any trainable parameter silently and logs one summary line.
    All ``paramwise_cfg`` options behave as in MMEngine.

    MMEngine's param-wise path also makes one parameter group per tensor
    (431 for DiST ViT-B/16). The optimizer then runs its update once per
    group: on a GPU, one set of kernel launches per tensor instead of a few
    multi-tensor launches in all. Groups whose options (``lr``,
    ``weight_decay``, ...) are equal are therefore merged (3 groups for the
    recipe configs); every tensor keeps exactly the options MMEngine gave it,
    so training is unchanged.

    MMEngine logs every tensor's options (``paramwise_options -- NAME:KEY=
    VALUE``, about 400 lines for DiST); they are logged at DEBUG level here
    (``log_level='DEBUG'`` shows them) and one INFO line sums up the
    groups.

    Args:
        optim_wrapper_cfg (dict): Optimizer wrapper config.
        paramwise_cfg (dict, optional): Param-wise options of MMEngine, plus
            ``merge_groups`` (bool, default True): False keeps MMEngine's
            one group per tensor. Defaults to None.

    Optimizer states saved with one group per tensor (before the groups were
    merged, or with ``merge_groups=False``) are merged the same way when they
    are loaded, so such checkpoints resume; a resumed optimizer also keeps
    the update implementation of its config (``fused``, ``foreach``) rather
    than the checkpoint's. See :func:`fit_saved_param_groups`.
    """

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None) -> None:
        paramwise_cfg = dict(paramwise_cfg or {})
        merge_groups = paramwise_cfg.pop('merge_groups', True)
        if not isinstance(merge_groups, bool):
            raise TypeError('paramwise_cfg.merge_groups must be True or '
                            f'False, got {merge_groups!r}')
        self.merge_groups = merge_groups
        # a non-empty paramwise_cfg routes through add_params, which filters
        # frozen parameters; bypass_duplicate=False changes nothing else
        super().__init__(optim_wrapper_cfg, paramwise_cfg
                         or dict(bypass_duplicate=False))

    def __call__(self, model: nn.Module):
        """Build the optimizer wrapper; log what was left out."""
        frozen = [p for p in model.parameters() if not p.requires_grad]
        wrapper = super().__call__(model)
        if frozen:
            print_log(
                f'{type(self).__name__}: {sum(p.numel() for p in frozen):,} '
                f'frozen parameters ({len(frozen)} tensors, requires_grad='
                'False) are not optimised',
                logger='current')
        groups = wrapper.optimizer.param_groups
        wrapper.optimizer.register_load_state_dict_pre_hook(
            fit_saved_param_groups)
        if self.merge_groups:  # a few groups: say what each one holds
            detail = ': ' + '; '.join(
                f'{len(g["params"])} with {_options_text(g)}' for g in groups)
        else:
            detail = ' (merge_groups=False)'
        print_log(
            f'{type(self).__name__}: '
            f'{sum(len(g["params"]) for g in groups)} trainable tensors in '
            f'{len(groups)} parameter groups{detail}',
            logger='current')
        return wrapper

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   is_dcn_module: Optional[Union[int, float]] = None) -> None:
        """Add ``module``'s parameters unless it has no trainable one."""
        if not any(p.requires_grad for p in module.parameters()):
            return
        if prefix:  # MMEngine's recursion into a sub-module
            super().add_params(params, module, prefix, is_dcn_module)
            return
        with _per_tensor_option_lines_at_debug():
            super().add_params(params, module, prefix, is_dcn_module)
        if self.merge_groups:
            params[:] = merge_param_groups(params)


# how MMEngine's constructor starts its line per tensor and option
_OPTION_LINE = 'paramwise_options -- '


@contextmanager
def _per_tensor_option_lines_at_debug() -> Iterator[None]:
    """Turn MMEngine's per-tensor option lines into DEBUG records while the
    parameters are added; the current logger's handlers then decide."""

    def demote(record: logging.LogRecord) -> bool:
        if str(record.msg).startswith(_OPTION_LINE):
            record.levelno, record.levelname = logging.DEBUG, 'DEBUG'
        return True

    logger = MMLogger.get_current_instance()
    logger.addFilter(demote)
    try:
        yield
    finally:
        logger.removeFilter(demote)


def _options_text(group: dict) -> str:
    """``key=value`` of a parameter group's options that MMEngine's
    param-wise options set (learning rate, weight decay, multipliers)."""
    keys = [k for k in ('lr', 'weight_decay') if k in group]
    keys += sorted(k for k in group if k.endswith('_mult'))
    return ' '.join(f'{k}={group[k]:g}' if isinstance(group[k], float
                                                      ) else f'{k}={group[k]}'
                    for k in keys)


def _hashable(value: Any) -> Any:
    """A hashable stand-in for an option value (lists become tuples)."""
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def merge_param_groups(groups: List[dict]) -> List[dict]:
    """Merge parameter groups whose options are all equal.

    Args:
        groups (list[dict]): Groups as for ``torch.optim``: ``params`` plus
            options (``lr``, ``weight_decay``, ...).

    Returns:
        list[dict]: One group per distinct set of options, in the order of
        first appearance, holding the tensors in their original order.
    """
    merged = {}
    for group in groups:
        options = {k: v for k, v in group.items() if k != 'params'}
        key = _hashable(options)
        if key not in merged:
            merged[key] = dict(options, params=[])
        merged[key]['params'].extend(group['params'])
    return list(merged.values())


# options that choose how the update is computed, not what it computes: a
# resumed run keeps the ones of its own config (see fit_saved_param_groups)
IMPLEMENTATION_OPTIONS = ('foreach', 'fused', 'capturable', 'differentiable')


def fit_saved_param_groups(optimizer: torch.optim.Optimizer,
                           state_dict: dict) -> Optional[dict]:
    """``load_state_dict`` pre-hook: fit a saved group layout to the
    optimizer's.

    - A state saved with one parameter group per tensor is merged by
      :func:`merge_param_groups` exactly as the optimizer's own groups were,
      which keeps the tensors' order, so every saved tensor state (moments,
      step) lands on its tensor.
    - The implementation options (:data:`IMPLEMENTATION_OPTIONS`, e.g.
      ``fused``) are taken from the optimizer as configured, not from the
      checkpoint. ``torch.optim`` would otherwise restore the saved ones, so
      a checkpoint of a non-fused run would switch a fused optimizer back to
      the per-tensor update, whose first step under a ``GradScaler`` (AMP)
      then fails (the scaler hands its scale only to fused optimizers).

    Args:
        optimizer (torch.optim.Optimizer): The optimizer being loaded.
        state_dict (dict): The state to load (a shallow copy).

    Returns:
        dict, optional: The fitted state, or None when nothing changes.

    Raises:
        ValueError: If the saved groups cannot be fitted to the optimizer's.
    """
    saved, current = state_dict['param_groups'], optimizer.param_groups
    sizes = [len(g['params']) for g in current]
    groups = saved
    if [len(g['params']) for g in saved] != sizes:
        groups = _merge_saved_groups(saved, current)
    fitted = [
        dict(g, **{k: c[k]
                   for k in IMPLEMENTATION_OPTIONS if k in c})
        for g, c in zip(groups, current)
    ]
    changed = sorted({
        f'{k}={g.get(k)!r} -> {f[k]!r}'
        for g, f in zip(groups, fitted)
        for k in IMPLEMENTATION_OPTIONS if k in f and g.get(k) != f[k]
    })
    if changed:
        print_log(
            'optimizer state: implementation options follow the config, not '
            f'the checkpoint ({", ".join(changed)})',
            logger='current')
    if fitted == saved:
        return None
    return dict(state_dict, param_groups=fitted)


def _merge_saved_groups(saved: List[dict], current: List[dict]) -> List[dict]:
    """Merge saved per-tensor groups into the optimizer's group sizes.

    Args:
        saved (list[dict]): The checkpoint's parameter groups.
        current (list[dict]): The optimizer's parameter groups.

    Returns:
        list[dict]: The saved groups, merged.

    Raises:
        ValueError: If they cannot be merged into the optimizer's sizes.
    """
    sizes = [len(g['params']) for g in current]
    n_saved = sum(len(g['params']) for g in saved)
    n_current = sum(sizes)
    if n_saved == n_current and len(saved) > len(current):
        merged = merge_param_groups(saved)
        if [len(g['params']) for g in merged] == sizes:
            print_log(
                f'optimizer state: its {len(saved)} parameter groups merged '
                f'into {len(merged)} groups with equal options, as '
                'DiSTOptimWrapperConstructor groups them',
                logger='current')
            return merged
    hint = ('it was saved with merged groups: remove merge_groups=False from '
            'optim_wrapper.paramwise_cfg'
            if n_saved == n_current and len(saved) < len(current) else
            'was it saved for another model or another paramwise_cfg?')
    raise ValueError(
        f'cannot load the optimizer state: it has {len(saved)} parameter '
        f'groups holding {n_saved} tensors, this optimizer has '
        f'{len(current)} groups holding {n_current} tensors; {hint}')
