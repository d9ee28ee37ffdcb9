"""Classification head of DiST: cosine similarity with CLIP text embeddings."""
from contextlib import nullcontext
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmaction.models.heads.base import BaseHead
from mmaction.registry import MODELS
from ..utils.class_names import (check_prompt_template, load_class_names,
                                 load_prompt_templates, tokenize_prompts)
from ..utils.precision import autocast_available
from ..utils.state_checks import check_complete


def _no_autocast(device_type: str):
    """A context that disables autocast on ``device_type`` (a no-op where
    autocast does not exist, e.g. the meta device)."""
    if autocast_available(device_type):
        return torch.autocast(device_type, enabled=False)
    return nullcontext()


def ensemble_text_features(features: torch.Tensor,
                           num_templates: int = 1) -> torch.Tensor:
    """Merge the text features of a prompt-template ensemble.

    Every template's features are L2-normalised, averaged over the
    templates and normalised again (CLIP's prompt ensembling). With one
    template this is plain L2 normalisation.

    Args:
        features (torch.Tensor): (P * K, E) text-tower outputs, template
            major (rows ``p * K .. p * K + K - 1`` belong to template p).
        num_templates (int): P. Defaults to 1.

    Returns:
        torch.Tensor: (K, E) float32, unit L2 norm per row.
    """
    if features.dim() != 2 or features.shape[0] % num_templates:
        raise ValueError(f'expected ({num_templates} * K, E) text features '
                         f'for {num_templates} template(s), got '
                         f'{tuple(features.shape)}')
    feats = F.normalize(features.float(), dim=-1)
    if num_templates == 1:
        return feats
    feats = feats.view(num_templates, -1, feats.shape[-1]).mean(0)
    return F.normalize(feats, dim=-1)


def encode_texts(text_encoder: nn.Module,
                 texts: Sequence[str],
                 templates: Optional[Union[str, Sequence[str]]] = None,
                 source: str = 'the given texts') -> torch.Tensor:
    """Normalised CLIP text embeddings of free texts or class names.

    Each text is formatted with every template, encoded by the (frozen)
    text tower in float32 without autocast, and the template ensemble is
    merged by :func:`ensemble_text_features`. Texts the tower would
    truncate, or two texts with identical tokens, are refused (see
    :func:`~projects.dist.models.utils.class_names.tokenize_class_names`).

    Args:
        text_encoder (nn.Module): A ``DiSTCLIPText`` (``context_length``
            attribute, ``forward(tokens) -> (N, E)``).
        texts (Sequence[str]): K non-empty texts, e.g. class names or
            search queries.
        templates (str | Sequence[str], optional): Template file or
            templates with one ``{}`` each (see
            :func:`~projects.dist.models.utils.class_names.load_prompt_templates`);
            None encodes the raw texts.
        source (str): Where the texts come from, for error messages.

    Returns:
        torch.Tensor: (K, E) float32 on the text tower's device, unit L2
        norm per row.
    """
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError('texts must be a list of strings, got '
                        f'{type(texts).__name__} (wrap a single text in a '
                        'list)')
    texts = [str(t).strip() for t in texts]
    if not texts or not all(texts):
        raise ValueError(f'{source} must be non-empty strings, got '
                         f'{texts!r}')
    templates = load_prompt_templates(templates)
    tokens = tokenize_prompts(texts, text_encoder.context_length, templates,
                              source)
    param = next(text_encoder.parameters())
    with _no_autocast(param.device.type), torch.no_grad():
        feats = text_encoder(tokens.to(param.device))
    return ensemble_text_features(feats, len(templates or [None]))


