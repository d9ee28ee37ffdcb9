# DiST, Kinetics-400, on a non-OpenAI frozen tower: open_clip ViT-B-16
# trained on LAION-2B (tag laion2b_s34b_b88k, GELU blocks; open_clip's own
# configs set activation, image size and normalisation, see docs/towers.md).
# 8 spatial + 16 temporal frames, the side network of
# configs/dist_vitb_k400.py.
# No paper result exists for this tower. The head is a linear classifier:
# DiSTCLIPText is OpenAI's text tower, whose joint space is not this tower's.
#   bash tools/dist_train.sh configs/dist_openclip_vitb16_laion2b_k400.py 8
_base_ = ['./dist_vitb_k400.py']

model = dict(
    backbone=dict(
        spatial_encoder=dict(
            _delete_=True,
            type='DiSTOpenCLIPVisual',
            model_name='ViT-B-16',
            pretrained='laion2b_s34b_b88k')),
    cls_head=dict(classifier='linear', text_encoder=None))
