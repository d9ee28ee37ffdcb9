"""Tests of projects/dist_tools/benchmark/profiling.py (--profile-ops)."""
from projects.dist_tools.benchmark import run


def test_profile_ops_reports_costliest_operators(write_config, capsys,
                                                 expected_keys):
    """One extra, untimed iteration per mode under torch.profiler: its K
    costliest operators in the JSON line and a table on stderr."""
    cfg = write_config()
    results = run.main([
        cfg, '--device', 'cpu', '--threads', '1', '--iters', '1', '--warmup',
        '1', '--modes', 'test,clip-only', '--profile-ops', '4'
    ])
    err = capsys.readouterr().err
    for r in results:
        assert set(r) == expected_keys | {'top_ops', 'profile_totals'}
        assert len(r['iter_times']) == 1  # the profiled run is not timed
        top = r['top_ops']
        assert len(top) == 4
        assert all(set(row) == {'op', 'calls', 'self_ms'} for row in top)
        assert [row['self_ms'] for row in top] == sorted(
            (row['self_ms'] for row in top), reverse=True)
        assert all(row['calls'] >= 1 for row in top)
        totals = r['profile_totals']
        assert totals['device_ms'] is None  # CUDA only
        assert totals['op_calls'] > sum(row['calls'] for row in top)
        # every operator's own time lies within the iteration
        assert sum(row['self_ms'] for row in top) <= totals['self_cpu_ms']
        assert 0 < totals['self_cpu_ms'] <= totals['wall_ms']
        assert f"== profile of {r['key']}: 4 costliest operators ==" in err
    # the backbone's products are among the costliest on a test step
    ops = {row['op'] for row in results[0]['top_ops']}
    assert ops & {
        'aten::addmm', 'aten::mm', 'aten::mkldnn_convolution', 'aten::addmm_',
        'aten::bmm'
    }
