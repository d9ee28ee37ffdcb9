"""An optimizer constructor that leaves frozen sub-modules out quietly."""
from typing import List, Optional, Union

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor

from mmaction.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class DiSTOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """``DefaultOptimWrapperConstructor`` that skips frozen sub-modules.

    MMEngine's constructor already leaves parameters with
    ``requires_grad=False`` out when ``paramwise_cfg`` is set, but logs one
    warning per tensor (about 300 for the frozen CLIP ViT-B/16 towers) and,
    without ``paramwise_cfg``, hands every parameter to the optimizer. This
    constructor always goes through the param-wise path, skips sub-modules
    without any trainable parameter silently and logs one summary line.
    All ``paramwise_cfg`` options behave as in MMEngine.

    Args:
        optim_wrapper_cfg (dict): Optimizer wrapper config.
        paramwise_cfg (dict, optional): Param-wise options. Defaults to None.
    """

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None) -> None:
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
                'False) are not optimised', logger='current')
        return wrapper

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   is_dcn_module: Optional[Union[int, float]] = None) -> None:
        """Add ``module``'s parameters unless it has no trainable one."""
        if not any(p.requires_grad for p in module.parameters()):
            return
        super().add_params(params, module, prefix, is_dcn_module)
