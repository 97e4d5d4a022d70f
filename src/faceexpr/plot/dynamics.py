"""How states follow each other: transition matrix, dwell times and frequencies."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.legend_handler import HandlerTuple
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from faceexpr._typing import FloatArray
from faceexpr.plot._legend import legend_columns
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
    # aspect "auto": constrained layout sizes the margins before a fixed aspect shrinks
    # and re-centres the axes, which pushed the "from state" label off the figure for
    # some K; the figure's proportions keep the cells about square anyway
    image = ax.imshow(np.ma.masked_invalid(values), cmap="Greys", vmin=0.0, vmax=1.0,
                      interpolation="nearest", aspect="auto")
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
    # the chips reach beyond the tick labels that the layout measures: pad the labels
    ax.set_xlabel("to state (next frame)", labelpad=6)
    ax.set_ylabel("from state", labelpad=6)
    fig.colorbar(image, ax=ax, shrink=0.8, label="transition probability")
    return fig


STRIP_BELOW = 10
"""States with fewer uncensored bouts than this show every bout as a point, not a
histogram: a histogram of a handful of bouts says little and hides how few there are."""

CENSORED_LABEL = "censored (cut by start/end/gap)"
"""Legend label of the bouts whose length is unknown (see :func:`faceexpr.analysis.bouts`)."""


def dwell_times(bouts: pd.DataFrame, n_states: int, fps: float | None = None) -> Figure:
    """Bout durations per state: a histogram, or every bout as a point when there are few.

    Parameters
    ----------
    bouts
        Bout table (:func:`faceexpr.analysis.bouts`) with columns ``state`` and
        ``n_frames`` and optionally ``seconds`` and ``censored`` (without it every bout
        counts as complete).
    n_states
        Number of states ``K`` (one panel each; a state without bouts gets an empty one).
    fps
        Frame rate, used to convert frames to seconds when ``bouts`` has no usable
        ``seconds`` column.

    Returns
    -------
    matplotlib.figure.Figure
        ``n_states`` panels on a grid sharing the x axis (seconds when known, else frames,
        which the label says). A state with at least :data:`STRIP_BELOW` uncensored bouts
        gets a histogram: uncensored bouts in the state colour, censored ones stacked on
        top, hatched. A state with fewer gets a strip: one point per bout, filled when
        complete, hollow when censored. The dashed line is the median of the uncensored
        bouts only, since a censored bout's true length is unknown; the panel title gives
        it and both counts. A figure legend explains the marks.

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
    censored = (bouts["censored"].to_numpy(bool) if "censored" in bouts.columns
                else np.zeros(len(bouts), dtype=bool))
    seconds = (bouts["seconds"].to_numpy(np.float64) if "seconds" in bouts.columns
               else np.full(len(bouts), np.nan))
    if np.all(np.isfinite(seconds)):
        durations, xlabel = seconds, "bout duration (s)"
    elif fps is not None and math.isfinite(fps) and fps > 0:
        durations = bouts["n_frames"].to_numpy(np.float64) / fps
        xlabel = "bout duration (s)"
    else:
        durations = bouts["n_frames"].to_numpy(np.float64)
        xlabel = "bout duration (frames, fps unknown)"
    unit = "s" if xlabel.endswith("(s)") else "frames"  # of the medians in the titles

    n_bins = int(np.clip(np.ceil(np.sqrt(len(durations))) + 3, 6, 30))
    edges = np.linspace(0.0, float(durations.max()) * 1.02, n_bins + 1)
    ncols = min(n_states, 3)
    fig, axes = panel_grid(n_states, ncols=ncols, panel_size=(3.3, 2.4), sharex=True)
    colors = state_colors(n_states)
    drawn: set[str] = set()  # kinds of marks drawn, for the legend
    for k, ax in enumerate(axes):
        done = durations[(state == k) & ~censored]
        cut = durations[(state == k) & censored]
        title = f"state {k}"
        if done.size >= STRIP_BELOW:
            _histogram(ax, done, cut, edges, colors[k])
            drawn.update({"bars"} | ({"hatched"} if cut.size else set()))
        elif done.size or cut.size:
            _strip(ax, done, cut, colors[k])
            drawn.update({"points"} | ({"hollow"} if cut.size else set()))
        else:
            ax.text(0.5, 0.5, "no bouts", transform=ax.transAxes, ha="center",
                    va="center", color="#777777")
            ax.set_yticks([])
        if done.size:
            median = float(np.median(done))
            ax.axvline(median, color="black", linestyle="--", linewidth=1.0)
            drawn.add("median")
            title += f" · median {median:.2f} s" if unit == "s" else \
                f" · median {median:.3g} frames"
        ax.set_title(f"{title}\n{done.size} complete + {cut.size} censored bouts",
                     fontsize="small")
        if k + ncols >= n_states:  # bottom panel of its column
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel(xlabel)
    axes[0].set_xlim(0.0, float(edges[-1]))
    handles = _dwell_legend(drawn)
    if handles:
        labels = [label for _, label in handles]
        fig.legend(handles=[h for h, _ in handles], labels=labels,
                   loc="outside upper center", fontsize=8, frameon=False,
                   ncols=legend_columns(labels, fig.get_figwidth(), 8.0),
                   handler_map={tuple: HandlerTuple(ndivide=None)})
    return fig


