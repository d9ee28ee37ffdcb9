# DiST, Something-Something V2, frozen DINOv2 ViT-B/14 (mmpretrain) with a
# linear head, 8 spatial + 16 temporal frames, 2 ada-pooling layers; the
# ViT-B/16 SSv2 recipe otherwise (configs/dist_vitb_sthv2.py). No reference
# result exists for this tower.
_base_ = [
    './_base_/recipes/dist_dinov2_vitb14.py',
    './_base_/datasets/sthv2_dist.py',
]

# 16 frames (num_frames of the dataset base), 2 ada-pooling layers; the head
# takes the dataset's classes and the data preprocessor its Mixup/CutMix
model = dict(
    backbone=dict(num_ada_layers=2),
    cls_head=dict(num_classes={{_base_.num_classes}}),
    data_preprocessor=dict(blending={{_base_.blending}}))
