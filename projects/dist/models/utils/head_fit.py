"""Check, once, that the head fed by a backbone's pooled embedding takes one.

DiST emits one pooled video embedding per clip, shape (B, E). MMAction2
heads that pool a feature map (``I3DHead``, ``X3DHead``, ``SlowFastHead``)
or regroup frames (``TSNHead``, ``TSMHead``, ``TRNHead``: their ``forward``
needs ``num_segs``) fail on it deep inside pooling or reshaping, and a head
with another ``in_channels`` fails in a matrix product. Neither error says
what the backbone emits. :func:`watch_embedding_consumer` checks the module
that receives the embedding before it runs and raises a clear error instead.
"""
import inspect
import weakref

import torch
import torch.nn as nn
from torch.nn.modules.module import register_module_forward_pre_hook

FITTING_HEADS = ('DiSTTextHead, TimeSformerHead, I3DHead(spatial_type=None) '
                 'or any head taking (N, in_channels) features')

_POOLING = (nn.modules.pooling._AdaptiveAvgPoolNd,
            nn.modules.pooling._AdaptiveMaxPoolNd,
            nn.modules.pooling._AvgPoolNd, nn.modules.pooling._MaxPoolNd)


def _needs_num_segs(module: nn.Module) -> bool:
    """Whether ``module.forward`` has a required ``num_segs`` argument."""
    try:
        params = inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return False
    p = params.get('num_segs')
    return p is not None and p.default is inspect.Parameter.empty


def check_head_fits(head: nn.Module, embedding: torch.Tensor,
                    backbone: str) -> None:
    """Raise a clear error if ``head`` cannot take a pooled embedding.

    Only MMAction2 heads (``BaseHead``) are checked; a neck or any other
    module passes.

    Args:
        head (nn.Module): The module called with the embedding.
        embedding (torch.Tensor): The backbone output, (B, E).
        backbone (str): Backbone name for the message.
    """
    from mmaction.models.heads.base import BaseHead
    if not isinstance(head, BaseHead) or embedding.dim() != 2:
        return
    width = embedding.shape[1]
    name = type(head).__name__
    emits = (f'{backbone} emits one pooled video embedding per clip, shape '
             f'(B, E) = {tuple(embedding.shape)}')
    fix = f'use a head that takes it: {FITTING_HEADS}'
    if _needs_num_segs(head):
        raise ValueError(
            f'{emits}, but {name} is a per-frame (2-D recognizer) head: its '
            'forward needs num_segs and regroups frame features, which '
            f'Recognizer3D does not pass; {fix}')
    pools = [n for n, m in head.named_modules() if isinstance(m, _POOLING)]
    if pools:
        raise ValueError(
            f'{emits}, but {name} pools a feature map (its {pools[0]!r} '
            f'layer expects (B, C, T, H, W) or (B, C, H, W)); {fix}')
    in_channels = getattr(head, 'in_channels', None)
    if isinstance(in_channels, int) and in_channels != width:
        raise ValueError(
            f'{emits}, but {name} has in_channels={in_channels}; set '
            f'cls_head.in_channels={width} (the backbone\'s output_dim)')


def watch_embedding_consumer(embedding: torch.Tensor, backbone: str) -> None:
    """Check the next module that is called with ``embedding`` itself.

    A process-wide forward pre-hook is installed until that call (it is
    removed right then, or when ``embedding`` is freed unseen, e.g. when the
    caller concatenates views first): it calls :func:`check_head_fits` on
    that module. Nothing is checked while
    tracing, scripting or compiling.

    Args:
        embedding (torch.Tensor): The backbone output, (B, E).
        backbone (str): Backbone name for the message.
    """
    if (torch.jit.is_scripting() or torch.jit.is_tracing()
            or torch.compiler.is_compiling()):
        return
    ref = weakref.ref(embedding)
    handle = None

    def hook(module: nn.Module, args: tuple) -> None:
        out = ref()
        if out is None or not args or args[0] is not out:
            return
        handle.remove()
        check_head_fits(module, out, backbone)

    handle = register_module_forward_pre_hook(hook)
    weakref.finalize(embedding, handle.remove)
