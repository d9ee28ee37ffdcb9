"""Every class of bad user input raises ONE clear error.

Each row: how to trigger it, the exact exception type, and two patterns the
message must contain: the offending value and the expected one. The raised
exception must not be chained to an unrelated one (no "During handling of
the above exception, another exception occurred" stacks); a CLI's
``SystemExit`` is exempt, as Python prints only its message.
"""
import copy
import os.path as osp
import re

import numpy as np
import pytest
import torch
from mmaction.registry import MODELS, TRANSFORMS
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.runner import load_checkpoint

from projects.dist.apis import FrameTransform, VideoSourceError, open_source
from projects.dist.datasets.robust_video_dataset import (AnnotationListError,
                                                         read_annotation_list)
from projects.dist.datasets.transforms.video_readers import (EditListError,
                                                             open_video)
from projects.dist.models.utils.clip_arch import resolve_clip_arch
from projects.dist.models.utils.input_norm import NormalisationMismatchError
from projects.dist.models.utils.official_converter import (
    ConverterArgumentError, NotOfficialCheckpointError, extract_official_state,
    resolve_text_heads)
from projects.dist.models.utils.state_checks import CheckpointMismatchError
from projects.dist.utils.checkpoint_loading import CheckpointFileError
from projects.dist.utils.work_dir import (LOCK_NAME, NothingToTrainError,
                                          WorkDirError, check_train_schedule,
                                          lock_work_dir)
from projects.dist_tools.model_inputs import (UnsupportedBackboneError,
                                              default_clip_shape)
from tests.helpers import load_tool
from tests.video_utils import cut_with_stream_copy, write_pyav_video

REPO_ROOT = osp.dirname(osp.abspath(__file__)).rsplit(osp.sep, 1)[0]
TINY_MODEL = osp.join(REPO_ROOT, 'configs', '_base_', 'models', 'dist_tiny.py')
CLASS_NAMES = ['moving left', 'moving right', 'growing', 'shrinking']


def model_cfg(**backbone) -> dict:
    """The tiny recognizer of ``dist_tiny.py`` with backbone overrides.

    ``clip_layers`` sets the CLIP depth of both towers.
    """
    cfg = copy.deepcopy(Config.fromfile(TINY_MODEL).model.to_dict())
    cfg['cls_head'].update(
        num_classes=len(CLASS_NAMES), class_names=list(CLASS_NAMES))
    layers = backbone.pop('clip_layers', None)
    if layers is not None:
        for tower in (cfg['backbone']['spatial_encoder'],
                      cfg['cls_head']['text_encoder']):
            tower['arch'] = dict(tower['arch'], layers=layers)
    cfg['backbone'].update(backbone)
    return cfg


def build(**backbone) -> torch.nn.Module:
    """Build the tiny recognizer (seeded)."""
    torch.manual_seed(0)
    return MODELS.build(model_cfg(**backbone))


def forward(shape: tuple) -> None:
    """Run the recognizer on one clip of ``shape`` (C, T, H, W)."""
    model = build()
    model(torch.zeros((1, 1) + shape), mode='tensor')


#: a timm ViT of the tiny CLIP's shape (32 px, 8 px patches, 2 blocks)
TINY_TIMM = dict(img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=2)


def load_other_tower_checkpoint(tmp_path) -> None:
    """Load a checkpoint whose tower is a timm ViT into the tiny model."""
    cfg = model_cfg(
        spatial_encoder=dict(
            type='DiSTTimmVisual',
            model_name='vit_small_patch16_224',
            model_kwargs=TINY_TIMM))
    cfg['data_preprocessor'].update(mean=[127.5] * 3, std=[127.5] * 3)
    state = MODELS.build(cfg).state_dict()
    build().load_state_dict(state, strict=False)


def load_into_tiny(tmp_path, strict: bool = True, edit=None, **source) -> None:
    """Save a checkpoint of a model built with ``source`` overrides (and
    edited by ``edit``) and load it into the default tiny model."""
    state = build(**source).state_dict()
    if edit is not None:
        edit(state)
    path = str(tmp_path / 'ckpt.pth')
    torch.save(dict(state_dict=state, meta=dict()), path)
    load_checkpoint(build(), path, map_location='cpu', strict=strict)


