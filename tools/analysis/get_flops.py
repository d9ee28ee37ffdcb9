# Copyright (c) DiST-MMAction2 contributors. Licensed under Apache-2.0.
"""Report GMACs per view and parameter counts of a DiST recognizer config.

The model is built on the ``meta`` device (no memory, no weights loaded) and
one view is counted under :class:`torch.utils.flop_counter.FlopCounterMode`;
see :mod:`projects.dist_tools.get_flops` and docs/benchmark.md.

Examples::

    python tools/analysis/get_flops.py configs/dist_vitb_k400.py
    python tools/analysis/get_flops.py configs/_base_/models/dist_tiny.py \\
        --shape 1 3 8 32 32 --json
"""
from typing import List, Optional

from projects.dist.utils.cli import run_tool
from projects.dist_tools import get_flops


def main(argv: Optional[List[str]] = None) -> dict:
    """Entry point: print the table, or one JSON object with ``--json``
    (see :func:`projects.dist_tools.get_flops.main`).

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        dict: The counts (also printed).
    """
    return get_flops.main(argv)


if __name__ == '__main__':
    run_tool(main)
