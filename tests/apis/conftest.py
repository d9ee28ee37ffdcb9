"""Shared fixtures of the inference API tests: the tiny synthetic config
with random towers, and a short random video."""
import os.path as osp

import pytest
import torch
from mmaction.apis import init_recognizer
from mmengine.config import Config

from tests.video_utils import write_random_video

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO_ROOT, 'configs', 'dist_tiny_synthetic.py')
LABELS = osp.join(REPO_ROOT, 'projects', 'dist', 'label_maps',
                  'synthetic_motion.txt')


def tiny_config() -> Config:
    """The tiny synthetic config with random (seeded) towers."""
    cfg = Config.fromfile(CONFIG)
    cfg.model.backbone.spatial_encoder.pretrained = None
    cfg.model.cls_head.text_encoder.pretrained = None
    cfg.model.cls_head.class_names = LABELS
    return cfg


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """The tiny model is overhead-bound: one thread is fastest."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    recognizer = init_recognizer(tiny_config(), None, device='cpu')
    recognizer.init_weights()
    return recognizer.eval()


@pytest.fixture(scope='module')
def video(tmp_path_factory):
    """41 random frames of 64 x 48 px (resized to 32 x 32 per frame)."""
    path = tmp_path_factory.mktemp('long') / 'long.mp4'
    return write_random_video(str(path), num_frames=41, size=(64, 48))
