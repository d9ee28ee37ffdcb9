# The built-in tiny DiST on the synthetic motion-order videos with a tiny
# mmpretrain ViT as frozen tower (DINOv2-style: layer scale, no text tower)
# and a linear head instead of the CLIP text head. CPU-friendly.
#
#   python tools/train.py configs/dist_tiny_synthetic_mmpretrain.py
#
# The tower keeps mmpretrain's random initialisation (frozen; a WARNING at
# the first forward says so): it shows the mmpretrain path end to end, not a
# pretrained tower. Point model.backbone.spatial_encoder.pretrained at a
# checkpoint of the same architecture to load one.
_base_ = ['./dist_tiny_synthetic.py']

model = dict(
    backbone=dict(
        spatial_encoder=dict(
            _delete_=True,
            type='DiSTMMPretrainViT',
            backbone=dict(
                type='mmpretrain.VisionTransformer',
                arch=dict(
                    embed_dims=64,
                    num_layers=2,
                    num_heads=2,
                    feedforward_channels=128),
                img_size={{_base_.frame_size}},
                patch_size=8,
                layer_scale_init_value=1e-5),
            # the normalisation of the data preprocessor below
            mean=[122.7709383, 116.7460125, 104.0937362],
            std=[68.5005327, 66.6321579, 70.323163],
            pretrained=None),
        output_dim=64),
    cls_head=dict(
        _delete_=True,
        type='TimeSformerHead',
        num_classes={{_base_.num_classes}},
        in_channels=64,
        average_clips='prob'))
