# DiST, Kinetics-700, CLIP ViT-B/16, 8 spatial + 16 temporal frames, with the
# K400 recipe. The paper reports Kinetics-700 among its five benchmarks; no
# official config or checkpoint was released.
_base_ = [
    './_base_/recipes/dist_vitb16.py',
    './_base_/datasets/kinetics700_dist.py',
]

# 16 frames (num_frames of the dataset base) and 4 ada-pooling layers are
# the bases' defaults; the head takes the dataset's classes and the data
# preprocessor its Mixup/CutMix
model = dict(
    cls_head=dict(
        num_classes={{_base_.num_classes}},
        class_names={{_base_.class_names}}),
    data_preprocessor=dict(blending={{_base_.blending}}))
