# Recipe base for fine-tuning the CLIP ViT-B/16 DiST on a small dataset: the
# ViT-B/16 recipe (runtime, model, 36-epoch schedule; shorten it for these
# small datasets) initialised from the Kinetics-400 model. The text
# classifier only needs the new class names, so every weight is reused.
_base_ = ['./dist_vitb16.py']

# checkpoint of configs/dist_vitb_k400.py
load_from = 'work_dirs/dist_vitb_k400/best_checkpoint.pth'
