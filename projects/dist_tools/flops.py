"""Count multiply-accumulates (MACs) and parameters of DiST models.

Counting uses :class:`torch.utils.flop_counter.FlopCounterMode`, which sees
every matmul, convolution and attention kernel dispatched during a forward
pass, and reports FLOPs (2 per multiply-accumulate); this module converts them
to MACs (``FLOPs / 2``), the "GFLOPs" convention of most video papers.
Element-wise work (norms, activations, softmax, additions) is not counted.

The count is exact on the ``meta`` device, where nothing is computed and a
ViT-B/16 forward is counted in well under a second. There,
``scaled_dot_product_attention`` runs its reference decomposition (two batched
matmuls), so attention is counted like any matmul. On CPU the fused kernels
``_scaled_dot_product_flash_attention_for_cpu`` (and its backward) and the
``nn.MultiheadAttention`` inference fast path
(``_native_multi_head_attention``) are opaque to the counter, and so is the
in-place ``addmm_``; formulas for them are added here.
"""
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional

import torch
import torch.nn as nn
from mmengine.logging import print_log
from torch.utils.flop_counter import (FlopCounterMode,
                                      sdpa_backward_flop_count,
                                      sdpa_flop_count)

aten = torch.ops.aten


def _cpu_flash_flops(query_shape,
                     key_shape,
                     value_shape,
                     *args,
                     out_shape=None,
                     **kwargs) -> int:
    """FLOPs of ``_scaled_dot_product_flash_attention_for_cpu``."""
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_flash_backward_flops(grad_out_shape,
                              query_shape,
                              key_shape,
                              value_shape,
                              *args,
                              out_shape=None,
                              **kwargs) -> int:
    """FLOPs of ``_scaled_dot_product_flash_attention_for_cpu_backward``."""
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape,
                                    value_shape)


def _native_mha_flops(query_shape,
                      key_shape,
                      value_shape,
                      embed_dim,
                      num_head,
                      *args,
                      out_shape=None,
                      **kwargs) -> int:
    """FLOPs of ``nn.MultiheadAttention``'s fused inference path.

    Input projections of query, key and value, the two attention matmuls and
    the output projection. Inputs are (B, L, E) (or (L, E) unbatched).
    """
    q_tokens = 1
    for s in query_shape[:-1]:
        q_tokens *= s
    k_tokens = 1
    for s in key_shape[:-1]:
        k_tokens *= s
    batch = query_shape[0] if len(query_shape) == 3 else 1
    q_len = query_shape[-2]
    k_len = key_shape[-2]
    e = embed_dim
    macs = q_tokens * e * e  # query projection
    macs += 2 * k_tokens * e * e  # key and value projections
    macs += 2 * batch * q_len * k_len * e  # q @ k^T and attn @ v
    macs += q_tokens * e * e  # output projection
    return 2 * macs


def _addmm_inplace_flops(self_shape,
                         a_shape,
                         b_shape,
                         *args,
                         out_shape=None,
                         **kwargs) -> int:
    """FLOPs of ``Tensor.addmm_`` (a matrix product accumulated in place)."""
    return 2 * a_shape[0] * a_shape[1] * b_shape[1]


#: Formulas for kernels the stock counter does not know (keyed by overload
#: packet, values take shapes like the built-in formulas).
EXTRA_FLOP_FORMULAS: Dict[object, Callable] = {
    aten._scaled_dot_product_flash_attention_for_cpu: _cpu_flash_flops,
    aten._scaled_dot_product_flash_attention_for_cpu_backward:
    _cpu_flash_backward_flops,
    aten._native_multi_head_attention: _native_mha_flops,
    aten.addmm_: _addmm_inplace_flops,
}


