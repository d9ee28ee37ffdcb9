# The built-in default: a tiny DiST on the synthetic
# motion-order videos, CPU-friendly (a few minutes on 2 cores).
#
#   python tools/train.py configs/dist_tiny_synthetic.py
#
# The data (data/synthetic_motion) and the frozen random tiny CLIP tower
# (data/synthetic_motion/tiny_clip_seed0.pth) are generated on first use.
# Classes differ only in the ORDER in which an object visits the same
# positions (see projects/dist/datasets/synthetic_motion.py), so an order-blind
# model stays at chance: compare configs/dist_tiny_synthetic_frame_avg.py.
_base_ = ['./_base_/default_runtime.py', './_base_/models/dist_tiny.py']
custom_imports = dict(imports=['projects.dist'], allow_failed_imports=False)
default_scope = 'mmaction'

# ---------------------------------------------------------------- constants
num_frames = 8  # T_t: frames of the temporal stream (CLIP sees T_t / 2)
frame_size = 32  # the tiny CLIP's input size
data_root = 'data/synthetic_motion'
class_names = 'projects/dist/label_maps/synthetic_motion.txt'
num_classes = 6
# the tiny CLIP of the model base, random but frozen, saved once (seeded)
tiny_clip_arch = {{_base_.tiny_clip}}
tiny_clip_weights = data_root + '/tiny_clip_seed0.pth'

# ---------------------------------------------------------------- model
model = dict(
    backbone=dict(
        spatial_encoder=dict(pretrained=tiny_clip_weights),
        num_frames=num_frames),
    cls_head=dict(
        num_classes=num_classes,
        class_names=class_names,
        text_encoder=dict(pretrained=tiny_clip_weights)))

# ---------------------------------------------------------------- data
# no flipping: a horizontal flip would turn "moving left" into "moving right"
video_backend = 'pyav'  # or 'decord' (docs/data_pipeline.md)
train_pipeline = [
    dict(type='DiSTVideoInit', backend=video_backend),
    dict(type='UniformSample', clip_len=num_frames, num_clips=1),
    dict(type='DiSTVideoDecode'),
    dict(type='Resize', scale=(frame_size, frame_size), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
# evaluation: the same steps, frames sampled in test mode
test_pipeline = [
    dict(step, test_mode=True) if 'clip_len' in step else step
    for step in train_pipeline
]
val_pipeline = test_pipeline

dataset_type = 'DiSTSyntheticMotionDataset'
# generation parameters, shared by every split (one folder holds all splits)
synthetic = dict(
    data_root=data_root,
    generate_if_missing=True,
    num_per_class=dict(train=200, val=30, test=50),
    num_frames=num_frames,
    frame_size=frame_size,
    seed=0,
    clip_weights=dict(path=tiny_clip_weights, arch=tiny_clip_arch, seed=0))

train_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DiSTSeededSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        ann_file='train.txt',
        num_classes=num_classes,
        pipeline=train_pipeline,
        **synthetic))
val_dataloader = dict(
    batch_size=32,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file='val.txt',
        num_classes=num_classes,
        pipeline=val_pipeline,
        test_mode=True,
        **synthetic))
test_dataloader = dict(
    val_dataloader,
    dataset=dict(
        val_dataloader['dataset'], ann_file='test.txt',
        pipeline=test_pipeline))

val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator

# ---------------------------------------------------------------- schedule
max_epochs = 8
train_cfg = dict(
    type='EpochBasedTrainLoop',
    max_epochs=max_epochs,
    val_begin=1,
    val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    optimizer=dict(
        type='AdamW', lr=2e-3, betas=(0.9, 0.999), weight_decay=0.05),
    clip_grad=dict(max_norm=1.0, norm_type=2))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.1,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - 1,
        eta_min=1e-5,
        by_epoch=True,
        begin=1,
        end=max_epochs,
        convert_to_iter_based=True)
]

# ---------------------------------------------------------------- runtime
# the runtime base's hooks, logging every 5 iterations and keeping only the
# last and the best checkpoint
default_hooks = dict(
    logger=dict(interval=5), checkpoint=dict(max_keep_ckpts=1))
custom_hooks = [dict(type='DiSTCurvePlotHook')]
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0, deterministic=False)
auto_scale_lr = dict(enable=False, base_batch_size=16)
