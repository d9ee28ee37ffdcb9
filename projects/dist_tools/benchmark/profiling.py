"""Operator profile of one iteration of a mode (``torch.profiler``)."""
import sys
import time
from typing import Dict, List, Tuple

from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

from .runners import ModeRunner


def profile_ops(runner: ModeRunner, k: int) -> Tuple[List[dict], Dict]:
    """Profile one untimed iteration of a mode; its ``k`` costliest ops.

    Prints the profiler's table (sorted by self time) to stderr.

    Args:
        runner (ModeRunner): The mode, already warmed up.
        k (int): How many operators to report.

    Returns:
        tuple[list[dict], dict]: The ``k`` operators with the largest self
        time (device time on CUDA), costliest first: ``op``, ``calls``,
        ``self_ms`` (self CPU time) and, on CUDA, ``self_device_ms``. And
        the iteration's totals: ``wall_ms`` (profiled, so slower than
        timed iterations), ``op_calls`` and ``self_cpu_ms`` of all
        operators, and on CUDA ``device_ms``, the summed duration of the
        device's own events (kernels, copies); a ``device_ms`` well below
        ``wall_ms`` means the device waited for the host.
    """
    cuda = runner.device.type == 'cuda'
    activities = [ProfilerActivity.CPU]
    if cuda:
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        t0 = time.perf_counter()
        runner.run(timed=False)  # ends with a device synchronisation
        wall = time.perf_counter() - t0
    events = prof.key_averages()
    cpu_ops = [e for e in events if e.device_type == DeviceType.CPU]
    # device time as torch's own table sums it: the device's events, not
    # the GPU-side spans of user annotations (they cover counted kernels)
    device_events = [
        e for e in events if e.device_type == DeviceType.CUDA
        and not getattr(e, 'is_user_annotation', False)
    ]
    totals = dict(
        wall_ms=wall * 1e3,
        op_calls=sum(e.count for e in cpu_ops),
        self_cpu_ms=sum(e.self_cpu_time_total for e in cpu_ops) / 1e3,
        device_ms=(sum(e.self_device_time_total
                       for e in device_events) / 1e3 if cuda else None))
    sort_by = 'self_device_time_total' if cuda else 'self_cpu_time_total'
    print(
        f'== profile of {runner.spec.key}: {k} costliest operators ==',
        file=sys.stderr)
    print(events.table(sort_by=sort_by, row_limit=k), file=sys.stderr)
    top = sorted(events, key=lambda e: getattr(e, sort_by), reverse=True)[:k]
    rows = []
    for e in top:
        row = dict(
            op=e.key, calls=e.count, self_ms=e.self_cpu_time_total / 1e3)
        if cuda:
            row['self_device_ms'] = e.self_device_time_total / 1e3
        rows.append(row)
    return rows, totals
