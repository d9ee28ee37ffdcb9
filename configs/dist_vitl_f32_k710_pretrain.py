# DiST pre-training on Kinetics-710 (K400 + K600 + K700 training videos,
# 710 classes as in MMAction2's UniFormerV2 recipe), CLIP ViT-L/14,
# 32 spatial + 64 temporal frames. Its checkpoint initialises
# dist_vitl_f32_k710_k400.py. No official config was released for this step;
# the recipe is the K400 one.
_base_ = [
    './_base_/recipes/dist_vitl14.py',
    './_base_/datasets/kinetics710_dist.py',
]

num_frames = 64  # T_t; CLIP sees num_frames // 2

model = dict(
    backbone=dict(num_frames=num_frames),
    cls_head=dict(
        num_classes={{_base_.num_classes}},
        class_names={{_base_.class_names}}),
    data_preprocessor=dict(blending={{_base_.blending}}))

# T_t frames in every frame sampler (the pipeline steps with a clip_len)
train_pipeline, val_pipeline, test_pipeline = ([
    dict(step, clip_len=num_frames) if 'clip_len' in step else step
    for step in pipeline
] for pipeline in (_base_.train_pipeline, _base_.val_pipeline,
                   _base_.test_pipeline))
# Kinetics-710 is a ConcatDataset: each sub-dataset takes the new pipeline
train_dataloader = dict(
    batch_size=16,
    dataset=dict(datasets=[
        dict(subset, pipeline=train_pipeline)
        for subset in _base_.train_dataloader.dataset.datasets
    ]))
val_dataloader = dict(
    batch_size=8,
    dataset=dict(datasets=[
        dict(subset, pipeline=val_pipeline)
        for subset in _base_.val_dataloader.dataset.datasets
    ]))
test_dataloader = dict(
    batch_size=2,
    dataset=dict(datasets=[
        dict(subset, pipeline=test_pipeline)
        for subset in _base_.test_dataloader.dataset.datasets
    ]))
