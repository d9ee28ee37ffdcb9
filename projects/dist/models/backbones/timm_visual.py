"""A timm ViT as DiST's frozen image tower."""
import os.path as osp
from typing import List, Optional, Sequence, Union

import timm
import torch
from mmengine.logging import print_log

from mmaction.registry import MODELS
from ..utils.clip_checkpoint import load_tower_strict
from ..utils.state_checks import expect_weights_later, weights_loaded
from .spatial_encoder import (DiSTSpatialEncoder, RecordsTowerName,
                              canonical_tokens)

#: Members of a timm model this tower reads (timm's ViT family API).
_TIMM_VIT_API = ('patch_embed', 'blocks', 'num_prefix_tokens', 'num_features',
                 'forward_intermediates')


@MODELS.register_module()
class DiSTTimmVisual(RecordsTowerName, DiSTSpatialEncoder):
    """A timm ViT (``VisionTransformer``, ``Eva``, ... with
    ``forward_intermediates``), frozen.

    Tokens come from timm's public ``forward_intermediates`` (raw block
    outputs, ``norm=False``); register tokens are dropped. A model without
    class token (e.g. ``global_pool='avg'`` or ``'map'`` SigLIP-style ViTs
    built with ``class_token=False``) gives the **mean patch token** of each
    block as frame token (``frame_token='mean_patch'``). Input size,
    patch size and normalisation (``pretrained_cfg['mean'|'std']``) are
    timm's.

    Args:
        model_name (str): timm model name, optionally with a pretrained tag
            (``'vit_base_patch16_224.augreg_in21k'``).
        pretrained (str | bool, optional): A weights file (timm's
            ``load_checkpoint``, strict) or True for timm's own pretrained
            weights of ``model_name`` (downloaded by timm). Loaded in
            :meth:`init_weights`. Defaults to None (random weights).
        model_kwargs (dict, optional): Extra arguments of
            ``timm.create_model`` (e.g. ``img_size``, ``reg_tokens``).
        frame_token (str, optional): ``'class'`` or ``'mean_patch'``; None
            picks ``'class'`` when the model has a class token. Defaults to
            None.
        frozen (bool): Freeze the tower. Defaults to True.
        init_cfg (dict, optional): MMEngine init config. Defaults to None.
    """

    def __init__(self,
                 model_name: str,
                 pretrained: Union[str, bool, None] = None,
                 model_kwargs: Optional[dict] = None,
                 frame_token: Optional[str] = None,
                 frozen: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(frozen=frozen, init_cfg=init_cfg)
        if isinstance(pretrained, str) and not osp.isfile(pretrained):
            raise FileNotFoundError(
                f'timm weights file not found: {pretrained} (give a file, '
                'or pretrained=True for timm\'s own weights of model_name)')
        self.model_name = model_name
        self.pretrained = pretrained
        self.model_kwargs = dict(model_kwargs or {})
        self.model = self._create(pretrained=False)
        missing = [a for a in _TIMM_VIT_API if not hasattr(self.model, a)]
        if missing:
            raise ValueError(
                f'timm model {model_name!r} ({type(self.model).__name__}) '
                f'lacks {missing}: DiST needs a ViT whose blocks output '
                'token sequences, read through forward_intermediates')
        self._has_class = getattr(self.model, 'cls_token', None) is not None
        if frame_token is None:
            frame_token = 'class' if self._has_class else 'mean_patch'
        if frame_token == 'class' and not self._has_class:
            raise ValueError(
                f'timm model {model_name!r} has no class token; use '
                "frame_token='mean_patch' (or None)")
        self.frame_token = frame_token
        self._freeze()

    def _create(self, pretrained: bool) -> torch.nn.Module:
        """Build the timm model (without classifier)."""
        return timm.create_model(
            self.model_name,
            pretrained=pretrained,
            num_classes=0,
            **self.model_kwargs)

    @property
    def tower_name(self) -> str:
        """str: e.g. ``'timm vit_base_patch16_224'``."""
        return f'timm {self.model_name}'

    @property
    def num_layers(self) -> int:
        """int: Number of transformer blocks."""
        return len(self.model.blocks)

    @property
    def width(self) -> int:
        """int: Channels D of the residual stream."""
        return self.model.num_features

    @property
    def grid_size(self) -> tuple:
        """tuple[int, int]: Patch grid (h, w)."""
        return tuple(self.model.patch_embed.grid_size)

    @property
    def patch_size(self) -> int:
        """int: Patch side in pixels."""
        return self.model.patch_embed.patch_size[0]

    @property
    def image_size(self) -> int:
        """int: Input side in pixels."""
        return self.model.patch_embed.img_size[0]

    @property
    def embed_dim(self) -> int:
        """int: :attr:`width` (a timm ViT has no paired text tower)."""
        return self.width

    @property
    def mean(self) -> tuple:
        """tuple[float, float, float]: timm's input mean, 0-255 scale."""
        return tuple(255 * m for m in self.model.pretrained_cfg['mean'])

    @property
    def std(self) -> tuple:
        """tuple[float, float, float]: timm's input std, 0-255 scale."""
        return tuple(255 * s for s in self.model.pretrained_cfg['std'])

    def init_weights(self) -> None:
        """Load ``pretrained`` (file or timm's own weights) strictly."""
        if self.pretrained is None or self.pretrained is False:
            if self.frozen:
                expect_weights_later(
                    self, 'model.backbone.spatial_encoder.pretrained')
            return
        if self.pretrained is True:
            state = self._create(pretrained=True).state_dict()
            load_tower_strict(self.model, state, self.tower_name,
                              'timm pretrained weights')
        else:
            timm.models.load_checkpoint(
                self.model, self.pretrained, strict=True)
        self._freeze()
        print_log(
            f'DiSTTimmVisual: loaded {self.tower_name} weights from '
            f'{self.pretrained}',
            logger='current')

    def _load_from_state_dict(self, state_dict, prefix, *args,
                              **kwargs) -> None:
        self.check_state_dict(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if any(k.startswith(prefix + 'model.') for k in state_dict):
            weights_loaded(self)

    def forward(self, frames: torch.Tensor,
                out_indices: Sequence[int]) -> List[torch.Tensor]:
        """Encode frames and return the residual stream of chosen blocks.

        Args:
            frames (torch.Tensor): Images, (N, 3, H, W), normalised with
                :attr:`mean` / :attr:`std`.
            out_indices (Sequence[int]): Block indices, ascending.

        Returns:
            list[torch.Tensor]: One (N, 1 + h*w, D) tensor per index.
        """
        self._check_frames(frames)
        idx = self._check_out_indices(out_indices)
        with self._grad_context():
            blocks = self.model.forward_intermediates(
                frames,
                indices=idx,
                return_prefix_tokens=self._has_class,
                norm=False,
                stop_early=True,
                output_fmt='NLC',
                intermediates_only=True)
            return canonical_tokens(blocks, self._has_class, self.frame_token)
