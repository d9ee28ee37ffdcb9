"""DiST backbone: frozen CLIP spatial encoder + temporal encoder +
integration branch + ada-pooling aggregator."""
from typing import Callable, List, NamedTuple, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch.utils.checkpoint import checkpoint

from mmaction.registry import MODELS
from ..layers import (AdaPoolingAggregator, IntegrationBlock,
                      IntegrationToTemporal, TemporalBlock,
                      TemporalToIntegration)
from ..utils.head_fit import watch_embedding_consumer
from ..utils.precision import autocast_dtype
from ..utils.state_checks import (CheckpointMismatchError, check_complete,
                                  check_count)
from .spatial_encoder import check_spatial_encoder


class ProjectedFeatures(NamedTuple):
    """The frozen tower's outputs for some spatial frames, as the side
    network takes them in: per-frame work that does not depend on the clip.

    Row ``n`` of every tensor belongs to the same spatial frame, so rows can
    be cached per frame and stacked into clips (b-major, ``Ts`` rows a clip).

    Attributes:
        tokens (list[torch.Tensor]): One (N, L, C_i) tensor per selected
            block: ``input_projs[i]`` applied to its outputs.
        cls (torch.Tensor): (N, D) token 0 of the last selected block's
            outputs (the aggregator's CLIP class token).
    """
    tokens: List[torch.Tensor]
    cls: torch.Tensor


