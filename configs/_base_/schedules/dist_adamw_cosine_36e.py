# The official DiST optimisation recipe (all nine configs/projects/dist
# leaves share it): AdamW, peak LR 3.2e-4 (BASE_LR 3.2e-5 x NEW_NET_LRMULT
# 10), betas (0.9, 0.999), weight decay 1e-4 on weights and 0 on biases,
# norms, 1-D tensors, the per-frame CLS tokens, the positional embeddings and
# the two learned queries; 36 epochs, LR set every iteration: linear warm-up
# from 8e-7 over 6 epochs, cosine to 0. No gradient clipping, no EMA, fp32.
#
# Warm-up + cosine as in the official lr_policy (SlowFast style): ONE cosine
# over all 36 epochs, lr(e) = peak * (1 + cos(pi * e / 36)) / 2, whose first
# 6 epochs are replaced by a linear ramp from 8e-7 up to lr(6) = 0.933 * peak.
# Here: a CosineAnnealingLR over [0, 36) chained with a LinearLR factor over
# [0, 6) -- exactly the official curve from epoch 6 on. Inside the warm-up
# the product of the two bends slightly above the official straight line (by
# at most 3 % of the peak LR, 7 % relative early on; start and end values
# are exact). See tests/test_schedules.py.
#
# Batch size: the official configs set a GLOBAL batch of 32 (4 clips x 8
# GPUs), while the official README says "8 V100 GPUs ... each GPU contains 32
# video clips" (256). We follow the README: 3.2e-4 is the peak LR for a
# global batch of 256 (8 GPUs x 32, ``train_batch_size`` in the dataset
# bases). Start with ``--auto-scale-lr`` to scale it linearly to other
# global batch sizes (e.g. 4e-5 at 32, the official configs' value, if that
# was what the released models used).
max_epochs = 36
warmup_epochs = 6
base_lr = 3.2e-4  # peak LR at base_batch_size
warmup_start_lr = 8e-7  # official WARMUP_START_LR 8e-8 x LR multiplier 10
weight_decay = 1e-4
val_interval = 4  # official EVAL_PERIOD: every 4 epochs (and the last one)

train_cfg = dict(
    type='EpochBasedTrainLoop',
    max_epochs=max_epochs,
    val_begin=1,
    val_interval=val_interval)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# Frozen CLIP parameters (requires_grad=False) never reach the optimizer:
# DiSTOptimWrapperConstructor skips the frozen towers (one log line instead
# of MMEngine's warning per frozen tensor) and merges the per-tensor groups
# of MMEngine's param-wise path that have equal options (431 -> 3 for
# ViT-B/16; checkpoints saved with per-tensor groups are merged the same
# way on --resume) and sums the groups up in one log line (MMEngine's line
# per tensor option is logged at DEBUG level). No weight decay on 1-D
# tensors (biases, LayerNorm) and on the DiST tokens/embeddings/queries,
# which are >1-D, matched by name below.
# fused=True: torch's fused AdamW kernel updates all tensors of a group at
# once, and under AMP the GradScaler hands it the scale instead of reading the
# inf check back to the host every step. Same update up to float rounding.
# Needs a device with fused AdamW kernels (CUDA; CPU from torch 2.4); set
# optim_wrapper.optimizer.fused=False elsewhere. Resuming keeps the config's
# choice whatever the checkpoint was saved with.
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='DiSTOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW',
        lr=base_lr,
        betas=(0.9, 0.999),
        weight_decay=weight_decay,
        fused=True),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.positional_embedding': dict(decay_mult=0.0),
            '.spatial_query': dict(decay_mult=0.0),
            '.video_query': dict(decay_mult=0.0),
        }))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=warmup_start_lr / base_lr,
        end_factor=1.0,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        eta_min=0.0,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True)
]

# base_batch_size = 8 GPUs x 32 clips (see above); enable with --auto-scale-lr
auto_scale_lr = dict(enable=False, base_batch_size=256)
