"""``python -m projects.dist_tools.benchmark``: the benchmark's command line
(the same as ``tools/analysis/benchmark.py``; ``--isolate`` runs its
children this way)."""
from projects.dist.utils.cli import run_tool
from projects.dist_tools.benchmark.run import main

if __name__ == '__main__':
    run_tool(main)
