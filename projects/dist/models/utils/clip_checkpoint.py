"""Reading CLIP weights: OpenAI TorchScript files, state dicts, open_clip."""
import os.path as osp
from typing import Dict, Optional

import torch

#: Keys of OpenAI checkpoints that are metadata, not weights.
_OPENAI_META_KEYS = ('input_resolution', 'context_length', 'vocab_size')
#: Top-level prefixes of the text tower inside a CLIP state dict.
TEXT_KEYS = ('transformer.', 'token_embedding.', 'positional_embedding',
             'ln_final.', 'text_projection')


def load_clip_state_dict(
        pretrained: str,
        arch_name: Optional[str] = None) -> Dict[str, torch.Tensor]:
    """Load a full CLIP state dict (both towers, OpenAI names).

    Args:
        pretrained (str): Path to an OpenAI TorchScript ``.pt`` file, to a
            ``torch.save``'d state dict (optionally wrapped in
            ``state_dict``/``model``/``model_state``), or an open_clip
            pretrained tag such as ``'openai'`` (needs network access or a
            populated Hugging Face cache).
        arch_name (str, optional): open_clip model name used with a tag.

    Returns:
        dict[str, torch.Tensor]: ``visual.*``, text tower and ``logit_scale``
        tensors on CPU.
    """
    if osp.isfile(pretrained):
        try:
            # OpenAI releases are TorchScript archives
            state = torch.jit.load(pretrained, map_location='cpu').state_dict()
        except RuntimeError:
            state = torch.load(
                pretrained, map_location='cpu', weights_only=True)
            for key in ('state_dict', 'model', 'model_state'):
                if isinstance(state, dict) and key in state and isinstance(
                        state[key], dict):
                    state = state[key]
                    break
    elif osp.sep in pretrained or pretrained.endswith(('.pt', '.pth', '.bin')):
        raise FileNotFoundError(f'CLIP weights file not found: {pretrained}')
    else:
        if arch_name is None:
            raise ValueError(
                f'pretrained={pretrained!r} is not a file; to use it as an '
                'open_clip pretrained tag, use a named arch (e.g. ViT-B/16)')
        import open_clip
        model = open_clip.create_model(
            arch_name, pretrained=pretrained, device='cpu')
        state = model.state_dict()
    state = {
        (k[len('module.'):] if k.startswith('module.') else k): v
        for k, v in state.items() if k not in _OPENAI_META_KEYS
    }
    return state


def check_quick_gelu_tag(pretrained: Optional[str], arch_name: Optional[str],
                         what: str) -> None:
    """Refuse an open_clip pretrained tag whose weights were not trained
    with QuickGELU, for a tower that always runs QuickGELU (OpenAI CLIP).

    Runs at construction, without downloads: open_clip's pretrained config
    of the tag says which activation its weights were trained with.

    Args:
        pretrained (str, optional): A file or an open_clip tag.
        arch_name (str, optional): The open_clip model name of the arch.
        what (str): The tower's class name (for the message).
    """
    if pretrained is None or osp.isfile(pretrained) or arch_name is None:
        return
    if osp.sep in pretrained or pretrained.endswith(('.pt', '.pth', '.bin')):
        return  # a missing file: reported when loaded
    import open_clip
    tag_cfg = open_clip.get_pretrained_cfg(arch_name, pretrained)
    if not tag_cfg:
        raise KeyError(
            f'{pretrained!r} is neither a file nor an open_clip pretrained '
            f'tag of {arch_name!r}; its tags are '
            f'{open_clip.list_pretrained_tags_by_model(arch_name)}')
    if not tag_cfg.get('quick_gelu', False):
        raise ValueError(
            f'open_clip tag {pretrained!r} of {arch_name!r} was trained with '
            f'GELU, but {what} always runs QuickGELU (OpenAI CLIP); use '
            f"type='DiSTOpenCLIPVisual', model_name={arch_name!r}, "
            f'pretrained={pretrained!r}, which builds the activation the '
            "tag's weights were trained with")


def split_clip_state_dict(state: Dict[str, torch.Tensor]) -> tuple:
    """Split a CLIP state dict into visual, text and logit-scale parts.

    Args:
        state (dict): Full CLIP state dict with OpenAI names.

    Returns:
        tuple[dict, dict, torch.Tensor | None]: ``visual`` tensors (prefix
        removed), text tensors (as named inside a text tower) and the
        ``logit_scale`` scalar (None if absent).
    """
    visual = {
        k[len('visual.'):]: v
        for k, v in state.items() if k.startswith('visual.')
    }
    text = {k: v for k, v in state.items() if k.startswith(TEXT_KEYS)}
    return visual, text, state.get('logit_scale')


def load_tower_strict(module: torch.nn.Module, state: Dict[str, torch.Tensor],
                      what: str, source: str) -> None:
    """Load ``state`` into ``module``; raise naming any key mismatch.

    Args:
        module (nn.Module): The tower.
        state (dict): Its tensors.
        what (str): Name used in the error message ("CLIP visual tower").
        source (str): Where the tensors came from (for the message).
    """
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(
        k for k in set(own) & set(state)
        if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:

        def listed(keys, limit=6):
            more = f' ... (+{len(keys) - limit} more)' if len(keys) > limit \
                else ''
            return f'({len(keys)}) {keys[:limit]}{more}'

        parts = []
        if missing:
            parts.append(f'missing keys {listed(missing)}')
        if unexpected:
            parts.append(f'unexpected keys {listed(unexpected)}')
        if wrong:
            shown = ', '.join(f'{k}: file {tuple(state[k].shape)} vs model '
                              f'{tuple(own[k].shape)}' for k in wrong[:4])
            more = f' ... (+{len(wrong) - 4} more)' if len(wrong) > 4 else ''
            parts.append(f'shape mismatch ({len(wrong)}) {shown}{more}')
        raise KeyError(f'{what} weights from {source} do not match the '
                       f'configured architecture: ' + '; '.join(parts))
    module.load_state_dict(state, strict=True)
