# Recipe base for the CLIP ViT-L/14 leaves: the runtime, the DiST ViT-L/14
# model and the 36-epoch schedule, with the learning rate scaled from a
# reference batch of 128 clips (the L/14 leaves run 16 clips per GPU; 18.1 GB
# per GPU at batch 16 was published for the official L/14 model). A leaf adds
# one dataset base, its frame count and the wiring of the model to the data.
_base_ = [
    '../default_runtime.py',
    '../models/dist_vitl14.py',
    '../schedules/dist_adamw_cosine_36e.py',
]

auto_scale_lr = dict(base_batch_size=128)
