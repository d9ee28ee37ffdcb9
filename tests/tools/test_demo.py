"""tools/demo.py on a tiny DiST trained here on the synthetic videos: the
correct class comes first, and another label file changes the names (and
only the names' order) without retraining -- in the demo and, through
``--cfg-options``, in tools/test.py."""
import json
import logging
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from projects.dist.datasets.video_probe import VideoFileError
from tests.helpers import (REPO_ROOT, SYNTHETIC_LABELS, TINY_SYNTHETIC_CONFIG,
                           load_tool, tiny_synthetic_run_cfg, train_one_thread)
from tests.video_utils import (cut_with_stream_copy, write_pyav_video,
                               write_random_video)

CONFIG = TINY_SYNTHETIC_CONFIG
LABELS = SYNTHETIC_LABELS
NUM_PER_CLASS = dict(train=120, val=1, test=2)
SUBSET = osp.join(REPO_ROOT, 'projects', 'dist', 'label_maps',
                  'synthetic_motion_subset.txt')


def _load_tool(name):
    return load_tool(f'{name}.py')


@pytest.fixture(scope='module')
def demo():
    """tools/demo.py as a module; the variable it sets is undone after."""
    before = os.environ.get('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD')
    yield _load_tool('demo')
    if before is None:
        os.environ.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A tiny DiST trained for a few epochs (about 20 s on one CPU thread).

    Returns:
        tuple[str, str]: The data folder and the checkpoint.
    """
    run_dir = str(tmp_path_factory.mktemp('demo_run'))
    epochs = 8
    cfg = tiny_synthetic_run_cfg(run_dir, NUM_PER_CLASS, epochs)
    cfg.train_cfg.val_interval = epochs
    cfg.param_scheduler[1].update(T_max=epochs - 1, end=epochs)
    checkpoint = train_one_thread(cfg)
    return cfg.train_dataloader.dataset.data_root, checkpoint


def _video(data_root, index):
    return osp.join(data_root, 'videos', 'test', f'{index:06d}.mp4')


def _labels(path):
    with open(path) as f:
        return f.read().splitlines()


@pytest.mark.parametrize('index', [0, 1])  # test videos 0, 1: labels 0, 1
def test_correct_class_first(demo, trained, capsys, index):
    data_root, ckpt = trained
    assert demo.main(
        [_video(data_root, index), CONFIG, ckpt, '--device', 'cpu']) == 0
    lines = capsys.readouterr().out.splitlines()
    start = [i for i, line in enumerate(lines) if line.startswith('Top-')]
    assert len(start) == 1 and lines[start[0]].startswith('Top-5 for ')
    ranked = lines[start[0] + 1:start[0] + 6]
    assert [line.split('.', 1)[0].strip()
            for line in ranked] == ['1', '2', '3', '4', '5']
    names = _labels(LABELS)
    assert ranked[0].split('.', 1)[1].strip().startswith(names[index])


def test_other_label_file_gives_its_names(demo, trained, tmp_path):
    data_root, ckpt = trained
    out = tmp_path / 'result.json'
    demo.main([
        _video(data_root, 0), CONFIG, ckpt, '--class-names', SUBSET, '--topk',
        '5', '--out',
        str(out)
    ])
    result = json.loads(out.read_text())
    subset = _labels(SUBSET)
    assert result['class_names'] == SUBSET
    # only the file's names, all of them (topk is clipped to 3 classes)
    assert sorted(r['name'] for r in result['topk']) == sorted(subset)
    top = result['topk'][0]  # video 0 is "moving right"
    assert top['name'] == 'moving right'
    assert top['label'] == subset.index('moving right')


def test_reordered_label_file_moves_labels_not_scores(demo, trained, tmp_path):
    data_root, ckpt = trained
    names = _labels(LABELS)
    reversed_file = tmp_path / 'reversed.txt'
    reversed_file.write_text('\n'.join(names[::-1]) + '\n')
    video = _video(data_root, 2)
    plain = demo.predict(video, CONFIG, ckpt, topk=6)
    swapped = demo.predict(
        video, CONFIG, ckpt, class_names=str(reversed_file), topk=6)
    by_name = {r['name']: r for r in plain['topk']}
    for r in swapped['topk']:
        assert r['label'] == len(names) - 1 - by_name[r['name']]['label']
        assert r['score'] == pytest.approx(
            by_name[r['name']]['score'], abs=1e-5)


def test_top1_on_the_generated_test_videos(demo, trained):
    data_root, ckpt = trained
    with open(osp.join(data_root, 'test.txt')) as f:
        items = [line.split() for line in f.read().splitlines()][:6]
    names = _labels(LABELS)
    assert sorted(int(label) for _, label in items) == list(range(6))
    hits = [
        demo.predict(osp.join(data_root, path), CONFIG, ckpt,
                     topk=1)['topk'][0]['name'] == names[int(label)]
        for path, label in items
    ]
    # one video per class (chance: 1 of 6); the fixture's model gets all
    # 12 test videos right when run here
    assert sum(hits) >= 5, hits


def test_bad_input_is_reported(demo, trained, tmp_path):
    _, ckpt = trained
    with pytest.raises(FileNotFoundError, match='video not found: nope.mp4'):
        demo.predict('nope.mp4', CONFIG, ckpt)
    video = _video(trained[0], 0)
    with pytest.raises(ValueError, match='topk must be >= 1, got 0'):
        demo.predict(video, CONFIG, ckpt, topk=0)
    with pytest.raises(FileNotFoundError, match='class-name file not found'):
        demo.predict(
            video, CONFIG, ckpt, class_names=str(tmp_path / 'none.txt'))


def _test_py_top1(data_root, ckpt, work_dir, options):
    """Top-1 of ``tools/test.py`` on the fixture's test split."""
    test_py = _load_tool('test')
    data = [
        f'test_dataloader.dataset.data_root={data_root}',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False'
    ] + [
        f'test_dataloader.dataset.num_per_class.{split}={num}'
        for split, num in NUM_PER_CLASS.items()
    ]
    test_py.main([
        CONFIG, ckpt, '--work-dir',
        str(work_dir), '--cfg-options', *data, *options
    ])
    (metrics_file, ) = work_dir.glob('*/*.json')
    return json.loads(metrics_file.read_text())['acc/top1']


