"""Per-window outputs of the long-video tool: temporal smoothing, top-k
records, JSON and CSV files."""
import csv
import json
from collections import deque
from typing import List, Optional, Sequence

import torch

from .sliding_window import WindowResult


class ScoreSmoother:
    """Causal moving average of window scores (usable on live video).

    Args:
        size (int): Windows averaged: the current one and the ``size - 1``
            before it (fewer at the start). 1 turns smoothing off.
    """

    def __init__(self, size: int = 1) -> None:
        if not isinstance(size, int) or size < 1:
            raise ValueError(f'smoothing size must be an integer >= 1, got '
                             f'{size!r}')
        self.size = size
        self._recent = deque(maxlen=size)

    def __call__(self, scores: torch.Tensor) -> torch.Tensor:
        """Add a window's (K,) scores; return the (K,) average."""
        self._recent.append(scores)
        return torch.stack(list(self._recent)).mean(0)


def window_record(result: WindowResult,
                  scores: torch.Tensor,
                  topk: int,
                  class_names: Optional[Sequence[str]] = None) -> dict:
    """The JSON record of one window.

    Args:
        result (WindowResult): The window.
        scores (torch.Tensor): (K,) scores to rank (raw or smoothed).
        topk (int): Classes kept (at most K).
        class_names (Sequence[str], optional): Names by label id.

    Returns:
        dict: ``window``, ``start_frame``, ``end_frame``, ``start_time``,
        ``end_time`` and ``topk`` (``label``, ``name``, ``score``, best
        first).
    """
    values, labels = scores.topk(min(topk, scores.numel()))
    return dict(
        window=result.index,
        start_frame=result.start_frame,
        end_frame=result.end_frame,
        start_time=round(result.start_time, 6),
        end_time=round(result.end_time, 6),
        topk=[
            dict(
                label=int(i),
                name=class_names[int(i)] if class_names else str(int(i)),
                score=float(v)) for v, i in zip(values, labels)
        ])


def write_json(path: str, header: dict, records: List[dict]) -> None:
    """Write ``header`` with ``windows=records`` as JSON."""
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(dict(header, windows=records), f, indent=1)


def write_csv(path: str, records: List[dict]) -> None:
    """One CSV row per window and rank: ``window, start_frame, end_frame,
    start_time, end_time, rank, label, name, score``."""
    fields = ('window', 'start_frame', 'end_frame', 'start_time', 'end_time')
    with open(path, 'w', encoding='utf-8', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(fields + ('rank', 'label', 'name', 'score'))
        for record in records:
            for rank, item in enumerate(record['topk'], 1):
                writer.writerow([record[k] for k in fields] + [
                    rank, item['label'], item['name'], f"{item['score']:.6g}"
                ])
