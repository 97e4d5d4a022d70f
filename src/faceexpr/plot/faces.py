"""The expressions figure: the average egocentric face of every state as a skeleton."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.legend_handler import HandlerTuple
from matplotlib.lines import Line2D
from mpl_toolkits.mplot3d import Axes3D

from faceexpr._typing import FloatArray
from faceexpr.plot._legend import legend_columns, text_width
from faceexpr.plot._style import NEUTRAL_COLOR, panel_grid, state_colors, state_label
from faceexpr.schemes import FACE21, LandmarkScheme, SchemeLike, skeleton_edges


def face_frame(face: FloatArray, landmarks: Sequence[str],
               scheme: SchemeLike) -> FloatArray | None:
    """Return a rotation whose rows point to the face's left, up, and out of the face.

    The directions come from the scheme's ``left_right`` and ``down_up`` landmark pairs on
    the ``(landmarks, 3)`` face (up is made orthogonal to left); ``None`` when the scheme
    has no such pairs or the face lacks them.
    """
    if not isinstance(scheme, LandmarkScheme) or not scheme.left_right or not scheme.down_up:
        return None
    index = {name: i for i, name in enumerate(landmarks)}
    pairs = (scheme.left_right, scheme.down_up)
    if any(name not in index for pair in pairs for name in pair):
        return None
    left, up = (face[index[b]] - face[index[a]] for a, b in pairs)
    if not (np.isfinite(left).all() and np.isfinite(up).all()):
        return None
    left = left / np.linalg.norm(left)
    up = up - left * (up @ left)
    up = up / np.linalg.norm(up)
    # left x up points out of the face, towards a viewer in front of it
    return np.stack([left, up, np.cross(left, up)])


def expressions(
    expressions: xr.DataArray,
    scheme: SchemeLike = FACE21,
    frequencies: Sequence[float] | pd.Series | None = None,
    *,
    relative: bool = False,
    gain: float = 3.0,
    state_names: Sequence[str] | None = None,
    elev: float = 10.0,
    azim: float = -75.0,
    orient: bool = True,
    invert_y: bool | None = None,
    ncols: int | None = None,
    panel_size: float = 2.6,
    intervals: xr.DataArray | None = None,
) -> Figure:
    """Draw the average face of every state, one panel per state on shared axes.

    Parameters
    ----------
    expressions
        ``(states, landmarks, space)`` mean faces, e.g. :attr:`faceexpr.Result.expressions`
        or :func:`faceexpr.analysis.state_means`. ``space`` is ``x, y`` or ``x, y, z``.
    scheme
        Skeleton to draw: a :class:`~faceexpr.schemes.LandmarkScheme`, chains of landmark
        names (Anipose's ``labeling.scheme``), or ``None`` for points only.
    frequencies
        Relative frequency of every state (fractions), shown in the panel titles.
    relative
        Draw each state as a displacement from the overall mean face: the mean face in
        grey, the state's face with its difference to the mean multiplied by ``gain``, and
        arrows from one to the other, so small expressions are visible.
    gain
        Magnification of the displacements when ``relative``.
    state_names
        Names to show instead of ``state k``.
    elev, azim
        3D only: viewing angles in degrees. With ``orient`` they are relative to the face
        (``elev=0, azim=-90`` looks straight at it); otherwise to the data axes.
    orient
        3D only: rotate the faces so that the scheme's ``left_right`` direction is the
        horizontal axis and ``down_up`` the vertical one, so a face in any 3D frame is drawn
        upright and seen from the front. Distances are unchanged. Without those landmark
        pairs the data axes are used.
    invert_y
        2D only: draw y downwards, as in images (default: when ``units`` is ``"pixels"``).
    ncols, panel_size
        Columns of the panel grid and the size of one panel in inches.
    intervals
        Optional ``(states, landmarks, space, bound)`` confidence intervals of the faces,
        e.g. :func:`faceexpr.analysis.state_mean_intervals`: every landmark gets a small
        cross of error bars, one along each data axis (turned with the face when
        ``orient``; magnified with the face when ``relative``).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per state; axes titled with the state and its frequency and labelled
        with the ``units`` of ``expressions`` (in 3D, when ``orient`` turns the face, the
        axes are the face's own directions). A figure legend names the state faces, the
        grey mean face (``relative``: the mean over all frames when ``frequencies`` are
        given, else the plain mean of the state faces) and the intervals.
    """
    _check_expressions(expressions)
    faces = np.asarray(expressions.transpose("states", "landmarks", "space").values, float)
    n_states, _, n_dims = faces.shape
    landmarks = [str(n) for n in expressions["landmarks"].values]
    edges = skeleton_edges(scheme, landmarks)
    weights = _weights(frequencies, n_states)
    known = np.isfinite(faces).all(axis=(1, 2))
    mean_face = np.average(faces[known], axis=0, weights=weights[known] + 1e-12) \
        if known.any() else np.full(faces.shape[1:], np.nan)
    bars = None if intervals is None else _interval_bars(intervals, faces, landmarks)
    if relative:
        faces = mean_face + gain * (faces - mean_face)
        if bars is not None:
            at_mean = mean_face[:, None, None, :]  # (landmarks, 1, 1, dims) against bars
            bars = at_mean + gain * (bars - at_mean)
    oriented = False
    if n_dims == 3:
        centre = np.nanmean(mean_face, axis=0)
        rot = face_frame(mean_face, landmarks, scheme) if orient else None
        if rot is not None:
            # matplotlib draws z upwards: left -> x, out of the face -> -y, up -> z
            rot = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]]) @ rot
            oriented = True
        else:
            rot = np.eye(3)
        faces, mean_face = (faces - centre) @ rot.T, (mean_face - centre) @ rot.T
        if bars is not None:
            bars = (bars - centre) @ rot.T
    colors = state_colors(n_states)
    subplot_kw = {"projection": "3d"} if n_dims == 3 else {}
    fig, axes = panel_grid(n_states, ncols, (panel_size, panel_size), subplot_kw=subplot_kw)
    drawn = [faces.reshape(-1, n_dims), mean_face]
    if bars is not None:
        drawn.append(bars.reshape(-1, n_dims))
    lo = np.nanmin(np.concatenate(drawn), axis=0)
    hi = np.nanmax(np.concatenate(drawn), axis=0)
    half = 0.55 * float(np.max(hi - lo)) if np.all(np.isfinite(hi - lo)) else 1.0
    mid = (lo + hi) / 2
    for k, ax in enumerate(axes):
        if relative:
            _draw_face(ax, mean_face, edges, NEUTRAL_COLOR, linewidth=0.8, alpha=0.6)
            _draw_arrows(ax, mean_face, faces[k], colors[k])
        _draw_face(ax, faces[k], edges, colors[k], linewidth=1.6)
        if bars is not None:
            # (landmarks, space, 2 ends, dims) -> one broken line of all the bars
            ends = bars[k].reshape(-1, 2, n_dims)
            ax.plot(*_segments(ends[:, 0], ends[:, 1]).T, color=colors[k], linewidth=0.8,
                    alpha=0.8)
        title = state_label(k, state_names)
        if frequencies is not None and np.isfinite(weights[k]):
            title += f" · {100 * weights[k]:.0f}%"
        if not known[k]:
            title += " (no frames)"
        ax.set_title(title, fontsize=9)
        _set_limits(ax, mid, half, n_dims)
        _label_axes(ax, _axis_labels(expressions, n_dims, oriented))
    if n_dims == 2:
        image = expressions.attrs.get("units") in ("px", "pixels")
        if invert_y if invert_y is not None else image:
            for ax in axes:
                ax.invert_yaxis()
    else:
        for ax in axes:
            cast(Axes3D, ax).view_init(elev=elev, azim=azim)
    title = "Average face per state"
    if relative:
        subtitle = f"(displacements ×{gain:g})"
        # one narrow panel cannot hold the whole title on one line
        wide = text_width(f"{title} {subtitle}", 10.0) < 72.0 * fig.get_figwidth() - 10.0
        title += " " + subtitle if wide else "\n" + subtitle
    fig.suptitle(title, fontsize=10)
    _face_legend(fig, colors, relative=relative, gain=gain,
                 all_frames=frequencies is not None,
                 level=None if intervals is None else intervals.attrs.get("level"),
                 with_intervals=intervals is not None)
    return fig


def _axis_labels(expressions: xr.DataArray, n_dims: int, oriented: bool) -> list[str]:
    """Axis labels with the units of the faces; the face's directions when oriented."""
    units = expressions.attrs.get("units")
    suffix = f" ({units})" if units else ""
    if oriented:
        # x points to the face's left, y into the head, z up (see expressions)
        names = ["face's right → left", "front → back", "down → up"]
    elif "space" in expressions.coords:
        names = [str(v) for v in expressions["space"].values]
    else:
        names = list("xyz"[:n_dims])
    return [name + suffix for name in names]


def _label_axes(ax: Axes, labels: list[str]) -> None:
    if len(labels) == 3:
        ax3d = cast(Axes3D, ax)
        for axis, label in zip((ax3d.xaxis, ax3d.yaxis, ax3d.zaxis), labels, strict=True):
            axis.set_label_text(label, fontsize=6)
            axis.labelpad = -4  # the ticks sit close to the axes too (pad=0)
        return
    ax.set_xlabel(labels[0], fontsize=7)
    ax.set_ylabel(labels[1], fontsize=7)


def _face_legend(fig: Figure, colors: list[str], *, relative: bool, gain: float,
                 all_frames: bool, level: object, with_intervals: bool) -> None:
    """A figure legend: what the coloured and the grey faces and the crosses are."""
    # one handle showing every state's colour: the faces differ only by colour
    states = tuple(Line2D([], [], color=c, marker="o", markersize=3, linewidth=1.6)
                   for c in colors)
    handles: list[Artist | tuple[Artist, ...]] = [states]
    labels = [f"state's face (displacements ×{gain:g})" if relative
              else "state's mean face"]
    if relative:
        handles.append(Line2D([], [], color=NEUTRAL_COLOR, marker="o", markersize=3,
                              linewidth=0.8, alpha=0.6))
        labels.append("mean face (all frames)" if all_frames
                      else "mean of the state faces")
    if with_intervals:
        handles.append(Line2D([], [], color="#555555", marker="+", markersize=7,
                              linestyle="none"))
        share = f"{100 * level:g}% " if isinstance(level, float) else ""
        labels.append(f"{share}CI (bootstrap over bouts)")
    handlelength = max(2.0, 0.6 * len(colors))
    ncols = legend_columns(labels, fig.get_figwidth(), 8.0, handlelength)
    # a tuple handle is drawn by HandlerTuple; matplotlib's stubs only know artists
    fig.legend(cast(list[Artist], handles), labels, loc="outside lower center",
               ncols=ncols, fontsize=8, frameon=False, handlelength=handlelength,
               handler_map={tuple: HandlerTuple(ndivide=None, pad=0.0)})


def _interval_bars(intervals: xr.DataArray, faces: FloatArray,
                   landmarks: list[str]) -> FloatArray:
    """``(states, landmarks, space, 2, dims)`` ends of the error bars of every landmark.

    The bar along data axis ``d`` goes from the lower to the upper bound of that
    coordinate, the other coordinates staying at the face's.
    """
    missing = {"states", "landmarks", "space", "bound"} - set(intervals.dims)
    if missing:
        raise ValueError("intervals need dims (states, landmarks, space, bound); missing "
                         f"{sorted(missing)} in {tuple(intervals.dims)}")
    ci = intervals.transpose("states", "landmarks", "space", "bound")
    if "landmarks" in ci.coords:
        unknown = sorted(set(landmarks) - {str(n) for n in ci["landmarks"].values})
        if unknown:
            raise ValueError(f"intervals lack the landmarks {unknown[:5]}")
        ci = ci.sel(landmarks=landmarks)
    if "bound" in ci.coords:
        ci = ci.sel(bound=["lower", "upper"])
    values = np.asarray(ci.values, dtype=np.float64)
    if values.shape != (*faces.shape, 2):
        raise ValueError(f"intervals have shape {values.shape}, expected "
                         f"{(*faces.shape, 2)} to match the faces")
    n_dims = faces.shape[2]
    bars = np.repeat(faces[:, :, None, None, :], 2, axis=3).repeat(n_dims, axis=2)
    for d in range(n_dims):
        bars[:, :, d, :, d] = values[:, :, d, :]
    return bars


def _check_expressions(expressions: xr.DataArray) -> None:
    missing = {"states", "landmarks", "space"} - set(expressions.dims)
    if missing:
        raise ValueError(
            f"expressions need dims (states, landmarks, space); missing {sorted(missing)} "
            f"in {tuple(expressions.dims)}"
        )
    if expressions.sizes["space"] not in (2, 3):
        raise ValueError(f"space must have 2 or 3 entries, got {expressions.sizes['space']}")
    if expressions.sizes["states"] == 0:
        raise ValueError("expressions has no states to draw")


def _weights(frequencies: Sequence[float] | pd.Series | None, n_states: int) -> FloatArray:
    if frequencies is None:
        return np.full(n_states, 1.0 / n_states)
    values = np.asarray(frequencies, dtype=np.float64).ravel()
    if len(values) != n_states:
        raise ValueError(f"got {len(values)} frequencies for {n_states} states")
    return values


def _segments(start: FloatArray, stop: FloatArray) -> FloatArray:
    """``(3 n, dims)`` points: every segment's two ends, then a NaN row that breaks the
    line, so that one line draws all ``n`` segments."""
    points = np.full((len(start), 3, start.shape[1]), np.nan)
    points[:, 0], points[:, 1] = start, stop
    return points.reshape(-1, start.shape[1])


def _draw_face(ax: Axes, face: FloatArray, edges: list[tuple[int, int]], color: str,
               linewidth: float, alpha: float = 1.0) -> None:
    if edges:
        # one line for the whole skeleton: a plot call per edge costs about a millisecond
        # each (more in 3D), and nine faces have hundreds of edges
        i, j = np.array(edges).T
        ax.plot(*_segments(face[i], face[j]).T, color=color, linewidth=linewidth,
                alpha=alpha)
    # Axes.scatter(x, y) or Axes3D.scatter(x, y, z), with as many coordinates as the face
    ax.scatter(*face.T, color=color, s=8, alpha=alpha, zorder=3)  # type: ignore[misc]


def _draw_arrows(ax: Axes, start: FloatArray, stop: FloatArray, color: str) -> None:
    if start.shape[1] == 2:
        delta = stop - start
        ax.quiver(start[:, 0], start[:, 1], delta[:, 0], delta[:, 1], color=color,
                  angles="xy", scale_units="xy", scale=1, width=0.006, alpha=0.8)
        return
    ax.plot(*_segments(start, stop).T, color=color, linewidth=0.8, alpha=0.8)


def _set_limits(ax: Axes, mid: FloatArray, half: float, n_dims: int) -> None:
    ax.set_xlim(mid[0] - half, mid[0] + half)
    ax.set_ylim(mid[1] - half, mid[1] + half)
    if n_dims == 3:
        ax3d = cast(Axes3D, ax)
        ax3d.set_zlim(mid[2] - half, mid[2] + half)
        ax3d.set_box_aspect((1, 1, 1), zoom=0.95)
        ax.locator_params(nbins=4)
        ax.tick_params(labelsize=6, pad=0)
    else:
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
