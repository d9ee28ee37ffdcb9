# DiST, Something-Something V2, CLIP ViT-B/16, 8 spatial + 16 temporal
# frames, 2 ada-pooling layers. Reproduces the official
# configs/projects/dist/ssv2/vit-b16-8+16f.yaml. Reference (official README):
# top-1 68.7, top-5 91.1, 3 views x 1 crop.
_base_ = [
    './_base_/recipes/dist_vitb16.py',
    './_base_/datasets/sthv2_dist.py',
]

# 16 frames (num_frames of the dataset base), 2 ada-pooling layers; the head
# takes the dataset's classes and the data preprocessor its Mixup/CutMix
model = dict(
    backbone=dict(num_ada_layers=2),
    cls_head=dict(
        num_classes={{_base_.num_classes}},
        class_names={{_base_.class_names}}),
    data_preprocessor=dict(blending={{_base_.blending}}))
