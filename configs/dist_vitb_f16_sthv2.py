# DiST, Something-Something V2, CLIP ViT-B/16, 16 spatial + 32 temporal
# frames. Reproduces the official
# configs/projects/dist/ssv2/vit-b16-16+32f.yaml.
# Reference (official README): top-1 70.2, top-5 92.0, 3 views x 1 crop.
_base_ = [
    './dist_vitb_sthv2.py',
]

num_frames = 32  # T_t; CLIP sees num_frames // 2

model = dict(backbone=dict(num_frames=num_frames))

# the frame count is part of every pipeline (index 1: the frame sampler)
train_pipeline = _base_.train_pipeline
train_pipeline[1].clip_len = num_frames
val_pipeline = _base_.val_pipeline
val_pipeline[1].clip_len = num_frames
test_pipeline = _base_.test_pipeline
test_pipeline[1].clip_len = num_frames
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
