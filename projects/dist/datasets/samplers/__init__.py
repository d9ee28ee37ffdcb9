"""Data samplers, registered in MMAction2's ``DATA_SAMPLERS``."""
from .seeded_index import SeededIndex
from .seeded_sampler import DiSTSeededSampler

__all__ = ['DiSTSeededSampler', 'SeededIndex']