def load_clip_tower(tmp_path, edit) -> None:
    """Load edited frozen CLIP visual weights through ``pretrained``."""
    cfg = model_cfg()['backbone']['spatial_encoder']
    state = MODELS.build(cfg).visual.state_dict()
    edit(state)
    path = str(tmp_path / 'clip.pth')
    torch.save({f'visual.{k}': v for k, v in state.items()}, path)
    MODELS.build(dict(cfg, pretrained=path)).init_weights()


def write(tmp_path, content) -> str:
    """Write ``content`` (str or bytes) to a file and return its path."""
    path = tmp_path / 'file.txt'
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return str(path)


def head(**overrides) -> None:
    """Build the text head with overrides."""
    cfg = model_cfg()['cls_head']
    cfg.update(overrides)
    MODELS.build(cfg)


def head_on_dist(**head) -> None:
    """One training forward of the tiny DiST with another ``cls_head``."""
    cfg = model_cfg()
    cfg['cls_head'] = dict(num_classes=len(CLASS_NAMES), **head)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model(
        torch.zeros((1, 1, 3, 8, 32, 32)),
        [ActionDataSample().set_gt_label(0)],
        mode='loss')


def recipe_2d() -> None:
    """The tiny DiST in a 2-D recipe (Recognizer2D, 'NCHW' frames)."""
    cfg = model_cfg()
    cfg['type'] = 'Recognizer2D'
    cfg['data_preprocessor']['format_shape'] = 'NCHW'
    MODELS.build(cfg)(torch.zeros((1, 8, 3, 32, 32)), mode='tensor')


def load_converter():
    """Import the converter CLI as a module."""
    return load_tool('model_converters/dist_official_to_mmaction.py')


def convert_cli(tmp_path) -> None:
    """Run the converter CLI on a plugin (not official) checkpoint."""
    converter = load_converter()
    src = str(tmp_path / 'plugin.pth')
    torch.save(dict(state_dict=build().state_dict()), src)
    labels = write(tmp_path, '\n'.join(CLASS_NAMES))
    converter.main([
        src,
        str(tmp_path / 'out.pth'), '--config-out',
        str(tmp_path / 'out.py'), '--class-names', labels
    ])


def convert_onto_input(tmp_path) -> None:
    """Run the converter CLI with its output path equal to its input."""
    src = str(tmp_path / 'DIST.pyth')
    torch.save({'model_state': {}}, src)
    load_converter().main([
        src, src, '--config-out',
        str(tmp_path / 'out.py'), '--class-names',
        write(tmp_path, 'a\n')
    ])


def load_text_file(tmp_path) -> None:
    """Load a text file named .pth as a checkpoint."""
    path = tmp_path / 'file.pth'
    path.write_text('epoch 3\n')
    load_checkpoint(build(), str(path), map_location='cpu')


def drop_prefix(prefix):
    return lambda state: [
        state.pop(k) for k in list(state) if k.startswith(prefix)
    ]


def lock_held_work_dir(tmp_path) -> None:
    """Take a work dir's lock while another holder (a second open file, as
    a live training's process has) holds it."""
    import fcntl
    with open(tmp_path / LOCK_NAME, 'w') as other:
        other.write('pid 4242 on node7: tools/train.py cfg.py\n')
        other.flush()
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock_work_dir(str(tmp_path))


def edit_list_mp4(tmp_path) -> str:
    """An MP4 cut at 1.5 s with stream copy: 5 frames hidden by an edit
    list before the cut."""
    src = write_pyav_video(
        str(tmp_path / 'src.mp4'), num_frames=30, options=dict(g='10'))
    return cut_with_stream_copy(src, str(tmp_path / 'cut.mp4'), 1.5)


