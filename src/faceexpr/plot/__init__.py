"""Figures of faceexpr results, drawn headless with matplotlib.

Every function returns a :class:`matplotlib.figure.Figure` (no window opens, no pyplot
state); save it with :func:`save_figure` or ``fig.savefig``. A state has the same colour in
every figure and in labelled videos (:func:`state_colors`, Paul Tol's colour-blind-safe
palettes).

===========================  =====================================================
:func:`expressions`          average face of every state (2D or 3D skeletons)
:func:`timeline`             feature traces over state bands, and the state raster
:func:`kinematics`           head position, velocity and acceleration over time
:func:`kinematics_by_state`  distributions of head kinematics per state
:func:`transitions`          transition-probability heatmap
:func:`dwell_times`          dwell-time histograms per state
:func:`frequencies`          time in each state, absolute and relative
:func:`model_selection`      BIC/AIC/log-likelihood against the number of states
``labelled_video``           :func:`faceexpr.plot.video.labelled_video` (OpenCV, imageio-ffmpeg)
===========================  =====================================================
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
from faceexpr.plot.dynamics import dwell_times, frequencies, transitions
from faceexpr.plot.ethogram import timeline
from faceexpr.plot.faces import expressions
from faceexpr.plot.head import kinematics, kinematics_by_state
from faceexpr.plot.selection import model_selection

__all__ = [
    "NO_STATE_COLOR",
    "STATE_PALETTE",
    "dwell_times",
    "expressions",
    "frequencies",
    "kinematics",
    "kinematics_by_state",
    "model_selection",
    "panel_grid",
    "save_figure",
    "state_cmap",
    "state_colors",
    "state_label",
    "time_axis",
    "timeline",
    "transitions",
]
