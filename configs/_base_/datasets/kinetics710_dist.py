# Kinetics-710 (the union of Kinetics-400/600/700 training videos with
# duplicates removed, as built by MMAction2's UniFormerV2 recipe,
# tools/data/kinetics710) with the DiST recipe: same pipelines as
# kinetics400_dist.py. It is a ConcatDataset of three VideoDatasets over the
# original K400/K600/K700 videos with the K710 annotation lists
# (data/kinetics710/k{400,600,700}_{train,val}_list_videos.txt), whose labels
# are in the 710-class space. See docs/data_preparation.md.
#
# Leaf configs that change the frame count rebuild the three sub-datasets
# with the new pipelines (see docs/data_preparation.md, "Overriding the frame
# count").
# VideoDataset that skips (and reports) undecodable videos instead of stopping
dataset_type = 'DiSTRobustVideoDataset'
k400_data_root = 'data/kinetics400/videos_train'
k600_data_root = 'data/kinetics600/videos'
k700_data_root = 'data/kinetics700/videos'
k400_data_root_val = 'data/kinetics400/videos_val'
k600_data_root_val = k600_data_root
k700_data_root_val = k700_data_root
k400_ann_file_train = 'data/kinetics710/k400_train_list_videos.txt'
k600_ann_file_train = 'data/kinetics710/k600_train_list_videos.txt'
k700_ann_file_train = 'data/kinetics710/k700_train_list_videos.txt'
k400_ann_file_val = 'data/kinetics710/k400_val_list_videos.txt'
k600_ann_file_val = 'data/kinetics710/k600_val_list_videos.txt'
k700_ann_file_val = 'data/kinetics710/k700_val_list_videos.txt'

num_classes = 710
# class names in label-id order, for the text classifier (DiSTTextHead)
class_names = 'projects/dist/label_maps/kinetics710.txt'
# If your K710 lists use the label order of UniFormerV2's released K710
# models instead, use 'projects/dist/label_maps/kinetics710_uniformerv2.txt'
# (see projects/dist/label_maps/README.md for how to tell).

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

file_client_args = dict(io_backend='disk')
train_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(type='UniformSample', clip_len=num_frames, num_clips=1),
    dict(type='DecordDecode'),
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
    dict(type='DecordInit', **file_client_args),
    dict(
        type='DiSTSegmentSample',
        clip_len=num_frames,
        num_clips=1,
        test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, input_size)),
    dict(type='CenterCrop', crop_size=input_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
test_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(
        type='DiSTSegmentSample',
        clip_len=num_frames,
        num_clips=num_test_views,
        test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, input_size)),
    dict(type='CenterCrop', crop_size=input_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]

k400_trainset = dict(
    type=dataset_type,
    ann_file=k400_ann_file_train,
    data_prefix=dict(video=k400_data_root),
    pipeline=train_pipeline)
k600_trainset = dict(
    type=dataset_type,
    ann_file=k600_ann_file_train,
    data_prefix=dict(video=k600_data_root),
    pipeline=train_pipeline)
k700_trainset = dict(
    type=dataset_type,
    ann_file=k700_ann_file_train,
    data_prefix=dict(video=k700_data_root),
    pipeline=train_pipeline)
k400_valset = dict(
    type=dataset_type,
    ann_file=k400_ann_file_val,
    data_prefix=dict(video=k400_data_root_val),
    pipeline=val_pipeline,
    test_mode=True)
k600_valset = dict(
    type=dataset_type,
    ann_file=k600_ann_file_val,
    data_prefix=dict(video=k600_data_root_val),
    pipeline=val_pipeline,
    test_mode=True)
k700_valset = dict(
    type=dataset_type,
    ann_file=k700_ann_file_val,
    data_prefix=dict(video=k700_data_root_val),
    pipeline=val_pipeline,
    test_mode=True)
k400_testset = dict(k400_valset, pipeline=test_pipeline)
k600_testset = dict(k600_valset, pipeline=test_pipeline)
k700_testset = dict(k700_valset, pipeline=test_pipeline)

train_dataloader = dict(
    batch_size=train_batch_size,
    num_workers=num_workers,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='ConcatDataset',
        datasets=[k400_trainset, k600_trainset, k700_trainset]))
val_dataloader = dict(
    batch_size=val_batch_size,
    num_workers=num_workers,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='ConcatDataset', datasets=[k400_valset, k600_valset,
                                        k700_valset]))
test_dataloader = dict(
    batch_size=test_batch_size,
    num_workers=num_workers,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='ConcatDataset',
        datasets=[k400_testset, k600_testset, k700_testset]))

# top-1 / top-5 and mean class accuracy
val_evaluator = dict(
    type='AccMetric',
    metric_list=('top_k_accuracy', 'mean_class_accuracy'),
    metric_options=dict(top_k_accuracy=dict(topk=(1, 5))))
test_evaluator = val_evaluator
