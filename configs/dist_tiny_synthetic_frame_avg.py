# Order-blind control for the built-in default: the SAME frozen random tiny
# CLIP tower, data, head and schedule as dist_tiny_synthetic.py, but the clip
# is reduced to the mean of its per-frame CLIP CLS features before anything
# is trained (DiSTFrameAverageBaseline). Every class of the synthetic data
# shows the same set of frames, only in another order, so this model cannot
# beat chance (1/6) by construction; DiST can.
#
#   python tools/train.py configs/dist_tiny_synthetic_frame_avg.py
_base_ = ['./dist_tiny_synthetic.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='DiSTFrameAverageBaseline',
        spatial_encoder=dict(
            type='DiSTCLIPVisual',
            arch={{_base_.tiny_clip_arch}},
            pretrained={{_base_.tiny_clip_weights}}),
        num_frames={{_base_.num_frames}},
        frame_stride=1,
        hidden_dim=256))