def two_backend_config(tmp_path) -> None:
    """check_videos' backend of a config whose pipelines disagree."""
    config = tmp_path / 'cfg.py'
    config.write_text(
        "train_pipeline = [dict(type='DiSTVideoInit', backend='pyav')]\n"
        "test_pipeline = [dict(type='DecordInit')]\n")
    load_tool('misc/check_videos.py').config_backend(str(config))


def drop(key):
    return lambda state: state.pop(key)


def add(key):
    return lambda state: state.__setitem__(key, torch.zeros(1))


def mmpretrain_tower(**kw) -> None:
    """Build a tiny mmpretrain tower with ``kw`` over a valid config."""
    args = dict(
        backbone=dict(
            type='mmpretrain.VisionTransformer',
            arch=dict(
                embed_dims=32,
                num_layers=1,
                num_heads=2,
                feedforward_channels=32),
            img_size=28,
            patch_size=14),
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375])
    for key, value in kw.items():
        if key == 'backbone':
            args['backbone'] = dict(args['backbone'], **value)
        else:
            args[key] = value
    MODELS.build(dict(type='DiSTMMPretrainViT', **args))


# id: (trigger(tmp_path), exception type, offending pattern, expected one)
def unreadable_stream(tmp_path) -> None:
    """Open a text file as a live source (cv2.VideoCapture)."""
    open_source(write(tmp_path, 'not a video'), backend='opencv')


def multi_crop_windows() -> None:
    """Prepare a sliding-window frame with a 3-crop test pipeline."""
    transform = FrameTransform([dict(type='ThreeCrop', crop_size=32)],
                               torch.zeros(3), torch.ones(3))
    transform(np.zeros((32, 48, 3), np.uint8))


