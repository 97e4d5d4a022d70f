"""Deprecated: moved to :mod:`faceexpr.backends.anipose.config`.

The old name still works, with a DeprecationWarning.
"""

from faceexpr._deprecated import moved_module

__getattr__ = moved_module("faceexpr.io.anipose_config", "faceexpr.backends.anipose.config")
