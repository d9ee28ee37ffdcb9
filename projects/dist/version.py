"""Version of the DiST plugin for MMAction2."""

__version__ = '0.1.0'
