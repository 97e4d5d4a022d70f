"""Shared look of every figure: state colours, panel grids, time axes and saving.

Figures are built on :class:`matplotlib.figure.Figure` directly, never through
``pyplot``, so no window opens, nothing needs a display, and figures are freed as soon
as they go out of scope.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import xarray as xr
from matplotlib import rcParams
from matplotlib.axes import Axes
from matplotlib.colors import Colormap, ListedColormap
from matplotlib.figure import Figure

from faceexpr.data import get_fps
from faceexpr.io._common import atomic_write

# Paul Tol's colour-blind-safe "muted" scheme (9 colours, one per default state), then his
# "light" scheme for models with more states; beyond 17 states the colours repeat.
STATE_PALETTE: tuple[str, ...] = (
    "#CC6677", "#332288", "#DDCC77", "#117733", "#88CCEE",
    "#882255", "#44AA99", "#999933", "#AA4499",
    "#77AADD", "#EE8866", "#EEDD88", "#FFAABB", "#99DDFF",
    "#44BB99", "#BBCC33", "#AAAA00",
)
NO_STATE_COLOR = "#DDDDDD"
"""Colour of frames without a state (state ``-1``: missing landmarks)."""
NEUTRAL_COLOR = "#777777"
"""Colour of reference drawings (the overall mean face, pooled distributions)."""


def state_colors(n_states: int) -> list[str]:
    """Return the colour of each state; state ``k`` has the same colour in every figure."""
    if n_states < 1:
        raise ValueError(f"n_states must be at least 1, got {n_states}")
    return [STATE_PALETTE[k % len(STATE_PALETTE)] for k in range(n_states)]


def state_cmap(n_states: int) -> Colormap:
    """Colormap for state indices ``0..n_states-1``; values below 0 draw as "no state"."""
    cmap = ListedColormap(state_colors(n_states), name="faceexpr_states")
    return cmap.with_extremes(under=NO_STATE_COLOR, bad=NO_STATE_COLOR)


def state_label(state: int, names: Sequence[str] | None = None) -> str:
    """Return the display name of a state (``"state 3"`` or the given name)."""
    if names is not None and 0 <= state < len(names):
        return str(names[state])
    return f"state {state}"


def panel_grid(
    n_panels: int,
    ncols: int | None = None,
    panel_size: tuple[float, float] = (3.0, 3.0),
    **subplot_kw: Any,
) -> tuple[Figure, list[Axes]]:
    """Make a figure with ``n_panels`` panels on a grid; unused grid cells are removed.

    Parameters
    ----------
    n_panels
        Number of panels wanted.
    ncols
        Columns of the grid (default: close to a square, at most 5).
    panel_size
        Width and height of one panel in inches.
    **subplot_kw
        Passed to :meth:`Figure.subplots` (``sharex``, ``sharey``, ``subplot_kw`` ...).
    """
    if n_panels < 1:
        raise ValueError(f"a figure needs at least one panel, got {n_panels}")
    ncols = ncols or min(5, math.ceil(math.sqrt(n_panels)))
    ncols = min(ncols, n_panels)
    nrows = math.ceil(n_panels / ncols)
    fig = Figure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplot_kw).ravel().tolist()
    for ax in axes[n_panels:]:
        ax.remove()
    return fig, axes[:n_panels]


def time_axis(obj: xr.DataArray | xr.Dataset) -> tuple[npt.NDArray[np.float64], str]:
    """Return the time values of ``obj`` and the axis label: seconds when fps is known."""
    if get_fps(obj) is not None and "time" in obj.coords:
        return np.asarray(obj["time"].values, dtype=np.float64), "time (s)"
    if "frame" in obj.coords:
        return np.asarray(obj["frame"].values, dtype=np.float64), "frame"
    return np.arange(obj.sizes["time"], dtype=np.float64), "frame"


_AGG_FORMATS = frozenset({"png", "jpg", "jpeg", "tif", "tiff", "webp", "raw", "rgba"})
"""Formats that matplotlib draws with Agg, at the resolution they are saved at."""


def _savefig(fig: Figure, path: Path, fmt: str, dpi: int) -> None:
    engine = fig.get_layout_engine()
    # set_layout_engine(None) would install the default engine these ask for
    default_engine = rcParams["figure.autolayout"] or rcParams["figure.constrained_layout.use"]
    if engine is None or default_engine or fmt not in _AGG_FORMATS or not fig.axes:
        fig.savefig(path, format=fmt, dpi=dpi)
        return
    # savefig with a layout engine draws the whole figure twice: once without output only
    # to run the layout, then for real. Running the layout here, with the Agg renderer at
    # the saved resolution as savefig would, and saving without the engine skips that
    # first draw; the pixels are the same.
    shown_dpi = fig.dpi
    try:
        fig.set_dpi(dpi)
        engine.execute(fig)
        fig.set_layout_engine(None)
        fig.savefig(path, format=fmt, dpi=dpi)
    finally:
        fig.set_layout_engine(engine)
        fig.set_dpi(shown_dpi)


def save_figure(
    fig: Figure,
    path: str | Path,
    formats: Sequence[str] = ("png",),
    dpi: int = 120,
) -> list[Path]:
    """Write ``fig`` once per format (``path`` + ``.`` + each format); return the files.

    The format is appended, never substituted: ``timeline_rec.day1`` becomes
    ``timeline_rec.day1.png`` (a path that already ends in a format's suffix keeps it).
    Each file is written to a temporary name and renamed, so an interrupted save never
    leaves a truncated image.
    """
    written = []
    for fmt in formats:
        suffix = f".{fmt.lstrip('.')}"
        stem = str(path)[: -len(suffix)] if str(path).lower().endswith(suffix) else str(path)
        target = Path(stem + suffix)
        atomic_write(target, partial(_savefig, fig, fmt=fmt.lstrip("."), dpi=dpi))
        written.append(target)
    return written
