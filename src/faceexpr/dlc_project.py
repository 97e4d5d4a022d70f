"""Deprecated: moved to :mod:`faceexpr.backends.deeplabcut.project`.

The old name still works, with a DeprecationWarning.
"""

from faceexpr._deprecated import moved_module

__getattr__ = moved_module("faceexpr.dlc_project", "faceexpr.backends.deeplabcut.project")
