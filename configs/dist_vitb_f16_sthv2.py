# DiST, Something-Something V2, CLIP ViT-B/16, 16 spatial + 32 temporal
# frames. Reproduces the official
# configs/projects/dist/ssv2/vit-b16-16+32f.yaml.
# Reference (official README): top-1 70.2, top-5 92.0, 3 views x 1 crop.
_base_ = [
    './dist_vitb_sthv2.py',
]

num_frames = 32  # T_t; CLIP sees num_frames // 2

model = dict(backbone=dict(num_frames=num_frames))

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
    dict(
        type='DiSTLabelSwapFlip',
        label_pairs=((86, 87), (93, 94), (166, 167)),
        flip_ratio=0.5,
        num_classes=174),
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


train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=eval_pipeline(1)))
test_dataloader = dict(dataset=dict(pipeline=eval_pipeline(3)))
