"""The expressions figure: the average egocentric face of every state as a skeleton."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d import Axes3D

from faceexpr._typing import FloatArray
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

    Returns
    -------
    matplotlib.figure.Figure
        One panel per state; axes titled with the state and its frequency.
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
    if relative:
        faces = mean_face + gain * (faces - mean_face)
    if n_dims == 3:
        centre = np.nanmean(mean_face, axis=0)
        rot = face_frame(mean_face, landmarks, scheme) if orient else None
        if rot is not None:
            # matplotlib draws z upwards: left -> x, out of the face -> -y, up -> z
            rot = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]]) @ rot
        else:
            rot = np.eye(3)
        faces, mean_face = (faces - centre) @ rot.T, (mean_face - centre) @ rot.T
    colors = state_colors(n_states)
    subplot_kw = {"projection": "3d"} if n_dims == 3 else {}
    fig, axes = panel_grid(n_states, ncols, (panel_size, panel_size), subplot_kw=subplot_kw)
    lo = np.nanmin(np.concatenate([faces.reshape(-1, n_dims), mean_face]), axis=0)
    hi = np.nanmax(np.concatenate([faces.reshape(-1, n_dims), mean_face]), axis=0)
    half = 0.55 * float(np.max(hi - lo)) if np.all(np.isfinite(hi - lo)) else 1.0
    mid = (lo + hi) / 2
    for k, ax in enumerate(axes):
        if relative:
            _draw_face(ax, mean_face, edges, NEUTRAL_COLOR, linewidth=0.8, alpha=0.6)
            _draw_arrows(ax, mean_face, faces[k], colors[k])
        _draw_face(ax, faces[k], edges, colors[k], linewidth=1.6)
        title = state_label(k, state_names)
        if frequencies is not None and np.isfinite(weights[k]):
            title += f" · {100 * weights[k]:.0f}%"
        if not known[k]:
            title += " (no frames)"
        ax.set_title(title, fontsize=9)
        _set_limits(ax, mid, half, n_dims)
    if n_dims == 2:
        image = expressions.attrs.get("units") in ("px", "pixels")
        if invert_y if invert_y is not None else image:
            for ax in axes:
                ax.invert_yaxis()
    else:
        for ax in axes:
            cast(Axes3D, ax).view_init(elev=elev, azim=azim)
    units = expressions.attrs.get("units")
    subtitle = f" (displacements ×{gain:g})" if relative else ""
    fig.suptitle(f"Average face per state{subtitle}" + (f", {units}" if units else ""),
                 fontsize=10)
    return fig


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
        ax3d.set_box_aspect((1, 1, 1), zoom=1.15)
        ax.locator_params(nbins=4)
        ax.tick_params(labelsize=6, pad=0)
    else:
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
