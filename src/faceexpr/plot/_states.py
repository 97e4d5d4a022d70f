"""State labels and state strips shared by the figures of :mod:`faceexpr.plot`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.colors import to_rgb
from matplotlib.text import Text

from faceexpr._typing import FloatArray, IntArray
from faceexpr.plot._style import state_cmap


def state_labels(states: xr.DataArray, n_states: int, what: str = "states") -> IntArray:
    """Return the labels of a ``(time,)`` state sequence as int64, checked against K.

    NaN labels count as "no state" (``-1``).

    Raises
    ------
    ValueError
        If ``states`` is not 1D along ``time``, is empty, holds non-integer values or
        labels outside ``-1..n_states-1``.
    """
    if n_states < 1:
        raise ValueError(f"n_states must be at least 1, got {n_states}")
    if states.dims != ("time",):
        raise ValueError(f"{what} must have the single dim 'time', got dims {states.dims}")
    if states.size == 0:
        raise ValueError(f"{what} is empty: there is nothing to plot")
    values = np.asarray(states.values, dtype=np.float64)
    values = np.where(np.isnan(values), -1.0, values)
    if not np.all(values == np.round(values)):
        raise ValueError(f"{what} must hold integer state labels")
    labels = values.astype(np.int64)
    bad = (labels < -1) | (labels >= n_states)
    if bad.any():
        raise ValueError(
            f"{what} holds labels outside -1..{n_states - 1} (n_states={n_states}): "
            f"{sorted(set(labels[bad].tolist()))[:5]}"
        )
    return labels


def image_columns(x: FloatArray) -> tuple[IntArray, int, float, float]:
    """Place the samples at ``x`` on a uniform image grid.

    Returns the column of every sample, the number of columns and the left and right
    edges of the image. Gaps in ``x`` (dropped frames) become columns without a sample;
    irregular spacing falls back to one column per sample.
    """
    if x.size == 0:
        raise ValueError("there are no time points to plot")
    if not np.all(np.isfinite(x)):
        raise ValueError("time values must be finite")
    if x.size == 1:
        return np.zeros(1, dtype=np.int64), 1, float(x[0]) - 0.5, float(x[0]) + 0.5
    steps = np.diff(x)
    if np.any(steps <= 0):
        raise ValueError("time values must increase strictly")
    dx = float(np.min(steps))
    cols = np.rint((x - x[0]) / dx).astype(np.int64)
    width = int(cols[-1]) + 1
    uniform = bool(np.all(np.diff(cols) > 0)) and width <= 4 * x.size
    uniform = uniform and bool(np.allclose(x[0] + cols * dx, x, rtol=0, atol=0.25 * dx))
    if not uniform:
        dx = float(x[-1] - x[0]) / (x.size - 1)
        cols = np.arange(x.size, dtype=np.int64)
        width = x.size
    left = float(x[0]) - dx / 2
    return cols, width, left, left + width * dx


MAX_COLUMNS = 4_000
"""Most columns of a state image; longer recordings merge neighbouring frames into one
column (more columns than a page-wide figure has pixels, even at 300 dpi)."""


def binned_columns(
    x: FloatArray, max_columns: int = MAX_COLUMNS
) -> tuple[IntArray, int, float, float, float]:
    """:func:`image_columns`, with at most ``max_columns`` columns.

    When the grid is wider, every ``step`` neighbouring columns become one. Returns the
    column of every sample, the number of columns, the left edge, the right edge of the
    data (for the x limits) and the right edge of the image (beyond the data when the last
    column is only partly filled).
    """
    cols, width, left, right = image_columns(x)
    if max_columns < 1:
        raise ValueError(f"max_columns must be at least 1, got {max_columns}")
    if width <= max_columns:
        return cols, width, left, right, right
    step = -(-width // max_columns)
    binned = -(-width // step)
    return cols // step, binned, left, right, left + (right - left) * binned * step / width


def state_row(labels: IntArray, cols: IntArray, width: int) -> FloatArray:
    """One image row of state labels: in every column its most frequent label (a column
    holds several frames when binned); columns without a sample are NaN (no state)."""
    n_labels = int(labels.max(initial=-1)) + 2  # -1 .. max
    counts = np.bincount(cols * n_labels + labels + 1, minlength=width * n_labels)
    counts = counts.reshape(width, n_labels)
    row = np.asarray(counts.argmax(axis=1), dtype=np.float64) - 1.0
    row[counts.max(axis=1) == 0] = np.nan
    return row


def draw_state_strip(
    ax: Axes, labels: IntArray, x: FloatArray, n_states: int,
    y: tuple[float, float] = (0.0, 1.0), alpha: float = 1.0,
) -> None:
    """Draw the states as a horizontal strip image (``state_cmap`` colours) spanning ``y``.

    Long recordings are drawn binned (:func:`binned_columns`), each column showing the
    state of most of its frames, so the cost does not grow with the number of frames.
    """
    cols, width, left, right, image_right = binned_columns(x)
    ax.imshow(
        state_row(labels, cols, width)[None, :], cmap=state_cmap(n_states),
        vmin=-0.5, vmax=n_states - 0.5, aspect="auto", interpolation="nearest",
        origin="lower", extent=(left, image_right, y[0], y[1]), alpha=alpha, zorder=0,
    )
    ax.set_xlim(left, right)


def text_color(color: str) -> str:
    """Black or white, whichever reads better on ``color``."""
    r, g, b = to_rgb(color)
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def chip_labels(labels: Iterable[Text], colors: Sequence[str]) -> None:
    """Put a chip of each colour behind the matching tick label."""
    for label, color in zip(labels, colors):
        label.set_color(text_color(color))
        label.set_bbox({"facecolor": color, "edgecolor": "none",
                        "boxstyle": "round,pad=0.25"})
