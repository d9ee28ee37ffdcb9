"""The pipeline benchmark (tools/analysis/benchmark_pipeline.py), the video
generator and the re-encoder (tools/data/) on tiny generated files. No
timing is asserted: only what the files are and what the JSON lines
carry."""
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import load_tool

bench = load_tool('analysis/benchmark_pipeline.py')
generator = load_tool('data/generate_benchmark_videos.py')
reencoder = load_tool('data/reencode_videos.py')

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
K400 = osp.join(REPO_ROOT, 'configs', 'dist_vitb_k400.py')


def packets(path: str) -> list:
    """(pts, keyframe) of the video packets, decode order."""
    import av
    with av.open(path) as container:
        stream = container.streams.video[0]
        return [(p.pts, p.is_keyframe) for p in container.demux(stream)
                if p.size > 0]


@pytest.fixture(scope='module')
def kinetics_like(tmp_path_factory) -> str:
    """Two short Kinetics-like files: H.264, keyframe every 20 frames."""
    root = str(tmp_path_factory.mktemp('k400'))
    generator.generate(
        root, 'kinetics', 2, seconds=1.5, size=(96, 72), keyint=20)
    return root


def test_generated_files_are_like_the_datasets(kinetics_like, tmp_path):
    import av
    path = osp.join(kinetics_like, 'kinetics_0000.mp4')
    with av.open(path) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == 'h264'
        assert (stream.width, stream.height) == (96, 72)
        assert stream.average_rate == 30
    found = packets(path)
    assert len(found) == 45
    assert [i for i, (_, key) in enumerate(found) if key] == [0, 20, 40]
    # B-frames: decode order differs from presentation order
    pts = [p for p, _ in found]
    assert pts != sorted(pts)
    lines = open(osp.join(kinetics_like, 'list.txt')).read().split('\n')
    assert lines[:2] == ['kinetics_0000.mp4 0', 'kinetics_0001.mp4 1']
    # own process: after decord opened a video, PyAV's libvpx-vp9 encoder
    # fails to open in that process (decord's bundled FFmpeg)
    subprocess.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'data', 'generate_benchmark_videos.py'),
        str(tmp_path), '--kind', 'sthv2', '--num', '1', '--seconds', '1'
    ],
                   check=True,
                   capture_output=True)
    with av.open(str(tmp_path / 'sthv2_0000.webm')) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == 'vp9'
        assert (stream.width, stream.height) == (427, 240)
    with pytest.raises(ValueError, match="unknown kind 'ucf'"):
        generator.generate(str(tmp_path), 'ucf', 1)


def test_benchmark_reports_each_split_and_variant(kinetics_like, tmp_path):
    out = tmp_path / 'pipe.jsonl'
    assert bench.main([
        K400, kinetics_like, '--variants', 'stock,pyav,decord', '--rounds',
        '1', '--out',
        str(out)
    ]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r['split'], r.get('variant'))
            for r in records] == [('train', 'stock'), ('train', 'pyav'),
                                  ('train', 'decord'), ('test', 'stock'),
                                  ('test', 'pyav'), ('test', 'decord'),
                                  ('summary', None)]
    for rec in records[:-1]:
        assert rec['videos'] == 2
        # test: 3 views of every video
        assert rec['clips'] == (2 if rec['split'] == 'train' else 6)
        assert set(
            rec['cpu_ms_per_video']) == {'decode', 'resize_crop', 'format'}
        assert rec['clips_per_core_s'] > 0 and rec['clips_per_worker_s'] > 0
    assert records[0]['steps'][:3] == [
        'DecordInit', 'UniformSample', 'DecordDecode'
    ]
    assert records[1]['steps'][:3] == [
        'DiSTVideoInit', 'UniformSample', 'DiSTVideoDecode'
    ]
    assert records[-1]['train']['stock'] == 1.0
    assert set(records[-1]['test']) == {'stock', 'pyav', 'decord'}


def test_variants_see_the_same_frames(kinetics_like):
    """Seeded alike, every variant samples and crops the same: their
    outputs are equal (the decoders return the same frames)."""
    import torch
    from mmengine.config import Config
    pipeline = Config.fromfile(K400).train_dataloader.dataset.pipeline
    path = osp.join(kinetics_like, 'kinetics_0001.mp4')
    outputs = []
    for variant in ('stock', 'pyav', 'decord'):
        timed = bench.TimedPipeline(bench.to_variant(pipeline, variant))
        bench.seed_all(3)
        outputs.append(
            timed(dict(filename=path, label=0, start_index=0,
                       modality='RGB'))['inputs'])
    for other in outputs[1:]:
        assert torch.equal(outputs[0], other)


def test_bad_arguments_are_named(kinetics_like, tmp_path, capsys):
    assert bench.main([K400, kinetics_like, '--variants', 'opencv']) == 2
    assert "unknown variant 'opencv'" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match='no video files'):
        bench.list_videos(str(tmp_path))


def test_reencode_sets_keyframes_and_size(kinetics_like, tmp_path):
    out = tmp_path / 'fast'
    assert reencoder.main(
        [kinetics_like,
         str(out), '--short-side', '36', '--keyint', '8']) == 0
    path = str(out / 'kinetics_0000.mp4')
    import av
    with av.open(path) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (48, 36)
    found = packets(path)
    assert len(found) == 45  # every frame kept
    keys = [i for i, (_, key) in enumerate(found) if key]
    # at most 8 frames apart (x264 may add one at a scene cut)
    assert keys[0] == 0 and max(np.diff(keys + [45])) <= 8
    # a second run skips the converted files
    done, failed = reencoder.convert_folder(kinetics_like, str(out))
    assert done == [] and failed == []


def test_reencode_reports_undecodable_files(tmp_path, capsys):
    (tmp_path / 'in').mkdir()
    (tmp_path / 'in' / 'bad.mp4').write_bytes(b'not a video at all')
    assert reencoder.main([str(tmp_path / 'in'), str(tmp_path / 'out')]) == 1
    assert 'bad.mp4: ' in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match='no video files'):
        reencoder.convert_folder(str(tmp_path / 'out'), str(tmp_path / 'x'))


def test_target_size_is_even():
    assert reencoder.target_size(340, 256, 256) == (340, 256)
    assert reencoder.target_size(1280, 720, 256) == (456, 256)
    assert reencoder.target_size(427, 240, 0) == (428, 240)
    assert np.all(np.array(reencoder.target_size(101, 77, 51)) % 2 == 0)


def test_variant_reads_another_folder(kinetics_like, tmp_path):
    reencoder.convert_folder(kinetics_like, str(tmp_path), keyint=8)
    records = bench.run(
        K400,
        kinetics_like,
        splits=('test', ),
        variants=('stock', f'pyav@{tmp_path}'),
        rounds=1)
    assert records[0]['video_dir'] == kinetics_like
    assert records[1]['video_dir'] == str(tmp_path)
    assert records[1]['variant'] == f'pyav@{tmp_path}'
    assert records[1]['steps'][0] == 'DiSTVideoInit'
    with pytest.raises(FileNotFoundError, match='no video files'):
        bench.run(
            K400, kinetics_like, variants=('stock', f'pyav@{tmp_path}/x'))
    one = tmp_path / 'one'
    one.mkdir()
    (one / 'a.mp4').write_bytes((tmp_path / 'kinetics_0000.mp4').read_bytes())
    with pytest.raises(
            ValueError, match=r"'pyav@.*one' has 1 videos, "
            'expected 2'):
        bench.run(K400, kinetics_like, variants=('stock', f'pyav@{one}'))
