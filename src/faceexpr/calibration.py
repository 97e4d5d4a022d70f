"""Deprecated: moved to :mod:`faceexpr.backends.anipose.calibration`.

The old name still works, with a DeprecationWarning.
"""

from faceexpr._deprecated import moved_module

__getattr__ = moved_module("faceexpr.calibration", "faceexpr.backends.anipose.calibration")
