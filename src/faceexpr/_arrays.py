"""Array helpers shared by the stages (runs of frames, working precision)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from faceexpr._typing import BoolArray, FloatArray


def true_runs(mask: BoolArray) -> list[tuple[int, int]]:
    """Return ``(start, stop)`` of the runs of True in a 1D boolean array.

    Examples
    --------
    >>> true_runs(np.array([True, True, False, True]))
    [(0, 2), (3, 4)]
    """
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def finite_segments(values: FloatArray) -> list[tuple[int, int]]:
    """Return ``(start, stop)`` of the runs of rows with no NaN."""
    return true_runs(np.asarray(np.isfinite(values).all(axis=1)))


def working_float(dtype: npt.DTypeLike) -> np.dtype[np.floating]:
    """The float type the stages compute an array of ``dtype`` in: float32 stays float32
    (half the memory of long recordings), anything else becomes float64."""
    return np.dtype(np.float32) if np.dtype(dtype) == np.float32 else np.dtype(np.float64)
