# Kinetics-400 with the DiST recipe (official configs/projects/dist, §3 of
# the reconstruction): T_t frames sampled over the whole video (one per
# segment), RandomResizedCrop area (0.4, 1) aspect (0.75, 1.333) -> 224,
# horizontal flip, random grayscale p=0.2; test = 3 temporal views x 1 centre
# crop at 224 (short side 224). MMAction2's standard layout and lists
# (tools/data/kinetics); see docs/data_preparation.md.
#
# Leaf configs that change the frame count re-set ``clip_len`` in the frame
# samplers of the three pipelines (see docs/data_preparation.md,
# "Overriding the frame count").
# VideoDataset that skips (and reports) undecodable videos instead of stopping
dataset_type = 'DiSTRobustVideoDataset'
data_root = 'data/kinetics400/videos_train'
data_root_val = 'data/kinetics400/videos_val'
ann_file_train = 'data/kinetics400/kinetics400_train_list_videos.txt'
ann_file_val = 'data/kinetics400/kinetics400_val_list_videos.txt'
ann_file_test = 'data/kinetics400/kinetics400_val_list_videos.txt'

num_classes = 400
# class names in label-id order, for the text classifier (DiSTTextHead)
class_names = 'projects/dist/label_maps/kinetics400.txt'

num_frames = 16  # T_t: frames of the temporal stream (CLIP sees T_t / 2)
num_test_views = 3  # official test: 3 temporal views x 1 centre crop
input_size = 224
# per-GPU batch sizes; 8 GPUs x 32 = 256 clips per step (see the schedule)
train_batch_size = 32
val_batch_size = 16
test_batch_size = 4
num_workers = 8

# Mixup (alpha 0.8) or CutMix (alpha 1.0), one of them on every batch, 50/50
# (probs=None picks evenly). Used as the data preprocessor's ``blending``.
blending = dict(
    type='RandomBatchAugment',
    augments=[
        dict(type='MixupBlending', alpha=0.8, num_classes=num_classes),
        dict(type='CutmixBlending', alpha=1.0, num_classes=num_classes)
    ])

# Decoding backend of DiSTVideoInit: 'pyav' (frame-accurate, honours MP4
# edit lists, the fastest measured: docs/data_pipeline.md) or 'decord'
# (MMAction2's; rejects files with an edit list). Leaf configs that change it
# re-build the pipelines (see docs/data_pipeline.md).
video_backend = 'pyav'
file_client_args = dict(io_backend='disk')
train_pipeline = [
    dict(type='DiSTVideoInit', backend=video_backend, **file_client_args),
    dict(type='UniformSample', clip_len=num_frames, num_clips=1),
    dict(type='DiSTVideoDecode'),
    dict(
        type='RandomResizedCrop',
        area_range=(0.4, 1.0),
        aspect_ratio_range=(0.75, 1.333)),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='TorchVisionWrapper', op='RandomGrayscale', p=0.2),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='DiSTVideoInit', backend=video_backend, **file_client_args),
    dict(
        type='DiSTSegmentSample',
        clip_len=num_frames,
        num_clips=1,
        test_mode=True),
    dict(type='DiSTVideoDecode'),
    dict(type='Resize', scale=(-1, input_size)),
    dict(type='CenterCrop', crop_size=input_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
# test: the val pipeline with num_test_views clips from the frame sampler
test_pipeline = [
    dict(step, num_clips=num_test_views) if 'clip_len' in step else step
    for step in val_pipeline
]

train_dataloader = dict(
    batch_size=train_batch_size,
    num_workers=num_workers,
    persistent_workers=True,
    sampler=dict(type='DiSTSeededSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_train,
        num_classes=num_classes,
        data_prefix=dict(video=data_root),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=val_batch_size,
    num_workers=num_workers,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_val,
        num_classes=num_classes,
        data_prefix=dict(video=data_root_val),
        pipeline=val_pipeline,
        test_mode=True))
# test: the val loader with the test batch size, list and pipeline
test_dataloader = dict(
    val_dataloader,
    batch_size=test_batch_size,
    dataset=dict(
        val_dataloader['dataset'],
        ann_file=ann_file_test,
        pipeline=test_pipeline))

# top-1 / top-5 and mean class accuracy, over the readable videos: the
# wrapper leaves the stand-ins of unreadable videos out and reports them
val_evaluator = dict(
    type='DiSTSkipBrokenMetric',
    metric=dict(
        type='AccMetric',
        metric_list=('top_k_accuracy', 'mean_class_accuracy'),
        metric_options=dict(top_k_accuracy=dict(topk=(1, 5)))))
test_evaluator = val_evaluator
# DiSTVideoReportHook counts broken videos over all workers and ranks
# (max_broken), reports them and clips padded because their video is too
# short; DiSTIterationSeedHook seeds Mixup/CutMix (drawn in the training
# process) per iteration, so a resumed run draws what the uninterrupted one
# did (the sampler, DiSTSeededSampler, does the same for the augmentation in
# the data workers)
custom_hooks = [
    dict(type='DiSTVideoReportHook'),
    dict(type='DiSTIterationSeedHook')
]
