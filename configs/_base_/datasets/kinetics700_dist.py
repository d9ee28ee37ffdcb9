# Kinetics-700 with the DiST recipe: the pipelines, loaders and evaluators of
# kinetics400_dist.py on MMAction2's Kinetics-700 layout and lists
# (tools/data/kinetics, ``bash ... kinetics700``). The official repo ships no
# Kinetics-700 config; this applies its Kinetics recipe. See
# docs/data_preparation.md.
_base_ = ['./kinetics400_dist.py']

data_root = 'data/kinetics700/videos_train'
data_root_val = 'data/kinetics700/videos_val'
ann_file_train = 'data/kinetics700/kinetics700_train_list_videos.txt'
ann_file_val = 'data/kinetics700/kinetics700_val_list_videos.txt'
ann_file_test = 'data/kinetics700/kinetics700_val_list_videos.txt'

num_classes = 700
# class names in label-id order, for the text classifier (DiSTTextHead)
class_names = 'projects/dist/label_maps/kinetics700.txt'
# Mixup / CutMix targets need this dataset's class count
blending = dict(
    _base_.blending,
    augments=[
        dict(augment, num_classes=num_classes)
        for augment in _base_.blending.augments
    ])

train_dataloader = dict(
    dataset=dict(
        ann_file=ann_file_train,
        data_prefix=dict(video=data_root),
        num_classes=num_classes))
val_dataloader = dict(
    dataset=dict(
        ann_file=ann_file_val,
        data_prefix=dict(video=data_root_val),
        num_classes=num_classes))
test_dataloader = dict(
    dataset=dict(
        ann_file=ann_file_test,
        data_prefix=dict(video=data_root_val),
        num_classes=num_classes))