class _SplitFlopCounter(FlopCounterMode):
    """FlopCounterMode that also sums the FLOPs run with autograd disabled
    and those run inside the methods of one module (``scope``).

    A frozen tower runs under ``torch.no_grad()``, but so do the forwards of
    custom autograd functions in the side network; the scope attributes work
    to the tower whichever of its methods (``forward``, ``embed``, ...) the
    backbone calls, which module-level attribution (``forward`` only) cannot.

    Args:
        scope (nn.Module, optional): Module whose methods' work is summed in
            :attr:`scoped_flops`.
        scope_methods (tuple[str]): Methods of ``scope`` to watch.
        **kwargs: Passed to ``FlopCounterMode``.
    """

    def __init__(self,
                 scope: Optional[nn.Module] = None,
                 scope_methods: tuple = ('forward', 'embed', 'forward_tokens'),
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.no_grad_flops = 0
        self.scoped_flops = 0
        self._scope = scope
        self._scope_methods = [
            name for name in scope_methods if hasattr(scope, name)
        ] if scope is not None else []
        self._scope_depth = 0

    def _watch(self, method: Callable) -> Callable:

        def watched(*args, **kwargs):
            self._scope_depth += 1
            try:
                return method(*args, **kwargs)
            finally:
                self._scope_depth -= 1

        return watched

    def __enter__(self):
        # instance attributes shadow the methods until __exit__
        self._shadowed = {
            name: vars(self._scope).get(name)
            for name in self._scope_methods
        }
        for name in self._scope_methods:
            setattr(self._scope, name, self._watch(getattr(self._scope, name)))
        return super().__enter__()

    def __exit__(self, *exc):
        for name, previous in self._shadowed.items():
            if previous is None:
                delattr(self._scope, name)
            else:  # an instance attribute set before counting
                setattr(self._scope, name, previous)
        return super().__exit__(*exc)

    def _count_flops(self, func_packet, out, args, kwargs):
        if func_packet in self.flop_registry:
            flops = None
            if not torch.is_grad_enabled():
                flops = self.flop_registry[func_packet](
                    *args, **kwargs, out_val=out)
                self.no_grad_flops += flops
            if self._scope_depth:
                if flops is None:
                    flops = self.flop_registry[func_packet](
                        *args, **kwargs, out_val=out)
                self.scoped_flops += flops
        return super()._count_flops(func_packet, out, args, kwargs)


@dataclass
class MacCount:
    """MACs of one counted call.

    Attributes:
        total (int): All MACs of the call.
        no_grad (int): MACs of operators run with autograd disabled (inside
            ``torch.no_grad()``, or the forward of a custom autograd
            function), e.g. a frozen tower's forward.
        scoped (int): MACs of operators run inside the watched methods of
            the ``scope`` module given to :func:`count_macs` (0 without).
        by_module (dict[str, int]): MACs per module call, keyed by the
            counter's dotted module path (the root is the class name of the
            outermost module called, e.g. ``'DiST.spatial_encoder'``). Only
            work done inside a module's ``forward`` is attributed to it.
        by_op (dict[str, int]): MACs per aten operator.
    """

    total: int
    no_grad: int = 0
    scoped: int = 0
    by_module: Dict[str, int] = field(default_factory=dict)
    by_op: Dict[str, int] = field(default_factory=dict)

    def of(self, path: str) -> int:
        """Return the MACs of one module.

        Args:
            path (str): Dotted module path as in :attr:`by_module`.

        Returns:
            int: Its MACs, 0 if the module did no counted work.
        """
        return self.by_module.get(path, 0)


def count_macs(fn: Callable,
               *args,
               scope: Optional[nn.Module] = None,
               **kwargs) -> MacCount:
    """Run ``fn(*args, **kwargs)`` under a FLOP counter and return its MACs.

    Run it on ``meta`` tensors for an exact, nearly free count. Autograd is
    left as the caller set it (see :attr:`MacCount.no_grad`).

    Args:
        fn (Callable): Anything that runs tensors through modules, e.g. a
            module or a bound method.
        *args: Positional arguments for ``fn``.
        scope (nn.Module, optional): A module whose work (inside its
            ``forward``, ``embed`` or ``forward_tokens``, however called) is
            also summed, in :attr:`MacCount.scoped`.
        **kwargs: Keyword arguments for ``fn``.

    Returns:
        MacCount: The total, autograd-free, scoped, per-module and
        per-operator MACs.
    """
    counter = _SplitFlopCounter(
        scope=scope, display=False, custom_mapping=EXTRA_FLOP_FORMULAS)
    with counter:
        fn(*args, **kwargs)
    counts = counter.get_flop_counts()
    by_module = {
        name: sum(ops.values()) // 2
        for name, ops in counts.items() if name != 'Global'
    }
    by_op = defaultdict(int)
    for op, flops in counts.get('Global', {}).items():
        by_op[str(op)] += flops // 2
    return MacCount(
        total=counter.get_total_flops() // 2,
        no_grad=counter.no_grad_flops // 2,
        scoped=counter.scoped_flops // 2,
        by_module=by_module,
        by_op=dict(by_op))


def count_model_macs(model: nn.Module,
                     inputs: torch.Tensor,
                     frozen_attr: str = 'spatial_encoder') -> Dict[str, int]:
    """MACs of a recognizer's forward (backbone + head), split by part.

    The text tower of a :class:`DiSTTextHead` is excluded: its class
    features are computed once (before counting) and cached, so per clip the
    head only costs the similarity matmul. Runs under ``torch.no_grad()``.

    Args:
        model (nn.Module): A recognizer with ``backbone`` and ``cls_head``
            (``cls_head`` may be None).
        inputs (torch.Tensor): Clips as the backbone takes them,
            (N, 3, T, H, W) for DiST, on the model's device.
        frozen_attr (str): Attribute of the backbone holding the frozen
            image tower. Defaults to ``'spatial_encoder'``.

    Returns:
        dict[str, int]: MACs for all N clips: ``frozen_tower`` (the image
        tower), ``side_network`` (the rest of the backbone), ``head`` and
        ``total``; also ``patch_embed``, the part of ``frozen_tower`` spent in
        the tower's patch-embedding convolution (``visual.conv1``; 0 if it
        has none), which shows how many frames the tower embedded.
    """
    backbone = model.backbone
    head = getattr(model, 'cls_head', None)
    feats = [None]

    def run_backbone() -> None:
        feats[0] = backbone(inputs)

    tower_module = getattr(backbone, frozen_attr, None)
    with torch.enable_grad():
        bb = count_macs(run_backbone, scope=tower_module)
    root = type(backbone).__name__
    tower = bb.scoped
    patch_embed = bb.of(f'{root}.{frozen_attr}.visual.conv1')
    head_macs = 0
    if head is not None:
        head_macs = _count_head_macs(head, feats[0])
    return dict(
        frozen_tower=tower,
        side_network=bb.total - tower,
        head=head_macs,
        total=bb.total + head_macs,
        patch_embed=patch_embed)


def _count_head_macs(head: nn.Module, feats: torch.Tensor) -> int:
    """MACs of the head on video embeddings, text tower excluded.

    Args:
        head (nn.Module): The classification head.
        feats (torch.Tensor): Video embeddings, (N, E).

    Returns:
        int: MACs for the N embeddings.
    """
    try:
        if getattr(head, 'classifier', None) == 'text':
            with torch.no_grad():  # fill the text cache; not counted
                head.text_features(feats)
        return count_macs(head, feats).total
    except RuntimeError as err:
        if feats.device.type != 'meta':
            raise
        # e.g. ``torch.autocast('meta')`` is unsupported; both classifiers
        # (cosine with K cached text features, or Linear(E, K)) cost N*E*K
        n, e = feats.shape
        macs = n * e * head.num_classes
        print_log(
            f'{type(head).__name__} cannot run on meta tensors ({err}); '
            f'counting its classifier as N*E*K = {macs} MACs',
            logger='current',
            level=logging.WARNING)
        return macs


def count_parameters(model: nn.Module,
                     frozen_attr: str = 'spatial_encoder',
                     text_attr: str = 'text_encoder') -> Dict[str, int]:
    """Parameter counts of a recognizer, split by part.

    Args:
        model (nn.Module): A recognizer with ``backbone`` and ``cls_head``.
        frozen_attr (str): Backbone attribute of the frozen image tower.
            Defaults to ``'spatial_encoder'``.
        text_attr (str): Head attribute of the text tower. Defaults to
            ``'text_encoder'``.

    Returns:
        dict[str, int]: ``total``, ``trainable`` (``requires_grad``),
        ``frozen_tower``, ``text_tower`` and ``side_network`` (backbone
        parameters outside the image tower).
    """

    def numel(module: Optional[nn.Module]) -> int:
        if module is None:
            return 0
        return sum(p.numel() for p in module.parameters())

    backbone = getattr(model, 'backbone', None)
    head = getattr(model, 'cls_head', None)
    tower = getattr(backbone, frozen_attr, None)
    text = getattr(head, text_attr, None)
    return dict(
        total=numel(model),
        trainable=sum(p.numel() for p in model.parameters()
                      if p.requires_grad),
        frozen_tower=numel(tower),
        text_tower=numel(text),
        side_network=numel(backbone) - numel(tower))
