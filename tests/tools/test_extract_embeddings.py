"""tools/extract_embeddings.py on the tiny DiST config, run as a user runs it
(subprocesses, one thread per process): the embeddings are the model's
pooled output; 2 gloo ranks give exactly the single-process result; a run
killed mid-way and started again embeds only the videos not done yet;
unreadable videos are reported and skipped."""
import os
import os.path as osp
import re
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate

from tests.helpers import REPO_ROOT, load_tool
from tests.video_utils import write_random_video

TOOL = osp.join(REPO_ROOT, 'tools', 'extract_embeddings.py')
CONFIG = osp.join(REPO_ROOT, 'configs', 'dist_tiny_synthetic.py')
NUM_VIDEOS = 5
BROKEN = 'broken.mp4'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _run(cmd, cwd, check=True, **env):
    full_env = dict(os.environ)
    full_env['PATH'] = (
        osp.dirname(sys.executable) + os.pathsep + full_env.get('PATH', ''))
    full_env.pop('PYTHONPATH', None)
    # one thread everywhere (torchrun sets it for its ranks): the same
    # kernels, so the same bits, in every process
    full_env['OMP_NUM_THREADS'] = '1'
    # CPU ranks with gloo also where a GPU is present (2 ranks on one GPU
    # would need nccl with two devices)
    full_env['CUDA_VISIBLE_DEVICES'] = ''
    full_env.update(env)
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600)
    if check:
        assert proc.returncode == 0, (
            f'{cmd} exited with {proc.returncode}\n--- stdout\n'
            f'{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-6000:]}')
    return proc


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """Videos (one unreadable), their list and a tiny DiST checkpoint."""
    root = tmp_path_factory.mktemp('embed')
    videos = root / 'videos'
    videos.mkdir()
    names = []
    for i in range(NUM_VIDEOS):
        name = f'class{i % 2}/v{i}.mp4'
        os.makedirs(videos / f'class{i % 2}', exist_ok=True)
        write_random_video(str(videos / name), seed=i, num_frames=10 + i)
        names.append(name)
    (videos / BROKEN).write_text('not a video\n')
    names.insert(2, BROKEN)
    ann = root / 'list.txt'
    ann.write_text(''.join(f'{n} {i % 6}\n' for i, n in enumerate(names)))
    from mmaction.registry import MODELS
    cfg = Config.fromfile(CONFIG)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    ckpt = root / 'tiny.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    return dict(
        root=root,
        videos=str(videos),
        ann=str(ann),
        names=names,
        ckpt=str(ckpt))


def _args(setup, out, *extra):
    return [
        CONFIG, setup['ckpt'], '--videos', setup['ann'], '--data-prefix',
        setup['videos'], '--out', out, *extra
    ]


def _single(setup, out, *extra, check=True, **env):
    return _run([sys.executable, TOOL, *_args(setup, out, *extra)],
                cwd=str(setup['root']),
                check=check,
                **env)


@pytest.fixture(scope='module')
def single(setup):
    """The single-process result (with per-view embeddings)."""
    out = str(setup['root'] / 'single.npz')
    proc = _single(setup, out, '--per-clip', '--cfg-options',
                   'test_pipeline.1.num_clips=2')
    return out, proc


def _load(path):
    with np.load(path) as f:  # no pickled objects in the file
        return {k: f[k] for k in f.files}


def test_embeddings_are_the_pooled_model_output(setup, single):
    out, proc = single
    result = _load(out)
    readable = [n for n in setup['names'] if n != BROKEN]
    assert result['files'].tolist() == readable
    assert result['labels'].tolist() == [
        i % 6 for i, n in enumerate(setup['names']) if n != BROKEN
    ]
    assert result['embeddings'].shape == (NUM_VIDEOS, 32)
    assert result['clip_embeddings'].shape == (NUM_VIDEOS, 2, 32)
    np.testing.assert_array_equal(result['embeddings'],
                                  result['clip_embeddings'].mean(1))
    # the unreadable video: named with its reason, in the file and the log
    assert result['failed_files'].tolist() == [BROKEN]
    assert result['failed_reasons'][0].startswith('not a video: a text file')
    log = proc.stdout + proc.stderr
    assert re.search(r'skipped unreadable video .*broken\.mp4: not a video',
                     log)
    assert '1 of 6 videos could not be read' in log
    assert not osp.exists(out + '.parts')  # removed once written

    # recomputed here, in this process: the backbone's pooled output
    from mmaction.apis import init_recognizer
    cfg = Config.fromfile(CONFIG)
    cfg.test_pipeline[1]['num_clips'] = 2
    model = init_recognizer(cfg, setup['ckpt'], device='cpu')
    pipeline = Compose(cfg.test_pipeline)
    name = readable[1]
    data = pipeline(
        dict(
            filename=osp.join(setup['videos'], name),
            label=-1,
            start_index=0,
            modality='RGB'))
    with torch.no_grad():
        batch = model.data_preprocessor(pseudo_collate([data]), False)
        want = model.backbone(batch['inputs'][0])  # (2 views, 32)
    # same formula, other thread count: equal up to the rounding of the
    # model (the project's model-level criterion)
    from tests.numerics import assert_close_model
    assert_close_model(
        torch.from_numpy(result['clip_embeddings'][1]), want.float())


