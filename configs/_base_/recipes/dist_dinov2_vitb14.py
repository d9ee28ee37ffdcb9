# Recipe base for the DINOv2 ViT-B/14 (mmpretrain) leaves: the runtime, the
# DiST model on the frozen DINOv2 tower with a linear head and the 36-epoch
# schedule. A leaf adds one dataset base and wires the model to it.
_base_ = [
    '../default_runtime.py',
    '../models/dist_dinov2_vitb14.py',
    '../schedules/dist_adamw_cosine_36e.py',
]
