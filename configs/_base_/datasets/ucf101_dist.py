# UCF101 (split ``split``) with the DiST recipe: the pipelines, loaders and
# evaluators of kinetics400_dist.py on MMAction2's UCF101 layout and split
# lists (tools/data/ucf101). The official repo ships no UCF101 config; this
# applies its Kinetics recipe. See docs/data_preparation.md.
_base_ = ['./kinetics400_dist.py']

split = 1  # official split 1, 2 or 3
data_root = 'data/ucf101/videos'
data_root_val = 'data/ucf101/videos'
ann_file_train = f'data/ucf101/ucf101_train_split_{split}_videos.txt'
ann_file_val = f'data/ucf101/ucf101_val_split_{split}_videos.txt'
ann_file_test = f'data/ucf101/ucf101_val_split_{split}_videos.txt'

num_classes = 101
# class names in label-id order, for the text classifier (DiSTTextHead)
class_names = 'projects/dist/label_maps/ucf101.txt'
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
