"""Utilities of the DiST plugin: checkpoint loading, launching, the tools'
command-line plumbing. (Compute counting and benchmarking are tool-only:
:mod:`projects.dist_tools`.)"""
from .checkpoint_loading import allow_full_unpickling_if_needed
from .launch import use_cpu_distributed

__all__ = ['allow_full_unpickling_if_needed', 'use_cpu_distributed']
