# DiST, Kinetics-400, frozen DINOv2 ViT-B/14 (mmpretrain) with a linear head,
# 8 spatial + 16 temporal frames; the ViT-B/16 K400 recipe otherwise
# (configs/dist_vitb_k400.py). No reference result exists for this tower.
#   bash tools/dist_train.sh configs/dist_dinov2_vitb14_k400.py 8
_base_ = [
    './_base_/recipes/dist_dinov2_vitb14.py',
    './_base_/datasets/kinetics400_dist.py',
]

num_frames = 16  # T_t; the tower sees num_frames // 2

model = dict(
    backbone=dict(num_frames=num_frames, num_ada_layers=4),
    cls_head=dict(num_classes={{_base_.num_classes}}),
    data_preprocessor=dict(blending={{_base_.blending}}))
