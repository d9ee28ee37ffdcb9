# DiST, Kinetics-700, CLIP ViT-B/16, 8 spatial + 16 temporal frames, with the
# K400 recipe. The paper reports Kinetics-700 among its five benchmarks; no
# official config or checkpoint was released.
_base_ = [
    './_base_/recipes/dist_vitb16.py',
    './_base_/datasets/kinetics700_dist.py',
]

num_frames = 16  # T_t; CLIP sees num_frames // 2

model = dict(
    backbone=dict(num_frames=num_frames, num_ada_layers=4),
    cls_head=dict(
        num_classes={{_base_.num_classes}},
        class_names={{_base_.class_names}}),
    data_preprocessor=dict(blending={{_base_.blending}}))
