"""How states follow each other as bouts: the transition graph and the typical n-grams."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
import xarray as xr
from matplotlib.artist import Artist
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, FancyArrowPatch, Patch

from faceexpr._typing import FloatArray
from faceexpr.plot._states import text_color
from faceexpr.plot._style import NEUTRAL_COLOR, state_colors, state_label

__all__ = ["EDGE_THRESHOLD", "ngrams", "transition_graph"]

EDGE_THRESHOLD = 0.1
"""Bout transitions drawn by default: probability at least this."""
_EDGE_COLOR = "#444444"
_LABEL_BOX = {"facecolor": "white", "edgecolor": "none", "alpha": 0.8,
              "boxstyle": "round,pad=0.15"}


def transition_graph(
    probabilities: xr.DataArray | npt.ArrayLike,
    frequencies: Sequence[float] | pd.Series | npt.ArrayLike | None = None,
    threshold: float = EDGE_THRESHOLD,
    *,
    state_names: Sequence[str] | None = None,
    size: float = 5.0,
) -> Figure:
    """Draw the states as a directed graph: nodes on a circle, edges for likely transitions.

    Parameters
    ----------
    probabilities
        ``(from_state, to_state)`` probabilities that a bout of one state is followed by
        one of another, e.g. :func:`faceexpr.analysis.bout_transitions`; the diagonal
        (a state to itself) is never drawn, NaN rows have no edges.
    frequencies
        Share of each state (e.g. of the time, ``result.frequencies["relative"]``): node
        areas grow with it and it is written beside each node. Default: equal nodes.
    threshold
        Only transitions with at least this probability are drawn.
    state_names
        Names written in the nodes instead of the state numbers.
    size
        Width and height of the figure in inches.

    Returns
    -------
    matplotlib.figure.Figure
        One panel: one circle per state (gid ``state-k``) in the state colours, state 0
        at the top and the others clockwise; an arrow per drawn transition (gid
        ``edge-a-b``), its width growing with the probability, which is written on it. A
        note at the bottom says what sizes and widths mean.
    """
    matrix = np.asarray(probabilities.values if isinstance(probabilities, xr.DataArray)
                        else probabilities, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(f"probabilities must be a non-empty square matrix, got shape "
                         f"{matrix.shape}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
    k = matrix.shape[0]
    share = (np.full(k, 1.0 / k) if frequencies is None
             else np.asarray(frequencies, dtype=np.float64).ravel())
    if share.size != k:
        raise ValueError(f"got {share.size} frequencies for {k} states")
    share = np.where(np.isfinite(share) & (share > 0), share, 0.0)
    angles = math.pi / 2 - 2 * math.pi * np.arange(k) / k
    centres = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    if k == 1:
        centres[:] = 0.0
    # the largest node may not touch its neighbours
    biggest = 0.28 if k <= 2 else min(0.28, 0.8 * math.sin(math.pi / k))
    radius = biggest * np.sqrt(share / share.max()) if share.max() > 0 else \
        np.full(k, biggest / 2)
    radius = np.maximum(radius, 0.35 * biggest)
    colors = state_colors(k)

    fig = Figure(figsize=(size, size + 0.5), layout="constrained")
    ax = fig.add_subplot()
    nodes = []
    for s in range(k):
        circle = Circle(tuple(centres[s]), float(radius[s]), facecolor=colors[s],
                        edgecolor="white", linewidth=1.0, zorder=3, gid=f"state-{s}")
        ax.add_patch(circle)
        nodes.append(circle)
        name = state_names[s] if state_names is not None and s < len(state_names) else str(s)
        x, y = (float(v) for v in centres[s])
        ax.text(x, y, name, ha="center", va="center", zorder=4,
                fontsize=max(6.0, min(11.0, 60.0 * radius[s] / max(len(name), 1))),
                color=text_color(colors[s]))
        if frequencies is not None:
            out = centres[s] * (1.0 + (radius[s] + 0.1) / max(np.hypot(*centres[s]), 1e-9))
            ax.text(float(out[0]), float(out[1]), f"{100 * share[s]:.0f}%", ha="center",
                    va="center", fontsize=8, color="#333333", zorder=4)
    drawn = 0
    for a in range(k):
        for b in range(k):
            p = matrix[a, b]
            if a == b or not math.isfinite(p) or p < threshold or p <= 0:
                continue
            drawn += 1
            rad = 0.25
            arrow = FancyArrowPatch(
                tuple(centres[a]), tuple(centres[b]), patchA=nodes[a], patchB=nodes[b],
                arrowstyle="-|>", connectionstyle=f"arc3,rad={rad:g}",
                mutation_scale=8 + 10 * p, linewidth=0.6 + 5.0 * p, color=_EDGE_COLOR,
                alpha=0.45 + 0.5 * p, shrinkA=1.0, shrinkB=1.0, zorder=2, gid=f"edge-{a}-{b}")
            ax.add_patch(arrow)
            middle = _label_point(centres[a], centres[b], rad, centres, radius)
            if middle is not None:
                ax.text(float(middle[0]), float(middle[1]), f"{p:.2f}", ha="center",
                        va="center", fontsize=7, zorder=5, bbox=_LABEL_BOX)
    reach = 1.0 + float(radius.max()) + 0.3
    ax.set_xlim(-reach, reach)
    ax.set_ylim(-reach, reach)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.axis("off")
    ax.set_title(f"Bout transitions (probability ≥ {threshold:g}, {drawn} drawn)",
                 fontsize=10)
    handles: list[Artist] = [Line2D([], [], color=_EDGE_COLOR, linewidth=0.6 + 5.0 * q)
                             for q in (0.2, 0.8)]
    labels = ["p = 0.2", "p = 0.8"]
    if frequencies is not None:
        handles.append(Patch(facecolor=NEUTRAL_COLOR))
        labels.append("node area ∝ share")
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=8,
               frameon=False)
    return fig


def _label_point(start: FloatArray, stop: FloatArray, rad: float, centres: FloatArray,
                 radius: FloatArray) -> FloatArray | None:
    """The middle of the part of an edge clear of every node (None: hidden by them).

    Matplotlib's ``arc3`` edge is a quadratic Bezier curve whose control point lies
    ``rad`` times the chord's length off the chord's middle."""
    chord = stop - start
    control = (start + stop) / 2 + rad * np.array([chord[1], -chord[0]])
    t = np.linspace(0.0, 1.0, 101)[:, None]
    curve = (1 - t) ** 2 * start + 2 * (1 - t) * t * control + t**2 * stop
    margin = 0.08  # about half a label
    gaps = np.hypot(*(curve[:, None, :] - centres[None]).transpose(2, 0, 1))
    clear = (gaps > radius[None] + margin).all(axis=1)
    if not clear.any():
        return None
    return np.asarray(curve[int(np.median(np.flatnonzero(clear)))], dtype=np.float64)


def ngrams(table: pd.DataFrame, top: int = 8,
           state_names: Sequence[str] | None = None) -> Figure:
    """Draw the most frequent n-grams of each length against their shuffled baseline.

    Parameters
    ----------
    table
        :func:`faceexpr.analysis.typical_sequences` (columns ``ngram``, ``n``, ``count``,
        ``expected``, ``above_chance``).
    top
        n-grams per length, the most frequent.
    state_names
        Names of the states for the labels (``"0-2-1"`` otherwise).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per n-gram length: a bar per n-gram (its count, dark when above chance),
        a black tick at its expected count under the shuffled baseline.
    """
    needed = {"ngram", "n", "count", "expected", "above_chance"}
    if needed - set(table.columns):
        raise ValueError(f"the table lacks the columns {sorted(needed - set(table.columns))}")
    lengths = sorted(int(n) for n in table["n"].unique())
    if not lengths:
        raise ValueError("the table has no n-grams to draw")
    rows = max(min(top, int((table["n"] == n).sum())) for n in lengths)
    fig = Figure(figsize=(3.3 * len(lengths) + 0.4, 0.32 * rows + 1.9), layout="constrained")
    axes = fig.subplots(1, len(lengths), squeeze=False)[0]
    for ax, n in zip(axes, lengths):
        part = table[table["n"] == n].sort_values("count", ascending=False).head(top)
        y = np.arange(len(part))[::-1]
        above = part["above_chance"].to_numpy(bool)
        ax.barh(y, part["count"], color=np.where(above, "#332288", "#BBBBBB"), height=0.7)
        ax.scatter(part["expected"], y, marker="|", s=120, color="black", zorder=3)
        labels = [_ngram_label(str(g), state_names) for g in part["ngram"]]
        ax.set_yticks(y, labels)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("count", fontsize=8)
        ax.set_title(f"{n}-grams", fontsize=9)
        ax.margins(x=0.05)
    fig.suptitle("Most frequent sequences of bouts", fontsize=10)
    handles = [Patch(facecolor="#332288"), Patch(facecolor="#BBBBBB"),
               Line2D([], [], color="black", marker="|", markersize=10, linestyle="none")]
    fig.legend(handles, ["above chance", "not above chance", "expected (shuffled bouts)"],
               loc="outside lower center", ncols=3 if len(lengths) > 1 else 1, fontsize=8,
               frameon=False)
    return fig


def _ngram_label(ngram: str, state_names: Sequence[str] | None) -> str:
    if state_names is None:
        return ngram.replace("-", "→")
    return "→".join(state_label(int(s), state_names) for s in ngram.split("-"))
