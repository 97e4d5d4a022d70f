"""Deprecated: moved to :mod:`faceexpr.backends.openface.format`.

The old name still works, with a DeprecationWarning.
"""

from faceexpr._deprecated import moved_module

__getattr__ = moved_module("faceexpr.io.openface", "faceexpr.backends.openface.format")
