"""Frozen CLIP image tower returning the residual stream of chosen blocks."""
from contextlib import nullcontext
from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from open_clip.transformer import QuickGELU, VisionTransformer

from mmaction.registry import MODELS
from ..layers.fast_path import use_fast_path
from ..layers.norm import QUICK_GELU_SCALE
from ..utils.clip_arch import resolve_clip_arch
from ..utils.clip_checkpoint import (load_clip_state_dict, load_tower_strict,
                                     split_clip_state_dict)
from ..utils.state_checks import (CheckpointMismatchError, check_complete,
                                  check_count, expect_weights_later,
                                  weights_loaded)
from .spatial_encoder import DiSTSpatialEncoder


@MODELS.register_module()
class DiSTCLIPVisual(DiSTSpatialEncoder):
    """CLIP ViT image tower (open_clip, OpenAI parameter names), frozen.

    The spatial encoder of DiST's released checkpoints: one implementation
    of :class:`DiSTSpatialEncoder` (class token first, QuickGELU, OpenAI's
    input normalisation). For other open_clip models and pretrained tags
    use ``DiSTOpenCLIPVisual``.

    Runs patch embedding, ``ln_pre`` and the transformer blocks, and returns
    the raw residual stream (before ``ln_post``) after each requested block.
    Blocks after the last requested one are not run.

    When ``frozen`` (the default), every parameter has
    ``requires_grad=False``, the module stays in eval mode through
    ``model.train()``, and the forward runs under ``torch.no_grad()``.

    Args:
        arch (str | dict): CLIP architecture name (``'ViT-B/16'``,
            ``'ViT-L/14'``, ...) or a dict of dimensions, see
            :func:`resolve_clip_arch`. Defaults to ``'ViT-B/16'``.
        pretrained (str, optional): CLIP weights: an OpenAI TorchScript file,
            a state-dict file (full CLIP or visual tower only, OpenAI names) or
            an open_clip pretrained tag. Loaded in :meth:`init_weights` only.
            Defaults to None (random weights; e.g. when a converted DiST
            checkpoint provides them).
        frozen (bool): Freeze the tower. Defaults to True.
        dtype (str): Precision of the frozen tower's weights and compute:
            ``'fp32'``, ``'fp16'`` or ``'bf16'``; the weights are cast once
            (EVL-style). Outputs are returned in this dtype. Defaults to
            ``'fp32'``.
        fused_attention (bool): Use fused kernels. Without autograd (the
            frozen tower) each block then runs with
            ``scaled_dot_product_attention``, residual sums inside its matrix
            products and an in-place activation; with autograd (an unfrozen
            tower) open_clip's own block runs. False computes every block
            with explicit attention matrix products, as the official code
            does; it exists to measure the gain. Defaults to True.
        init_cfg (dict, optional): MMEngine init config. Defaults to None.
    """

    supports_token_path = True
    _input_name = 'CLIP input'

    _DTYPES = dict(fp32=torch.float32, fp16=torch.float16, bf16=torch.bfloat16)

    def __init__(self,
                 arch: Union[str, dict] = 'ViT-B/16',
                 pretrained: Optional[str] = None,
                 frozen: bool = True,
                 dtype: str = 'fp32',
                 fused_attention: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(frozen=frozen, init_cfg=init_cfg)
        if dtype not in self._DTYPES:
            raise ValueError(f'dtype must be one of {list(self._DTYPES)}, '
                             f'got {dtype!r}')
        self.arch = resolve_clip_arch(arch)
        self.pretrained = pretrained
        self.dtype = self._DTYPES[dtype]
        self.fused_attention = fused_attention
        a = self.arch
        self.visual = VisionTransformer(
            image_size=a['image_size'],
            patch_size=a['patch_size'],
            width=a['width'],
            layers=a['layers'],
            heads=a['heads'],
            mlp_ratio=a['mlp_ratio'],
            output_dim=a['embed_dim'],
            act_layer=QuickGELU)
        self._freeze()

    @property
    def tower_name(self) -> str:
        """str: ``'DiSTCLIPVisual (OpenAI CLIP)'``."""
        return 'DiSTCLIPVisual (OpenAI CLIP)'

    @property
    def patch_size(self) -> int:
        """int: Patch side in pixels."""
        return self.arch['patch_size']

    @property
    def image_size(self) -> int:
        """int: Input side in pixels."""
        return self.arch['image_size']

    @property
    def embed_dim(self) -> int:
        """int: CLIP joint image-text embedding size."""
        return self.arch['embed_dim']

    @property
    def mean(self) -> tuple:
        """tuple[float, float, float]: OpenAI CLIP's mean, 0-255 scale."""
        return tuple(255 * m for m in OPENAI_DATASET_MEAN)

    @property
    def std(self) -> tuple:
        """tuple[float, float, float]: OpenAI CLIP's std, 0-255 scale."""
        return tuple(255 * s for s in OPENAI_DATASET_STD)

    @property
    def width(self) -> int:
        """int: Channels D of the residual stream."""
        return self.arch['width']

    @property
    def num_layers(self) -> int:
        """int: Number of transformer blocks."""
        return self.arch['layers']

    @property
    def grid_size(self) -> tuple:
        """tuple[int, int]: Patch grid (h, w) at the native input size."""
        return tuple(self.visual.grid_size)

    def _freeze(self) -> None:
        if self.frozen:
            self.visual.requires_grad_(False)
            self.visual.eval()
        if self.dtype != torch.float32:
            self.visual.to(self.dtype)

    def init_weights(self) -> None:
        """Load ``pretrained`` CLIP weights (strictly) into the tower.

        Without ``pretrained`` a frozen tower keeps its random construction
        weights; unless a checkpoint fills it before its first forward, that
        forward logs a WARNING naming
        ``model.backbone.spatial_encoder.pretrained``.
        """
        if self.pretrained is None:
            # keep the construction-time (open_clip) initialisation
            if self.frozen:
                expect_weights_later(
                    self, 'model.backbone.spatial_encoder.pretrained')
            return
        state = load_clip_state_dict(self.pretrained, self.arch['name'])
        visual, _, _ = split_clip_state_dict(state)
        if not visual:  # a visual-tower-only state dict
            visual = state
        load_tower_strict(self.visual, visual, 'CLIP visual tower',
                          self.pretrained)
        self._freeze()
        print_log(
            f'DiSTCLIPVisual: loaded CLIP weights from '
            f'{self.pretrained}',
            logger='current')

    def check_state_dict(self, state_dict: dict, prefix: str = '') -> None:
        """Raise a clear error if CLIP weights of another depth or width, or
        an incomplete tower, are being loaded (also under
        ``strict=False``).

        Args:
            state_dict (dict): State dict being loaded.
            prefix (str): This module's prefix in it.
        """
        self._check_tower_record(state_dict, prefix)
        check_count(state_dict, prefix,
                    r'visual\.transformer\.resblocks\.(\d+)\.',
                    self.num_layers, 'CLIP blocks', f' (arch={self.arch})')
        key = prefix + 'visual.conv1.weight'
        if key in state_dict and state_dict[key].shape[0] != self.width:
            raise CheckpointMismatchError(
                f'checkpoint CLIP width {state_dict[key].shape[0]} != '
                f'configured width {self.width} (arch={self.arch})')
        check_complete(self, state_dict, prefix, 'CLIP visual tower')

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
            frames (torch.Tensor): Images, (N, 3, H, W), CLIP-normalised.
            out_indices (Sequence[int]): Block indices whose outputs to
                return, ascending.

        Returns:
            list[torch.Tensor]: One (N, 1 + h*w, D) tensor per index, in the
            tower's dtype.
        """
        with torch.no_grad() if self.frozen else nullcontext():
            return self.forward_tokens(self.embed(frames), out_indices)

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """Patch-embed frames: conv1, CLS, positions, ``ln_pre``.

        Args:
            frames (torch.Tensor): Images, (N, 3, H, W).

        Returns:
            torch.Tensor: Tokens, (N, 1 + h*w, D).
        """
        v = self.visual
        self._check_frames(frames)
        with torch.no_grad() if self.frozen else nullcontext():
            x = v.conv1(frames.to(self.dtype))  # (N, D, h, w)
            x = x.flatten(2).transpose(1, 2)  # (N, h*w, D)
            cls = v.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
            x = torch.cat([cls, x], dim=1) + v.positional_embedding.to(x.dtype)
            return v.ln_pre(x)  # (N, L, D)

    def forward_tokens(self, x: torch.Tensor,
                       out_indices: Sequence[int]) -> List[torch.Tensor]:
        """Run the transformer blocks on embedded tokens.

        Args:
            x (torch.Tensor): Tokens from :meth:`embed`, (N, L, D).
            out_indices (Sequence[int]): Block indices to return, ascending.

        Returns:
            list[torch.Tensor]: One (N, L, D) tensor per index.
        """
        outs = []
        wanted = set(out_indices)
        blocks = self.visual.transformer.resblocks[:max(out_indices) + 1]
        with torch.no_grad() if self.frozen else nullcontext():
            for i, block in enumerate(blocks):
                if not self.fused_attention:
                    x = _unfused_block(block, x)
                elif (torch.is_grad_enabled() or not use_fast_path('tower')
                      or not _is_plain_block(block)):
                    x = block(x)
                else:
                    x = _inference_block(block, x)
                if i in wanted:
                    outs.append(x)
        return outs


def _is_plain_block(block) -> bool:
    """Whether ``block`` is an open_clip ResidualAttentionBlock of CLIP's
    plain form (QuickGELU, no LayerScale, no cross-attention) without
    forward hooks (which only a call of the block itself would run)."""
    return (not block._forward_hooks and not block._forward_pre_hooks
            and isinstance(block.ls_1, nn.Identity)
            and isinstance(block.ls_2, nn.Identity)
            and isinstance(block.mlp.gelu, QuickGELU)
            and not hasattr(block, 'ln_1_kv'))


def _inference_block(block, x: torch.Tensor) -> torch.Tensor:
    """An open_clip ResidualAttentionBlock without autograd, in fewer passes
    over memory.

    Same result as ``block(x)`` up to float rounding:

    - attention by ``scaled_dot_product_attention`` on views of the fused
      q/k/v projection;
    - each residual sum accumulates into the matrix product's output;
    - QuickGELU(h) = SiLU(s * h) / s: the ``s`` and ``1 / s`` enter as the
      scale factors of the two MLP products, and the SiLU runs in place
      (no extra pass, no weight copies).

    Args:
        block: ``open_clip.transformer.ResidualAttentionBlock``.
        x (torch.Tensor): (N, L, D). Not modified.

    Returns:
        torch.Tensor: (N, L, D), a new tensor.
    """
    attn, mlp = block.attn, block.mlp
    n, length, d = x.shape
    heads = attn.num_heads
    s = QUICK_GELU_SCALE
    qkv = F.linear(block.ln_1(x), attn.in_proj_weight, attn.in_proj_bias)
    q, k, v = qkv.view(n, length, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
    y = F.scaled_dot_product_attention(q, k, v)  # (N, heads, L, D / heads)
    y = y.transpose(1, 2).reshape(n * length, d)
    # x + out_proj(y): the product accumulates into a copy of x
    x = torch.addmm(x.reshape(n * length, d), y, attn.out_proj.weight.t())
    x = x.add_(attn.out_proj.bias)
    h = torch.addmm(
        mlp.c_fc.bias, block.ln_2(x), mlp.c_fc.weight.t(), beta=s,
        alpha=s)  # s * c_fc(.)
    h = F.silu(h, inplace=True)  # s * QuickGELU(c_fc(.))
    # in-place products are not autocast: use x's dtype (bf16/fp16 under
    # torch.autocast with a float32 tower)
    x = x.addmm_(h.to(x.dtype), mlp.c_proj.weight.t().to(x.dtype), alpha=1 / s)
    return x.add_(mlp.c_proj.bias).view(n, length, d)


def _unfused_block(block, x: torch.Tensor) -> torch.Tensor:
    """An open_clip ResidualAttentionBlock with explicit attention math.

    Numerically the same block; used only to measure what the fused kernels
    save.

    Args:
        block: ``open_clip.transformer.ResidualAttentionBlock``.
        x (torch.Tensor): (N, L, D).

    Returns:
        torch.Tensor: (N, L, D).
    """
    attn = block.attn
    n, length, d = x.shape
    h = attn.num_heads
    q, k, v = F.linear(block.ln_1(x), attn.in_proj_weight,
                       attn.in_proj_bias).chunk(
                           3, dim=-1)
    q, k, v = (
        t.reshape(n, length, h, d // h).transpose(1, 2) for t in (q, k, v))
    w = (q @ k.transpose(-2, -1)) * (d // h)**-0.5
    y = (w.softmax(dim=-1) @ v).transpose(1, 2).reshape(n, length, d)
    x = x + block.ls_1(attn.out_proj(y))
    return x + block.ls_2(block.mlp(block.ln_2(x)))
