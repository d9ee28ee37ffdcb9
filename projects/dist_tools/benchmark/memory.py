"""Peak memory of the benchmark's modes.

* CUDA: ``torch.cuda.max_memory_allocated`` per timed iteration (recorded by
  the runners).
* CPU: :class:`RssSampler`, the largest resident set size sampled while a
  mode ran (process-wide), and :func:`process_peak_rss_mb`, the process's
  monotonic peak.
* Any device: :func:`saved_activations_mb`, what autograd keeps for backward
  in one training step.
"""
import os
import os.path as osp
import platform
import resource
import threading
from typing import Dict, Optional

import torch

from .runners import ModeRunner


class RssSampler:
    """Sample this process's resident set size in a background thread.

    Reads ``/proc/self/statm`` (Linux) every ``interval`` seconds and keeps
    the largest value seen per label (the mode running at the time).

    Args:
        interval (float): Seconds between samples. Defaults to 0.005.
    """

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.label: Optional[str] = None
        self.peaks: Dict[str, int] = {}
        self._stop = threading.Event()
        # held while a sample is read and filed, so a sample taken after
        # mark() returns is never filed under the previous label
        self._lock = threading.Lock()
        self._page = os.sysconf('SC_PAGE_SIZE')
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def available() -> bool:
        """bool: Whether ``/proc/self/statm`` can be read."""
        return osp.exists('/proc/self/statm')

    def current(self) -> int:
        """int: The resident set size now, in bytes."""
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * self._page

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                if self.label is not None:
                    self._record(self.label)
            self._stop.wait(self.interval)

    def mark(self, label: Optional[str]) -> None:
        """Attribute the following samples to ``label`` (None pauses).

        Args:
            label (str, optional): The running mode's key.
        """
        with self._lock:
            if label is not None:  # sample at least once per label
                self._record(label)
            self.label = label

    def _record(self, label: str) -> None:
        rss = self.current()
        if rss > self.peaks.get(label, 0):
            self.peaks[label] = rss

    def __enter__(self) -> 'RssSampler':
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def process_peak_rss_mb() -> float:
    """float: The process's peak RSS so far (``getrusage``), in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes
    return peak / 2**20 if platform.system() == 'Darwin' else peak / 2**10


def saved_activations_mb(runner: ModeRunner) -> float:
    """Memory autograd keeps for backward in one untimed training step.

    Every tensor saved for backward during the step's forward is recorded
    (``torch.autograd.graph.saved_tensors_hooks``); the sizes of their
    distinct storages are summed. All are alive together when backward
    starts, so this is the activation memory of the step on any device,
    without weights, gradients, optimizer state or temporaries. Frozen
    weights cast by autocast and saved by a product count too.

    Args:
        runner (ModeRunner): A train mode, already warmed up.

    Returns:
        float: MiB.
    """
    storages = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[(storage.device, storage.data_ptr())] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        runner.run(timed=False)
    return sum(storages.values()) / 2**20
