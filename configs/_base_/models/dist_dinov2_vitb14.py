# DiST with a frozen DINOv2 ViT-B/14 image tower from mmpretrain's model zoo
# and a linear classifier (DINOv2 has no paired text tower). The side network
# is the ViT-B/16 recipe's (every one of the 12 blocks feeds the integration
# branch, integration 384 / temporal 96 channels, temporal stem (5, 14, 14)).
# The tower runs at 224 px: a 16 x 16 grid of 14 px patches; mmpretrain
# resizes DINOv2's 37 x 37 position embeddings (518 px) bicubically when the
# weights load. The video embedding has the tower's width, 768.
#
# Weights: mmpretrain's converted DINOv2 checkpoint, downloaded once by
# mmengine (into the torch hub cache). Offline, point ``dinov2_pretrained``
# at a local copy:
#   --cfg-options model.backbone.spatial_encoder.pretrained=ckpt/dinov2.pth
custom_imports = dict(imports=['projects.dist'], allow_failed_imports=False)

dinov2_config = 'mmpretrain::dinov2/vit-base-p14_dinov2-pre_headless.py'
dinov2_pretrained = ('https://download.openmmlab.com/mmpretrain/v1.0/dinov2/'
                     'vit-base-p14_dinov2-pre_3rdparty_20230426-ba246503.pth')

model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='DiST',
        # architecture and expected normalisation from mmpretrain's config
        spatial_encoder=dict(
            type='DiSTMMPretrainViT',
            model_config=dinov2_config,
            backbone=dict(img_size=224),
            pretrained=dinov2_pretrained),
        num_frames=16,
        alpha=2,
        selected_layers=None,
        integration_dim=384,
        temporal_dim=96,
        spatial_patch_size=14,
        temporal_patch_size=5,
        temporal_kernel_size=3,
        temporal_mlp_ratio=1.0,
        integration_mlp_ratio=1.0,
        integration_temporal_mlp_ratio=0.25,
        num_ada_layers=4,
        output_dim=768),
    cls_head=dict(
        type='TimeSformerHead',
        num_classes=400,
        in_channels=768,
        dropout_ratio=0.5,
        label_smooth_eps=0.1,
        average_clips='prob'),
    # ImageNet normalisation, as mmpretrain's DINOv2 config has it
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW'))
