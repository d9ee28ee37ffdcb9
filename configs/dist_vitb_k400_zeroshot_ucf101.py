# Zero-shot UCF101 with the Kinetics-400 DiST (configs/dist_vitb_k400.py,
# CLIP ViT-B/16, 8 spatial + 16 temporal frames): no UCF101 training; the
# text classifier is given UCF101's 101 class names. Protocol of X-CLIP and
# ViFi-CLIP: the test lists of the three official splits, top-1 reported as
# mean ± std over the splits. Run all three with
#   python tools/zero_shot_eval.py configs/dist_vitb_k400_zeroshot_ucf101.py \
#       work_dirs/dist_vitb_k400/best_checkpoint.pth
# (one split: tools/test.py with this config). Class names are encoded raw, as
# in training; a prompt-template ensemble: --cfg-options
# model.cls_head.prompt_templates=projects/dist/label_maps/templates/video_ensemble.txt
# The train/val entries (UCF101 split 1, from dist_vitb_ucf101.py) are not
# used by the zero-shot evaluation.
_base_ = ['./dist_vitb_ucf101.py']

# the Kinetics-400 checkpoint (tools/test.py and tools/zero_shot_eval.py
# take it as their CHECKPOINT argument)
load_from = 'work_dirs/dist_vitb_k400/best_checkpoint.pth'

# splits evaluated by tools/zero_shot_eval.py: the test list of each, with
# ``{split}`` replaced by its number (MMAction2's tools/data/ucf101 lists)
zero_shot = dict(
    splits=(1, 2, 3),
    ann_file='data/ucf101/ucf101_val_split_{split}_videos.txt')
