"""Running MMEngine's distributed launchers on machines without CUDA."""
import logging

from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log


def use_cpu_distributed(cfg: Config) -> None:
    """Make a distributed run work on a machine without CUDA.

    Sets the ``gloo`` backend and a DDP wrapper without ``device_ids`` (the
    model stays on the CPU). Keys the config already sets are kept, except
    the backend, which must be ``gloo`` without CUDA. ``broadcast_buffers``
    defaults to False and ``find_unused_parameters`` is passed on only when
    the config sets it, as in MMEngine's own default wrapper.

    Args:
        cfg (Config): The config, changed in place.
    """
    env_cfg = cfg.setdefault('env_cfg', ConfigDict())
    dist_cfg = env_cfg.setdefault('dist_cfg', ConfigDict())
    if dist_cfg.get('backend', 'gloo') != 'gloo':
        print_log(
            f'No CUDA device: using the gloo backend instead of '
            f'{dist_cfg.backend!r}.',
            logger='current',
            level=logging.WARNING)
    dist_cfg.backend = 'gloo'

    wrapper = cfg.get('model_wrapper_cfg')
    if wrapper is None:
        wrapper = ConfigDict(broadcast_buffers=False)
        if 'find_unused_parameters' in cfg:
            wrapper.find_unused_parameters = cfg.find_unused_parameters
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    if wrapper.type == 'MMDistributedDataParallel':
        wrapper.setdefault('device_ids', None)
    cfg.model_wrapper_cfg = wrapper
