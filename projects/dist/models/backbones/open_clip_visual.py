"""Any open_clip image tower, configured by open_clip's own model config."""
import os.path as osp
from typing import List, Optional, Sequence

import open_clip
import torch
from mmengine.logging import print_log
from open_clip.timm_model import TimmModel
from open_clip.transformer import VisionTransformer

from mmaction.registry import MODELS
from ..utils.clip_checkpoint import load_tower_strict
from ..utils.state_checks import expect_weights_later, weights_loaded
from .spatial_encoder import (DiSTSpatialEncoder, RecordsTowerName,
                              canonical_tokens)


def resolve_open_clip_tower(model_name: str,
                            pretrained: Optional[str] = None) -> dict:
    """Read what open_clip itself says about a model and pretrained tag.

    Args:
        model_name (str): An open_clip model name (``open_clip.list_models()``
            or one added with ``open_clip.add_model_config``), e.g.
            ``'ViT-B-16'``.
        pretrained (str, optional): An open_clip pretrained tag of that model
            (``open_clip.list_pretrained_tags_by_model``) or a weights file.

    Returns:
        dict: ``model_cfg`` (open_clip's model config), ``tag_cfg`` (the
        tag's pretrained config, ``{}`` for a file or no weights) and
        ``quick_gelu`` (bool): the activation the weights were trained with:
        the tag's ``quick_gelu`` when a tag is given, else the model
        config's.
    """
    model_cfg = open_clip.get_model_config(model_name)
    if model_cfg is None:
        raise KeyError(
            f'open_clip has no model config named {model_name!r}; use a '
            'name from open_clip.list_models() (e.g. ViT-B-16, '
            'ViT-B-16-quickgelu) or register a config file with '
            'open_clip.add_model_config')
    tag_cfg = {}
    if pretrained is not None and not osp.isfile(pretrained):
        file_like = osp.sep in pretrained or pretrained.endswith(
            ('.pt', '.pth', '.bin', '.safetensors'))
        if file_like:
            raise FileNotFoundError(
                f'open_clip weights file not found: {pretrained}')
        tag_cfg = open_clip.get_pretrained_cfg(model_name, pretrained)
        if not tag_cfg:
            raise KeyError(
                f'{pretrained!r} is neither a file nor an open_clip '
                f'pretrained tag of {model_name!r}; its tags are '
                f'{open_clip.list_pretrained_tags_by_model(model_name)}')
    model_qg = bool(model_cfg.get('quick_gelu', False))
    quick_gelu = bool(tag_cfg.get('quick_gelu', False)) if tag_cfg \
        else model_qg
    return dict(model_cfg=model_cfg, tag_cfg=tag_cfg, quick_gelu=quick_gelu)


def create_open_clip_model(model_name: str,
                           quick_gelu: bool,
                           pretrained: Optional[str] = None):
    """Build an open_clip model with the given activation.

    Args:
        model_name (str): open_clip model name.
        quick_gelu (bool): Build QuickGELU (True) or the model config's
            GELU (False) blocks.
        pretrained (str, optional): Tag or file, loaded by open_clip
            (strictly); None builds random weights without downloads.

    Returns:
        nn.Module: open_clip's ``CLIP`` / ``CustomTextCLIP``.
    """
    return open_clip.create_model(
        model_name,
        pretrained=pretrained,
        pretrained_image=False,
        pretrained_text=False,
        require_pretrained=pretrained is not None,
        quick_gelu=quick_gelu,
        # the default device: 'meta' when a model is built for counting
        device=torch.get_default_device())


