"""Convert an official DiST checkpoint (``DIST_*.pyth``) for this plugin.

Writes the converted weights (``{'state_dict', 'meta'}``, loadable with
``torch.load(..., weights_only=True)``) and a complete config that builds
the matching model without downloading anything::

    python tools/model_converters/dist_official_to_mmaction.py \
        DIST_VIT_B16_K400_8+16f.pyth work_dirs/dist_k400.pth \
        --config-out work_dirs/dist_k400_converted.py \
        --num-frames 16 --class-names projects/dist/label_maps/kinetics400.txt

Every width, depth, patch size, kernel size, ratio and the number of
ada-pooling layers is read from the tensor shapes; only what the file does
not record is given on the command line. Every argument is checked against
the checkpoint, and the model the config describes is built (without
memory) and compared with the converted tensors, before anything is
written; the input file is never overwritten.
"""
import argparse
import os
import os.path as osp
import pprint

import torch

from projects.dist.models.utils.class_names import load_class_names
from projects.dist.models.utils.official_converter import (
    ConverterArgumentError, NotOfficialCheckpointError, build_model_config,
    check_model_config, check_selected_layers, convert_official_state_dict,
    extract_official_state, infer_official_arch)
from projects.dist.utils.checkpoint_loading import (CheckpointFileError,
                                                    load_checkpoint_file)


def parse_args(argv=None) -> argparse.Namespace:
    """Parse command-line arguments."""
    p = argparse.ArgumentParser(
        description='Convert an official DiST checkpoint to the MMAction2 '
        'plugin format and write a matching config.')
    p.add_argument('src', help='official checkpoint (.pyth)')
    p.add_argument('dst', help='output checkpoint (.pth)')
    p.add_argument(
        '--config-out',
        required=True,
        help='where to write the matching config (.py)')
    p.add_argument(
        '--num-frames',
        type=int,
        help='frames T_t per clip (NUM_INPUT_FRAMES); inferred '
        'as alpha * the stored spatial frame count if omitted')
    p.add_argument(
        '--alpha',
        type=int,
        help='SPARSE_SAMPLE_ALPHA; inferred from the '
        'temporal->integration kernel if omitted')
    p.add_argument(
        '--selected-layers',
        type=int,
        nargs='+',
        help='SELECTED_LAYERS (CLIP block indices); defaults to '
        'every block when the checkpoint has one DiST layer per '
        'block')
    p.add_argument(
        '--text-heads',
        type=int,
        help='text-tower attention heads (default width // 64)')
    p.add_argument(
        '--class-names',
        required=True,
        help='label file, one class name per line in label order')
    p.add_argument(
        '--prompt-template',
        default=None,
        help="e.g. 'a video of {}.' (official: none)")
    return p.parse_args(argv)


def _same_file(a: str, b: str) -> bool:
    """Whether paths ``a`` and ``b`` name one file (also via links)."""
    if osp.realpath(a) == osp.realpath(b):
        return True
    return osp.exists(a) and osp.exists(b) and osp.samefile(a, b)


def check_outputs(src: str, dst: str, config_out: str) -> None:
    """Refuse outputs that would overwrite the input or each other.

    Args:
        src (str): The official checkpoint.
        dst (str): Output checkpoint path.
        config_out (str): Output config path.
    """
    for flag, path in (('dst', dst), ('--config-out', config_out)):
        if _same_file(src, path):
            raise SystemExit(
                f'error: {flag} {path} is the input checkpoint {src}; the '
                'converter never overwrites its input: choose another '
                'output path')
    if _same_file(dst, config_out):
        raise SystemExit(f'error: dst and --config-out are the same file '
                         f'{dst}; choose two paths')


def _check(name: str, given, inferred) -> int:
    if given is not None and given != inferred:
        raise SystemExit(f'error: --{name} {given} contradicts the '
                         f'checkpoint, whose tensor shapes give {inferred}')
    return inferred


