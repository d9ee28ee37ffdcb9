"""Frozen image tower built from mmpretrain's model registry."""
import copy
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.logging import print_log
from mmengine.runner.checkpoint import (_load_checkpoint,
                                        _load_checkpoint_with_prefix)

from mmaction.registry import MODELS
from ..utils.state_checks import (CheckpointMismatchError,
                                  expect_weights_later, weights_loaded)
from .spatial_encoder import (DiSTSpatialEncoder, RecordsTowerName,
                              canonical_tokens)

#: mmpretrain ViT classes whose own ``forward`` is not
#: ``VisionTransformer.forward`` but returns the same ``out_type='raw'``
#: token sequences (extra tokens first, then the patch grid): run through
#: that forward.
TOWER_FORWARD_FAMILIES = ('DistilledVisionTransformer', 'DeiT3', 'ViTEVA02')


def _mmpretrain():
    """Import mmpretrain's model registry, with an install hint."""
    try:
        import mmpretrain.models  # noqa: F401  (registers the models)
        from mmpretrain.models import VisionTransformer
        from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    except ImportError as e:
        raise ImportError(
            'DiSTMMPretrainViT needs mmpretrain (pinned in '
            'requirements/runtime.txt; `bash tools/install.sh` installs it): '
            f'{e}') from e
    return PRETRAIN_MODELS, VisionTransformer


