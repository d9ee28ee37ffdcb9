# DiST with a frozen CLIP ViT-L/14 (official configs/projects/dist, ViT-L/14
# leaves): the ViT-B/16 base with every one of the 24 CLIP blocks feeding the
# integration branch and a (5, 14, 14) temporal stem. The official L/14 leaves
# keep a 16-px stem, whose 14x14 grid does not match CLIP-L/14's 16x16 grid
# and fails. Offline, point both ``pretrained`` keys at OpenAI's ViT-L-14.pt.
_base_ = ['./dist_vitb16.py']

clip_arch = 'ViT-L/14'

model = dict(
    backbone=dict(spatial_encoder=dict(arch=clip_arch), spatial_patch_size=14),
    cls_head=dict(in_channels=768, text_encoder=dict(arch=clip_arch)))