def render_config(model: dict, num_frames: int, image_size: int,
                  src: str) -> str:
    """Return the text of a complete config for the converted model."""
    body = pprint.pformat(model, indent=1, width=79, sort_dicts=False)
    return f'''# Converted from the official DiST checkpoint
#   {osp.basename(src)}
# by tools/model_converters/dist_official_to_mmaction.py.
# Evaluate: python tools/test.py THIS_CONFIG CONVERTED.pth \\
#     --cfg-options test_dataloader.dataset.ann_file=... \\
#     test_dataloader.dataset.data_prefix.video=...
_base_ = ['mmaction::_base_/default_runtime.py']
custom_imports = dict(imports=['projects.dist'], allow_failed_imports=False)

num_frames = {num_frames}
image_size = {image_size}

model = {body}

# decoding backend of DiSTVideoInit, as in the recipes
# (configs/_base_/datasets/kinetics400_dist.py): 'pyav' (frame-accurate,
# honours MP4 edit lists) or 'decord' (rejects files with an edit list);
# see docs/data_pipeline.md
video_backend = 'pyav'
# official protocol: T_t frames over the whole video, 3 temporal views x 1
# centre crop, short side resized to the CLIP input size
test_pipeline = [
    dict(type='DiSTVideoInit', backend=video_backend),
    dict(type='UniformSample', clip_len=num_frames, num_clips=3,
         test_mode=True),
    dict(type='DiSTVideoDecode'),
    dict(type='Resize', scale=(-1, image_size)),
    dict(type='CenterCrop', crop_size=image_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
test_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='VideoDataset',
        ann_file='data/kinetics400/kinetics400_val_list_videos.txt',
        data_prefix=dict(video='data/kinetics400/videos_val'),
        pipeline=test_pipeline,
        test_mode=True))
test_evaluator = dict(type='AccMetric')
test_cfg = dict(type='TestLoop')
'''


def main(argv=None) -> None:
    """Run the conversion."""
    args = parse_args(argv)
    from mmengine.utils import track_iter_progress
    if not osp.isfile(args.src):
        raise SystemExit(f'error: no such file: {args.src}')
    check_outputs(args.src, args.dst, args.config_out)
    print(f'loading {args.src}', flush=True)
    try:
        checkpoint = load_checkpoint_file(
            args.src, 'cpu', what='official checkpoint', weights_only=True)
    except CheckpointFileError as exc:
        raise SystemExit(f'error: {exc}') from None
    try:
        state = extract_official_state(checkpoint)
        arch = infer_official_arch(state, text_heads=args.text_heads)
        alpha = _check('alpha', args.alpha, arch['alpha'])
        num_frames = _check('num-frames', args.num_frames,
                            alpha * arch['num_spatial_frames'])
        layers = check_selected_layers(args.selected_layers,
                                       arch['num_selected'],
                                       arch['clip']['layers'])
    except (NotOfficialCheckpointError, ConverterArgumentError) as exc:
        raise SystemExit(f'error: {args.src}: {exc}') from None
    try:
        names = load_class_names(args.class_names)
    except (OSError, ValueError) as exc:
        raise SystemExit(f'error: --class-names: {exc}') from None
    model = build_model_config(arch, num_frames, alpha, layers, names,
                               args.prompt_template)
    try:
        converted, dropped = convert_official_state_dict(
            state, progress=track_iter_progress)
        check_model_config(model, converted)
    except (NotOfficialCheckpointError, ConverterArgumentError) as exc:
        raise SystemExit(f'error: {args.src}: {exc}') from None
    meta = dict(
        converted_from=osp.basename(args.src),
        num_frames=num_frames,
        alpha=alpha,
        selected_layers=list(layers),
        text_heads=arch['clip']['text_heads'],
        dropped_keys=dropped,
        class_names=names)
    for path in (args.dst, args.config_out):
        if osp.dirname(path):
            os.makedirs(osp.dirname(path), exist_ok=True)
    tmp = args.dst + '.tmp'
    torch.save(dict(state_dict=converted, meta=meta), tmp)
    os.replace(tmp, args.dst)
    with open(args.config_out, 'w') as f:
        f.write(
            render_config(model, num_frames, arch['clip']['image_size'],
                          args.src))
    print(f'wrote {args.dst} ({len(converted)} tensors; dropped '
          f'{len(dropped)} never-used: {dropped}) and {args.config_out}')


if __name__ == '__main__':
    from projects.dist.utils.cli import run_tool  # repository root on path
    run_tool(main)