def test_two_gloo_ranks_give_exactly_the_single_process_result(setup, single):
    out = str(setup['root'] / 'two_ranks.npz')
    proc = _run([
        'bash',
        osp.join(REPO_ROOT, 'tools', 'dist_extract_embeddings.sh'), CONFIG,
        setup['ckpt'], '2', *_args(setup, out, '--per-clip', '--cfg-options',
                                   'test_pipeline.1.num_clips=2')[2:]
    ],
                cwd=str(setup['root']),
                PORT=str(_free_port()))
    log = proc.stdout + proc.stderr
    # both ranks embedded their share (6 listed: 3 each, one unreadable)
    counts = sorted(
        int(n) for n in re.findall(r'rank \d: embedded (\d+) videos', log))
    assert counts == [2, 3]
    got, want = _load(out), _load(single[0])
    assert sorted(got) == sorted(want)
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def test_killed_run_resumes_without_recomputing(setup, single, tmp_path):
    out = str(tmp_path / 'resumed.npz')
    extra = ('--per-clip', '--flush-every', '2', '--cfg-options',
             'test_pipeline.1.num_clips=2')
    # killed (SIGKILL) after its 3rd video: 2 were flushed, 1 is lost
    killed = _single(
        setup, out, *extra, check=False, DIST_EMBEDDINGS_KILL_AFTER='3')
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert not osp.exists(out)
    parts = [p for p in os.listdir(out + '.parts') if p.startswith('part-')]
    assert len(parts) == 1
    resumed = _single(setup, out, *extra)
    log = resumed.stdout + resumed.stderr
    assert 'resuming: 2 of 6 videos already done' in log
    # 5 readable videos, 2 done before: 3 embedded now (the unreadable one
    # is tried again and reported)
    assert re.search(
        r'rank 0: embedded 3 videos in this run \(2 done '
        r'before, 1 unreadable\)', log)
    got, want = _load(out), _load(single[0])
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def test_resume_with_other_settings_is_refused(setup, tmp_path):
    out = str(tmp_path / 'other.npz')
    os.makedirs(out + '.parts')
    with open(osp.join(out + '.parts', 'run.json'), 'w') as f:
        f.write('{"per_clip": true}')
    tool = load_tool('extract_embeddings.py')
    with pytest.raises(
            ValueError,
            match=r'with other settings \(.*'
            r'per_clip.*\); resume with the same arguments'):
        tool.main(_args(setup, out))


def test_folder_input_and_npy_output(setup, tmp_path):
    tool = load_tool('extract_embeddings.py')
    names, labels, prefix = tool.list_videos(setup['videos'])
    assert names == sorted(setup['names'])
    assert labels == [-1] * len(names) and prefix == setup['videos']
    out = str(tmp_path / 'emb.npy')
    result = tool.main([
        CONFIG, setup['ckpt'], '--videos', setup['videos'], '--out', out,
        '--device', 'cpu'
    ])
    assert result['written'] == NUM_VIDEOS
    assert list(result['failed']) == [BROKEN]
    assert np.load(out).shape == (NUM_VIDEOS, 32)
    with open(str(tmp_path / 'emb_files.txt')) as f:
        assert f.read().splitlines() == [n for n in names if n != BROKEN]


@pytest.mark.parametrize('argv, match', [
    (['--out', 'x.pkl'], r'--out must end in .npz or .npy'),
    (['--out', 'x.npy', '--per-clip'], r'--per-clip needs an .npz'),
    (['--out', 'x.npz', '--flush-every', '0'], r'--flush-every must be >= 1'),
])
def test_bad_arguments_are_usage_errors(argv, match, capsys):
    tool = load_tool('extract_embeddings.py')
    with pytest.raises(SystemExit):
        tool.parse_args([CONFIG, 'c.pth', '--videos', '.', *argv])
    assert re.search(match, capsys.readouterr().err)


def test_list_with_a_video_twice_is_refused(tmp_path):
    tool = load_tool('extract_embeddings.py')
    ann = tmp_path / 'list.txt'
    ann.write_text('a.mp4 0\nb.mp4 1\na.mp4 0\n')
    with pytest.raises(ValueError, match=r"listed twice .* e.g. 'a.mp4'"):
        tool.list_videos(str(ann))
