"""Tests of tools/misc/check_videos.py."""
import importlib.util
import os
import os.path as osp
import runpy
import sys

import pytest
from tests.video_utils import write_random_video

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(REPO_ROOT, 'tools', 'misc', 'check_videos.py')


def load_tool():
    """Import the script as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location('check_videos', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    code = load_tool().main(
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
    tool = load_tool()
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
        load_tool().main([str(ann), str(tmp_path)])
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
        load_tool().main(args)
    assert info.value.code == 2
    assert match.format(root=root) in capsys.readouterr().err
