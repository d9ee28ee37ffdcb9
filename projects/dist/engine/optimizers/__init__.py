"""Optimizer-wrapper constructors."""
from .optim_wrapper_constructor import DiSTOptimWrapperConstructor

__all__ = ['DiSTOptimWrapperConstructor']
