# Copyright (c) DiST-MMAction2 contributors. Licensed under Apache-2.0.
"""Measure training/inference speed and peak memory of a DiST config.

Several modes run side by side in one process, so their ratios come from the
same run; each mode prints ONE JSON line. Modes (``--modes``, comma
separated, each ``MODE[:AMP][@VARIANT]``):

* ``train``: one optimizer step through ``model.train_step`` with an MMEngine
  optimizer wrapper (``AmpOptimWrapper`` for ``fp16``/``bf16`` on CUDA; on
  CPU ``bf16`` runs ``train_step`` inside ``torch.autocast('cpu')``);
* ``test``: ``model.test_step`` (preprocessing, backbone, head) under
  ``torch.no_grad()``, with ``torch.autocast`` for ``fp16``/``bf16``;
* ``clip-only``: the preprocessing and the frozen image tower alone on the
  frames the model feeds it (``DiST.spatial_features``: every ``alpha``-th
  frame, up to the last block it reads): the lower bound of inference.

``AMP`` is ``none``, ``fp16`` or ``bf16`` (default ``--amp``). ``VARIANT``
names a model built with extra config overrides given by
``--variant NAME KEY=VALUE ...``, e.g. the official-order reference::

    python tools/analysis/benchmark.py configs/dist_vitb_k400.py \\
        --device cpu --threads 2 --batch-size 1 --iters 5 --warmup 2 \\
        --modes test,clip-only,test@reference \\
        --variant reference model.backbone.subsample_before_embedding=False \\
            model.backbone.fused_attention=False \\
            model.backbone.spatial_encoder.fused_attention=False

The reserved override ``fast_path=False`` (or a list of the fusion groups
to keep fast, e.g. ``fast_path="[tower,aggregator]"``) is not a config key:
that variant's modes run with the plain formulas of the other blocks
(``projects.dist.models.layers.fast_path``), so the fast path and the plain
path are timed side by side in one process::

    python tools/analysis/benchmark.py configs/dist_vitb_k400.py \\
        --device cpu --threads 2 --batch-size 1 --iters 5 --warmup 2 \\
        --modes test,test@plain,train,train@plain --order interleave \\
        --variant plain fast_path=False

Inputs are synthetic (random uint8 clips already on the device, random
labels) unless ``--real-data`` is given; then batches come from the config's
``train_dataloader`` (train) / ``test_dataloader`` (test, clip-only) and the
time to fetch each batch is reported separately as ``data_time_s``. Weights
are left at their random construction-time values (no checkpoint is read):
speed does not depend on them.

Peak memory is ``torch.cuda.max_memory_allocated`` per mode on CUDA. On CPU
it is the largest resident set size sampled (every few ms) while the mode
ran, which is process-wide (it includes every model built in the process and
allocator caching); use ``--isolate`` to run each mode in its own process
for comparable CPU memory figures. ``process_peak_rss_mb`` is the process's
monotonic ``getrusage`` peak. On CUDA, ``tf32`` records whether float32
matrix products and cuDNN convolutions were allowed to use TF32 (PyTorch's
defaults: products no, convolutions yes), which decides what "fp32" means,
and ``cudnn_benchmark`` whether cuDNN autotuned its algorithms (from the
config's ``env_cfg`` as in training, or ``--cudnn-benchmark on|off``).

Stdout carries only the JSON lines; logs, a table of the modes side by side
(``torch.utils.benchmark.Compare``) and profiles go to stderr. The code is
the package :mod:`projects.dist_tools.benchmark`.
"""
from typing import List, Optional

from projects.dist.utils.cli import run_tool
from projects.dist_tools.benchmark import run


def main(argv: Optional[List[str]] = None) -> List[dict]:
    """Entry point: print one JSON line per mode (see
    :func:`projects.dist_tools.benchmark.run.main`).

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        list[dict]: The results (also printed).
    """
    return run.main(argv)


if __name__ == '__main__':
    run_tool(main)
