"""Frozen CLIP text tower."""
import math
from typing import Optional, Union

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModule
from open_clip.transformer import QuickGELU, TextTransformer

from mmaction.registry import MODELS
from ..utils.clip_arch import resolve_clip_arch
from ..utils.clip_checkpoint import (check_quick_gelu_tag,
                                     load_clip_state_dict, load_tower_strict,
                                     split_clip_state_dict)
from ..utils.state_checks import (check_complete, expect_weights_later,
                                  weights_loaded)


@MODELS.register_module()
class DiSTCLIPText(BaseModule):
    """CLIP text tower (open_clip, OpenAI parameter names), frozen.

    Encodes token ids to the joint embedding space:
    ``ln_final(x[EOT]) @ text_projection``. Also holds CLIP's
    ``logit_scale`` as a buffer (not trained, as in the official recipe).

    :attr:`weights_version` counts the events after which :meth:`forward`
    may return other values for the same tokens: loading weights
    (:meth:`init_weights`, a state dict), ``_apply`` (``.to()``,
    ``.half()``, device moves) and, for a tower that is not frozen, every
    :meth:`train` call (the optimizer changes its weights in training).
    Callers that cache its output (:class:`DiSTTextHead`) compare it.

    Args:
        arch (str | dict): CLIP architecture (see ``resolve_clip_arch``).
            Defaults to ``'ViT-B/16'``.
        pretrained (str, optional): CLIP weights (TorchScript file, state
            dict file or open_clip tag), loaded in :meth:`init_weights`.
        frozen (bool): Freeze the tower. Defaults to True.
        init_cfg (dict, optional): MMEngine init config. Defaults to None.
    """

    #: checks its own tensors when loaded (see utils/state_checks.py)
    checks_own_load = True

    def __init__(self,
                 arch: Union[str, dict] = 'ViT-B/16',
                 pretrained: Optional[str] = None,
                 frozen: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.arch = resolve_clip_arch(arch)
        check_quick_gelu_tag(pretrained, self.arch['name'], 'DiSTCLIPText')
        self.pretrained = pretrained
        self.frozen = frozen
        a = self.arch
        self.text = TextTransformer(
            context_length=a['context_length'],
            vocab_size=a['vocab_size'],
            width=a['text_width'],
            heads=a['text_heads'],
            layers=a['text_layers'],
            mlp_ratio=a['mlp_ratio'],
            output_dim=a['embed_dim'],
            act_layer=QuickGELU)
        self.register_buffer('logit_scale', torch.tensor(math.log(100.0)))
        self.weights_version = 0
        if frozen:
            self.text.requires_grad_(False)
            self.text.eval()

    @property
    def context_length(self) -> int:
        """int: Token sequence length."""
        return self.arch['context_length']

    def init_weights(self) -> None:
        """Load ``pretrained`` CLIP text weights and logit scale strictly.

        Without ``pretrained`` a frozen tower keeps its random construction
        weights; unless a checkpoint fills it before its first forward, that
        forward logs a WARNING naming
        ``model.cls_head.text_encoder.pretrained``.
        """
        if self.pretrained is None:
            # keep the construction-time (open_clip) initialisation
            if self.frozen:
                expect_weights_later(self,
                                     'model.cls_head.text_encoder.pretrained')
            return
        state = load_clip_state_dict(self.pretrained, self.arch['name'])
        _, text, logit_scale = split_clip_state_dict(state)
        load_tower_strict(self.text, text, 'CLIP text tower', self.pretrained)
        if logit_scale is not None:
            self.logit_scale.copy_(logit_scale)
        self.weights_version += 1
        print_log(
            f'DiSTCLIPText: loaded CLIP weights from {self.pretrained}',
            logger='current')

    def _load_from_state_dict(self, state_dict, prefix, *args,
                              **kwargs) -> None:
        """Refuse an incomplete text tower, also under ``strict=False``."""
        check_complete(self, state_dict, prefix, 'CLIP text tower')
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self.weights_version += 1
        if any(k.startswith(prefix + 'text.') for k in state_dict):
            weights_loaded(self)

    def _apply(self, fn, *args, **kwargs) -> 'DiSTCLIPText':
        """Move or convert the tensors (``.to()``, ``.half()``, ...)."""
        out = super()._apply(fn, *args, **kwargs)
        self.weights_version += 1
        return out

    def train(self, mode: bool = True) -> 'DiSTCLIPText':
        """Set training mode; a frozen tower stays in eval mode."""
        super().train(mode)
        if self.frozen:
            self.text.eval()
        else:
            self.weights_version += 1  # trained weights may have changed
        return self

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Encode token ids.

        Args:
            tokens (torch.Tensor): (K, context_length) int64 token ids.

        Returns:
            torch.Tensor: Text features, (K, E), not normalised.
        """
        if self.frozen:
            with torch.no_grad():
                return self.text(tokens)
        return self.text(tokens)
