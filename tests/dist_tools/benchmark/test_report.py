"""Tests of projects/dist_tools/benchmark/report.py: ratios between modes
and the side-by-side table."""
import pytest

from projects.dist_tools.benchmark import report


def result(key: str, times: list, order: str = 'interleave') -> dict:
    mode_amp, _, variant = key.partition('@')
    mode, amp = mode_amp.split(':')
    return dict(
        key=key,
        mode=mode,
        amp=amp,
        variant=variant or None,
        order=order,
        config='cfg.py',
        device='cpu',
        threads=2,
        iter_times=times,
        s_per_iter=sum(times) / len(times))


def test_ratios_paired_per_round():
    results = [
        result('test:none', [2.0, 4.0, 6.0]),
        result('clip-only:none', [1.0, 1.0, 2.0]),
        result('test:none@v', [4.0, 4.0, 4.0])
    ]
    report.add_ratios(results, 'clip-only')  # the amp part may be left out
    test, clip, variant = results
    assert test['ratio_to_clip_only'] == pytest.approx(3.0)
    assert test['ratio_to_clip_only_paired'] == pytest.approx(3.0)  # 2,4,3
    assert clip['time_ratio_to_baseline'] == 1.0
    # no clip-only of variant v: the base model's, same amp
    assert variant['ratio_to_clip_only_paired'] == pytest.approx(4.0)
    assert variant['time_ratio_to_baseline'] == pytest.approx(3.0)


def test_ratios_unpaired_when_not_interleaved():
    results = [
        result('test:none', [2.0, 4.0], 'sequential'),
        result('clip-only:none', [1.0, 1.0], 'sequential')
    ]
    report.add_ratios(results, None)
    assert results[0]['ratio_to_clip_only'] == pytest.approx(3.0)
    assert results[0]['ratio_to_clip_only_paired'] is None
    assert results[0]['time_ratio_to_baseline'] is None


def test_unknown_or_ambiguous_baseline_raises():
    keys = ['test:none', 'test:bf16']
    assert report.resolve_baseline('test:bf16', keys) == 'test:bf16'
    with pytest.raises(ValueError, match="'test' is not one of the modes"):
        report.resolve_baseline('test', keys)  # two amps match
    with pytest.raises(ValueError, match="'train:none' is not one of"):
        report.resolve_baseline('train:none', keys)


def test_compare_table_puts_modes_side_by_side():
    table = str(
        report.compare_table([
            result('test:none', [0.002, 0.004]),
            result('clip-only:none', [0.001, 0.001]),
            result('test:none@plain', [0.003, 0.003])
        ]))
    assert 'benchmark of cfg.py on cpu' in table
    header = next(ln for ln in table.splitlines() if 'test:none' in ln)
    assert header.index('test:none') < header.index('clip-only:none')
    rows = [ln.split('|')[0].strip() for ln in table.splitlines() if '|' in ln]
    assert {'(config)', 'plain'} <= set(rows)
