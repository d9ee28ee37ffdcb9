"""Runner hooks."""
from .safe_checkpoint_hook import DiSTSafeCheckpointHook  # noqa: F401
