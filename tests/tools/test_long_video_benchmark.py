"""Smoke test of tools/analysis/long_video_benchmark.py on the tiny config
(no timing is asserted: only that both paths run on the same windows and
that reuse sends fewer frames through the frozen tower)."""
import json
import os.path as osp

from tests.helpers import REPO_ROOT, load_tool

tool = load_tool('analysis/long_video_benchmark.py')


def test_reuse_and_recompute_cover_the_same_windows(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / 'long_video.json'
    tool.main([
        osp.join(REPO_ROOT, 'configs', 'dist_tiny_synthetic.py'), '--seconds',
        '8', '--fps', '8', '--long-factor', '2', '--threads', '1', '--out',
        str(out)
    ])
    result = json.loads(out.read_text())
    recompute, reuse = result['recompute'], result['reuse']
    assert not recompute['reuse_tower'] and reuse['reuse_tower']
    assert recompute['windows'] == reuse['windows'] >= 2
    assert reuse['tower_frames'] < recompute['tower_frames']
    # the reuse path batches window / stride windows, the baseline none
    assert (recompute['batch_windows'], reuse['batch_windows']) == (1, 4)
    # every window equals the plain forward's (the parity criterion)
    assert set(result['max_relative_difference']) == {'scores', 'embedding'}
    assert all(0 <= d <= 1e-5
               for d in result['max_relative_difference'].values())
    short, long = result['memory']
    assert long['windows'] > short['windows']
    # the frame cache is bounded: no larger for the longer video
    assert long['peak_cached_frames'] == short['peak_cached_frames']


def test_largest_difference_is_relative_to_the_reference():
    import torch

    from projects.dist.apis import WindowResult

    def window(scores):
        scores = torch.tensor(scores)
        return WindowResult(0, 0, 7, 0.0, 1.0, scores, 2 * scores)

    got = [window([1.0, 2.0]), window([0.5, 4.5])]
    want = [window([1.0, 2.0]), window([0.5, 4.0])]
    assert tool.largest_difference(got, want, 'scores') == 0.5 / 4.0
    assert tool.largest_difference(got, want, 'embedding') == 1.0 / 8.0
    assert tool.largest_difference(want, want, 'scores') == 0.0
