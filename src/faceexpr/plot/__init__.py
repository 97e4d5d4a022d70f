"""Figures of faceexpr results, drawn headless with matplotlib.

Every function returns a :class:`matplotlib.figure.Figure` (no window opens); save it
with :func:`save_figure` or ``fig.savefig``. A state has the same colour in every figure
(:func:`state_colors`, Paul Tol's colour-blind-safe palettes).
"""

from faceexpr.plot._style import (
    NO_STATE_COLOR,
    STATE_PALETTE,
    panel_grid,
    save_figure,
    state_cmap,
    state_colors,
    state_label,
    time_axis,
)

__all__ = [
    "NO_STATE_COLOR",
    "STATE_PALETTE",
    "panel_grid",
    "save_figure",
    "state_cmap",
    "state_colors",
    "state_label",
    "time_axis",
]