@MODELS.register_module()
class DiSTTextHead(BaseHead):
    """Classify video embeddings against CLIP text embeddings of class names.

    ``logits = exp(logit_scale) * cos(video_embedding, text_feature_k)`` with
    the frozen CLIP text tower's ``logit_scale`` (ln 100 in OpenAI weights,
    i.e. a fixed scale of 100) — DiST's classifier. The text features are
    computed once per class set and cached; the cache is rebuilt after the
    events that change them: the text tower's weights are loaded (a
    checkpoint, ``init_weights``) or moved/converted (``.to()``,
    ``.half()``; see ``DiSTCLIPText.weights_version``), the class names
    change (:meth:`set_class_names`), or a tower that is not frozen switches
    mode. A tower that is not frozen is run afresh (with gradients) at every
    training forward. After editing the tower's tensors in place, call
    :meth:`clear_text_cache`.

    ``classifier='linear'`` replaces this with a plain trainable linear layer
    (for recipes without class names); no text tower is built then.

    Because the classifier is the text tower itself, a trained model can be
    evaluated on a different label set without retraining: pass other
    ``class_names`` (and the matching ``num_classes``).

    Class names are refused (with the name, its token count and the limit)
    when the text tower would truncate them, and when two of them give the
    same tokens (the tokenizer lower-cases and normalises spacing), since
    either would silently make two classes share one classifier.

    On another backbone whose embedding width is not the CLIP joint
    embedding size, ``project_input=True`` adds a trainable
    ``Linear(in_channels, E_clip)`` in front of the cosine similarity (off
    by default: DiST emits CLIP-sized embeddings, and checkpoints without
    it load unchanged).

    Args:
        num_classes (int): Number of classes K.
        in_channels (int): Video embedding size E. Must equal the text
            tower's joint embedding size unless ``project_input``.
        class_names (str | Sequence[str], optional): Label file (one name per
            line, label order) or the names. Required for the text
            classifier.
        text_encoder (dict): Config of the frozen text tower. Defaults to
            ``dict(type='DiSTCLIPText', arch='ViT-B/16')``.
        classifier (str): ``'text'`` or ``'linear'``. Defaults to ``'text'``.
        prompt_template (str, optional): Format string applied to every
            class name, e.g. ``'a video of {}.'``; it must hold exactly
            one ``{}``. None (the official setting) uses the raw names.
        prompt_templates (str | Sequence[str], optional): A template
            ensemble instead of ``prompt_template``: a list of templates or
            a file with one per line (e.g.
            ``projects/dist/label_maps/templates/video_ensemble.txt``).
            Each class's text feature is the normalised mean of its
            per-template normalised features (see
            :func:`ensemble_text_features`). Defaults to None.
        project_input (bool): Project ``in_channels`` to the text tower's
            embedding size with a trainable linear layer (``input_proj``)
            before the similarity; text classifier only. Defaults to False.
        dropout_ratio (float): Dropout on the embedding before the linear
            classifier. Defaults to 0.
        loss_cls (dict): Loss config. Defaults to CrossEntropyLoss.
        multi_class (bool): Multi-label task. Defaults to False.
        label_smooth_eps (float): Label smoothing. Defaults to 0.
        topk (int | tuple[int]): Top-k accuracy in training logs.
            Defaults to (1, 5).
        average_clips (str, optional): ``'score'``, ``'prob'`` or None, how
            multi-view scores are merged at test time. Defaults to 'prob'.
        init_cfg (dict, optional): MMEngine init config. Defaults to None.
    """

    #: checks its own tensors when loaded (see utils/state_checks.py)
    checks_own_load = True

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 class_names: Optional[Union[str, Sequence[str]]] = None,
                 text_encoder: dict = dict(
                     type='DiSTCLIPText', arch='ViT-B/16'),
                 classifier: str = 'text',
                 prompt_template: Optional[str] = None,
                 prompt_templates: Optional[Union[str, Sequence[str]]] = None,
                 project_input: bool = False,
                 dropout_ratio: float = 0.0,
                 loss_cls: dict = dict(type='CrossEntropyLoss'),
                 multi_class: bool = False,
                 label_smooth_eps: float = 0.0,
                 topk: Union[int, Tuple[int]] = (1, 5),
                 average_clips: Optional[str] = 'prob',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            num_classes=num_classes,
            in_channels=in_channels,
            loss_cls=loss_cls,
            multi_class=multi_class,
            label_smooth_eps=label_smooth_eps,
            topk=topk,
            average_clips=average_clips,
            init_cfg=init_cfg)
        if classifier not in ('text', 'linear'):
            raise ValueError(f"classifier must be 'text' or 'linear', got "
                             f'{classifier!r}')
        self.classifier = classifier
        check_prompt_template(prompt_template)
        if prompt_template is not None and prompt_templates is not None:
            raise ValueError(
                'give prompt_template (one template) or prompt_templates (an '
                f'ensemble), not both; got {prompt_template!r} and '
                f'{prompt_templates!r}')
        self.prompt_template = prompt_template
        #: the templates the class names are formatted with (None: raw)
        self.prompt_templates: Optional[List[str]] = (
            load_prompt_templates(prompt_templates)
            if prompt_template is None else [prompt_template])
        self.input_proj = None
        self.dropout = nn.Dropout(dropout_ratio) if dropout_ratio else None
        self.class_names: Optional[List[str]] = None
        self._text_cache: Optional[tuple] = None
        if classifier == 'text':
            if class_names is None:
                raise ValueError("the text classifier needs class_names (a "
                                 "label file or a list); use classifier="
                                 "'linear' to train without them")
            self.text_encoder = MODELS.build(text_encoder)
            embed_dim = self.text_encoder.arch['embed_dim']
            if project_input:
                self.input_proj = nn.Linear(in_channels, embed_dim)
            elif embed_dim != in_channels:
                raise ValueError(
                    f'in_channels={in_channels} must equal the CLIP joint '
                    f'embedding size {embed_dim} of the text tower; for a '
                    'backbone of another width set project_input=True '
                    f'(a trainable Linear({in_channels}, {embed_dim}))')
            self.register_buffer(
                'text_tokens',
                torch.zeros(0, 1, dtype=torch.long),
                persistent=False)
            self.set_class_names(class_names)
        else:
            if project_input:
                raise ValueError(
                    "project_input=True needs classifier='text' (the linear "
                    'classifier takes any in_channels already)')
            self.text_encoder = None
            self.fc_cls = nn.Linear(in_channels, num_classes)
            if class_names is not None:
                self.class_names = load_class_names(class_names)
                self._check_count(self.class_names, class_names)

    def _check_count(self,
                     names: List[str],
                     source,
                     num_classes: Optional[int] = None) -> None:
        num_classes = self.num_classes if num_classes is None else num_classes
        if len(names) != num_classes:
            where = source if isinstance(source, str) else 'the given list'
            raise ValueError(f'{len(names)} class names in {where} but '
                             f'num_classes={num_classes}')

    def set_class_names(self,
                        class_names: Union[str, Sequence[str]],
                        num_classes: Optional[int] = None,
                        prompt_templates=...) -> None:
        """Use another label set with the text classifier (no retraining).

        Args:
            class_names (str | Sequence[str]): Label file or names.
            num_classes (int, optional): New K; must match the number of
                names. None keeps the current ``num_classes``.
            prompt_templates (str | Sequence[str] | None): New template
                file or templates (None: the raw names). The default
                (``...``) keeps the head's templates.
        """
        if self.classifier != 'text':
            raise RuntimeError('class names can only be swapped with the '
                               "text classifier (classifier='text')")
        # everything is checked before anything changes: a refused label
        # set leaves the head as it was
        names = load_class_names(class_names)
        self._check_count(names, class_names, num_classes)
        templates = (
            self.prompt_templates if prompt_templates is ... else
            load_prompt_templates(prompt_templates))
        tokens = tokenize_prompts(
            names,
            self.text_encoder.context_length,
            templates,
            source=class_names
            if isinstance(class_names, str) else 'the given list')
        if num_classes is not None:
            self.num_classes = num_classes
        if prompt_templates is not ...:
            self.prompt_templates = templates
            self.prompt_template = (
                templates[0] if templates and len(templates) == 1 else None)
        self.class_names = names
        self.text_tokens = tokens.to(self.text_tokens.device)
        self._text_cache = None

    def init_weights(self) -> None:
        """Initialise the linear classifier or load the text tower."""
        super().init_weights()
        if self.classifier == 'linear':
            nn.init.normal_(self.fc_cls.weight, std=0.01)
            nn.init.zeros_(self.fc_cls.bias)
        self._text_cache = None

    def _load_from_state_dict(self, state_dict, prefix, *args,
                              **kwargs) -> None:
        """Refuse a checkpoint without (or with another shape of) the
        linear classifier, also under ``strict=False``; the text tower
        checks its own tensors."""
        if self.classifier == 'linear':
            check_complete(self, state_dict, prefix, 'DiST linear head')
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def clear_text_cache(self) -> None:
        """Drop the cached text features; the next forward recomputes them.

        Needed only after changing the text tower's tensors in place outside
        the tracked events (loading, ``.to()``, class names, mode switch).
        """
        self._text_cache = None

    def text_features(self, ref: torch.Tensor) -> torch.Tensor:
        """Return the L2-normalised text features of the class names
        (template ensemble merged, see :func:`ensemble_text_features`).

        The cache key is the device of ``ref`` and the text tower's
        ``weights_version``; class-name changes drop the cache. The input's
        dtype is not part of it: the features are computed without autocast
        and kept in float32, so fp32 and autocast forwards (train and val,
        or benchmark modes side by side) share them.

        Args:
            ref (torch.Tensor): A tensor on the device wanted.

        Returns:
            torch.Tensor: (K, E) float32, computed once and cached (afresh
            at every training forward of a tower that is not frozen).
        """
        if (not self.text_encoder.frozen and self.training
                and torch.is_grad_enabled()):
            # trained with the video side: gradients flow, nothing cached
            with _no_autocast(ref.device.type):
                feats = self.text_encoder(self.text_tokens)
            return F.normalize(feats.float(), dim=-1)
        key = (ref.device, self.text_encoder.weights_version)
        if self._text_cache is None or self._text_cache[0] != key:
            # once per class set, so always in full precision
            with _no_autocast(ref.device.type):
                feats = self.text_encoder(self.text_tokens)
            self._text_cache = (key,
                                ensemble_text_features(
                                    feats, len(self.prompt_templates
                                               or [None])))
        return self._text_cache[1]

    def encode_texts(
            self,
            texts: Sequence[str],
            templates: Optional[Union[str,
                                      Sequence[str]]] = None) -> torch.Tensor:
        """Normalised text embeddings of free texts with this head's text
        tower (the head's own classes are not changed); see
        :func:`encode_texts`. Pass ``templates=head.prompt_templates`` to
        format the texts as the head formats its class names.

        Args:
            texts (Sequence[str]): K texts.
            templates (str | Sequence[str], optional): Templates or a
                template file; None (default) encodes the raw texts.

        Returns:
            torch.Tensor: (K, E) float32, unit L2 norm per row.
        """
        if self.classifier != 'text':
            raise RuntimeError('encode_texts needs the text classifier '
                               "(classifier='text')")
        return encode_texts(self.text_encoder, texts, templates)

    def similarity(self, x: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Scaled cosine similarity of video embeddings and text features,
        as the text classifier computes its logits.

        Args:
            x (torch.Tensor): Video embeddings, (N, in_channels).
            text (torch.Tensor): Normalised text features, (K, E), e.g.
                from :meth:`encode_texts`.

        Returns:
            torch.Tensor: (N, K) float32 logits.
        """
        if self.input_proj is not None:
            x = self.input_proj(x)  # (N, E_clip)
        # the (N, K) similarity is tiny: keep it in float32 under autocast
        with _no_autocast(x.device.type):
            scale = self.text_encoder.logit_scale.float().exp()
            return scale * F.normalize(x.float(), dim=-1) @ \
                text.to(x.device).float().t()

    def forward(self, x: torch.Tensor, **kwargs) -> torch.Tensor:
        """Classify video embeddings.

        Args:
            x (torch.Tensor): Video embeddings, (N, in_channels).

        Returns:
            torch.Tensor: Class scores (logits), (N, K).
        """
        if x.dim() != 2 or x.shape[1] != self.in_channels:
            hint = ''
            if x.dim() > 2:
                hint = ('; it takes pooled (N, C) embeddings, so a backbone '
                        'emitting feature maps needs a pooling neck')
            elif x.dim() == 2:
                hint = (f'; set in_channels={x.shape[1]} (with '
                        'project_input=True if that is not the text '
                        "tower's embedding size)")
            raise ValueError(f'{type(self).__name__} expected embeddings of '
                             f'shape (N, in_channels={self.in_channels}), '
                             f'got {tuple(x.shape)}{hint}')
        if self.classifier == 'linear':
            if self.dropout is not None:
                x = self.dropout(x)
            return self.fc_cls(x)
        return self.similarity(x, self.text_features(x))
