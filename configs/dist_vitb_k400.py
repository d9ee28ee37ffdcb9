# DiST, Kinetics-400, CLIP ViT-B/16, 8 spatial + 16 temporal frames.
# Reproduces the official configs/projects/dist/k400/vit-b16-8+16f.yaml (on the
# K400 data it was meant to use; the official leaf inherits the SSv2 base by
# mistake). Reference (official README): top-1 83.6, top-5 96.3, 3 views x 1
# crop. Recipe: 8 GPUs x 32 clips, AdamW 3.2e-4, 36 epochs.
#   bash tools/dist_train.sh configs/dist_vitb_k400.py 8
_base_ = [
    './_base_/recipes/dist_vitb16.py',
    './_base_/datasets/kinetics400_dist.py',
]

# 16 frames (num_frames of the dataset base) and 4 ada-pooling layers are
# the bases' defaults; the head takes the dataset's classes and the data
# preprocessor its Mixup/CutMix
model = dict(
    cls_head=dict(
        num_classes={{_base_.num_classes}},
        class_names={{_base_.class_names}}),
    data_preprocessor=dict(blending={{_base_.blending}}))
