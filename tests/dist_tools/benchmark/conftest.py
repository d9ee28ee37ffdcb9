"""Fixtures of the benchmark tests: a tiny DiST config file, the documented
keys of a result line."""
import json

import pytest

from tests.helpers import tiny_model_cfg

NUM_CLASSES = 4

# the keys docs/benchmark.md documents for every JSON line
_EXPECTED_KEYS = frozenset({
    'mode', 'amp', 'variant', 'key', 'config', 'device', 'device_name',
    'threads', 'batch_size', 'clips_per_iter', 'data', 'compile', 'order',
    'iters', 'warmup', 's_per_iter', 's_per_iter_median', 's_per_iter_min',
    's_per_iter_max', 'clips_per_s', 'cpu_s_per_iter', 'data_time_s',
    'peak_mem_mb', 'mem_metric', 'process_peak_rss_mb', 'loadavg_1min',
    'torch', 'ratio_to_clip_only', 'time_ratio_to_baseline', 'iter_times',
    'ratio_to_clip_only_paired', 'time_ratio_to_baseline_paired', 'cpu_malloc',
    'tf32', 'cudnn_benchmark', 'cudnn_version', 'optimizer', 'fast_path'
})


@pytest.fixture
def expected_keys() -> frozenset:
    """The keys of every result line (without the optional ones)."""
    return _EXPECTED_KEYS


@pytest.fixture
def num_classes() -> int:
    """Classes of the tiny model."""
    return NUM_CLASSES


@pytest.fixture
def write_config(tmp_path):
    """Write a config file of a tiny DiST (CLIP width 32), with ``extra``
    config text appended; returns its path."""

    def write(extra: str = '') -> str:
        model = tiny_model_cfg(num_classes=NUM_CLASSES, clip=dict(width=32))
        path = tmp_path / 'tiny_bench.py'
        path.write_text("custom_imports = dict(imports=['projects.dist'], "
                        "allow_failed_imports=False)\n"
                        "default_scope = 'mmaction'\n"
                        f'model = {model!r}\n' + extra)
        return str(path)

    return write


@pytest.fixture
def json_lines():
    """Parse the JSON lines of a tool's stdout."""

    def parse(text: str) -> list:
        return [
            json.loads(ln) for ln in text.splitlines() if ln.startswith('{')
        ]

    return parse
