# Host-overhead probe, not a model to train: the DiST ViT-B/16 recipe
# (configs/dist_vitb_k400.py: 12 CLIP blocks, 12 DiST layers, 4 ada-pooling
# layers, the recipe's optimizer and 400 classes) with every tensor made
# tiny (width 32, 2x2 patches of a 32 px frame). Its step time is then almost
# all per-operator cost: Python, dispatch, autograd and optimizer
# bookkeeping, which on a GPU is host time per kernel launch. Use it with
# tools/analysis/benchmark.py on the CPU to compare code paths by how much
# host work a training step does, e.g. (docs/benchmark.md):
#
#   python tools/analysis/benchmark.py configs/dist_vitb_k400_tiny_width.py \
#       --device cpu --threads 1 --batch-size 1 --shape 3 16 32 32 \
#       --modes train:none,test:none,clip-only:none
#
# Random weights; nothing is downloaded.
_base_ = './dist_vitb_k400.py'

tiny_width = dict(
    _delete_=True,
    embed_dim=16,
    image_size=32,
    patch_size=16,
    width=32,
    layers=12,
    heads=1,
    text_width=16,
    text_heads=1,
    text_layers=1,
    context_length=77)
model = dict(
    backbone=dict(
        spatial_encoder=dict(arch=tiny_width, pretrained=None),
        integration_dim=16,
        temporal_dim=8,
        ada_heads=1),
    cls_head=dict(
        in_channels=16, text_encoder=dict(arch=tiny_width, pretrained=None)))
