"""Speed and peak memory of a DiST config (``tools/analysis/benchmark.py``).

The parts, in the order a run uses them:

* :mod:`.cli`: the command line (flags, ``--modes``, ``--variant``) and the
  command line of an ``--isolate`` child, written from parsed arguments;
* :mod:`.data`: synthetic batches on the device, or the config's loaders;
* :mod:`.runners`: one runner per mode (``train``, ``test``,
  ``clip-only``), each timing single iterations;
* :mod:`.memory`: peak memory (CUDA allocator, sampled CPU RSS) and the
  activations a training step saves for backward;
* :mod:`.profiling`: the costliest operators of one iteration
  (``torch.profiler``);
* :mod:`.report`: one JSON object per mode, ratios between modes and a
  ``torch.utils.benchmark.Compare`` table;
* :mod:`.run`: builds the models, schedules the iterations, ``main``.
"""