def test_test_py_with_another_label_file(demo, trained, tmp_path):
    """The README's "new class names" recipe: a label file in another order
    plus an annotation list that uses its label ids gives the same accuracy;
    the old annotation ids no longer match the names."""
    data_root, ckpt = trained
    names = _labels(LABELS)
    reversed_file = tmp_path / 'reversed.txt'
    reversed_file.write_text('\n'.join(names[::-1]) + '\n')
    relabelled = tmp_path / 'test_reversed.txt'
    with open(osp.join(data_root, 'test.txt')) as f:
        items = [line.split() for line in f.read().splitlines()]
    relabelled.write_text(''.join(f'{path} {len(names) - 1 - int(label)}\n'
                                  for path, label in items))
    swap = [
        f'model.cls_head.class_names={reversed_file}',
        f'model.cls_head.num_classes={len(names)}'
    ]
    top1 = _test_py_top1(
        data_root, ckpt, tmp_path / 'a',
        swap + [f'test_dataloader.dataset.ann_file='
                f'{relabelled}'])
    assert top1 >= 10 / 12
    mismatched = _test_py_top1(data_root, ckpt, tmp_path / 'b', swap)
    assert mismatched <= 2 / 12


def _bad_files(tmp_path):
    """Files the demo must refuse, with the problem it must name."""
    text = tmp_path / 'labels.txt'
    text.write_text('moving left\nmoving right\n')
    png = tmp_path / 'frame.png'
    png.write_bytes(
        cv2.imencode('.png', np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    empty = tmp_path / 'empty.mp4'
    empty.write_bytes(b'')
    truncated = write_random_video(str(tmp_path / 'cut short.mp4'))
    with open(truncated, 'rb') as f:
        data = f.read()
    with open(truncated, 'wb') as f:
        f.write(data[:len(data) // 2])
    return [
        (str(text), 'not a video: a text file (starts with "moving left'),
        (str(png), 'not a video: a PNG image'),
        (str(empty), 'empty file (0 bytes)'),
        (truncated, "truncated: the MP4 box '"),
    ]


#: the tiny config's test pipeline switched to decord
DECORD = {'test_pipeline.0.backend': 'decord'}


def test_unusable_video_is_a_clear_error(demo, trained, tmp_path):
    """Not a raw decord traceback: the file and what is wrong with it."""
    _, ckpt = trained
    for video, problem in _bad_files(tmp_path):
        with pytest.raises(VideoFileError) as info:
            demo.predict(video, CONFIG, ckpt)
        assert str(info.value).startswith(f'{video}: {problem}')
        assert isinstance(info.value, ValueError)
        assert info.value.__context__ is None  # no decord stack attached


def test_codec_is_checked_for_the_pipelines_backend(demo, trained, tmp_path):
    """AV1: PyAV (the config's backend) decodes it, decord cannot; the
    demo checks the file with the backend the test pipeline uses."""
    _, ckpt = trained
    av1 = write_pyav_video(str(tmp_path / 'av1.mp4'), 'libsvtav1')
    assert demo.predict(av1, CONFIG, ckpt)['warnings'] == []
    with pytest.raises(VideoFileError) as info:
        demo.predict(av1, CONFIG, ckpt, cfg_options=DECORD)
    assert str(info.value).startswith(
        f"{av1}: unsupported codec: the video stream is 'av1', which decord "
        'cannot decode')


def test_short_and_out_of_order_videos_warn(demo, trained, tmp_path,
                                            monkeypatch):
    """A 1-frame clip is padded by repetition to the 8 frames the test
    pipeline samples, and a stream-copy cut decodes out of time order with
    MMAction2's decord steps: both are classified, with a warning naming the
    file. PyAV decodes the cut in order; DiST's decord step refuses it."""
    _, ckpt = trained
    logged = []
    monkeypatch.setattr(demo, 'print_log',
                        lambda msg, logger, level: logged.append((msg, level)))
    one = write_random_video(str(tmp_path / 'one frame.mp4'), num_frames=1)
    out = tmp_path / 'result.json'
    assert demo.main([one, CONFIG, ckpt, '--device', 'cpu', '--out',
                      str(out)]) == 0
    expected = (f"{one} has 1 frames but the test pipeline's "
                'UniformSample(clip_len=8, num_clips=1) samples 8 per clip: '
                'frames are repeated to fill the clip')
    assert len(logged) == 1 and logged[0][1] == logging.WARNING
    assert logged[0][0].startswith(expected)
    assert json.loads(out.read_text())['warnings'] == [logged[0][0]]

    src = write_pyav_video(
        str(tmp_path / 'src.mp4'), num_frames=20, options=dict(g='5'))
    assert demo.predict(src, CONFIG, ckpt)['warnings'] == []
    cut = cut_with_stream_copy(src, str(tmp_path / 'cut.mp4'), 1.3)
    # PyAV (the config's backend) honours the cut's edit list: the 7 shown
    # frames, in order (only the short-clip warning)
    pyav_warnings = demo.predict(cut, CONFIG, ckpt)['warnings']
    assert len(pyav_warnings) == 1
    assert pyav_warnings[0].startswith(f'{cut} has 7 frames but')
    # DiST's decord reader refuses it up front, saying why and what to use
    with pytest.raises(VideoFileError) as info:
        demo.predict(cut, CONFIG, ckpt, cfg_options=DECORD)
    assert str(info.value).startswith(
        f"{cut}: frames out of time order with backend 'decord': 3 of 10 "
        'frames have negative timestamps')
    assert "use backend='pyav'" in str(info.value)
    # MMAction2's own decord steps decode it: a warning, not an error
    pipeline = Config.fromfile(CONFIG).test_pipeline
    pipeline[0], pipeline[2] = dict(type='DecordInit'), dict(
        type='DecordDecode')
    warnings = demo.predict(
        cut, CONFIG, ckpt,
        cfg_options=dict(test_pipeline=pipeline))['warnings']
    assert len(warnings) == 2
    assert warnings[0].startswith(
        f'{cut}: frames out of time order, the scores may be wrong: 3 of 10 '
        'frames have negative timestamps')


def test_command_line_classes_with_template_ensemble(demo, trained, tmp_path):
    """``--classes`` and ``--templates``: the scores are the softmax of 100 x
    cosine between the video embedding and, per class, the normalised mean
    of the per-template text embeddings, each computed on its own here."""
    data_root, ckpt = trained
    video = _video(data_root, 1)
    classes = ['moving right', 'a ball bouncing', 'an empty room']
    templates = ['a video of {}.', 'a clip of an object {}.']
    out = tmp_path / 'result.json'
    assert demo.main([
        video, CONFIG, ckpt, '--device', 'cpu', '--classes', *classes,
        '--templates', *templates, '--topk', '3', '--out',
        str(out)
    ]) == 0
    result = json.loads(out.read_text())
    assert result['class_names'] == classes
    assert result['prompt_templates'] == templates
    assert sorted(r['name'] for r in result['topk']) == sorted(classes)

    from mmaction.apis import init_recognizer
    cfg = Config.fromfile(CONFIG)
    model = init_recognizer(cfg, ckpt, device='cpu')
    data = demo.build_test_pipeline(cfg)(
        dict(filename=video, label=-1, start_index=0, modality='RGB'))
    with torch.no_grad():
        batch = model.data_preprocessor(pseudo_collate([data]), training=False)
        embedding, _ = model.extract_feat(batch['inputs'], test_mode=True)
        per_template = torch.stack(
            [model.cls_head.encode_texts(classes, [t]) for t in templates])
        text = torch.nn.functional.normalize(per_template.mean(0), dim=-1)
        scores = (100.0 * torch.nn.functional.normalize(embedding, dim=-1)
                  @ text.t()).softmax(-1).mean(0)
    got = {r['name']: r['score'] for r in result['topk']}
    for name, score in zip(classes, scores.tolist()):
        assert got[name] == pytest.approx(score, abs=1e-5)
    # a template file gives the same as the templates on the command line
    path = tmp_path / 'templates.txt'
    path.write_text('\n'.join(templates) + '\n')
    same = demo.predict(
        video, CONFIG, ckpt, class_names=classes, templates=str(path))
    assert same['topk'] == result['topk']


def test_test_py_with_template_file_matches_the_demo(demo, trained, tmp_path):
    """tools/test.py with ``model.cls_head.prompt_templates=<file>`` (a file:
    MMEngine's --cfg-options drops the spaces of a value) scores every test
    video as the demo does with the same templates."""
    data_root, ckpt = trained
    templates = tmp_path / 'templates.txt'
    templates.write_text('a video of {}.\nan object {}.\n')
    dump = tmp_path / 'preds.pkl'
    test_py = _load_tool('test')
    test_py.main([
        CONFIG, ckpt, '--work-dir',
        str(tmp_path / 'work'), '--dump',
        str(dump), '--cfg-options', f'test_dataloader.dataset.data_root='
        f'{data_root}', 'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        f'model.cls_head.prompt_templates={templates}'
    ] + [
        f'test_dataloader.dataset.num_per_class.{split}={num}'
        for split, num in NUM_PER_CLASS.items()
    ])
    import pickle
    with open(dump, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 12
    names = _labels(LABELS)
    for pred in preds[:3]:
        result = demo.predict(
            pred['filename'], CONFIG, ckpt, topk=6, templates=str(templates))
        assert result['prompt_templates'] == [
            'a video of {}.', 'an object {}.'
        ]
        for item in result['topk']:
            assert float(pred['pred_score'][names.index(
                item['name'])]) == pytest.approx(
                    item['score'], abs=1e-5)
