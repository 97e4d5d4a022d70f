"""Type aliases shared by the whole package (one home, imported everywhere)."""

from __future__ import annotations

import os
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

PathLike: TypeAlias = str | os.PathLike[str]
"""A file-system path: ``str`` or any :class:`os.PathLike`."""
FloatArray: TypeAlias = npt.NDArray[np.float64]
"""A float64 numpy array."""
IntArray: TypeAlias = npt.NDArray[np.int64]
"""An int64 numpy array."""
BoolArray: TypeAlias = npt.NDArray[np.bool_]
"""A boolean numpy array."""

__all__ = ["BoolArray", "FloatArray", "IntArray", "PathLike"]
