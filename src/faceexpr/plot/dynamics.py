"""How states follow each other: transition matrix, dwell times and frequencies."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from faceexpr.plot._states import chip_labels
from faceexpr.plot._style import panel_grid, state_colors


def transitions(matrix: xr.DataArray) -> Figure:
    """Heatmap of a transition-probability matrix, annotated with its values.

    Parameters
    ----------
    matrix
        Square ``(from_state, to_state)`` matrix (e.g.
        :func:`faceexpr.analysis.transition_matrix`); rows are the state of a frame,
        columns the state of the next frame. NaN cells (states never left) are blank.

    Returns
    -------
    matplotlib.figure.Figure
        One panel: grey-scale heatmap (0 = white, 1 = black) with every value written in
        its cell (2 decimals), a colour bar, and state tick labels on chips of the state
        colours.

    Raises
    ------
    ValueError
        If the matrix is not 2D and square, or is empty.
    """
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be square (from_state, to_state), got shape "
                         f"{matrix.shape} with dims {matrix.dims}")
    k = matrix.shape[0]
    if k == 0:
        raise ValueError("matrix is empty: there is nothing to plot")
    values = np.asarray(matrix.values, dtype=np.float64)
    row_dim, col_dim = (str(d) for d in matrix.dims)
    rows = ([int(v) for v in matrix[row_dim].values] if row_dim in matrix.coords
            else list(range(k)))
    cols = ([int(v) for v in matrix[col_dim].values] if col_dim in matrix.coords
            else list(range(k)))
    colors = state_colors(max(max(rows), max(cols)) + 1)

    side = max(3.5, 0.55 * k + 1.6)
    fig = Figure(figsize=(side + 1.0, side), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(values), cmap="Greys", vmin=0.0, vmax=1.0,
                      interpolation="nearest")
    fontsize = max(5.0, min(10.0, 14.0 - 0.6 * k))
    for i in range(k):
        for j in range(k):
            v = values[i, j]
            ax.text(j, i, "–" if math.isnan(v) else f"{v:.2f}", ha="center", va="center",
                    fontsize=fontsize, color="white" if v > 0.5 else "black")
    ax.set_xticks(np.arange(k), [str(c) for c in cols])
    ax.set_yticks(np.arange(k), [str(r) for r in rows])
    ax.tick_params(length=0)
    ax.xaxis.set_ticks_position("top")
    ax.xaxis.set_label_position("top")
    chip_labels([t.label2 for t in ax.xaxis.get_major_ticks()], [colors[c] for c in cols])
    chip_labels(ax.get_yticklabels(), [colors[r] for r in rows])
    ax.set_xlabel("to state (next frame)")
    ax.set_ylabel("from state")
    fig.colorbar(image, ax=ax, shrink=0.8, label="transition probability")
    return fig


def dwell_times(bouts: pd.DataFrame, n_states: int, fps: float | None = None) -> Figure:
    """Histogram of bout durations, one panel per state, with the median marked.

    Parameters
    ----------
    bouts
        Bout table (:func:`faceexpr.analysis.bouts`) with columns ``state`` and
        ``n_frames`` and optionally ``seconds``.
    n_states
        Number of states ``K`` (one panel each; a state without bouts gets an empty one).
    fps
        Frame rate, used to convert frames to seconds when ``bouts`` has no usable
        ``seconds`` column.

    Returns
    -------
    matplotlib.figure.Figure
        ``n_states`` histogram panels on a grid, sharing the x axis (seconds when known,
        else frames) and the bins; bars in the state colour, a dashed line at the median
        bout duration (its value and the number of bouts are in the panel title).

    Raises
    ------
    ValueError
        If columns are missing, there is no bout, or a state is outside ``0..K-1``.
    """
    if n_states < 1:
        raise ValueError(f"n_states must be at least 1, got {n_states}")
    missing = {"state", "n_frames"} - set(bouts.columns)
    if missing:
        raise ValueError(f"bouts lacks the column(s) {sorted(missing)}")
    if len(bouts) == 0:
        raise ValueError("bouts is empty: there is nothing to plot")
    state = bouts["state"].to_numpy(np.int64)
    if state.min() < 0 or state.max() >= n_states:
        raise ValueError(f"bouts holds states outside 0..{n_states - 1}")
    seconds = (bouts["seconds"].to_numpy(np.float64) if "seconds" in bouts.columns
               else np.full(len(bouts), np.nan))
    if np.all(np.isfinite(seconds)):
        durations, xlabel = seconds, "bout duration (s)"
    elif fps is not None and math.isfinite(fps) and fps > 0:
        durations = bouts["n_frames"].to_numpy(np.float64) / fps
        xlabel = "bout duration (s)"
    else:
        durations, xlabel = bouts["n_frames"].to_numpy(np.float64), "bout duration (frames)"
    unit = "s" if xlabel.endswith("(s)") else "frames"

    n_bins = int(np.clip(np.ceil(np.sqrt(len(durations))) + 3, 6, 30))
    edges = np.linspace(0.0, float(durations.max()) * 1.02, n_bins + 1)
    widths = np.diff(edges)
    ncols = min(n_states, 3)
    fig, axes = panel_grid(n_states, ncols=ncols, panel_size=(3.3, 2.3), sharex=True)
    colors = state_colors(n_states)
    for k, ax in enumerate(axes):
        d = durations[state == k]
        title = f"state {k}  (n = {d.size})"
        if d.size:
            # the bars of the bins that hold bouts: most bins of a state are empty, and a
            # bar costs about a millisecond to make, lay out and draw for nothing
            counts, _ = np.histogram(d, bins=edges)
            full = counts > 0
            ax.bar((edges[:-1] + widths / 2)[full], counts[full], width=widths[full],
                   color=colors[k], edgecolor="white", linewidth=0.5)
            median = float(np.median(d))
            ax.axvline(median, color="black", linestyle="--", linewidth=1.0)
            shown = f"{median:.2f} s" if unit == "s" else f"{median:.3g} frames"
            title = f"state {k}  (n = {d.size}, median {shown})"
            ax.margins(y=0.1)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        else:
            ax.text(0.5, 0.5, "no bouts", transform=ax.transAxes, ha="center",
                    va="center", color="#777777")
            ax.set_yticks([])
        ax.set_title(title, fontsize="medium")
        ax.set_ylabel("bouts")
        if k + ncols >= n_states:  # bottom panel of its column
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel(xlabel)
    axes[0].set_xlim(0.0, float(edges[-1]))
    return fig


def frequencies(freq: pd.DataFrame) -> Figure:
    """Bar charts of the time spent in each state: absolute and relative.

    Parameters
    ----------
    freq
        Frequency table (:func:`faceexpr.analysis.state_frequencies`) indexed by state,
        with column ``n_frames`` and optionally ``seconds`` (NaN without fps) and
        ``relative`` (fraction of the frames that have a state).

    Returns
    -------
    matplotlib.figure.Figure
        Two panels with one bar per state in the state colour: time in state (seconds
        when every ``seconds`` value is known, else frames) and the share of frames with
        a state (%, ``100 * relative``), each bar labelled with its value.

    Raises
    ------
    ValueError
        If the table is empty, lacks ``n_frames`` or has non-integer states.
    """
    if len(freq) == 0:
        raise ValueError("freq is empty: there is nothing to plot")
    if "n_frames" not in freq.columns:
        raise ValueError("freq lacks the column 'n_frames'")
    try:
        states = np.asarray(freq.index, dtype=np.int64)
    except (TypeError, ValueError) as err:
        raise ValueError("freq must be indexed by integer states") from err
    if states.min() < 0:
        raise ValueError("freq holds negative states")
    n_frames = freq["n_frames"].to_numpy(np.float64)
    seconds = (freq["seconds"].to_numpy(np.float64) if "seconds" in freq.columns
               else np.full(len(freq), np.nan))
    if np.all(np.isfinite(seconds)):
        absolute, ylabel, fmt = seconds, "time in state (s)", "%.1f"
    else:
        absolute, ylabel, fmt = n_frames, "time in state (frames)", "%d"
    if "relative" in freq.columns:
        relative = freq["relative"].to_numpy(np.float64)
    else:
        total = n_frames.sum()
        relative = n_frames / total if total > 0 else np.full(len(freq), np.nan)
    colors_all = state_colors(int(states.max()) + 1)
    colors = [colors_all[s] for s in states]

    fig, axes = panel_grid(2, ncols=2, panel_size=(max(3.2, 0.45 * len(states) + 1.2), 3.0))
    for ax, heights, label, f in ((axes[0], absolute, ylabel, fmt),
                                  (axes[1], 100.0 * relative, "share of frames (%)", "%.0f")):
        bars = ax.bar(states, np.nan_to_num(heights), color=colors, edgecolor="#333333",
                      linewidth=0.5, width=0.7)
        ax.bar_label(bars, fmt=f, fontsize="x-small", padding=1)
        ax.set_xticks(states, [str(s) for s in states])
        chip_labels(ax.get_xticklabels(), colors)
        ax.set_xlabel("state")
        ax.set_ylabel(label)
        ax.margins(y=0.12)
        ax.grid(axis="y", color="#EEEEEE", linewidth=0.6)
        ax.set_axisbelow(True)
    return fig
