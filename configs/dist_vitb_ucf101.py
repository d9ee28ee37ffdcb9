# DiST, UCF101 (split 1) fine-tuning, CLIP ViT-B/16, 8 spatial + 16 temporal
# frames, initialised from the Kinetics-400 model (configs/dist_vitb_k400.py,
# load_from in the recipe base):
# the text classifier only needs the UCF101 class names. The paper reports
# UCF101 among its five benchmarks; no official config was released, so the
# schedule here is the K400 one (shorten it for these small datasets).
_base_ = [
    './_base_/recipes/dist_vitb16_from_k400.py',
    './_base_/datasets/ucf101_dist.py',
]

# 16 frames (num_frames of the dataset base) and 4 ada-pooling layers are
# the bases' defaults; the head takes the dataset's classes and the data
# preprocessor its Mixup/CutMix
model = dict(
    cls_head=dict(
        num_classes={{_base_.num_classes}},
        class_names={{_base_.class_names}}),
    data_preprocessor=dict(blending={{_base_.blending}}))
