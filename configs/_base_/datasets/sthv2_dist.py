# Something-Something V2 with the DiST recipe (official
# configs/projects/dist/ssv2/*): the pipelines, loaders and evaluators of
# kinetics400_dist.py, except that the plain horizontal flip is replaced by a
# flip (p=0.5) that swaps the left/right label pairs 86/87, 93/94, 166/167.
# MMAction2's layout and lists (tools/data/sthv2, videos); see
# docs/data_preparation.md.
_base_ = ['./kinetics400_dist.py']

data_root = 'data/sthv2/videos'
data_root_val = 'data/sthv2/videos'
ann_file_train = 'data/sthv2/sthv2_train_list_videos.txt'
ann_file_val = 'data/sthv2/sthv2_val_list_videos.txt'
ann_file_test = 'data/sthv2/sthv2_val_list_videos.txt'

num_classes = 174
# class names in label-id order, for the text classifier (DiSTTextHead)
class_names = 'projects/dist/label_maps/sthv2.txt'
# Mixup / CutMix targets need this dataset's class count
blending = dict(
    _base_.blending,
    augments=[
        dict(augment, num_classes=num_classes)
        for augment in _base_.blending.augments
    ])

# mirror the clip with p=0.5 and swap "left to right" <-> "right to left"
train_pipeline = _base_.train_pipeline
flip_index = [p.type for p in train_pipeline].index('Flip')
train_pipeline[flip_index] = dict(
    type='DiSTLabelSwapFlip',
    label_pairs=((86, 87), (93, 94), (166, 167)),
    flip_ratio=0.5,
    num_classes=num_classes)
train_dataloader = dict(
    dataset=dict(
        ann_file=ann_file_train,
        data_prefix=dict(video=data_root),
        num_classes=num_classes,
        pipeline=train_pipeline))
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
