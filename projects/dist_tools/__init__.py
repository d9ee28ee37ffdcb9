"""Tool-only code of the DiST plugin: compute counting and benchmarking.

``tools/analysis/get_flops.py`` and ``tools/analysis/benchmark.py`` are thin
entry points into this package. It imports :mod:`projects.dist`; the runtime
package never imports it back, so training and inference do not load it.
"""
