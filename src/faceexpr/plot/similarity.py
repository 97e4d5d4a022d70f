"""Which states look alike and how two differ: distance heatmaps with dendrograms, and the
difference between two mean faces as arrows."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from faceexpr._typing import FloatArray
from faceexpr.plot._legend import text_width
from faceexpr.plot._states import chip_labels, text_color
from faceexpr.plot._style import state_colors, state_label
from faceexpr.plot.loadings import _auto_gain, _projection, _unit
from faceexpr.schemes import FACE21, SchemeLike, skeleton_edges
from faceexpr.similarity import StateComparison, StateDistances, cluster

__all__ = ["state_difference", "state_distances"]

_CMAP = "Blues_r"
"""Near pairs dark: the similar states stand out."""


def state_distances(distances: StateDistances,
                    state_names: Sequence[str] | None = None) -> Figure:
    """Draw both distances between the states as heatmaps, each under its dendrogram.

    Parameters
    ----------
    distances
        :func:`faceexpr.analysis.state_distances` (or
        :func:`faceexpr.similarity.state_distances`).
    state_names
        Names for the colour bars' states instead of ``state k`` (the tick labels keep the
        numbers, on chips of the state colours).

    Returns
    -------
    matplotlib.figure.Figure
        Two columns: the mean-face distance (in the data's units) and the distribution
        distance (Bhattacharyya, nats). Each has its average-linkage dendrogram on top and
        its heatmap below, rows and columns in the dendrogram's leaf order (similar states
        side by side), every value written in its cell (up to 12 states), and a colour bar.
    """
    k = distances.n_states
    if k < 1:
        raise ValueError("there are no states to draw")
    colors = state_colors(k)
    side = max(3.0, 0.45 * k + 1.8)
    fig = Figure(figsize=(2 * side + 0.6, side + 1.6), layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=[1.0, 3.2])
    unit = _unit(distances.units)
    panels = [
        (np.asarray(distances.mean_distance.values, np.float64), distances.linkage,
         distances.order, "mean-face distance", f"RMS landmark distance ({unit})"),
        (np.asarray(distances.distribution_distance.values, np.float64),
         *cluster(distances.distribution_distance), "distribution distance",
         "Bhattacharyya distance (nats)"),
    ]
    for column, (values, linkage, order, title, label) in enumerate(panels):
        tree = fig.add_subplot(grid[0, column])
        heat = fig.add_subplot(grid[1, column])
        _dendrogram(tree, linkage, k, label.split(" (")[0])
        tree.set_title(title, fontsize=10)
        shown = values[np.ix_(order, order)]
        finite = shown[np.isfinite(shown)]
        top = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
        image = heat.imshow(np.ma.masked_invalid(shown), cmap=_CMAP, vmin=0.0, vmax=top,
                            interpolation="nearest", aspect="auto")
        heat.set_xlim(-0.5, k - 0.5)
        if k <= 12:
            fontsize = max(5.0, min(9.0, 13.0 - 0.6 * k))
            cmap = image.get_cmap()
            for i in range(k):
                for j in range(k):
                    v = shown[i, j]
                    text = "–" if not math.isfinite(v) else _short(v)
                    shade = to_hex(cmap(v / top)) if math.isfinite(v) else "#FFFFFF"
                    heat.text(j, i, text, ha="center", va="center", fontsize=fontsize,
                              color=text_color(shade))
        ticks = [str(s) for s in order]
        heat.set_xticks(np.arange(k), ticks)
        heat.set_yticks(np.arange(k), ticks)
        heat.tick_params(length=0, labelsize=8)
        chip_labels(heat.get_xticklabels(), [colors[s] for s in order])
        chip_labels(heat.get_yticklabels(), [colors[s] for s in order])
        heat.set_xlabel("state", labelpad=6)
        heat.set_ylabel("state", labelpad=6)
        fig.colorbar(image, ax=heat, location="bottom", shrink=0.8, label=label)
    names = ", ".join(f"{s}: {state_label(s, state_names)}" for s in range(k)) \
        if state_names is not None else None
    fig.suptitle("How alike the states are (near pairs dark)"
                 + (f"\n{names}" if names and len(names) < 12 * side else ""), fontsize=10)
    return fig


def _short(value: float) -> str:
    """A cell value in at most four characters or so."""
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{value:.2f}" if value < 1 else f"{value:.1f}"


def _dendrogram(ax: Axes, linkage: FloatArray, k: int, label: str) -> None:
    """The dendrogram over heatmap columns ``0..k-1`` (scipy draws leaf ``i`` at
    ``10 i + 5``)."""
    from scipy.cluster.hierarchy import dendrogram

    if k > 1:
        dendrogram(linkage, ax=ax, no_labels=True, color_threshold=0.0,
                   above_threshold_color="#555555")
    ax.set_xlim(0.0, 10.0 * k)
    ax.set_xticks([])
    ax.tick_params(labelsize=7)
    for spine in ("top", "right", "bottom"):
        ax.spines[spine].set_visible(False)
    ax.set_ylabel(label.replace(" ", "\n", 1), fontsize=7)
    top = float(linkage[:, 2].max()) if len(linkage) else 1.0
    ax.set_ylim(0.0, top * 1.05 if top > 0 else 1.0)


def state_difference(
    comparison: StateComparison,
    scheme: SchemeLike = FACE21,
    *,
    gain: float | None = None,
    n_labels: int = 3,
    state_names: Sequence[str] | None = None,
    invert_y: bool | None = None,
    panel_size: float = 3.4,
) -> Figure:
    """Draw the mean face of state ``a`` with arrows to where its landmarks are in ``b``.

    Parameters
    ----------
    comparison
        :func:`faceexpr.analysis.compare_states`.
    scheme
        Skeleton of the face (see :func:`faceexpr.plot.expressions`); in 3D its
        ``left_right`` and ``down_up`` pairs set the face's own axes.
    gain
        Magnification of the arrows (not of the face); default 1, or the 1-2-5 step that
        makes the longest arrow about an eighth of the face when the differences are small
        (as :func:`faceexpr.plot.loadings.loadings`). The title gives it.
    n_labels
        The landmarks that differ most, named at their arrows.
    state_names
        Names instead of ``state k``.
    invert_y
        2D only: draw y downwards (default: when the unit is pixels).
    panel_size
        Size of a panel in inches.

    Returns
    -------
    matplotlib.figure.Figure
        2D: one panel in the data's axes. 3D: two panels, the face seen from the front
        (its left–right and down–up axes) and from its right side (back–front and
        down–up). The face of ``a`` in its state colour, arrows in ``b``'s colour, the
        largest differences named (in the first panel), and a title with the three
        largest magnitudes.
    """
    face = np.asarray(comparison.face_a.transpose("landmarks", "space").values, np.float64)
    delta = np.asarray(comparison.difference.transpose("landmarks", "space").values,
                       np.float64)
    names = [str(v) for v in comparison.face_a["landmarks"].values]
    space = [str(v) for v in comparison.face_a["space"].values]
    if len(space) not in (2, 3):
        raise ValueError(f"space must have 2 or 3 entries, got {len(space)}")
    unit = _unit(comparison.units)
    views: list[tuple[FloatArray, FloatArray, tuple[str, str]]] = []
    if len(space) == 3:
        centre = np.nanmean(face, axis=0)
        for view in ("front", "side"):
            proj, labels = _projection(face, names, scheme, view, space)
            views.append(((face - centre) @ proj[:2].T, delta @ proj[:2].T, labels))
    else:
        views.append((face, delta, (space[0], space[1])))
    if gain is None:
        gain = min(_auto_gain(points, shift) for points, shift, _ in views)
    elif not (math.isfinite(gain) and gain > 0):
        raise ValueError(f"gain must be a positive number, got {gain}")
    k = max(comparison.a, comparison.b) + 1
    colors = state_colors(k)
    color_a, color_b = colors[comparison.a], colors[comparison.b]
    label_a = state_label(comparison.a, state_names)
    label_b = state_label(comparison.b, state_names)
    largest = ", ".join(
        f"{row.landmark} {row.magnitude:.3g}" for row in comparison.table.head(3).itertuples())
    scaled = f" (arrows ×{gain:g})" if gain != 1 else ""
    title = f"From {label_a} to {label_b}{scaled}\nlargest ({unit}): {largest}"
    # one panel is narrower than a long title
    wide = max(text_width(line, 10.0) for line in title.split("\n")) / 72.0 + 0.4
    fig = Figure(figsize=(max(panel_size * len(views) + 0.4, wide), panel_size + 1.3),
                 layout="constrained")
    axes = fig.subplots(1, len(views), squeeze=False)[0]
    edges = skeleton_edges(scheme, names)
    top = [names.index(n) for n in comparison.top(n_labels) if n in names]
    image = unit == "px" and len(space) == 2
    flip = bool(invert_y if invert_y is not None else image)
    for ax, (points, shift, labels) in zip(axes, views):
        # the side view puts the left and right landmarks on each other: named in front only
        _draw_difference(ax, points, shift * gain, edges, color_a, color_b,
                         top if ax is axes[0] else [], names, flip)
        ax.set_xlabel(f"{labels[0]} ({unit})", fontsize=8)
        ax.set_ylabel(f"{labels[1]} ({unit})", fontsize=8)
        ax.tick_params(labelsize=7)
        if len(views) == 2:
            ax.set_title("front" if ax is axes[0] else "side (face's right)", fontsize=9)
    fig.suptitle(title, fontsize=10)
    handles = [Line2D([], [], color=color_a, marker="o", markersize=3, linewidth=1.4),
               Line2D([], [], color=color_b, linewidth=1.6)]
    fig.legend(handles, [f"mean face of {label_a}", f"shift to {label_b}"],
               loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    return fig


def _draw_difference(ax: Axes, points: FloatArray, shift: FloatArray,
                     edges: list[tuple[int, int]], color_a: str, color_b: str,
                     top: list[int], names: list[str], flip: bool) -> None:
    known = np.isfinite(points).all(axis=1)
    if edges:
        i, j = np.array(edges).T
        segs = np.full((len(edges), 3, 2), np.nan)
        segs[:, 0], segs[:, 1] = points[i], points[j]
        ax.plot(*segs.reshape(-1, 2).T, color=color_a, linewidth=1.0, alpha=0.8)
    ax.scatter(points[known, 0], points[known, 1], color=color_a, s=8, zorder=3)
    moves = known & np.isfinite(shift).all(axis=1) & (np.hypot(*shift.T) > 0)
    if moves.any():
        ax.quiver(points[moves, 0], points[moves, 1], shift[moves, 0], shift[moves, 1],
                  color=color_b, angles="xy", scale_units="xy", scale=1, width=0.008,
                  zorder=4)
    tips = points + np.where(np.isfinite(shift), shift, 0.0)
    both = np.concatenate([points[known], tips[known]])
    lo, hi = both.min(axis=0), both.max(axis=0)
    half = 0.6 * float(np.max(hi - lo)) if len(both) and np.max(hi - lo) > 0 else 1.0
    mid = (lo + hi) / 2 if len(both) else np.zeros(2)
    ax.set_xlim(mid[0] - half, mid[0] + half)
    ax.set_ylim(mid[1] - half, mid[1] + half)
    ax.set_aspect("equal")
    if flip:
        ax.invert_yaxis()
    for index in top:
        if not moves[index]:
            continue
        # beyond the arrow's tip, away from the face's middle (names of symmetric
        # landmarks part), but inwards near the panel's edges so that they stay inside
        x, y = tips[index]
        right = x > mid[0]
        outward = abs(x - mid[0]) < 0.5 * half
        to_right = right == outward
        up = (shift[index, 1] > 0) != flip  # the arrow points up on the screen
        ax.annotate(names[index], (x, y), xytext=(3 if to_right else -3, 3 if up else -3),
                    textcoords="offset points", fontsize=7, color="#222222",
                    ha="left" if to_right else "right", va="bottom" if up else "top",
                    zorder=5)
