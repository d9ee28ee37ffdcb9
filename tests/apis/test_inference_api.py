"""MMAction2's own inference API on DiST: ``init_recognizer`` +
``inference_recognizer`` and the Inferencer classes give, for a trained
tiny DiST (a full MMEngine training checkpoint, and its published
weights-only file), the scores ``tools/test.py --dump`` gives for the same
synthetic test video."""
import os
import os.path as osp
import pickle

import pytest
import torch
from mmaction.apis import inference_recognizer, init_recognizer
from mmaction.apis.inferencers import (ActionRecogInferencer,
                                       MMAction2Inferencer)

from tests.helpers import load_tool, tiny_synthetic_run_cfg, train_one_thread
from tests.numerics import assert_close_model

ENV = 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """One epoch of the tiny config on 2 videos per class (a few seconds),
    its config (absolute paths) dumped next to it.

    Returns:
        tuple[str, str, str]: Config file, checkpoint, run folder.
    """
    run_dir = str(tmp_path_factory.mktemp('api_run'))
    cfg = tiny_synthetic_run_cfg(
        run_dir, dict(train=2, val=1, test=1), epochs=1)
    cfg.param_scheduler = cfg.param_scheduler[:1]
    checkpoint = train_one_thread(cfg)
    config = osp.join(run_dir, 'config.py')
    cfg.dump(config)
    return config, checkpoint, run_dir


@pytest.fixture(scope='module')
def dumped(trained, tmp_path_factory):
    """``tools/test.py --dump`` predictions, by video file."""
    config, ckpt, run_dir = trained
    before = os.environ.get(ENV)
    dump = str(tmp_path_factory.mktemp('dump') / 'preds.pkl')
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        load_tool('test.py').main([
            config, ckpt, '--work-dir',
            osp.join(run_dir, 'test_work'), '--dump', dump
        ])
    finally:  # test.py lets torch unpickle its training checkpoint
        torch.set_num_threads(threads)
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before
    with open(dump, 'rb') as f:
        preds = pickle.load(f)
    return {p['filename']: p['pred_score'] for p in preds}


@pytest.fixture
def safe_loading(monkeypatch):
    """torch's default (weights-only) loading, as a fresh user process."""
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.delenv('TORCH_FORCE_WEIGHTS_ONLY_LOAD', raising=False)


def _one_video(dumped):
    video = sorted(dumped)[1]
    return video, dumped[video]


def test_init_and_inference_recognizer_match_test_py(trained, dumped,
                                                     safe_loading):
    config, ckpt, _ = trained
    assert len(dumped) == 6
    model = init_recognizer(config, ckpt, device='cpu')
    for video, want in sorted(dumped.items()):
        got = inference_recognizer(model, video).pred_score
        assert_close_model(got, want, osp.basename(video))


def test_published_checkpoint_gives_the_same_scores(trained, dumped,
                                                    safe_loading, tmp_path):
    config, ckpt, _ = trained
    publish = load_tool('misc/publish_checkpoint.py')
    release = publish.publish_checkpoint(
        ckpt, str(tmp_path / 'release.pth'), add_hash=False)
    # the released file needs no unpickling of Python objects
    assert not torch.serialization.get_unsafe_globals_in_checkpoint(release)
    model = init_recognizer(config, release, device='cpu')
    video, want = _one_video(dumped)
    assert_close_model(inference_recognizer(model, video).pred_score, want)


def test_inferencers_match_test_py(trained, dumped, safe_loading):
    config, ckpt, _ = trained
    video, want = _one_video(dumped)
    result = ActionRecogInferencer(config, ckpt, device='cpu')(video)
    got = torch.tensor(result['predictions'][0]['pred_scores'])
    assert_close_model(got, want)
    result = MMAction2Inferencer(
        rec=config, rec_weights=ckpt, device='cpu')(
            video)
    got = torch.tensor(result['predictions'][0]['rec_scores'][0])
    assert_close_model(got, want)
