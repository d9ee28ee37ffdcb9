"""The converter CLI checks its arguments against the checkpoint before
writing anything, and never overwrites its input."""
import os
import os.path as osp

import pytest

from tests.helpers import REPO_ROOT, load_tool

PARITY_DIR = osp.join(
    os.environ.get('DIST_SHARED_DIR',
                   osp.join(osp.dirname(REPO_ROOT), 'shared')), 'parity')
NAMES = 'a\nb\nc\nd\ne\n'


def converter():
    return load_tool('model_converters/dist_official_to_mmaction.py')


@pytest.fixture
def official(tmp_path) -> str:
    """A copy of the shared official checkpoint (2 CLIP blocks, 2 DiST
    layers, text tower 32 wide with 1 head, T_t 8, alpha 2)."""
    src = osp.join(PARITY_DIR, 'ckpt_tiny_p16.pyth')
    if not osp.isfile(src):
        raise FileNotFoundError(
            f'shared official checkpoint not found at {src}; set '
            'DIST_SHARED_DIR to the folder holding parity/')
    dst = tmp_path / 'DIST.pyth'
    with open(src, 'rb') as f:
        dst.write_bytes(f.read())
    (tmp_path / 'names.txt').write_text(NAMES)
    return str(dst)


def run(tmp_path, src, *extra, dst='out.pth', cfg='out.py'):
    converter().main([
        src,
        str(tmp_path / dst), '--config-out',
        str(tmp_path / cfg), '--class-names',
        str(tmp_path / 'names.txt'), *extra
    ])


@pytest.mark.parametrize('extra, match', [
    (('--text-heads', '1', '--selected-layers', '0', '5'),
     r'\[0, 5\] must be distinct ascending CLIP block indices in \[0, 1\]'),
    (('--text-heads', '1', '--selected-layers', '1', '0'),
     'distinct ascending'),
    (('--text-heads', '1', '--selected-layers', '0'),
     'names 1 blocks but the checkpoint has 2 DiST layers'),
    (('--text-heads', '3'), '--text-heads 3 does not divide'),
    ((), 'only 32 wide.*pass the head count it was made with as '
     '--text-heads'),
    (('--text-heads', '1', '--num-frames', '16'),
     '--num-frames 16 contradicts the checkpoint'),
])
def test_contradicting_arguments_write_nothing(tmp_path, official, extra,
                                               match):
    with pytest.raises(SystemExit, match=match):
        run(tmp_path, official, *extra)
    assert not (tmp_path / 'out.pth').exists()
    assert not (tmp_path / 'out.py').exists()


def test_input_is_never_overwritten(tmp_path, official):
    before = open(official, 'rb').read()
    os.symlink(official, tmp_path / 'link.pth')
    for dst, cfg in [('DIST.pyth', 'out.py'), ('link.pth', 'out.py'),
                     ('out.pth', 'DIST.pyth')]:
        with pytest.raises(SystemExit, match='never overwrites its input'):
            run(tmp_path, official, '--text-heads', '1', dst=dst, cfg=cfg)
    with pytest.raises(SystemExit, match='same file'):
        run(tmp_path, official, '--text-heads', '1', dst='x', cfg='x')
    assert open(official, 'rb').read() == before


def test_not_a_checkpoint_is_named(tmp_path, official):
    text = tmp_path / 'notes.pyth'
    text.write_text('not a checkpoint\n')
    with pytest.raises(
            SystemExit, match=r'notes.pyth is not a PyTorch checkpoint'):
        run(tmp_path, str(text), '--text-heads', '1')


def test_valid_arguments_convert(tmp_path, official):
    run(tmp_path, official, '--text-heads', '1', '--selected-layers', '0', '1')
    assert (tmp_path / 'out.pth').is_file()
    assert (tmp_path / 'out.py').is_file()


def test_written_config_decodes_as_the_recipes(tmp_path, official):
    """The test pipeline opens and decodes with the recipes' DiST steps
    (pyav) and runs on a video: 3 views of T_t frames at the CLIP size."""
    from mmengine.config import Config
    from mmengine.dataset import Compose
    from mmengine.registry import init_default_scope

    import projects.dist  # noqa: F401
    from tests.video_utils import write_pyav_video
    run(tmp_path, official, '--text-heads', '1')
    cfg = Config.fromfile(str(tmp_path / 'out.py'))
    recipe = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', '_base_', 'datasets',
                 'kinetics400_dist.py'))
    pipeline = cfg.test_dataloader.dataset.pipeline
    assert cfg.video_backend == recipe.video_backend == 'pyav'
    assert pipeline[0] == dict(type='DiSTVideoInit', backend='pyav')
    assert pipeline[2] == dict(type='DiSTVideoDecode')
    # the recipe's decoding steps, around the frame sampler
    for i in (0, 2):
        assert pipeline[i]['type'] == recipe.test_pipeline[i]['type']
    assert not [s for s in pipeline if s['type'].startswith('Decord')]
    init_default_scope('mmaction')
    video = write_pyav_video(str(tmp_path / 'v.mp4'), num_frames=20)
    out = Compose(pipeline)(
        dict(filename=video, label=0, start_index=0, modality='RGB'))
    assert out['inputs'].shape == (3, 3, cfg.num_frames, cfg.image_size,
                                   cfg.image_size)