CASES = {
    'clip length != num_frames': (lambda p: forward(
        (3, 6, 32, 32)), ValueError, 'clip has 6 frames', 'num_frames=8'),
    'num_frames not a multiple of alpha':
    (lambda p: build(num_frames=7, alpha=2), ValueError, r'num_frames \(7\)',
     r'multiple of alpha \(2\)'),
    'frame size != CLIP input size': (lambda p: forward(
        (3, 8, 48, 48)), ValueError, r'frame size \(48, 48\)',
                                      r'CLIP input size \(32, 32\)'),
    'frame size not a multiple of the patch': (lambda p: forward(
        (3, 8, 36, 36)), ValueError, r'frame size \(36, 36\)',
                                               r'CLIP input size \(32, 32\)'),
    'arch image size not a multiple of the patch':
    (lambda p: resolve_clip_arch(
        dict(embed_dim=8, image_size=36, patch_size=8, width=16, layers=1)),
     ValueError, 'image_size 36', 'multiple of patch_size 8'),
    'checkpoint frame count (strict)':
    (lambda p: load_into_tiny(p, num_frames=16), CheckpointMismatchError,
     r'trained with 8 spatial frames \(num_frames=16',
     'configured with num_frames=8'),
    'checkpoint frame count (non-strict)':
    (lambda p: load_into_tiny(p, strict=False, num_frames=16),
     CheckpointMismatchError, r'\(num_frames=16', 'num_frames=8'),
    'checkpoint ada-pooling layer count':
    (lambda p: load_into_tiny(p, num_ada_layers=2), CheckpointMismatchError,
     'has 2 ada-pooling layers', 'configured with 1'),
    'checkpoint DiST layer count':
    (lambda p: load_into_tiny(p, selected_layers=[1]), CheckpointMismatchError,
     'has 1 DiST layers', 'configured with 2'),
    'checkpoint CLIP depth':
    (lambda p: load_into_tiny(p, clip_layers=3, selected_layers=[0, 1]),
     CheckpointMismatchError, 'has 3 CLIP blocks', 'configured with 2'),
    'frozen-tower weights: missing key':
    (lambda p: load_clip_tower(p, drop('ln_post.weight')), KeyError,
     r"missing keys \(1\) \['ln_post.weight'\]",
     'do not match the configured architecture'),
    'frozen-tower weights: unexpected key':
    (lambda p: load_clip_tower(p, add('extra.weight')), KeyError,
     r"unexpected keys \(1\) \['extra.weight'\]",
     'do not match the configured architecture'),
    'converted checkpoint: missing key':
    (lambda p: load_into_tiny(p, edit=drop('backbone.temporal_stem.bias')),
     CheckpointMismatchError, r"lacks 1 DiST backbone tensor\(s\) "
     r"\['temporal_stem.bias'\]", 'every tensor of the configured model'),
    'converted checkpoint: missing key (non-strict)':
    (lambda p: load_into_tiny(
        p, strict=False, edit=drop('backbone.temporal_stem.bias')),
     CheckpointMismatchError, r"\['temporal_stem.bias'\]",
     'every tensor of the configured model'),
    'converted checkpoint: unexpected key':
    (lambda p: load_into_tiny(p, edit=add('backbone.extra')), RuntimeError,
     'unexpected key in source state_dict: backbone.extra',
     'do not match exactly'),
    'checkpoint covers none of the model (non-strict)':
    (lambda p: load_into_tiny(p, strict=False, edit=drop_prefix('')),
     CheckpointMismatchError,
     r'covers none of the \d+ tensors .* it holds no tensors',
     r"model expects keys like \['backbone\."),
    'checkpoint without a whole tower (non-strict)':
    (lambda p: load_into_tiny(p, strict=False, edit=drop_prefix('cls_head.')),
     CheckpointMismatchError, r'holds none of the \d+ CLIP text tower',
     r"expected keys like \['cls_head.text_encoder"),
    'checkpoint file is not a checkpoint':
    (load_text_file, CheckpointFileError,
     r"file.pth is not a PyTorch checkpoint: it looks like a text file",
     'expected a PyTorch checkpoint written by torch.save'),
    'converter argument contradicts the checkpoint':
    (lambda p: resolve_text_heads(512, 4), ConverterArgumentError,
     '--text-heads 4 contradicts the checkpoint', r'width // 64 = 8 heads'),
    'converter output is its input': (convert_onto_input, SystemExit,
                                      r'dst .*DIST.pyth is the input',
                                      'never overwrites its input'),
    'class-name count != num_classes':
    (lambda p: head(class_names=CLASS_NAMES[:3]), ValueError, '3 class names',
     'num_classes=4'),
    'empty class name': (lambda p: head(class_names=write(p, 'a\n\nb\nc\n')),
                         ValueError,
                         r'empty class name\(s\) at line\(s\) \[2\]',
                         'expected one non-empty name per line'),
    'duplicate class names': (lambda p: head(class_names=['a', 'b', 'a', 'c']),
                              ValueError, r"duplicate class name\(s\) \['a'\]",
                              'must be unique'),
    'class name longer than the text context':
    (lambda p: head(class_names=CLASS_NAMES[:3] + [' '.join(['left'] * 80)]),
     ValueError, r"id 3 'left left.*' \(82 tokens\)",
     'context length of 77 tokens'),
    'class names identical after tokenisation':
    (lambda p: head(class_names=['moving left', 'Moving  Left', 'a', 'b']),
     ValueError, r"id 0 'moving left' and id 1 'Moving  Left'",
     'must differ after tokenisation'),
    'prompt template without a placeholder':
    (lambda p: head(prompt_template='a video'), ValueError,
     r"prompt_template 'a video' has 0 placeholder",
     r"exactly one '\{\}' placeholder"),
    'prompt template and template ensemble both given':
    (lambda p: head(prompt_template='a {}.', prompt_templates=['b {}.']),
     ValueError, r"give prompt_template .* or prompt_templates .*not both",
     r"got 'a \{\}.' and \['b \{\}.'\]"),
    'duplicate template in a prompt ensemble':
    (lambda p: head(prompt_templates=write(p, 'a {}.\nb {}.\na {}.\n')),
     ValueError, r"duplicate prompt template\(s\) \['a \{\}.'\]",
     'would count twice in the ensemble mean'),
    '<id> <name> lines as class names':
    (lambda p: head(class_names=write(p, '0 a\n1 b\n2 c\n3 d\n')), ValueError,
     r"file.txt has a numeric first column \(e.g. '0 a'\)",
     'expected one class name per line'),
    'class-name file not UTF-8':
    (lambda p: head(class_names=write(p, 'a\nb\nc\nd'.encode('utf-16'))),
     ValueError, r"file.txt' is UTF-16-LE encoded", 'expected UTF-8'),
    'head that pools a feature map on DiST':
    (lambda p: head_on_dist(type='I3DHead', in_channels=32), ValueError,
     r'DiST emits .* \(B, E\) = \(1, 32\), but I3DHead pools',
     'use a head that takes it: DiSTTextHead, TimeSformerHead'),
    'per-frame (2-D) head on DiST':
    (lambda p: head_on_dist(type='TSNHead', in_channels=32), ValueError,
     r'\(B, E\) = \(1, 32\), but TSNHead is a per-frame',
     'use a head that takes it'),
    'head in_channels != DiST embedding size':
    (lambda p: head_on_dist(type='TimeSformerHead', in_channels=768),
     ValueError, r'TimeSformerHead has in_channels=768',
     r'set cls_head.in_channels=32'),
    '2-D recognizer recipe': (lambda p: recipe_2d(), ValueError,
                              r'got \(8, 3, 32, 32\); a 4-D input',
                              r"use type='Recognizer3D' with "
                              r"FormatShape\(input_format='NCTHW'\)"),
    'missing class-name file':
    (lambda p: head(class_names=str(p / 'nope.txt')), FileNotFoundError,
     'nope.txt', 'class-name file not found'),
    'empty annotation list':
    (lambda p: read_annotation_list(write(p, '\n\n')), AnnotationListError,
     r'file.txt.* holds no samples',
     'expected one "<video path> <label>" line per sample'),
    'unreadable annotation list':
    (lambda p: read_annotation_list(write(p, b'\x00\xff\xfe\x81')),
     AnnotationListError, 'file.txt.* cannot be read as UTF-8',
     'expected one "<video path> <label>" line'),
    'missing annotation list':
    (lambda p: read_annotation_list(str(p / 'none.txt')), FileNotFoundError,
     'annotation list not found: .*none.txt', 'expected a text file'),
    'annotation label out of range':
    (lambda p:
     read_annotation_list(write(p, 'a.mp4 0\nb.mp4\t7\n'), num_classes=4),
     AnnotationListError, r"file.txt:2: label 7 in line 'b.mp4\\t7'",
     r'out of range for num_classes=4; expected a class id in 0\.\.3'),
    'annotation label missing':
    (lambda p: read_annotation_list(write(p, 'a.mp4 0\nb.mp4\n')),
     AnnotationListError, r"file.txt:2: line 'b.mp4' has no label",
     'expected "<video path> <label>"'),
    'unknown arch': (lambda p: resolve_clip_arch('ViT-X/99'), KeyError,
                     "unknown CLIP arch 'ViT-X/99'",
                     r"expected one of \[.*'ViT-B/16'"),
    'converter input not official':
    (lambda p: extract_official_state(dict(state_dict=dict(w=torch.zeros(1)))),
     NotOfficialCheckpointError, r"found keys like \['w'\]",
     r"expected tensors named 'backbone.base_encoder.dist_net"),
    'training into a live work dir':
    (lock_held_work_dir, WorkDirError,
     r"work dir '.*' is in use by a live training \(pid 4242 on node7",
     'another --work-dir'),
    'schedule with nothing to train':
    (lambda p: check_train_schedule(dict(max_epochs=0)), NothingToTrainError,
     'train_cfg.max_epochs=0 trains nothing',
     'at least 1 .e.g. --cfg-options train_cfg.max_epochs=1'),
    'converter CLI input not official':
    (convert_cli, SystemExit, r'plugin.pth: not an official DiST',
     r"expected tensors named 'backbone.base_encoder.dist_net"),
    'tools on a backbone of unknown input':
    (lambda p: default_clip_shape(torch.nn.Linear(2, 2)),
     UnsupportedBackboneError, 'cannot derive the clip shape of Linear',
     r"expected a backbone of type \['DiST', 'DiSTFrameAverageBaseline'\]; "
     r'give the shape explicitly \(--shape\)'),
    'GELU-trained open_clip tag in a QuickGELU tower': (
        lambda p: MODELS.build(
            dict(
                type='DiSTCLIPVisual',
                arch='ViT-B/16',
                pretrained='laion2b_s34b_b88k')), ValueError,
        r"tag 'laion2b_s34b_b88k' of 'ViT-B-16' was trained with GELU",
        r"use type='DiSTOpenCLIPVisual', model_name='ViT-B-16'"),
    'data_preprocessor normalisation is not the tower\'s':
    (lambda p: MODELS.build(
        dict(
            model_cfg(),
            data_preprocessor=dict(
                type='ActionDataPreprocessor',
                mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375],
                format_shape='NCTHW'))), NormalisationMismatchError,
     r'normalises with mean=\[123\.6750, 116\.2800, 103\.5300\]',
     r'expects mean=\[122\.7709, 116\.7460, 104\.0937\]'),
    'checkpoint trained on another tower': (load_other_tower_checkpoint,
                                            CheckpointMismatchError,
                                            r'trained with the spatial '
                                            r'encoder timm vit_small',
                                            r'configured with DiSTCLIPVisual'),
    'class token asked of a tower without one': (
        lambda p: MODELS.build(
            dict(
                type='DiSTTimmVisual',
                model_name='vit_small_patch16_224',
                model_kwargs=dict(
                    TINY_TIMM, class_token=False, global_pool='avg'),
                frame_token='class')), ValueError,
        r"'vit_small_patch16_224' has no class token",
        r"use frame_token='mean_patch'"),
    'mmpretrain tower output type set':
    (lambda p: mmpretrain_tower(backbone=dict(out_type='featmap')), ValueError,
     "remove out_type='featmap'", "sets out_type='raw' itself"),
    'mmpretrain tower without normalisation':
    (lambda p: mmpretrain_tower(std=None), ValueError, 'needs the input std',
     r'pass std=\[R, G, B\] \(0-255 scale\) or a '
     'model_config'),
    'mmpretrain backbone of an unsupported family':
    (lambda p: mmpretrain_tower(backbone=dict(type='MAEViT')), ValueError,
     'MAEViT has its own forward', 'supported: VisionTransformer'),
    'live video source OpenCV cannot open':
    (unreadable_stream, VideoSourceError, r'source .*file\.txt',
     'camera index, a stream URL or a video file'),
    'multi-crop test pipeline for sliding windows':
    (lambda p: multi_crop_windows(), ValueError, 'make 3 views',
     'use a single crop'),
    'unknown video backend':
    (lambda p: TRANSFORMS.build(dict(type='DiSTVideoInit', backend='opencv')),
     ValueError, "unknown video backend 'opencv'",
     r"expected one of \['decord', 'pyav'\]"),
    'video check: config decodes with two backends':
    (two_backend_config, ValueError,
     r'different backends \(train pyav, test decord\)',
     'expected one: pass --backend pyav or --backend decord'),
    'MP4 edit list with the decord backend':
    (lambda p: open_video(edit_list_mp4(p), 'decord'), EditListError,
     r'first frame is at -0\.500 s: an MP4 edit list',
     "use backend='pyav', or re-encode"),
}


@pytest.mark.parametrize('case', list(CASES))
def test_bad_input_raises_one_clear_error(case, tmp_path):
    trigger, exc_type, offending, expected = CASES[case]
    with pytest.raises(BaseException) as info:
        trigger(tmp_path)
    err = info.value
    assert type(err) is exc_type, f'{type(err).__name__}: {err}'
    msg = str(err)
    assert re.search(offending, msg), msg
    assert re.search(expected, msg), msg
    if exc_type is not SystemExit:  # Python prints only a SystemExit's text
        assert err.__cause__ is None and (
            err.__context__ is None
            or err.__suppress_context__), (f'chained to {err.__context__!r}')