@MODELS.register_module()
class DiST(BaseModule):
    """DiST video encoder (Qing et al., ICCV 2023).

    `Disentangling Spatial and Temporal Learning for Efficient Image-to-Video
    Transfer Learning <https://arxiv.org/abs/2309.07911>`_.

    Data flow for a clip of ``T = num_frames`` frames, ``Ts = T / alpha``::

        clip (B,3,T,H,W) ──every alpha-th frame──> frozen CLIP ViT (no grad)
          │                                        │ block outputs f_i
          │                                        v   (B*Ts, L, D)
          └─> temporal stem (B,Ct,T,h,w)      input_projs[i]: D -> Ci
              │                                    │ z_i = proj(f_i) + r_{i-1}
              T-Block_i ──── temporal->integration ┼──> z'_i = z_i + t2i
              │   <──── integration->temporal ─────┘    r_i = I-Block_i(z'_i)
              v (next layer)                        F = r_last + z'_last
                                                    │
        ada-pooling(F) + Linear(mean CLS of last selected block) -> LN -> proj
                                                    v
                                      video embedding (B, E) in CLIP space

    Both exchange directions read the pre-exchange tensors. Only the side
    network (everything but ``spatial_encoder``) has trainable parameters.

    Output contract: one pooled embedding per clip, (B, E). Heads that take
    (N, in_channels) features fit (``DiSTTextHead``, ``TimeSformerHead``,
    ``I3DHead(spatial_type=None)``); heads that pool a feature map
    (``I3DHead``, ``X3DHead``) or need ``num_segs`` (``TSNHead``,
    ``TSMHead``) do not. At the first forward the module that receives the
    embedding is checked once, and such a head, or one whose
    ``in_channels`` is not E, raises an error saying so (see
    :func:`~projects.dist.models.utils.head_fit.check_head_fits`).
    Input: clips (B, 3, T, H, W) as ``Recognizer3D`` with
    ``FormatShape(input_format='NCTHW')`` delivers them.

    Args:
        spatial_encoder (dict): Config of the frozen image tower, any
            implementation of the interface in
            :mod:`~projects.dist.models.backbones.spatial_encoder`
            (``DiSTCLIPVisual``, ``DiSTOpenCLIPVisual``, ``DiSTTimmVisual``,
            ...). Token 0 of its outputs (class token or the tower's stated
            substitute) feeds the CLS shortcut. Defaults to
            ``dict(type='DiSTCLIPVisual', arch='ViT-B/16')``.
        num_frames (int): Frames T of the input clip (the temporal stream's
            frame count). Defaults to 16.
        alpha (int): Temporal frames per spatial frame; CLIP sees frames
            ``0, alpha, 2*alpha, ...``. Defaults to 2.
        selected_layers (Sequence[int], optional): CLIP blocks feeding the
            integration branch, ascending; position ``k`` here is DiST layer
            ``k``. None selects every block. Defaults to None.
        integration_dim (int): Channels C_i of the integration branch.
            Defaults to 384.
        temporal_dim (int): Channels C_t of the temporal encoder.
            Defaults to 96.
        spatial_patch_size (int, optional): Spatial patch of the temporal
            stem; None uses the CLIP patch size (the grids must match).
            Defaults to None.
        temporal_patch_size (int): Temporal kernel of the stem (odd).
            Defaults to 5.
        temporal_kernel_size (int): Temporal kernel of the T-Blocks.
            Defaults to 3.
        integration_kernel_size (int, optional): Temporal kernel of the
            I-Blocks' temporal MLP; None means ``temporal_kernel_size``.
        temporal_mlp_ratio (float): T-Block hidden ratio. Defaults to 1.
        integration_mlp_ratio (float): I-Block token-MLP ratio. Defaults to 1.
        integration_temporal_mlp_ratio (float): I-Block temporal-MLP ratio.
            Defaults to 0.25.
        num_ada_layers (int): Ada-pooling layers (4 for K400, 2 for SSv2 in
            the paper's configs). Defaults to 4.
        ada_heads (int, optional): Ada-pooling heads; ``integration_dim //
            64`` if None.
        ada_mlp_ratio (float): Ada-pooling MLP ratio. Defaults to 4.
        output_dim (int, optional): Video embedding size E; None uses the
            tower's ``embed_dim`` (the joint image-text size of CLIP-style
            towers, required by the text classifier).
        init_std (float): Std of the truncated-normal init of the side
            network's linear/conv weights and tokens. Defaults to 0.02.
        subsample_before_embedding (bool): Drop the frames CLIP does not
            see before patch embedding (identical results, cheaper). False
            embeds all T frames and drops them after ``ln_pre`` as the
            official code does (kept to measure the saving).
            Defaults to True.
        fused_attention (bool): Fused attention kernels in the ada-pooling
            layers. Defaults to True.
        ada_fold_queries (bool): Ada-pooling attention without projecting
            every token to keys/values (exact rearrangement, ~0.46 GMACs less
            per ada-pooling layer at ViT-B/16 8+16). Defaults to True.
        channels_last (bool): Keep the temporal stream in channels-last
            (``torch.channels_last_3d``) storage. Defaults to True.
        with_cp (bool): Activation checkpointing of the T-Blocks, I-Blocks
            and ada-pooling layers during training (less memory, ~1/3 more
            side-network compute). Defaults to False.
        init_cfg (dict, optional): MMEngine init config. Defaults to None.
    """

    #: checks its own tensors when loaded (see utils/state_checks.py)
    checks_own_load = True

    def __init__(self,
                 spatial_encoder: dict = dict(
                     type='DiSTCLIPVisual', arch='ViT-B/16'),
                 num_frames: int = 16,
                 alpha: int = 2,
                 selected_layers: Optional[Sequence[int]] = None,
                 integration_dim: int = 384,
                 temporal_dim: int = 96,
                 spatial_patch_size: Optional[int] = None,
                 temporal_patch_size: int = 5,
                 temporal_kernel_size: int = 3,
                 integration_kernel_size: Optional[int] = None,
                 temporal_mlp_ratio: float = 1.0,
                 integration_mlp_ratio: float = 1.0,
                 integration_temporal_mlp_ratio: float = 0.25,
                 num_ada_layers: int = 4,
                 ada_heads: Optional[int] = None,
                 ada_mlp_ratio: float = 4.0,
                 output_dim: Optional[int] = None,
                 init_std: float = 0.02,
                 subsample_before_embedding: bool = True,
                 fused_attention: bool = True,
                 ada_fold_queries: bool = True,
                 channels_last: bool = True,
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.spatial_encoder = MODELS.build(spatial_encoder)
        check_spatial_encoder(self.spatial_encoder)
        depth = self.spatial_encoder.num_layers
        clip_dim = self.spatial_encoder.width
        if alpha < 1 or num_frames % alpha:
            raise ValueError(f'num_frames ({num_frames}) must be a positive '
                             f'multiple of alpha ({alpha})')
        if selected_layers is None:
            selected_layers = range(depth)
        selected_layers = tuple(int(i) for i in selected_layers)
        if (not selected_layers
                or list(selected_layers) != sorted(set(selected_layers))
                or selected_layers[0] < 0 or selected_layers[-1] >= depth):
            raise ValueError(
                f'selected_layers must be distinct ascending CLIP block '
                f'indices in [0, {depth - 1}], got {list(selected_layers)}')
        tower = self.spatial_encoder
        spatial_patch_size = spatial_patch_size or tower.patch_size
        grid = tower.grid_size
        image_size = tower.image_size
        if image_size % spatial_patch_size or (image_size //
                                               spatial_patch_size) != grid[0]:
            raise ValueError(
                f'temporal stem patch {spatial_patch_size} gives a '
                f'{image_size // spatial_patch_size}-wide grid at '
                f'{image_size} px but the CLIP tower has a {grid[0]}-wide '
                f'grid; use spatial_patch_size={tower.patch_size}')
        if not subsample_before_embedding and not tower.supports_token_path:
            raise ValueError(
                f'subsample_before_embedding=False needs a spatial encoder '
                f'with a separate patch-embedding step (embed/forward_tokens)'
                f'; {tower.tower_name} has none: use '
                'subsample_before_embedding=True (same results)')
        if temporal_patch_size % 2 != 1:
            raise ValueError('temporal_patch_size must be odd, got '
                             f'{temporal_patch_size}')

        self.num_frames = num_frames
        self.alpha = alpha
        self.num_spatial_frames = num_frames // alpha
        self.selected_layers = selected_layers
        self.init_std = init_std
        self.subsample_before_embedding = subsample_before_embedding
        self.with_cp = with_cp
        self.channels_last = channels_last
        self._consumer_checked = False  # see watch_embedding_consumer
        n_sel = len(selected_layers)
        ts = self.num_spatial_frames
        integration_kernel_size = (
            integration_kernel_size or temporal_kernel_size)

        # temporal encoder
        self.temporal_stem = nn.Conv3d(
            3,
            temporal_dim,
            kernel_size=(temporal_patch_size, spatial_patch_size,
                         spatial_patch_size),
            stride=(1, spatial_patch_size, spatial_patch_size),
            padding=(temporal_patch_size // 2, 0, 0))
        self.temporal_blocks = nn.ModuleList(
            TemporalBlock(temporal_dim, temporal_mlp_ratio,
                          temporal_kernel_size) for _ in range(n_sel))
        # integration branch
        self.input_projs = nn.ModuleList(
            nn.Linear(clip_dim, integration_dim) for _ in range(n_sel))
        self.to_temporal = nn.ModuleList(
            IntegrationToTemporal(integration_dim, temporal_dim, alpha)
            # the last layer's integration->temporal output would be unused
            for _ in range(n_sel - 1))
        self.to_integration = nn.ModuleList(
            TemporalToIntegration(temporal_dim, integration_dim, alpha, ts)
            for _ in range(n_sel))
        self.integration_blocks = nn.ModuleList(
            IntegrationBlock(integration_dim, integration_mlp_ratio,
                             integration_temporal_mlp_ratio,
                             integration_kernel_size) for _ in range(n_sel))
        self.aggregator = AdaPoolingAggregator(
            integration_dim,
            clip_dim,
            output_dim or tower.embed_dim,
            ts,
            num_layers=num_ada_layers,
            num_heads=ada_heads,
            mlp_ratio=ada_mlp_ratio,
            fused_attention=fused_attention,
            fold_queries=ada_fold_queries,
            with_cp=with_cp)

    @property
    def output_dim(self) -> int:
        """int: Size E of the video embedding."""
        return self.aggregator.proj.shape[1]

    def init_weights(self) -> None:
        """Initialise the side network, then the spatial encoder.

        Linear/conv weights and the learned tokens get a truncated normal
        (std ``init_std``), biases zero, LayerNorms (1, 0), attention input
        projections Xavier-uniform; ``aggregator.proj`` keeps its
        ``randn * C_i**-0.5`` init. The spatial encoder loads its pretrained
        weights (if configured) in its own ``init_weights``.
        """
        std = self.init_std
        for name, m in self.named_modules():
            if name.startswith('spatial_encoder'):
                continue  # the frozen tower keeps CLIP's own init/weights
            if isinstance(m, (nn.Linear, nn.Conv3d)):
                trunc_normal_(m.weight, std=std)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif hasattr(m, 'in_proj_weight'):  # CrossAttention
                nn.init.xavier_uniform_(m.in_proj_weight)
                nn.init.zeros_(m.in_proj_bias)
        for name, p in self.named_parameters():
            if not name.startswith('spatial_encoder') and name.endswith(
                ('cls_token', 'positional_embedding', 'spatial_query',
                 'video_query')):
                trunc_normal_(p, std=std)
        self.spatial_encoder.init_weights()
        self._is_init = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode a batch of clips.

        Same as ``forward_side_network(x, spatial_features(x))``.

        Args:
            x (torch.Tensor): Clips, (B, 3, T, H, W), CLIP-normalised, with
                ``T == num_frames``.

        Returns:
            torch.Tensor: Video embeddings, (B, E).
        """
        self._check_clip(x)
        return self.forward_side_network(x, self.spatial_features(x))

    def forward_side_network(self, x: torch.Tensor,
                             feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """Run the trainable side network on given frozen-tower features.

        The frozen tower sees each spatial frame on its own, so its outputs
        for a frame can be computed once and reused by every clip that
        contains the frame (long and live video); this method takes them
        ready-made. Each block's input projection runs just before the
        block (one projected layer alive at a time).

        Args:
            x (torch.Tensor): Clips, (B, 3, T, H, W), as for :meth:`forward`
                (the temporal stream's input).
            feats (Sequence[torch.Tensor]): What :meth:`spatial_features`
                returns for ``x``: one (B*Ts, L, D) tensor per selected
                block, rows b-major (clip b's spatial frame j at row
                ``b * Ts + j``).

        Returns:
            torch.Tensor: Video embeddings, (B, E).
        """
        self._check_feats(feats)
        return self._side_network(x, lambda i: self._project(i, feats[i]),
                                  feats[-1][:, 0])

    def project_features(self,
                         feats: Sequence[torch.Tensor]) -> ProjectedFeatures:
        """Apply the integration branch's input projections to tower
        outputs: the part of the side network that works on each spatial
        frame alone (``z_i = input_projs[i](f_i)``, before any exchange with
        the temporal stream).

        Args:
            feats (Sequence[torch.Tensor]): One (N, L, D) tensor per
                selected block (:meth:`spatial_features` of any frames).

        Returns:
            ProjectedFeatures: (N, L, C_i) per block and the (N, D) class
            token of the last one; feed clips of them to
            :meth:`forward_projected`.
        """
        self._check_feats(feats)
        return ProjectedFeatures(
            [self._project(i, f) for i, f in enumerate(feats)], feats[-1][:,
                                                                          0])

    def forward_projected(self, x: torch.Tensor,
                          projected: ProjectedFeatures) -> torch.Tensor:
        """Run the side network on projected tower features.

        ``forward_projected(x, project_features(feats))`` equals
        ``forward_side_network(x, feats)``.

        Args:
            x (torch.Tensor): Clips, (B, 3, T, H, W).
            projected (ProjectedFeatures): Rows b-major, ``B*Ts`` of them.

        Returns:
            torch.Tensor: Video embeddings, (B, E).
        """
        self._check_feats(projected.tokens)
        return self._side_network(x, projected.tokens.__getitem__,
                                  projected.cls)

    def _check_feats(self, feats: Sequence[torch.Tensor]) -> None:
        if len(feats) != len(self.selected_layers):
            raise ValueError(
                f'expected {len(self.selected_layers)} spatial feature '
                f'tensors (one per selected layer), got {len(feats)}')

    def _project(self, i: int, f: torch.Tensor) -> torch.Tensor:
        """``input_projs[i](f)``: (N, L, D) -> (N, L, C_i)."""
        # a reduced-precision tower's outputs meet the side network's float32
        # products: under autocast those cast their inputs themselves (to the
        # tower's dtype, so nothing is converted); without it they are cast
        # here, one layer at a time
        if autocast_dtype(f.device.type) is None:
            f = f.to(self.temporal_stem.weight.dtype)
        return self.input_projs[i](f)

    def _side_network(self, x: torch.Tensor, projected: Callable[[int],
                                                                 torch.Tensor],
                      clip_cls: torch.Tensor) -> torch.Tensor:
        """The side network after the input projections.

        Args:
            x (torch.Tensor): Clips, (B, 3, T, H, W).
            projected (callable): Layer ``i`` to its (B*Ts, L, C_i) input
                projection ``z_i``.
            clip_cls (torch.Tensor): (B*Ts, D) CLIP class token of the last
                selected block.

        Returns:
            torch.Tensor: Video embeddings, (B, E).
        """
        self._check_clip(x)
        b, _, t, h, w = x.shape
        ts = self.num_spatial_frames
        dtype = self.temporal_stem.weight.dtype

        xt = self.temporal_stem(x.to(dtype))  # (B, C_t, T, h', w')
        # channels-last storage: the T-Blocks' channel LayerNorm and the
        # temporal->integration token layout become views, and the oneDNN
        # convolutions run without layout reorders
        if self.channels_last:
            xt = xt.contiguous(memory_format=torch.channels_last_3d)
        if xt.shape[-2:] != self.spatial_encoder.grid_size:
            raise ValueError(
                f'temporal grid {tuple(xt.shape[-2:])} != CLIP grid '
                f'{self.spatial_encoder.grid_size} for input {(h, w)}')
        residual = None
        n_sel = len(self.selected_layers)
        for i in range(n_sel):
            xt = self._run(self.temporal_blocks[i], xt)
            z = projected(i)  # (B*Ts, L, C_i)
            if residual is not None:
                z = z + residual
            # simultaneous exchange: both directions read xt and z as they
            # are now
            z_in = z + self.to_integration[i](xt)
            if i < n_sel - 1:
                to_temporal = self.to_temporal[i]
                xt = to_temporal.add_to(xt, to_temporal(z, b))
            residual = self._run(self.integration_blocks[i], z_in, b)
        tokens = residual + z_in  # F, (B*Ts, L, C_i)
        clip_cls = clip_cls.to(dtype).view(b, ts, -1)  # (B, Ts, D)
        out = self.aggregator(tokens, clip_cls)  # (B, E)
        if not self._consumer_checked:
            self._consumer_checked = True
            watch_embedding_consumer(out, type(self).__name__)
        return out

    def _check_clip(self, x: torch.Tensor) -> None:
        """Raise a clear error for input that is not (B, 3, T, H, W) with
        ``T == num_frames``."""
        if x.dim() != 5 or x.shape[1] != 3:
            raise ValueError('DiST expects clips of shape (B, 3, T, H, W), '
                             f'got {tuple(x.shape)}{self._shape_hint(x)}')
        if x.shape[2] != self.num_frames:
            raise ValueError(f'clip has {x.shape[2]} frames but DiST was '
                             f'configured with num_frames={self.num_frames}')

    @staticmethod
    def _shape_hint(x: torch.Tensor) -> str:
        """How to fix an input that is not (B, 3, T, H, W)."""
        if x.dim() == 4:
            return ('; a 4-D input is a batch of single frames, as a 2-D '
                    'recipe (Recognizer2D, or FormatShape / '
                    "ActionDataPreprocessor format 'NCHW') produces: DiST "
                    "is a video model, use type='Recognizer3D' with "
                    "FormatShape(input_format='NCTHW') in the pipeline and "
                    "data_preprocessor format_shape='NCTHW'")
        if x.dim() == 5 and x.shape[2] == 3:
            return ('; this looks like (B, T, 3, H, W): use '
                    "FormatShape(input_format='NCTHW') so channels come "
                    'before time')
        return ("; use Recognizer3D with FormatShape(input_format='NCTHW')")

    def _load_from_state_dict(self, state_dict, prefix, *args,
                              **kwargs) -> None:
        """Refuse checkpoints made for another CLIP tower, frame count or
        layer count, and incomplete ones (also under ``strict=False``)."""
        self.spatial_encoder.check_state_dict(state_dict,
                                              prefix + 'spatial_encoder.')
        key = prefix + 'to_integration.0.cls_token'
        if key in state_dict:
            ts = state_dict[key].shape[2]
            if ts != self.num_spatial_frames:
                raise CheckpointMismatchError(
                    f'checkpoint was trained with {ts} spatial frames '
                    f'(num_frames={ts * self.alpha} at alpha={self.alpha}) '
                    f'but the model is configured with num_frames='
                    f'{self.num_frames} ({self.num_spatial_frames} spatial '
                    'frames); set model.backbone.num_frames to match')
        check_count(state_dict, prefix, r'input_projs\.(\d+)\.',
                    len(self.selected_layers), 'DiST layers',
                    f' (selected_layers={list(self.selected_layers)})')
        check_count(state_dict, prefix, r'aggregator\.layers\.(\d+)\.',
                    len(self.aggregator.layers), 'ada-pooling layers',
                    ' (num_ada_layers)')
        check_complete(self, state_dict, prefix, 'DiST backbone')
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def spatial_features(self, x: torch.Tensor) -> list:
        """Frozen-tower block outputs of every alpha-th frame.

        Args:
            x (torch.Tensor): Clips, (B, 3, T, H, W).

        Returns:
            list[torch.Tensor]: (B*Ts, L, D) per selected block, rows
            b-major.
        """
        b, c, t, h, w = x.shape
        enc, alpha = self.spatial_encoder, self.alpha
        if self.subsample_before_embedding:
            frames = x[:, :, ::alpha].transpose(1, 2).reshape(-1, c, h, w)
            return enc(frames, self.selected_layers)
        # official order: embed all T frames, then keep every alpha-th
        tokens = enc.embed(x.transpose(1, 2).reshape(b * t, c, h, w))
        tokens = tokens.unflatten(0, (b, t))[:, ::alpha].flatten(0, 1)
        return enc.forward_tokens(tokens, self.selected_layers)

    def _run(self, block: nn.Module, *args) -> torch.Tensor:
        """Call a side-network block, checkpointed if ``with_cp``."""
        if self.with_cp and self.training and torch.is_grad_enabled():
            return checkpoint(block, *args, use_reentrant=False)
        return block(*args)
