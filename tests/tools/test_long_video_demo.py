"""tools/long_video_demo.py on the tiny model: per-window top-k in JSON and
CSV as the library computes them, causal smoothing, an annotated video, a
file read as a live stream, text queries, and clear errors."""
import csv
import json

import cv2
import pytest
import torch
from mmengine.config import Config

from tests.apis.conftest import model, one_thread, tiny_config  # noqa: F401
from tests.helpers import load_tool
from tests.video_utils import write_random_video


@pytest.fixture(scope='module')
def tool():
    return load_tool('long_video_demo.py')


@pytest.fixture(scope='module')
def files(model, tmp_path_factory):  # noqa: F811
    """Config (absolute paths), weights-only checkpoint, 30-frame video."""
    root = tmp_path_factory.mktemp('lvd')
    config = str(root / 'config.py')
    tiny_config().dump(config)
    ckpt = str(root / 'model.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    video = write_random_video(
        str(root / 'v.mp4'), num_frames=30, size=(64, 48))
    return config, ckpt, video


def _run(tool, files, tmp_path, *extra):
    config, ckpt, video = files
    out = tmp_path / 'w.json'
    tool.main([
        video, config, ckpt, '--device', 'cpu', '--stride', '2', '--out-json',
        str(out), '--topk', '6', *extra
    ])
    return json.loads(out.read_text())


def test_json_csv_and_smoothing(tool, files, tmp_path):
    raw = _run(tool, files, tmp_path, '--out-csv', str(tmp_path / 'w.csv'))
    assert (raw['window'], raw['stride'], raw['fps']) == (8, 2, 8.0)
    assert raw['batch_windows'] == 4  # a file: window / stride
    windows = raw['windows']
    assert len(windows) == (30 - 8) // 2 + 1
    assert raw['tower_frames'] == 4 + (len(windows) - 1)  # each once
    for w, record in enumerate(windows):
        assert (record['start_frame'], record['end_frame']) == (2 * w,
                                                                2 * w + 7)
        assert record['start_time'] == pytest.approx(2 * w / 8)
        scores = [item['score'] for item in record['topk']]
        assert scores == sorted(scores, reverse=True)
        assert sum(scores) == pytest.approx(1, abs=1e-5)  # all 6 classes
    with open(tmp_path / 'w.csv') as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6 * len(windows)
    assert rows[0]['name'] == windows[0]['topk'][0]['name']
    smooth = _run(tool, files, tmp_path, '--smooth', '3')['windows']

    def by_label(record):
        return {i['label']: i['score'] for i in record['topk']}

    for w, record in enumerate(smooth):
        recent = [by_label(r) for r in windows[max(0, w - 2):w + 1]]
        for label, score in by_label(record).items():
            want = sum(r[label] for r in recent) / len(recent)
            assert score == pytest.approx(want, rel=1e-5)


def test_live_stream_video_and_queries(tool, files, tmp_path):
    out_video = str(tmp_path / 'annotated.mp4')
    result = _run(tool, files, tmp_path, '--backend', 'opencv', '--max-frames',
                  '20', '--out-video', out_video, '--query',
                  'a square moving left', '--num-ranges', '2')
    assert len(result['windows']) == (20 - 8) // 2 + 1
    capture = cv2.VideoCapture(out_video)
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 20
    (query, ) = result['queries']
    assert query['query'] == 'a square moving left'
    assert len(query['ranges']) == 2


def test_errors(tool, files, tmp_path):
    config, ckpt, video = files
    short = write_random_video(str(tmp_path / 's.mp4'), num_frames=5)
    with pytest.raises(ValueError, match='5 sampled frames'):
        tool.main([short, config, ckpt, '--device', 'cpu'])
    with pytest.raises(ValueError, match='smoothing size'):
        tool.main([video, config, ckpt, '--device', 'cpu', '--smooth', '0'])
    with pytest.raises(ValueError, match='max_frames is for live sources'):
        tool.main([video, config, ckpt, '--max-frames', '9'])
    assert Config.fromfile(config).model.backbone.num_frames == 8
