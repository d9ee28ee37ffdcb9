"""The interface between DiST and its frozen image tower.

DiST (and the frame-average baseline) use their ``spatial_encoder`` only
through the members listed in :class:`DiSTSpatialEncoder`. A tower from any
library becomes usable by implementing them, most simply by subclassing
:class:`DiSTSpatialEncoder`; :func:`check_spatial_encoder` verifies a built
tower (also one that does not subclass it) and names what is missing.

Token layout of every output, for ``N`` frames, a ``h x w`` patch grid and
width ``D``::

    (N, 1 + h*w, D)   token 0: the frame token (see ``frame_token``),
                      tokens 1..h*w: the patch tokens, row-major
                      (row i, column j at 1 + i*w + j)

Register tokens and any other extra tokens of the tower are dropped. The
values are the raw residual stream after the requested blocks (no final
norm, no projection).
"""
from contextlib import nullcontext
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule

from ..utils.state_checks import CheckpointMismatchError, check_complete

#: Values of :attr:`DiSTSpatialEncoder.frame_token`.
FRAME_TOKENS = ('class', 'mean_patch')

#: Members every spatial encoder must have (see :class:`DiSTSpatialEncoder`).
REQUIRED_MEMBERS = ('num_layers', 'width', 'grid_size', 'patch_size',
                    'image_size', 'embed_dim', 'mean', 'std', 'frozen',
                    'frame_token', 'tower_name', 'supports_token_path',
                    'forward', 'check_state_dict', 'init_weights')


