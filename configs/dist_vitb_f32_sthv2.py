# DiST, Something-Something V2, CLIP ViT-B/16, 32 spatial + 64 temporal
# frames. Reproduces the official
# configs/projects/dist/ssv2/vit-b16-32+64f.yaml.
# Reference (official README): top-1 70.9, top-5 92.1, 3 views x 1 crop.
_base_ = [
    './dist_vitb_sthv2.py',
]

num_frames = 64  # T_t; CLIP sees num_frames // 2

model = dict(backbone=dict(num_frames=num_frames))

# T_t frames in every frame sampler (the pipeline steps with a clip_len)
train_pipeline, val_pipeline, test_pipeline = ([
    dict(step, clip_len=num_frames) if 'clip_len' in step else step
    for step in pipeline
] for pipeline in (_base_.train_pipeline, _base_.val_pipeline,
                   _base_.test_pipeline))
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
