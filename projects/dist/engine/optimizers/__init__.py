"""Optimizer-wrapper constructors."""
from .frozen_aware_constructor import DiSTOptimWrapperConstructor

__all__ = ['DiSTOptimWrapperConstructor']