@MODELS.register_module()
class DiSTOpenCLIPVisual(RecordsTowerName, DiSTSpatialEncoder):
    """An open_clip image tower, frozen, of any model name and tag.

    Architecture, activation (GELU or QuickGELU), image size, input
    normalisation and joint embedding size come from open_clip's model
    config (``open_clip.get_model_config(model_name)``) and, for a
    pretrained tag, its pretrained config
    (``open_clip.get_pretrained_cfg``): the tag decides the activation, so
    ``model_name='ViT-B-16', pretrained='openai'`` runs QuickGELU and
    ``pretrained='laion2b_s34b_b88k'`` GELU. With a weights file the model
    config decides (name a ``-quickgelu`` model for QuickGELU weights).

    Tokens come from open_clip's public ``forward_intermediates`` of the
    tower: open_clip's own ``VisionTransformer`` (class token first) or a
    ``TimmModel`` ViT trunk (SigLIP, EVA02, ...: register tokens are dropped;
    a trunk without class token gives the mean patch token as frame token).
    Other towers (ModifiedResNet, ConvNeXt, ...) are refused by name: they
    have no per-block token sequence.

    Args:
        model_name (str): open_clip model name, e.g. ``'ViT-B-16'``.
        pretrained (str, optional): open_clip pretrained tag or weights file
            (full open_clip model), loaded in :meth:`init_weights` by
            open_clip. Defaults to None (random weights, e.g. filled by a
            DiST checkpoint).
        frozen (bool): Freeze the tower. Defaults to True.
        mean (Sequence[float], optional): Input mean (0-255 scale) the
            weights were trained with, for a weights file whose
            normalisation is not open_clip's default (OpenAI's); a tag's own
            mean cannot be overridden. Defaults to None.
        std (Sequence[float], optional): Likewise for the std.
        init_cfg (dict, optional): MMEngine init config. Defaults to None.
    """

    def __init__(self,
                 model_name: str = 'ViT-B-16',
                 pretrained: Optional[str] = None,
                 frozen: bool = True,
                 mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(frozen=frozen, init_cfg=init_cfg)
        info = resolve_open_clip_tower(model_name, pretrained)
        if info['tag_cfg'] and (mean is not None or std is not None):
            raise ValueError(
                f'mean/std are set by the open_clip tag {pretrained!r} of '
                f'{model_name!r} ({info["tag_cfg"]["mean"]}, '
                f'{info["tag_cfg"]["std"]} on the 0-1 scale); remove them '
                'from the spatial encoder config')
        self.model_name = model_name
        self.pretrained = pretrained
        self.quick_gelu = info['quick_gelu']
        self._embed_dim = int(info['model_cfg']['embed_dim'])
        pre = info['tag_cfg']
        self._mean = tuple(
            float(m) for m in mean) if mean is not None else tuple(
                255 * m
                for m in pre.get('mean', open_clip.OPENAI_DATASET_MEAN))
        self._std = tuple(float(s) for s in std) if std is not None else tuple(
            255 * s for s in pre.get('std', open_clip.OPENAI_DATASET_STD))
        model = create_open_clip_model(model_name, self.quick_gelu)
        self.visual = model.visual
        self._describe_tower()
        self._freeze()

    def _describe_tower(self) -> None:
        """Read depth, width, grid and prefix tokens, or refuse the tower."""
        v = self.visual
        if isinstance(v, VisionTransformer):
            self._num_layers = v.transformer.layers
            self._width = v.transformer.width
            self._grid = tuple(v.grid_size)
            self._patch = v.patch_size[0]
            self._size = v.image_size[0]
            self._has_class = True  # open_clip's ViT always has one
            self.frame_token = 'class'
            return
        trunk = getattr(v, 'trunk', None)
        if not isinstance(v, TimmModel) or not all(
                hasattr(trunk, a)
                for a in ('patch_embed', 'blocks', 'num_prefix_tokens',
                          'forward_intermediates')):
            kind = type(trunk if isinstance(v, TimmModel) else v).__name__
            raise ValueError(
                f'open_clip model {self.model_name!r} has a {kind} image '
                'tower: DiST needs a ViT whose blocks output token sequences '
                '(open_clip VisionTransformer or a timm ViT trunk); '
                f'{kind} has none')
        if self.quick_gelu:
            raise ValueError(
                f'open_clip model {self.model_name!r} with weights '
                f'{self.pretrained!r} asks for QuickGELU, but its timm '
                f'trunk {type(trunk).__name__} always runs its own '
                'activation (open_clip ignores quick_gelu for timm towers)')
        self._num_layers = len(trunk.blocks)
        self._width = trunk.num_features
        self._grid = tuple(trunk.patch_embed.grid_size)
        self._patch = trunk.patch_embed.patch_size[0]
        self._size = v.image_size[0]
        self._has_class = getattr(trunk, 'cls_token', None) is not None
        self.frame_token = 'class' if self._has_class else 'mean_patch'

    @property
    def tower_name(self) -> str:
        """str: e.g. ``'open_clip ViT-B-16 (GELU)'``."""
        act = 'QuickGELU' if self.quick_gelu else 'GELU'
        return f'open_clip {self.model_name} ({act})'

    @property
    def num_layers(self) -> int:
        """int: Number of transformer blocks."""
        return self._num_layers

    @property
    def width(self) -> int:
        """int: Channels D of the residual stream."""
        return self._width

    @property
    def grid_size(self) -> tuple:
        """tuple[int, int]: Patch grid (h, w)."""
        return self._grid

    @property
    def patch_size(self) -> int:
        """int: Patch side in pixels."""
        return self._patch

    @property
    def image_size(self) -> int:
        """int: Input side in pixels."""
        return self._size

    @property
    def embed_dim(self) -> int:
        """int: open_clip joint image-text embedding size."""
        return self._embed_dim

    @property
    def mean(self) -> tuple:
        """tuple[float, float, float]: Input mean, 0-255 scale."""
        return self._mean

    @property
    def std(self) -> tuple:
        """tuple[float, float, float]: Input std, 0-255 scale."""
        return self._std

    def init_weights(self) -> None:
        """Load ``pretrained`` through open_clip, then copy its image tower
        strictly.

        Without ``pretrained`` a frozen tower keeps its random weights;
        unless a checkpoint fills it before its first forward, that forward
        logs a WARNING naming ``model.backbone.spatial_encoder.pretrained``.
        """
        if self.pretrained is None:
            if self.frozen:
                expect_weights_later(
                    self, 'model.backbone.spatial_encoder.pretrained')
            return
        model = create_open_clip_model(self.model_name, self.quick_gelu,
                                       self.pretrained)
        load_tower_strict(self.visual, model.visual.state_dict(),
                          f'{self.tower_name} image tower', self.pretrained)
        self._freeze()
        print_log(
            f'DiSTOpenCLIPVisual: loaded {self.tower_name} weights from '
            f'{self.pretrained}',
            logger='current')

    def _load_from_state_dict(self, state_dict, prefix, *args,
                              **kwargs) -> None:
        self.check_state_dict(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if any(k.startswith(prefix + 'visual.') for k in state_dict):
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
            out = self.visual.forward_intermediates(
                frames,
                indices=idx,
                stop_early=True,
                intermediates_only=True,
                output_fmt='NLC',
                output_extra_tokens=self._has_class)
            blocks = out['image_intermediates']
            if self._has_class:
                blocks = list(zip(blocks, out['image_intermediates_prefix']))
            return canonical_tokens(blocks, self._has_class, self.frame_token)
