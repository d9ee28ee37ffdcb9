# Runtime shared by every DiST config: MMAction2's default runtime (hooks,
# visualizer, log processor, environment) with
#   - DiSTSafeCheckpointHook: atomic checkpoint writes, so a job killed
#     while saving never leaves a truncated file that --resume would pick;
#     the last 3 epochs and the best one are kept;
#   - a log line every 50 iterations.
# Dataset bases add their custom hooks (custom_hooks).
_base_ = ['mmaction::_base_/default_runtime.py']

default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(
        type='DiSTSafeCheckpointHook',
        interval=1,
        max_keep_ckpts=3,
        save_best='auto'))
