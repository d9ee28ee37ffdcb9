# DiST, Kinetics-400, frozen DINOv2 ViT-B/14 (mmpretrain) with a linear head,
# 8 spatial + 16 temporal frames; the ViT-B/16 K400 recipe otherwise
# (configs/dist_vitb_k400.py). No reference result exists for this tower.
#   bash tools/dist_train.sh configs/dist_dinov2_vitb14_k400.py 8
_base_ = [
    './_base_/recipes/dist_dinov2_vitb14.py',
    './_base_/datasets/kinetics400_dist.py',
]

# 16 frames (num_frames of the dataset base) and 4 ada-pooling layers are
# the bases' defaults; the head takes the dataset's classes and the data
# preprocessor its Mixup/CutMix
model = dict(
    cls_head=dict(num_classes={{_base_.num_classes}}),
    data_preprocessor=dict(blending={{_base_.blending}}))