class DiSTSpatialEncoder(BaseModule):
    """Base class of DiST's frozen image towers: the whole interface DiST
    relies on.

    A subclass wraps one library's image model and provides:

    Properties (read by DiST at construction):

    - ``num_layers`` (int): transformer blocks; valid block indices are
      ``0 .. num_layers - 1``.
    - ``width`` (int): channels D of the residual stream.
    - ``grid_size`` (tuple[int, int]): patch grid (h, w) at ``image_size``.
    - ``patch_size`` (int): square patch side in pixels.
    - ``image_size`` (int): square input side in pixels the tower expects
      (its positional embeddings are not resized).
    - ``embed_dim`` (int): size of the joint image-text space when the
      tower has a paired text tower, else ``width``; DiST's default
      ``output_dim``.
    - ``mean``, ``std`` (tuple[float, float, float]): the per-channel input
      normalisation the tower was trained with, on the 0-255 scale of
      ``ActionDataPreprocessor`` (RGB order).
    - ``frozen`` (bool): see "Frozen" below.
    - ``frame_token`` (str): what token 0 of the outputs is: ``'class'``
      (the tower's class token) or ``'mean_patch'`` (the mean of the patch
      tokens of the same block, for towers without a class token).
    - ``tower_name`` (str): names the tower family and model in messages
      and in the refusal of checkpoints trained on another tower.
    - ``supports_token_path`` (bool): whether :meth:`embed` and
      :meth:`forward_tokens` exist (DiST's
      ``subsample_before_embedding=False``).

    Methods:

    - :meth:`forward` ``(frames (N, 3, H, W), out_indices) ->
      [(N, 1 + h*w, D)]``, one tensor per requested block in the layout of
      the module docstring; blocks after the last requested one need not
      run.
    - :meth:`embed` / :meth:`forward_tokens`: the same computation split
      after the patch embedding (optional).
    - :meth:`check_state_dict` ``(state_dict, prefix)``: raise
      :class:`CheckpointMismatchError` for a checkpoint made for another
      tower (by name) or incomplete; also runs under ``strict=False``.
    - :meth:`init_weights`: the only place that loads pretrained weights.

    Frozen (``frozen=True``): every parameter has ``requires_grad=False``,
    the wrapped model stays in eval mode through ``train()`` (see
    :meth:`train`), and the forward runs under ``torch.no_grad()``.
    """

    #: checks its own tensors when loaded (see utils/state_checks.py)
    checks_own_load = True
    #: token 0 of the outputs, one of :data:`FRAME_TOKENS`
    frame_token: str = 'class'
    #: whether :meth:`embed` / :meth:`forward_tokens` are implemented
    supports_token_path: bool = False
    #: how messages name the input ("the input size (224, 224) of ...")
    _input_name = 'input'

    def __init__(self,
                 frozen: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.frozen = frozen

    # ------------------------------------------------------------ properties
    @property
    def tower_name(self) -> str:
        """str: Tower family and model, e.g. ``'timm vit_base_patch16'``."""
        return type(self).__name__

    @property
    def num_layers(self) -> int:
        """int: Number of transformer blocks."""
        raise NotImplementedError

    @property
    def width(self) -> int:
        """int: Channels D of the residual stream."""
        raise NotImplementedError

    @property
    def grid_size(self) -> Tuple[int, int]:
        """tuple[int, int]: Patch grid (h, w) at :attr:`image_size`."""
        raise NotImplementedError

    @property
    def patch_size(self) -> int:
        """int: Patch side in pixels."""
        raise NotImplementedError

    @property
    def image_size(self) -> int:
        """int: Input side in pixels."""
        raise NotImplementedError

    @property
    def embed_dim(self) -> int:
        """int: Joint image-text size, or :attr:`width` without text."""
        raise NotImplementedError

    @property
    def mean(self) -> Tuple[float, float, float]:
        """tuple[float, float, float]: Input mean, 0-255 scale, RGB."""
        raise NotImplementedError

    @property
    def std(self) -> Tuple[float, float, float]:
        """tuple[float, float, float]: Input std, 0-255 scale, RGB."""
        raise NotImplementedError

    # ------------------------------------------------------------ methods
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
        raise NotImplementedError

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """Patch-embed frames (optional, see :attr:`supports_token_path`).

        Args:
            frames (torch.Tensor): Images, (N, 3, H, W).

        Returns:
            torch.Tensor: Tokens, (N, L, D), in the tower's own layout.
        """
        raise NotImplementedError(self._no_token_path())

    def forward_tokens(self, tokens: torch.Tensor,
                       out_indices: Sequence[int]) -> List[torch.Tensor]:
        """Run the blocks on :meth:`embed` output (optional).

        Args:
            tokens (torch.Tensor): (N, L, D) from :meth:`embed`.
            out_indices (Sequence[int]): Distinct ascending block indices.

        Returns:
            list[torch.Tensor]: One (N, 1 + h*w, D) tensor per index.
        """
        raise NotImplementedError(self._no_token_path())

    def _no_token_path(self) -> str:
        return (f'{self.tower_name} has no separate patch-embedding step '
                '(embed/forward_tokens); use DiST with '
                'subsample_before_embedding=True')

    def check_state_dict(self, state_dict: dict, prefix: str = '') -> None:
        """Refuse a checkpoint made for another tower or incomplete.

        The default checks completeness and shapes; subclasses add checks
        that name the tower a checkpoint was made for.

        Args:
            state_dict (dict): State dict being loaded.
            prefix (str): This module's prefix in it.
        """
        self._check_tower_record(state_dict, prefix)
        check_complete(self, state_dict, prefix, self.tower_name)

    def _check_tower_record(self, state_dict: dict, prefix: str) -> None:
        """Refuse, by name, a checkpoint that records another tower (see
        :class:`RecordsTowerName`)."""
        if not any(k.startswith(prefix) for k in state_dict):
            return  # nothing for this tower (check_complete reports it)
        record = state_dict.get(prefix + '_extra_state')
        found = record.get('tower_name') if isinstance(record, dict) else None
        expected = (
            self.tower_name if isinstance(self, RecordsTowerName) else None)
        refuse_other_tower(found, expected)

    def train(self, mode: bool = True) -> 'DiSTSpatialEncoder':
        """Set training mode; a frozen tower keeps its submodules in eval
        mode."""
        super().train(mode)
        if self.frozen:
            for child in self.children():
                child.eval()
        return self

    def _freeze(self) -> None:
        """Apply the frozen state: no gradients, eval mode."""
        if self.frozen:
            for child in self.children():
                child.requires_grad_(False)
                child.eval()

    def _grad_context(self):
        """``torch.no_grad()`` for a frozen tower, else a null context."""
        return torch.no_grad() if self.frozen else nullcontext()

    def _check_frames(self, frames: torch.Tensor) -> None:
        """Raise a clear error for frames that are not (N, 3, S, S) with
        ``S == image_size``."""
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise ValueError('expected frames of shape (N, 3, H, W), got '
                             f'{tuple(frames.shape)}')
        size = self.image_size
        if tuple(frames.shape[-2:]) != (size, size):
            raise ValueError(
                f'frame size {tuple(frames.shape[-2:])} does not match the '
                f'{self._input_name} size {(size, size)} of {self.tower_name} '
                '(positional embeddings are not resized); resize/crop '
                'frames to it')

    def _check_out_indices(self, out_indices: Sequence[int]) -> List[int]:
        """Return ``out_indices`` as a list; raise unless they are distinct
        ascending block indices."""
        idx = [int(i) for i in out_indices]
        if (not idx or idx != sorted(set(idx)) or idx[0] < 0
                or idx[-1] >= self.num_layers):
            raise ValueError(
                f'out_indices must be distinct ascending block indices in '
                f'[0, {self.num_layers - 1}] of {self.tower_name}, got '
                f'{list(out_indices)}')
        return idx


class RecordsTowerName:
    """Mixin of spatial encoders that record :attr:`tower_name` in their
    checkpoints (as ``<prefix>_extra_state``), so that
    :meth:`DiSTSpatialEncoder.check_state_dict` refuses, by name, a
    checkpoint trained on another tower of the same tensor layout.

    ``DiSTCLIPVisual`` records nothing (its checkpoints keep the key set of
    DiST's converted official checkpoints); a checkpoint without a record is
    taken to be from it.
    """

    def get_extra_state(self) -> dict:
        """dict: ``{'tower_name': ...}``, saved with the weights."""
        return {'tower_name': self.tower_name}

    def set_extra_state(self, state: dict) -> None:
        """Nothing to restore (the record was checked on load)."""


def canonical_tokens(tokens: torch.Tensor, num_prefix: int,
                     frame_token: str) -> torch.Tensor:
    """Bring a tower's token sequence into DiST's layout.

    Args:
        tokens (torch.Tensor): (N, num_prefix + h*w, D), the tower's prefix
            tokens (class first, if any, then registers) then the patches.
        num_prefix (int): Leading non-patch tokens.
        frame_token (str): ``'class'`` keeps token 0 (the class token) as
            frame token; ``'mean_patch'`` uses the mean patch token.

    Returns:
        torch.Tensor: (N, 1 + h*w, D).
    """
    patches = tokens[:, num_prefix:]
    if frame_token == 'class':
        if num_prefix < 1:
            raise ValueError('frame_token="class" needs a class token')
        first = tokens[:, :1]
    elif frame_token == 'mean_patch':
        first = patches.mean(dim=1, keepdim=True)
    else:
        raise ValueError(f'frame_token must be one of {FRAME_TOKENS}, got '
                         f'{frame_token!r}')
    if num_prefix == 1 and frame_token == 'class':
        return tokens
    return torch.cat([first, patches], dim=1)


def check_spatial_encoder(tower: torch.nn.Module) -> None:
    """Raise a clear error unless ``tower`` provides DiST's interface.

    Args:
        tower (nn.Module): A built spatial encoder.
    """
    missing = [m for m in REQUIRED_MEMBERS if not hasattr(tower, m)]
    if missing:
        raise TypeError(
            f'spatial encoder {type(tower).__name__} lacks {missing} of the '
            f'interface DiST relies on ({list(REQUIRED_MEMBERS)}); see '
            'projects/dist/models/backbones/spatial_encoder.py and '
            'docs/towers.md')
    if tower.frame_token not in FRAME_TOKENS:
        raise ValueError(f'{type(tower).__name__}.frame_token must be one of '
                         f'{FRAME_TOKENS}, got {tower.frame_token!r}')
    h, w = tower.grid_size
    if h * tower.patch_size != tower.image_size or h != w:
        raise ValueError(f'{tower.tower_name}: grid {tower.grid_size} x patch '
                         f'{tower.patch_size} does not cover image_size '
                         f'{tower.image_size} (square inputs expected)')
    for name in ('mean', 'std'):
        value = tuple(getattr(tower, name))
        if len(value) != 3:
            raise ValueError(f'{tower.tower_name}.{name} must hold 3 values '
                             f'(RGB, 0-255 scale), got {value}')


def refuse_other_tower(found: Optional[str], expected: Optional[str]) -> None:
    """Raise :class:`CheckpointMismatchError` naming both towers when a
    checkpoint records another tower than the model's.

    Args:
        found (str, optional): Tower name recorded in the checkpoint (None
            when it records none: the OpenAI CLIP tower of DiST's
            original checkpoints).
        expected (str, optional): The model's tower name (None for
            ``DiSTCLIPVisual``).
    """
    if found != expected:
        default = 'DiSTCLIPVisual (OpenAI CLIP)'
        raise CheckpointMismatchError(
            f'checkpoint was trained with the spatial encoder '
            f'{found or default} but the model is configured with '
            f'{expected or default}; configure '
            'model.backbone.spatial_encoder as in the config the '
            'checkpoint was trained with')
