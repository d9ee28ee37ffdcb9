# A tiny DiST for tests and CPU runs: a 2-block, 64-wide CLIP tower on 32 px
# frames, 8 temporal / 4 spatial frames. Same architecture as the paper's
# model, scaled down; CLIP weights come from a seeded random file (see
# configs/dist_tiny_synthetic.py), never from the network.
custom_imports = dict(imports=['projects.dist'], allow_failed_imports=False)

tiny_clip = dict(
    embed_dim=32,
    image_size=32,
    patch_size=8,
    width=64,
    layers=2,
    heads=2,
    text_width=32,
    text_heads=2,
    text_layers=2)

model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='DiST',
        spatial_encoder=dict(
            type='DiSTCLIPVisual', arch=tiny_clip, pretrained=None),
        num_frames=8,
        alpha=2,
        selected_layers=None,
        integration_dim=32,
        temporal_dim=16,
        temporal_patch_size=3,
        num_ada_layers=1,
        ada_heads=2),
    cls_head=dict(
        type='DiSTTextHead',
        num_classes=6,
        in_channels=32,
        class_names='projects/dist/label_maps/synthetic_motion.txt',
        text_encoder=dict(
            type='DiSTCLIPText', arch=tiny_clip, pretrained=None),
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[122.7709383, 116.7460125, 104.0937362],
        std=[68.5005327, 66.6321579, 70.323163],
        format_shape='NCTHW'))
