# Recipe base for the CLIP ViT-B/16 leaves: the runtime (checkpoint hook,
# logging), the DiST ViT-B/16 model and the official AdamW + cosine 36-epoch
# schedule. A leaf adds one dataset base and wires the model to it (head
# classes and names, Mixup/CutMix of the data preprocessor):
#   _base_ = ['./_base_/recipes/dist_vitb16.py',
#             './_base_/datasets/kinetics400_dist.py']
_base_ = [
    '../default_runtime.py',
    '../models/dist_vitb16.py',
    '../schedules/dist_adamw_cosine_36e.py',
]
