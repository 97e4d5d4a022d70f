"""Deprecated: moved to :mod:`faceexpr.synthetic.video`.

The old name still works, with a DeprecationWarning.
"""

from faceexpr._deprecated import moved_module

__getattr__ = moved_module("faceexpr.synthetic_video", "faceexpr.synthetic.video")
