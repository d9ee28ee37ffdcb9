"""Text-query search over a long video: score every window's video
embedding against free-text queries with the CLIP text tower of DiST's
text head, and return the best time ranges."""
from typing import List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..models.utils.class_names import tokenize_class_names
from .sliding_window import WindowResult


def query_text_features(head: nn.Module,
                        queries: Sequence[str]) -> torch.Tensor:
    """L2-normalised text embeddings of free-text queries.

    The queries go through the head's frozen text tower as class names do
    (same tokenizer, same checks: too long or duplicate queries are
    refused), without a prompt template: write the query as the text.

    Args:
        head (nn.Module): A ``DiSTTextHead`` with the text classifier.
        queries (Sequence[str]): The queries, e.g. ``['a person jumping']``.

    Returns:
        torch.Tensor: (Q, E) float32.
    """
    if getattr(head, 'text_encoder', None) is None:
        raise ValueError(
            'text search needs the text classifier (DiSTTextHead with '
            f"classifier='text'), got {type(head).__name__} without a text "
            'tower')
    queries = list(queries)
    if not queries or not all(
            isinstance(q, str) and q.strip() for q in queries):
        raise ValueError(f'expected one or more non-empty text queries, got '
                         f'{queries!r}')
    tokens = tokenize_class_names(queries, head.text_encoder.context_length,
                                  None, 'the queries')
    device = next(head.text_encoder.parameters()).device
    with torch.no_grad():
        feats = head.text_encoder(tokens.to(device))
    return F.normalize(feats.float(), dim=-1)


def window_query_similarity(head: nn.Module, embeddings: torch.Tensor,
                            text: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of window embeddings and query embeddings, as the
    text classifier computes it (before its logit scale).

    Args:
        head (nn.Module): The ``DiSTTextHead`` (its ``input_proj``, if any,
            maps the embeddings first).
        embeddings (torch.Tensor): (W, E_video) window embeddings.
        text (torch.Tensor): (Q, E) from :func:`query_text_features`.

    Returns:
        torch.Tensor: (W, Q) similarities in [-1, 1].
    """
    with torch.no_grad():
        x = embeddings.to(text.device)
        proj = getattr(head, 'input_proj', None)
        if proj is not None:
            x = proj(x)
        return F.normalize(x.float(), dim=-1) @ text.t()


def best_ranges(results: Sequence[WindowResult], similarity: torch.Tensor,
                num_ranges: int) -> List[dict]:
    """The best non-overlapping windows for one query.

    Windows are taken best first; a window overlapping (in frames) one
    already taken is skipped.

    Args:
        results (Sequence[WindowResult]): The windows.
        similarity (torch.Tensor): (W,) their scores for the query.
        num_ranges (int): Ranges returned at most.

    Returns:
        list[dict]: ``start_time``, ``end_time``, ``start_frame``,
        ``end_frame``, ``window`` and ``score``, best first.
    """
    if num_ranges < 1:
        raise ValueError(f'num_ranges must be >= 1, got {num_ranges}')
    taken: List[WindowResult] = []
    out = []
    for w in similarity.argsort(descending=True).tolist():
        r = results[w]
        if any(r.start_frame <= t.end_frame and t.start_frame <= r.end_frame
               for t in taken):
            continue
        taken.append(r)
        out.append(
            dict(
                start_time=round(r.start_time, 6),
                end_time=round(r.end_time, 6),
                start_frame=r.start_frame,
                end_frame=r.end_frame,
                window=r.index,
                score=float(similarity[w])))
        if len(out) == num_ranges:
            break
    return out


def search_text(model: nn.Module,
                results: Sequence[WindowResult],
                queries: Sequence[str],
                num_ranges: int = 3) -> List[dict]:
    """Find where in a video each text query fits best.

    Args:
        model (nn.Module): The recognizer (``model.cls_head`` a
            ``DiSTTextHead``).
        results (Sequence[WindowResult]): Windows of the video, from
            :meth:`SlidingWindowRecognizer.run`.
        queries (Sequence[str]): Free-text queries.
        num_ranges (int): Best ranges per query. Defaults to 3.

    Returns:
        list[dict]: Per query, ``query`` and ``ranges``
        (:func:`best_ranges`).
    """
    if not results:
        raise ValueError('no windows to search (the video gave none)')
    text = query_text_features(model.cls_head, queries)
    sims = window_query_similarity(model.cls_head,
                                   torch.stack([r.embedding for r in results]),
                                   text)
    return [
        dict(query=q, ranges=best_ranges(results, sims[:, i], num_ranges))
        for i, q in enumerate(queries)
    ]
