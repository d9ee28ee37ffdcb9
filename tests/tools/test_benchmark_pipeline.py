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


def decode_positions(path: str) -> tuple:
    """Decode position of each frame (presentation order), keyframes'."""
    found = packets(path)
    by_pts = sorted(range(len(found)), key=lambda i: found[i][0])
    return by_pts, [i for i, (_, key) in enumerate(found) if key]


def test_floor_decodes_from_the_needed_keyframe_to_the_wanted_frame(
        kinetics_like):
    """The floor sends the packets from the keyframe before each wanted
    frame up to that frame's packet, nothing past it, and hands on black
    frames of the video's size."""
    from projects.dist.datasets.transforms.video_readers import PyAVReader
    path = osp.join(kinetics_like, 'kinetics_0000.mp4')
    pos, keys = decode_positions(path)
    assert keys == [0, 20, 40]
    floor = bench.DecodeFloorReader(path)
    # one GOP: from its keyframe to the later wanted frame's packet
    wanted = [27, 23]
    last = max(pos[i] for i in wanted)
    frames = floor.get_frames(wanted + [23])
    assert floor.runs == [(20, last + 1)]
    assert floor.sent == last + 1 - 20
    reference = PyAVReader(path).get_frames(wanted)
    assert len(frames) == 3
    for frame in frames:
        assert frame.shape == reference[0].shape == (72, 96, 3)
        assert frame.dtype == np.uint8 and not frame.any()
    # two GOPs apart: the decoder restarts at the later keyframe
    floor.get_frames([2, 42])
    assert floor.runs == [(0, pos[2] + 1), (40, pos[42] + 1)]
    assert floor.sent == pos[2] + 1 + pos[42] + 1 - 40
    # a frame of the next GOP needed after one of the first: one run, as
    # the run reaches the keyframe
    floor.get_frames([0, 19, 21])
    first = max(pos[0], pos[19])
    assert first + 1 >= 20
    assert floor.runs == [(0, max(first, pos[21]) + 1)]


def test_floor_is_a_variant_not_a_backend(kinetics_like):
    import torch
    from mmaction.registry import TRANSFORMS
    from mmengine.config import Config
    cfg = Config.fromfile(K400)
    path = osp.join(kinetics_like, 'kinetics_0001.mp4')
    for split in ('train', 'test'):
        pipeline = cfg[f'{split}_dataloader'].dataset.pipeline
        outputs = {}
        for variant in ('pyav', 'floor'):
            steps = bench.to_variant(pipeline, variant)
            timed = bench.TimedPipeline(steps)
            bench.seed_all(5)
            outputs[variant] = timed(
                dict(filename=path, label=0, start_index=0,
                     modality='RGB'))['inputs']
        assert steps[0] == dict(type='DecodeFloorInit')
        assert [bench.step_group(s) for s in steps][:3] == ['decode'] * 3
        assert outputs['floor'].shape == outputs['pyav'].shape
        assert outputs['pyav'].any() and not outputs['floor'].any()
        assert torch.equal(outputs['floor'],
                           torch.zeros_like(outputs['floor']))
    with pytest.raises(ValueError, match="unknown video backend 'floor'"):
        TRANSFORMS.build(dict(type='DiSTVideoInit', backend='floor'))
    with pytest.raises(KeyError):
        TRANSFORMS.build(dict(type='DecodeFloorInit'))


def test_floor_and_step_times_are_reported(kinetics_like):
    records = bench.run(
        K400,
        kinetics_like,
        splits=('train', ),
        variants=('stock', 'pyav', 'floor'),
        rounds=1)
    assert [r.get('variant')
            for r in records] == ['stock', 'pyav', 'floor', None]
    for rec in records[:-1]:
        assert len(rec['cpu_ms_per_step']) == len(rec['steps'])
        assert all(t >= 0 for t in rec['cpu_ms_per_step'])
        assert sum(rec['cpu_ms_per_step']) == pytest.approx(
            sum(rec['cpu_ms_per_video'].values()), abs=0.01)
    assert records[2]['steps'][:3] == [
        'DecodeFloorInit', 'UniformSample', 'DiSTVideoDecode'
    ]
    assert set(records[-1]['train']) == {'stock', 'pyav', 'floor'}
