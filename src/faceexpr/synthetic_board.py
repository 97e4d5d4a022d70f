"""Deprecated: moved to :mod:`faceexpr.synthetic.boards`.

The old name still works, with a DeprecationWarning.
"""

from faceexpr._deprecated import moved_module

__getattr__ = moved_module("faceexpr.synthetic_board", "faceexpr.synthetic.boards")
