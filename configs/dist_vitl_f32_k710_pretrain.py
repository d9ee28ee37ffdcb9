# DiST pre-training on Kinetics-710 (K400 + K600 + K700 training videos,
# 710 classes as in MMAction2's UniFormerV2 recipe), CLIP ViT-L/14,
# 32 spatial + 64 temporal frames. Its checkpoint initialises
# dist_vitl_f32_k710_k400.py. No official config was released for this step;
# the recipe is the K400 one.
_base_ = [
    'mmaction::_base_/default_runtime.py',
    './_base_/models/dist_vitl14.py',
    './_base_/datasets/kinetics710_dist.py',
    './_base_/schedules/dist_adamw_cosine_36e.py',
]

num_frames = 64  # T_t; CLIP sees num_frames // 2

model = dict(
    backbone=dict(num_frames=num_frames, num_ada_layers=4),
    cls_head=dict(
        num_classes={{_base_.num_classes}},
        class_names={{_base_.class_names}}),
    data_preprocessor=dict(blending={{_base_.blending}}))

# the frame count is part of every pipeline: rebuild them for num_frames
train_pipeline = [
    dict(type='DecordInit'),
    dict(type='UniformSample', clip_len=num_frames, num_clips=1),
    dict(type='DecordDecode'),
    dict(
        type='RandomResizedCrop',
        area_range=(0.4, 1.0),
        aspect_ratio_range=(0.75, 1.333)),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='TorchVisionWrapper', op='RandomGrayscale', p=0.2),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]


def eval_pipeline(views):
    return [
        dict(type='DecordInit'),
        dict(
            type='DiSTSegmentSample',
            clip_len=num_frames,
            num_clips=views,
            test_mode=True),
        dict(type='DecordDecode'),
        dict(type='Resize', scale=(-1, 224)),
        dict(type='CenterCrop', crop_size=224),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs')
    ]


def trainset(ann, root):
    return dict(
        type='VideoDataset',
        ann_file=ann,
        data_prefix=dict(video=root),
        pipeline=train_pipeline)


def evalset(ann, root, views):
    return dict(
        type='VideoDataset',
        ann_file=ann,
        data_prefix=dict(video=root),
        pipeline=eval_pipeline(views),
        test_mode=True)


k710_sets = [  # (annotation list stem, video folder), as the dataset base
    ('data/kinetics710/k400_{}_list_videos.txt', 'data/kinetics400/videos_{}'),
    ('data/kinetics710/k600_{}_list_videos.txt', 'data/kinetics600/videos'),
    ('data/kinetics710/k700_{}_list_videos.txt', 'data/kinetics700/videos'),
]
train_dataloader = dict(
    batch_size=16,
    dataset=dict(datasets=[
        trainset(a.format('train'), r.format('train')) for a, r in k710_sets
    ]))
val_dataloader = dict(
    batch_size=8,
    dataset=dict(datasets=[
        evalset(a.format('val'), r.format('val'), 1) for a, r in k710_sets
    ]))
test_dataloader = dict(
    batch_size=2,
    dataset=dict(datasets=[
        evalset(a.format('val'), r.format('val'), 3) for a, r in k710_sets
    ]))
auto_scale_lr = dict(base_batch_size=128)

default_hooks = dict(
    checkpoint=dict(interval=1, max_keep_ckpts=3, save_best='auto'),
    logger=dict(interval=50))
