# Kinetics-710 (the union of Kinetics-400/600/700 training videos with
# duplicates removed, as built by MMAction2's UniFormerV2 recipe,
# tools/data/kinetics710) with the DiST recipe: same pipelines as
# kinetics400_dist.py. It is a ConcatDataset of three VideoDatasets over the
# original K400/K600/K700 videos with the K710 annotation lists
# (data/kinetics710/k{400,600,700}_{train,val}_list_videos.txt), whose labels
# are in the 710-class space. See docs/data_preparation.md.
#
# Leaf configs that change the frame count give the three sub-datasets the
# new pipelines (see docs/data_preparation.md, "Overriding the frame
# count").
_base_ = ['./kinetics400_dist.py']

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

# Mixup / CutMix targets need this dataset's class count
blending = dict(
    _base_.blending,
    augments=[
        dict(augment, num_classes=num_classes)
        for augment in _base_.blending.augments
    ])

# the Kinetics-400 pipelines, one dataset per source
dataset_type = _base_.dataset_type
train_pipeline = _base_.train_pipeline
val_pipeline = _base_.val_pipeline
test_pipeline = _base_.test_pipeline

# one VideoDataset per source, in the order K400, K600, K700
k400_trainset, k600_trainset, k700_trainset = [
    dict(
        type=dataset_type,
        num_classes=num_classes,
        ann_file=ann_file,
        data_prefix=dict(video=video),
        pipeline=train_pipeline)
    for ann_file, video in zip((k400_ann_file_train, k600_ann_file_train,
                                k700_ann_file_train), (k400_data_root,
                                                       k600_data_root,
                                                       k700_data_root))
]
k400_valset, k600_valset, k700_valset = [
    dict(
        type=dataset_type,
        num_classes=num_classes,
        ann_file=ann_file,
        data_prefix=dict(video=video),
        pipeline=val_pipeline,
        test_mode=True)
    for ann_file, video in zip((k400_ann_file_val, k600_ann_file_val,
                                k700_ann_file_val), (k400_data_root_val,
                                                     k600_data_root_val,
                                                     k700_data_root_val))
]
k400_testset, k600_testset, k700_testset = (
    dict(valset, pipeline=test_pipeline)
    for valset in (k400_valset, k600_valset, k700_valset))

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[k400_trainset, k600_trainset, k700_trainset]))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[k400_valset, k600_valset, k700_valset]))
test_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[k400_testset, k600_testset, k700_testset]))