@MODELS.register_module()
class DiSTMMPretrainViT(RecordsTowerName, DiSTSpatialEncoder):
    """A ViT from mmpretrain's registry as DiST's frozen image tower.

    The tower is built by mmpretrain itself from ``backbone`` (and/or the
    ``model`` section of an mmpretrain config file) with
    ``out_type='raw'`` and ``final_norm=False``, so each output is the raw
    residual stream after a block, exactly what mmpretrain's own forward
    returns for ``out_type='raw'``. Outputs are brought into DiST's layout
    (see :mod:`~projects.dist.models.backbones.spatial_encoder`): the class
    token (or, with ``with_cls_token=False``, the mean patch token) first,
    then the ``h*w`` patch tokens; other extra tokens (DeiT's distillation
    token) are dropped.

    Supported families:

    - ``VisionTransformer`` and subclasses that keep its forward (ViT,
      DINOv2 archs ``dinov2-s``/``-g`` or ``arch='base'`` with
      ``patch_size=14, layer_scale_init_value=1e-5``, CLIP-style
      ``pre_norm=True``, MoCo v3; MAE/BEiT-pretrained weights with
      VisionTransformer keys): blocks after the last requested one are not
      run, and :meth:`embed` / :meth:`forward_tokens` exist.
    - ``DistilledVisionTransformer`` (DeiT), ``DeiT3``, ``ViTEVA02``:
      mmpretrain's own forward runs every block.
    - Others (``BEiTViT``, ``MAEViT`` whose forward masks tokens, hybrid or
      windowed backbones) are refused by name.

    mmpretrain 1.2.0 has no register tokens; DINOv2 with registers is not
    in its zoo.

    Args:
        backbone (dict, optional): mmpretrain backbone config, e.g.
            ``dict(type='VisionTransformer', arch='b', patch_size=16)``
            (``type`` with or without the ``'mmpretrain.'`` scope). Keys
            here update those from ``model_config``. ``out_type`` and
            ``final_norm`` must be left out (or ``'raw'`` / False).
        model_config (str, optional): An mmpretrain config file, e.g.
            ``'mmpretrain::dinov2/vit-base-p14_dinov2-pre_headless.py'``:
            its ``model.backbone`` is the starting point and its
            ``data_preprocessor`` mean/std are the expected normalisation.
        mean (Sequence[float], optional): Input mean (RGB, 0-255 scale) the
            tower was trained with. Required without ``model_config``; if
            both give it they must agree.
        std (Sequence[float], optional): Input std, as ``mean``.
        pretrained (str, optional): Checkpoint (path or URL) of the tower,
            read by mmengine's checkpoint loader exactly as mmpretrain's
            ``init_cfg=dict(type='Pretrained', prefix=...)`` reads it
            (including mmpretrain's position-embedding resize), but strict:
            every tower tensor must be in it. Loaded in :meth:`init_weights`
            only. Defaults to None.
        pretrained_prefix (str, optional): Key prefix of the tower in
            ``pretrained`` (``'backbone.'`` for mmpretrain's model-zoo
            classifier checkpoints); None for a backbone-only state dict.
        frozen (bool): Freeze the tower. Defaults to True.
        init_cfg (dict, optional): MMEngine init config of this wrapper.
    """

    def __init__(self,
                 backbone: Optional[dict] = None,
                 model_config: Optional[str] = None,
                 mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None,
                 pretrained: Optional[str] = None,
                 pretrained_prefix: Optional[str] = 'backbone.',
                 frozen: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(frozen=frozen, init_cfg=init_cfg)
        registry, vit_class = _mmpretrain()
        cfg, cfg_mean, cfg_std = _read_model_config(model_config)
        cfg.update(copy.deepcopy(backbone or {}))
        if 'type' not in cfg:
            raise ValueError('DiSTMMPretrainViT needs backbone=dict(type=...) '
                             'or model_config=<mmpretrain config>')
        for key, wanted in (('out_type', 'raw'), ('final_norm', False)):
            if cfg.get(key, wanted) != wanted:
                raise ValueError(
                    f'DiSTMMPretrainViT sets {key}={wanted!r} itself (DiST '
                    f'reads the raw residual stream); remove {key}='
                    f'{cfg[key]!r} from the backbone config')
        if 'init_cfg' in cfg:
            raise ValueError(
                'give the tower checkpoint as DiSTMMPretrainViT('
                'pretrained=..., pretrained_prefix=...), not as the backbone '
                'init_cfg '
                f'{cfg["init_cfg"]} (loaded strictly there)')
        # the scope keeps a build under mmaction's default scope from
        # picking mmaction's own modules of the same name
        name = str(cfg['type']).split('mmpretrain.', 1)[-1]
        cfg['type'] = 'mmpretrain.' + name
        cls = registry.get(cfg['type'])
        if cls is None or not issubclass(cls, vit_class):
            raise ValueError(
                f'mmpretrain backbone type {name!r} is not a '
                'VisionTransformer of mmpretrain; supported: '
                'VisionTransformer (and subclasses keeping its forward), '
                f'{", ".join(TOWER_FORWARD_FAMILIES)}')
        self.uses_tower_forward = cls.forward is not vit_class.forward
        if (self.uses_tower_forward
                and cls.__name__ not in TOWER_FORWARD_FAMILIES):
            raise ValueError(
                f'mmpretrain {cls.__name__} has its own forward, which '
                'DiSTMMPretrainViT does not support (it may mask or reorder '
                'tokens); supported: VisionTransformer (and subclasses '
                f'keeping its forward), {", ".join(TOWER_FORWARD_FAMILIES)}')
        cfg.update(out_type='raw', final_norm=False)
        self.backbone_cfg = copy.deepcopy(cfg)
        self.tower = registry.build(cfg)
        self.tower.out_indices = list(range(self.tower.num_layers))
        self._mean = _rgb_triple('mean', mean, cfg_mean, model_config)
        self._std = _rgb_triple('std', std, cfg_std, model_config)
        self.pretrained = pretrained
        self.pretrained_prefix = pretrained_prefix
        self.frame_token = ('class' if self.tower.cls_token is not None else
                            'mean_patch')
        self.supports_token_path = not self.uses_tower_forward
        h, w = self.tower.patch_resolution
        if h != w or tuple(self.tower.img_size) != (h * self.patch_size, ) * 2:
            raise ValueError(
                f'{self.tower_name}: DiST needs a square input covered by '
                f'the patch grid, got img_size {self.tower.img_size}, patch '
                f'{self.patch_size}')
        self._freeze()

    # ------------------------------------------------------------ properties
    @property
    def tower_name(self) -> str:
        """str: ``'mmpretrain <type>(embed_dims=, num_layers=, patch=,
        img=)'``, from the architecture only (not the weights file)."""
        t = self.tower
        name = self.backbone_cfg['type'].split('.', 1)[-1]
        return (f'mmpretrain {name}(embed_dims='
                f'{t.embed_dims}, num_layers={t.num_layers}, patch='
                f'{self.patch_size}, img={t.img_size[0]})')

    @property
    def num_layers(self) -> int:
        """int: Number of transformer blocks."""
        return self.tower.num_layers

    @property
    def width(self) -> int:
        """int: Channels D of the residual stream."""
        return self.tower.embed_dims

    @property
    def grid_size(self) -> Tuple[int, int]:
        """tuple[int, int]: Patch grid (h, w) at :attr:`image_size`."""
        return tuple(self.tower.patch_resolution)

    @property
    def patch_size(self) -> int:
        """int: Patch side in pixels."""
        return self.tower.patch_embed.projection.kernel_size[0]

    @property
    def image_size(self) -> int:
        """int: Input side in pixels (the backbone's ``img_size``)."""
        return self.tower.img_size[0]

    @property
    def embed_dim(self) -> int:
        """int: :attr:`width` (no paired text tower)."""
        return self.width

    @property
    def mean(self) -> Tuple[float, float, float]:
        """tuple[float, float, float]: Input mean, 0-255 scale, RGB."""
        return self._mean

    @property
    def std(self) -> Tuple[float, float, float]:
        """tuple[float, float, float]: Input std, 0-255 scale, RGB."""
        return self._std

    @property
    def num_prefix_tokens(self) -> int:
        """int: Leading non-patch tokens of the tower (class, distillation
        token)."""
        return self.tower.num_extra_tokens

    # ------------------------------------------------------------ loading
    def init_weights(self) -> None:
        """Load ``pretrained`` into the tower, strictly.

        The final norm (``ln1``) and classifier of a model-zoo checkpoint
        are not used by DiST and are skipped. Without ``pretrained`` a
        frozen tower keeps mmpretrain's random init and warns at its first
        forward unless a checkpoint fills it before.
        """
        if self.pretrained is None:
            if self.frozen:
                expect_weights_later(
                    self, 'model.backbone.spatial_encoder.pretrained')
            return
        if self.pretrained_prefix:
            state = _load_checkpoint_with_prefix(
                self.pretrained_prefix, self.pretrained, map_location='cpu')
        else:
            state = _load_checkpoint(self.pretrained, map_location='cpu')
            state = state.get('state_dict', state)
        state = {k: v for k, v in state.items() if not k.startswith('ln1.')}
        missing, unexpected = self.tower.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise CheckpointMismatchError(
                f'{self.pretrained} (prefix {self.pretrained_prefix!r}) does '
                f'not fit {self.tower_name}: missing {missing[:5]}'
                f'{"..." if len(missing) > 5 else ""}, unexpected '
                f'{unexpected[:5]}{"..." if len(unexpected) > 5 else ""}; '
                'check the backbone config and pretrained_prefix')
        self._freeze()
        weights_loaded(self)
        print_log(
            f'DiSTMMPretrainViT: loaded {self.tower_name} weights from '
            f'{self.pretrained}',
            logger='current')

    def _load_from_state_dict(self, state_dict, prefix, *args,
                              **kwargs) -> None:
        self.check_state_dict(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if any(k.startswith(prefix + 'tower.') for k in state_dict):
            weights_loaded(self)

    # ------------------------------------------------------------ forward
    def forward(self, frames: torch.Tensor,
                out_indices: Sequence[int]) -> List[torch.Tensor]:
        """Encode frames; return the residual stream of chosen blocks.

        Args:
            frames (torch.Tensor): Images, (N, 3, H, W), normalised with
                :attr:`mean` / :attr:`std`, ``H == W == image_size``.
            out_indices (Sequence[int]): Distinct ascending block indices.

        Returns:
            list[torch.Tensor]: One (N, 1 + h*w, D) tensor per index.
        """
        idx = self._check_out_indices(out_indices)
        self._check_frames(frames)
        with self._grad_context():
            if not self.uses_tower_forward:
                return self.forward_tokens(self.embed(frames), idx)
            outs = self.tower(frames)  # raw, one per block
            return [self._canonical(outs[i]) for i in idx]

    def _canonical(self, tokens: torch.Tensor) -> torch.Tensor:
        """One block's raw sequence in DiST's token layout.

        Args:
            tokens (torch.Tensor): (N, num_prefix_tokens + h*w, D): the
                class token (if any), other prefix tokens (e.g. DeiT's
                distillation token), then the patch tokens.

        Returns:
            torch.Tensor: (N, 1 + h*w, D).
        """
        p = self.num_prefix_tokens
        item = (tokens[:, p:], tokens[:, :p]) if p else tokens
        has_class = self.frame_token == 'class'
        return canonical_tokens([item], has_class, self.frame_token)[0]

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """Patch-embed frames as ``VisionTransformer.forward`` does: patch
        embedding, class token, position embedding, dropout, ``pre_norm``.

        Args:
            frames (torch.Tensor): Images, (N, 3, H, W).

        Returns:
            torch.Tensor: Tokens in the tower's layout,
            (N, num_prefix_tokens + h*w, D).
        """
        if self.uses_tower_forward:
            raise NotImplementedError(self._no_token_path())
        from mmpretrain.models.utils import resize_pos_embed
        self._check_frames(frames)
        t = self.tower
        with self._grad_context():
            x, resolution = t.patch_embed(frames)
            if t.cls_token is not None:
                x = torch.cat((t.cls_token.expand(x.shape[0], -1, -1), x),
                              dim=1)
            x = x + resize_pos_embed(
                t.pos_embed,
                t.patch_resolution,
                resolution,
                mode=t.interpolate_mode,
                num_extra_tokens=t.num_extra_tokens)
            return t.pre_norm(t.drop_after_pos(x))

    def forward_tokens(self, tokens: torch.Tensor,
                       out_indices: Sequence[int]) -> List[torch.Tensor]:
        """Run the blocks on :meth:`embed` output; blocks after the last
        requested one are not run.

        Args:
            tokens (torch.Tensor): (N, num_prefix_tokens + h*w, D).
            out_indices (Sequence[int]): Distinct ascending block indices.

        Returns:
            list[torch.Tensor]: One (N, 1 + h*w, D) tensor per index.
        """
        if self.uses_tower_forward:
            raise NotImplementedError(self._no_token_path())
        idx = self._check_out_indices(out_indices)
        wanted = set(idx)
        outs = []
        x = tokens
        with self._grad_context():
            for i, layer in enumerate(self.tower.layers[:idx[-1] + 1]):
                x = layer(x)
                if i in wanted:
                    outs.append(self._canonical(x))
        return outs


def _read_model_config(path: Optional[str]) -> tuple:
    """Backbone config and data-preprocessor mean/std of an mmpretrain
    config file (``'mmpretrain::...'`` or a path); empty without one."""
    if path is None:
        return {}, None, None
    from mmengine.config import Config
    from mmengine.hub import get_config
    cfg = get_config(path) if '::' in path else Config.fromfile(path)
    model = cfg.get('model', {})
    if 'backbone' not in model:
        raise ValueError(f'mmpretrain config {path} has no model.backbone')
    backbone = copy.deepcopy(model['backbone'].to_dict(
    ) if hasattr(model['backbone'], 'to_dict') else dict(model['backbone']))
    prep = cfg.get('data_preprocessor') or model.get('data_preprocessor', {})
    return backbone, prep.get('mean'), prep.get('std')


def _rgb_triple(name: str, given: Optional[Sequence[float]],
                from_config: Optional[Sequence[float]],
                model_config: Optional[str]) -> Tuple[float, float, float]:
    """The expected normalisation ``name`` from the argument and/or the
    mmpretrain config; raise when absent, malformed or contradictory."""
    if given is None and from_config is None:
        raise ValueError(
            f'DiSTMMPretrainViT needs the input {name} the tower was trained '
            f'with: pass {name}=[R, G, B] (0-255 scale) or a model_config '
            'whose data_preprocessor has it')
    value = tuple(
        float(v) for v in (given if given is not None else from_config))
    if len(value) != 3:
        raise ValueError(f'{name} must hold 3 values (RGB), got {value}')
    if given is not None and from_config is not None and tuple(
            float(v) for v in from_config) != value:
        raise ValueError(
            f'{name}={list(value)} contradicts the data_preprocessor {name} '
            f'{list(from_config)} of {model_config}')
    return value
