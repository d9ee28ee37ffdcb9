"""Tests of tools/misc/check_videos.py."""
import os
import os.path as osp
import runpy
import sys

import pytest

from tests.helpers import REPO_ROOT, load_tool
from tests.video_utils import (cut_with_stream_copy, write_pyav_video,
                               write_random_video)

SCRIPT = osp.join(REPO_ROOT, 'tools', 'misc', 'check_videos.py')


def load_check_videos():
    """Import the script as a module (tools/ is not a package)."""
    return load_tool('misc/check_videos.py')


@pytest.fixture
def listing(tmp_path):
    """Eight listed clips, four of them unreadable in different ways."""
    root = tmp_path / 'videos'
    (root / 'sub dir').mkdir(parents=True)
    names = [f'v{i}.mp4' for i in range(6)] + ['sub dir/a b.mp4', 'gone.mp4']
    for i, name in enumerate(names[:-1]):
        write_random_video(str(root / name), i, num_frames=10)
    data = (root / 'v1.mp4').read_bytes()
    (root / 'v1.mp4').write_bytes(data[:len(data) * 9 // 10])  # truncated
    (root / 'v3.mp4').write_bytes(b'')  # empty
    (root / 'v5.mp4').write_bytes(b'not a video' * 100)  # garbage
    ann = tmp_path / 'list.txt'
    ann.write_text(''.join(f'{n} {i % 3}\n' for i, n in enumerate(names)))
    bad = [str(root / n) for n in ('v1.mp4', 'v3.mp4', 'v5.mp4', 'gone.mp4')]
    return str(ann), str(root), bad


def test_lists_exactly_the_unreadable_files(listing, tmp_path, capsys):
    ann, root, bad = listing
    out, clean = str(tmp_path / 'bad.txt'), str(tmp_path / 'clean.txt')
    code = load_check_videos().main(
        [ann, root, '--num-workers', '2', '--out', out, '--out-clean', clean])
    assert code == 1
    printed = capsys.readouterr().out.splitlines()
    assert [line.split(': ')[0] for line in printed[:-1]] == bad
    assert 'file not found' in printed[3] and 'empty file' in printed[1]
    assert printed[-1] == (f'checked 8 videos listed in {ann}: 4 unreadable '
                           '(50.0 %)')
    with open(out) as f:
        assert f.read().split('\n')[:-1] == bad
    with open(clean) as f:
        assert f.read() == 'v0.mp4 0\nv2.mp4 2\nv4.mp4 1\nsub dir/a b.mp4 0\n'


def test_clean_list_passes_with_exit_code_zero(listing, tmp_path):
    ann, root, _ = listing
    clean = str(tmp_path / 'clean.txt')
    tool = load_check_videos()
    tool.main([ann, root, '--out-clean', clean])
    assert tool.main([clean, root]) == 0


def test_command_line_exit_code_and_progress(listing, monkeypatch, capsys):
    ann, root, _ = listing
    monkeypatch.setattr(sys, 'argv', [SCRIPT, ann, root])
    with pytest.raises(SystemExit) as info:
        runpy.run_path(SCRIPT, run_name='__main__')
    assert info.value.code == 1
    captured = capsys.readouterr()
    assert '8/8' in captured.err  # the progress bar
    assert captured.out.splitlines()[-1].endswith('4 unreadable (50.0 %)')


@pytest.mark.parametrize('content, match', [
    (None, 'annotation list not found'),
    ('', 'holds no samples'),
    (b'\xff\xfe\x00binary', 'cannot be read as UTF-8 text'),
])
def test_bad_annotation_list_is_a_usage_error(tmp_path, capsys, content,
                                              match):
    ann = tmp_path / 'list.txt'
    if isinstance(content, bytes):
        ann.write_bytes(content)
    elif content is not None:
        ann.write_text(content)
    with pytest.raises(SystemExit) as info:
        load_check_videos().main([str(ann), str(tmp_path)])
    assert info.value.code == 2  # not 1, which means "unreadable videos"
    err = capsys.readouterr().err
    assert err.startswith('check_videos.py: error: ') and match in err


@pytest.mark.parametrize('args, match', [
    (['nope'], "video root '{root}/nope' is not a folder"),
    (['.', '--num-workers', '0'], '--num-workers must be >= 1, got 0'),
])
def test_bad_root_and_workers_are_usage_errors(listing, capsys, args, match):
    ann, root, _ = listing
    args = [ann, os.path.join(root, args[0])] + args[1:]
    with pytest.raises(SystemExit) as info:
        load_check_videos().main(args)
    assert info.value.code == 2
    assert match.format(root=root) in capsys.readouterr().err


@pytest.fixture
def decord_misreads(tmp_path):
    """A plain H.264 file, a stream-copy cut of it (an MP4 edit list), an
    AVI with B-frames and an AV1 file."""
    root = tmp_path / 'videos'
    root.mkdir()
    src = write_pyav_video(
        str(root / 'src.mp4'), num_frames=20, options=dict(g='5'))
    cut_with_stream_copy(src, str(root / 'cut.mp4'), 1.3)
    write_pyav_video(str(root / 'av1.mp4'), 'libsvtav1')
    write_pyav_video(
        str(root / 'b.avi'), 'mpeg4', num_frames=30, options=dict(bf='2'))
    return root


def test_flags_stream_copy_cut_and_names_unsupported_codec(
        decord_misreads, tmp_path, capsys):
    """For decord: a stream-copy cut decodes (the old check passed it) but
    out of time order; AV1 is named as the codec decord cannot decode."""
    root = decord_misreads
    ann = tmp_path / 'list.txt'
    ann.write_text('src.mp4 0\ncut.mp4 1\nav1.mp4 2\n')
    clean = tmp_path / 'clean.txt'
    code = load_check_videos().main([
        str(ann),
        str(root), '--out-clean',
        str(clean), '--backend', 'decord'
    ])
    assert code == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(
        f'{root}/cut.mp4: out of time order: 3 of 10 frames have negative '
        'timestamps')
    assert ('; out of time order: decord returns 10 frames where FFmpeg '
            'shows 7') in lines[0]
    assert lines[1].startswith(
        f"{root}/av1.mp4: unsupported codec: the video stream is 'av1'")
    assert 're-encode it to H.264' in lines[1]
    assert lines[2] == (f'checked 3 videos listed in {ann}: 1 unreadable '
                        '(33.3 %), 1 out of time order')
    assert clean.read_text() == 'src.mp4 0\n'


def test_pyav_passes_what_it_decodes_right(decord_misreads, tmp_path, capsys):
    """The default backend, pyav, honours the edit list, reads the AVI by
    its timestamps and decodes AV1: nothing to flag; decord flags three."""
    root = decord_misreads
    ann = tmp_path / 'list.txt'
    ann.write_text('src.mp4 0\ncut.mp4 1\nav1.mp4 2\nb.avi 3\n')
    tool = load_check_videos()
    assert tool.main([str(ann), str(root)]) == 0
    captured = capsys.readouterr()
    assert captured.out == (f'checked 4 videos listed in {ann}: 0 '
                            'unreadable (0.0 %)\n')
    assert "checking 4 videos for the 'pyav' backend" in captured.err
    assert tool.main([str(ann), str(root), '--backend', 'decord']) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(': ')[0] for line in lines[:-1]] == [
        f'{root}/{name}' for name in ('cut.mp4', 'av1.mp4', 'b.avi')
    ]
    assert lines[-1] == (f'checked 4 videos listed in {ann}: 1 unreadable '
                         '(25.0 %), 2 out of time order')


def write_config(path, backends: dict) -> str:
    """A config whose split pipelines decode with the given steps."""
    lines = []
    for split, init in backends.items():
        lines.append(f'{split}_pipeline = [{init}, dict(type="UniformSample",'
                     ' clip_len=2, num_clips=1)]\n')
    path.write_text(''.join(lines))
    return str(path)


@pytest.mark.parametrize('steps, backend', [
    (dict(train='dict(type="DiSTVideoInit", backend="decord")'), 'decord'),
    (dict(train='dict(type="DiSTVideoInit")'), 'pyav'),
    (dict(train='dict(type="DecordInit")',
          test='dict(type="DecordInit")'), 'decord'),
    (dict(train='dict(type="OpenCVInit")'), 'pyav'),
])
def test_backend_follows_the_config(decord_misreads, tmp_path, capsys, steps,
                                    backend):
    root = decord_misreads
    ann = tmp_path / 'list.txt'
    ann.write_text('cut.mp4 1\n')
    config = write_config(tmp_path / 'cfg.py', steps)
    tool = load_check_videos()
    assert tool.config_backend(config) == (None if 'OpenCVInit' in str(steps)
                                           else backend)
    code = tool.main([str(ann), str(root), '--config', config])
    captured = capsys.readouterr()
    assert f"for the '{backend}' backend" in captured.err
    assert code == (1 if backend == 'decord' else 0)
    # --backend wins over the config's
    other = 'pyav' if backend == 'decord' else 'decord'
    tool.main([str(ann), str(root), '--config', config, '--backend', other])
    assert f"for the '{other}' backend" in capsys.readouterr().err


def test_config_with_two_backends_is_a_usage_error(decord_misreads, tmp_path,
                                                   capsys):
    root = decord_misreads
    ann = tmp_path / 'list.txt'
    ann.write_text('src.mp4 0\n')
    config = write_config(
        tmp_path / 'cfg.py',
        dict(
            train='dict(type="DiSTVideoInit")',
            test='dict(type="DiSTVideoInit", backend="decord")'))
    with pytest.raises(SystemExit) as info:
        load_check_videos().main([str(ann), str(root), '--config', config])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert ('its pipelines decode with different backends (train pyav, test '
            'decord); expected one: pass --backend pyav or --backend '
            'decord') in err
    assert load_check_videos().main(
        [str(ann),
         str(root), '--config', config, '--backend', 'pyav']) == 0


@pytest.fixture
def short_listing(tmp_path):
    """Clips of 6, 9 and 12 frames and a config that samples 8 frames for
    training and 10 (4 frames 3 apart) for testing."""
    root = tmp_path / 'videos'
    root.mkdir()
    for frames in (6, 9, 12):
        write_random_video(str(root / f'f{frames}.mp4'), num_frames=frames)
    ann = tmp_path / 'list.txt'
    ann.write_text('f6.mp4 0\nf9.mp4 1\nf12.mp4 2\n')
    config = tmp_path / 'cfg.py'
    config.write_text(
        "train_pipeline = [dict(type='DecordInit'),\n"
        "    dict(type='UniformSample', clip_len=8, num_clips=1)]\n"
        'train_dataloader = dict(dataset=dict(type="RepeatDataset",\n'
        '    times=2, dataset=dict(pipeline=train_pipeline)))\n'
        "test_pipeline = [dict(type='DecordInit'), dict(type='SampleFrames',\n"
        '    clip_len=4, frame_interval=3, num_clips=2, test_mode=True)]\n')
    return str(ann), str(root), str(config)


def test_config_flags_videos_shorter_than_the_sampled_clip(
        short_listing, tmp_path, capsys):
    ann, root, config = short_listing
    out = tmp_path / 'bad.txt'
    assert load_check_videos().main(
        [ann, root, '--config', config, '--out',
         str(out)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f'{root}/f6.mp4: too short for the config: 6 frames, but the train '
        "pipeline's UniformSample(clip_len=8, num_clips=1) needs 8; the test "
        "pipeline's SampleFrames(clip_len=4, frame_interval=3, num_clips=2) "
        'needs 10 (its frames would be repeated to fill the clip)',
        f'{root}/f9.mp4: too short for the config: 9 frames, but the test '
        "pipeline's SampleFrames(clip_len=4, frame_interval=3, num_clips=2) "
        'needs 10 (its frames would be repeated to fill the clip)',
        f'checked 3 videos listed in {ann}: 0 unreadable (0.0 %), 2 too '
        f'short for {config}'
    ]
    assert out.read_text() == f'{root}/f6.mp4\n{root}/f9.mp4\n'
    # without --config the same clips pass
    assert load_check_videos().main([ann, root]) == 0


@pytest.mark.parametrize('text, match', [
    (None, "config not found: '{config}'"),
    ("train_pipeline = [dict(type='DecordInit')]\n",
     'config {config}: none of the train/val/test pipelines has a '
     'frame-sampling step (a transform with clip_len'),
])
def test_config_without_sampling_is_a_usage_error(short_listing, capsys, text,
                                                  match):
    ann, root, config = short_listing
    if text is None:
        os.remove(config)
    else:
        with open(config, 'w') as f:
            f.write(text)
    with pytest.raises(SystemExit) as info:
        load_check_videos().main([ann, root, '--config', config])
    assert info.value.code == 2
    assert match.format(config=config) in capsys.readouterr().err
