# DiST with a frozen CLIP ViT-L/14 (official configs/projects/dist, ViT-L/14
# leaves): every one of the 24 CLIP blocks feeds the integration branch,
# integration 384 / temporal 96 channels, 4 ada-pooling layers (K400; SSv2
# leaves use 2). The temporal stem is (5, 14, 14): the official L/14 leaves
# keep a 16-px stem, whose 14x14 grid does not match CLIP-L/14's 16x16 grid
# and fails. Leaf configs set the frame count, the class names and the data
# preprocessor's Mixup/CutMix blending.
#
# CLIP weights: the open_clip tag 'openai' downloads OpenAI's ViT-L/14 once
# (into the Hugging Face cache). Offline, point ``clip_pretrained`` at a local
# copy: OpenAI's TorchScript ViT-L-14.pt or a CLIP state-dict file, e.g.
#   --cfg-options model.backbone.spatial_encoder.pretrained=ckpt/ViT-L-14.pt \
#                 model.cls_head.text_encoder.pretrained=ckpt/ViT-L-14.pt
custom_imports = dict(imports=['projects.dist'], allow_failed_imports=False)

clip_arch = 'ViT-L/14'
clip_pretrained = 'openai'

model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='DiST',
        spatial_encoder=dict(
            type='DiSTCLIPVisual', arch=clip_arch, pretrained=clip_pretrained),
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
        num_ada_layers=4),
    cls_head=dict(
        type='DiSTTextHead',
        num_classes=400,
        in_channels=768,
        class_names='projects/dist/label_maps/kinetics400.txt',
        text_encoder=dict(
            type='DiSTCLIPText', arch=clip_arch, pretrained=clip_pretrained),
        label_smooth_eps=0.1,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[122.7709383, 116.7460125, 104.0937362],
        std=[68.5005327, 66.6321579, 70.323163],
        format_shape='NCTHW'))
