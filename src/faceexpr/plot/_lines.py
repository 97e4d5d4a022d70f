"""Long time series drawn with a bounded number of points.

An hour of video is 108,000 frames and a figure is a few thousand pixels wide: drawing
every frame costs seconds per line and shows nothing more. :func:`envelope` keeps, for
every short run of consecutive frames, its lowest and its highest sample, so the line
looks the same (extremes, single-frame spikes and long gaps included) at any length.
"""

from __future__ import annotations

import numpy as np

from faceexpr._typing import FloatArray

MAX_POINTS = 4_000
"""Most points drawn per line: 5,000 runs of two points, more than the pixel columns of
a page-wide figure even at 300 dpi."""


def envelope(
    x: FloatArray, y: FloatArray, max_points: int = MAX_POINTS
) -> tuple[FloatArray, FloatArray]:
    """Min/max envelope of the series ``y(x)`` in at most ``max_points`` points.

    Parameters
    ----------
    x, y
        Sample positions and values, ``(n,)``; NaN values are gaps.
    max_points
        Series with at most this many samples are returned as they are; longer ones are
        cut into ``max_points // 2`` runs of consecutive samples.

    Returns
    -------
    tuple of numpy.ndarray
        The points to draw. Each run gives its lowest and its highest finite sample, at
        their own ``x`` and in their order, so a one-frame spike is drawn where it is;
        a run without any finite value gives NaN, so a gap longer than a run stays a gap.
    """
    n = y.size
    if x.shape != y.shape or y.ndim != 1:
        raise ValueError(f"x and y must be 1D of the same length, got {x.shape} and {y.shape}")
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2, got {max_points}")
    if n <= max_points:
        return x, y
    size = -(-n // (max_points // 2))  # samples per run
    runs = -(-n // size)
    padded = np.full(runs * size, np.nan)
    padded[:n] = y
    values = padded.reshape(runs, size)
    finite = np.isfinite(values)
    low = np.where(finite, values, np.inf).argmin(axis=1)
    high = np.where(finite, values, -np.inf).argmax(axis=1)
    start = np.arange(runs) * size
    # (runs, 2) sample indices, each run's two extremes in time order
    index = start[:, None] + np.sort(np.stack([low, high], axis=1), axis=1)
    empty = ~finite.any(axis=1)
    index[empty] = start[empty, None]  # a run of NaN: a gap at its start
    index = index.ravel()
    out_y = np.asarray(y[index], dtype=np.float64)
    out_y[np.repeat(empty, 2)] = np.nan
    return np.asarray(x[index], dtype=np.float64), out_y