def _histogram(ax: Axes, done: FloatArray, cut: FloatArray, edges: FloatArray,
               color: str) -> None:
    """Bars of the uncensored bouts, with the censored ones stacked on top, hatched."""
    widths = np.diff(edges)
    centres = edges[:-1] + widths / 2
    counts, _ = np.histogram(done, bins=edges)
    extra, _ = np.histogram(cut, bins=edges)
    # the bars of the bins that hold bouts: most bins of a state are empty, and a bar
    # costs about a millisecond to make, lay out and draw for nothing
    full = counts > 0
    ax.bar(centres[full], counts[full], width=widths[full], color=color,
           edgecolor="white", linewidth=0.5)
    more = extra > 0
    if more.any():
        ax.bar(centres[more], extra[more], bottom=counts[more], width=widths[more],
               facecolor="white", edgecolor=color, hatch="////", linewidth=0.5)
    ax.margins(y=0.1)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("bouts")


def _strip(ax: Axes, done: FloatArray, cut: FloatArray, color: str) -> None:
    """Every bout as a point: complete ones filled on the upper row, censored hollow below."""
    for row, values, face in ((1.0, done, color), (0.0, cut, "none")):
        if values.size == 0:
            continue
        # a golden-ratio spread, the same every time, so that equal lengths do not hide
        # each other
        spread = (np.arange(values.size) * 0.618034) % 1.0 - 0.5
        ax.scatter(values, row + 0.5 * spread, s=22, facecolors=face, edgecolors=color,
                   linewidths=1.0, zorder=3)
    ax.set_yticks([0.0, 1.0], ["censored", "complete"], fontsize="small")
    ax.set_ylim(-0.6, 1.6)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="#EEEEEE", linewidth=0.6)
    ax.set_axisbelow(True)


def _dwell_legend(drawn: set[str]) -> list[tuple[Artist | tuple[Artist, ...], str]]:
    """Legend entries, in neutral grey, for the kinds of marks in ``drawn``."""
    grey = "#555555"
    complete: list[Artist] = []
    cut: list[Artist] = []
    if "bars" in drawn:
        complete.append(Patch(facecolor=grey, edgecolor="white"))
    if "points" in drawn:
        complete.append(Line2D([], [], linestyle="none", marker="o", color=grey))
    if "hatched" in drawn:
        cut.append(Patch(facecolor="white", edgecolor=grey, hatch="////"))
    if "hollow" in drawn:
        cut.append(Line2D([], [], linestyle="none", marker="o", markerfacecolor="none",
                          markeredgecolor=grey))
    out: list[tuple[Artist | tuple[Artist, ...], str]] = []
    if complete:
        out.append((tuple(complete), "complete bouts"))
    if cut:
        out.append((tuple(cut), CENSORED_LABEL))
    if "median" in drawn:
        out.append((Line2D([], [], color="black", linestyle="--", linewidth=1.0),
                    "median of complete bouts"))
    return out


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
