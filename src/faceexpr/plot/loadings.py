"""What a principal component is: its landmark displacements drawn on the mean face."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from faceexpr._typing import FloatArray
from faceexpr.plot._style import NEUTRAL_COLOR, panel_grid
from faceexpr.plot.faces import face_frame
from faceexpr.schemes import FACE21, SchemeLike, skeleton_edges

ARROW_COLOR = "#0072B2"
"""Colour of the displacement arrows (Okabe–Ito blue, distinct from the grey face)."""
MAX_COMPONENTS = 10
"""Components drawn by default: beyond ten they explain little and the grid gets large."""
_UNIT_NAMES = {"pixels": "px", "pixel": "px", "millimeters": "mm", "millimetres": "mm"}


def component_label(index: int, ratio: float | None = None) -> str:
    """``"PC1 (23 %)"``: the name of component ``index`` (from 0) and its share of variance.

    Shares under 1 % keep one decimal (``"PC9 (0.4 %)"``); without a ratio, ``"PC1"``.
    """
    name = f"PC{index + 1}"
    if ratio is None or not np.isfinite(ratio):
        return name
    percent = 100.0 * float(ratio)
    return f"{name} ({percent:.0f} %)" if percent >= 1.0 else f"{name} ({percent:.1f} %)"


def loadings(
    loadings: xr.DataArray,
    mean_face: xr.DataArray,
    explained: Sequence[float] | None = None,
    scheme: SchemeLike = FACE21,
    n_components: int | None = None,
    *,
    sd: float = 2.0,
    gain: float | None = None,
    view: Literal["front", "side"] = "front",
    units: str | None = None,
    invert_y: bool | None = None,
    ncols: int | None = None,
    panel_size: float = 2.6,
) -> Figure:
    """Draw every principal component as landmark displacement arrows on the mean face.

    Parameters
    ----------
    loadings
        ``(components, landmarks, space)`` displacement of every landmark per standard
        deviation of each component's score, as :func:`faceexpr.features.component_loadings`
        returns (in the data's units). Landmarks or axes it lacks do not move.
    mean_face
        ``(landmarks, space)`` face the arrows start from, e.g. the mean egocentric face
        ``result.egocentric[0]["position"].mean("time")``.
    explained
        Fraction of the variance each component explains, for the panel titles (default:
        ``loadings.attrs["explained_variance_ratio"]`` when present).
    scheme
        Skeleton of the face (a :class:`~faceexpr.schemes.LandmarkScheme`, chains of
        landmark names, or ``None`` for points only). In 3D a scheme with ``left_right``
        and ``down_up`` pairs also sets the face's own axes.
    n_components
        Components to draw, the first ones (default: all, at most 10).
    sd
        The arrows show a rise of the component's score by this many standard deviations.
    gain
        Magnification of the arrows (not of the face). Default: 1, or the 1-2-5 step
        that makes the longest arrow about an eighth of the face when expressions are
        small; the figure title gives it.
    view
        3D only: ``"front"`` projects onto the face's left–right and down–up axes (seen
        from in front of the face), ``"side"`` onto its back–front and down–up axes (seen
        from the face's right, its front to the right). Without the scheme's landmark
        pairs the data's first two axes (front) or third and second (side) are used.
    units
        Length unit for the axis labels (default: ``mean_face.attrs["units"]``, then
        ``loadings.attrs["units"]``).
    invert_y
        2D only: draw y downwards, as in images (default: when the unit is pixels).
    ncols, panel_size
        Columns of the panel grid and the size of one panel in inches.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per component on shared, equal-aspect axes, titled ``PC1 (23 %)``; the
        mean face in grey and an arrow per landmark to where it moves at ``+sd`` SD
        (times ``gain``). A title adds, when 10 % or more, the share of the displacement
        along the viewing direction (3D: not visible as arrows) and the share of the
        component on other features than landmark coordinates
        (``loadings.attrs["other_share"]``, e.g. ``head_speed``). The figure title says
        how many of how many components are drawn, at what SD and gain.

    Raises
    ------
    ValueError
        If the dims are wrong, no landmark of ``loadings`` is on ``mean_face``, or
        ``n_components`` or ``sd`` is not positive.
    """
    if {"components", "landmarks", "space"} - set(loadings.dims) or loadings.ndim != 3:
        raise ValueError(f"loadings need dims (components, landmarks, space), got "
                         f"{tuple(loadings.dims)}")
    if set(mean_face.dims) != {"landmarks", "space"}:
        raise ValueError(f"mean_face needs dims (landmarks, space), got {tuple(mean_face.dims)}")
    total = loadings.sizes["components"]
    if total == 0:
        raise ValueError("loadings has no components to draw")
    if n_components is not None and n_components < 1:
        raise ValueError(f"n_components must be at least 1, got {n_components}")
    if not (np.isfinite(sd) and sd > 0):
        raise ValueError(f"sd must be a positive number, got {sd}")
    shown = min(total, n_components if n_components is not None else MAX_COMPONENTS)
    ratios = _ratios(explained if explained is not None
                     else loadings.attrs.get("explained_variance_ratio"), total)

    face = mean_face.transpose("landmarks", "space")
    names = [str(n) for n in face["landmarks"].values]
    space = [str(s) for s in face["space"].values]
    if len(space) not in (2, 3):
        raise ValueError(f"space must have 2 or 3 entries, got {len(space)}")
    on_face = [str(n) for n in loadings["landmarks"].values if str(n) in names]
    if not on_face:
        raise ValueError(
            f"no landmark of loadings ({[str(n) for n in loadings['landmarks'].values][:5]}"
            f"...) is on mean_face ({names[:5]}...)")
    # landmarks and axes the loadings lack (constant columns, dropped) do not move
    disp = np.asarray(
        loadings.transpose("components", "landmarks", "space")
        .isel(components=slice(0, shown))
        .reindex(landmarks=names, space=space, fill_value=0.0).values, dtype=np.float64)
    disp = np.nan_to_num(disp) * sd
    points = np.asarray(face.values, dtype=np.float64)

    unit = _unit(units or mean_face.attrs.get("units") or loadings.attrs.get("units"))
    depth = np.zeros(shown)
    if len(space) == 3:
        proj, labels = _projection(points, names, scheme, view, space)
        out = disp @ proj[2]  # along the viewing direction, for the titles
        total_sq = np.sum(disp**2, axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            depth = np.where(total_sq > 0, np.sum(out**2, axis=1) / total_sq, 0.0)
        centre = np.nanmean(points, axis=0)
        points = (points - centre) @ proj[:2].T
        disp = disp @ proj[:2].T
    else:
        labels = (space[0], space[1])

    if gain is None:
        gain = _auto_gain(points, disp)
    elif not (np.isfinite(gain) and gain > 0):
        raise ValueError(f"gain must be a positive number, got {gain}")
    disp = disp * gain
    other = _ratios(loadings.attrs.get("other_share"), total)

    fig, axes = panel_grid(shown, ncols, (panel_size, panel_size + 0.25))
    edges = skeleton_edges(scheme, names)
    tips = points[None] + disp
    both = np.concatenate([points, tips.reshape(-1, 2)])
    lo, hi = np.nanmin(both, axis=0), np.nanmax(both, axis=0)
    half = 0.55 * float(np.max(hi - lo)) if np.all(np.isfinite(hi - lo)) else 1.0
    half = half if half > 0 else 1.0
    mid = (lo + hi) / 2 if np.all(np.isfinite(lo + hi)) else np.zeros(2)
    image = unit == "px" and len(space) == 2
    for k, ax in enumerate(axes):
        _draw(ax, points, disp[k], edges)
        title = component_label(k, ratios[k] if ratios is not None else None)
        notes = []
        if depth[k] >= 0.1:
            notes.append(f"{100 * depth[k]:.0f} % in depth")
        if other is not None and other[k] >= 0.1:
            notes.append(f"{100 * other[k]:.0f} % other features")
        if notes:
            title += "\n" + ", ".join(notes)
        ax.set_title(title, fontsize=9)
        ax.set_xlim(mid[0] - half, mid[0] + half)
        ax.set_ylim(mid[1] - half, mid[1] + half)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
        ax.set_xlabel(f"{labels[0]} ({unit})", fontsize=8)
        ax.set_ylabel(f"{labels[1]} ({unit})", fontsize=8)
        if invert_y if invert_y is not None else image:
            ax.invert_yaxis()
    what = f"{shown} of {total}" if shown < total else f"all {total}"
    scaled = f" ×{gain:g}" if gain != 1 else ""
    # two short lines, and room for them: one panel alone is narrower than a long title
    width, height = fig.get_size_inches()
    fig.set_size_inches(max(width, 3.2), height)
    fig.suptitle(f"Principal components: {what}\narrows: landmarks at +{sd:g} SD{scaled}",
                 fontsize=10)
    return fig


def _auto_gain(points: FloatArray, disp: FloatArray) -> float:
    """1, or the 1-2-5 step that brings the longest arrow near an eighth of the face."""
    finite = points[np.isfinite(points).all(axis=1)]
    longest = float(np.max(np.hypot(disp[..., 0], disp[..., 1]), initial=0.0))
    if not len(finite) or not longest > 0:
        return 1.0
    size = float(np.max(finite.max(axis=0) - finite.min(axis=0)))
    wanted = size / 8.0 / longest
    if not wanted > 1:
        return 1.0
    steps = [m * 10.0**e for e in range(0, 7) for m in (1.0, 2.0, 5.0)]
    return max(s for s in steps if s <= wanted)


def _ratios(explained: object, total: int) -> list[float] | None:
    if explained is None:
        return None
    values = np.asarray(explained, dtype=np.float64).ravel()
    if len(values) < total:
        raise ValueError(f"got {len(values)} explained-variance ratios for {total} components")
    return [float(v) for v in values[:total]]


def _unit(units: object) -> str:
    text = str(units or "").strip()
    return _UNIT_NAMES.get(text.lower(), text) or "a.u."


def _projection(points: FloatArray, names: list[str], scheme: SchemeLike,
                view: str, space: list[str]) -> tuple[FloatArray, tuple[str, str]]:
    """Rows: the drawn horizontal and vertical axes, then the viewing direction."""
    if view not in ("front", "side"):
        raise ValueError(f"view must be 'front' or 'side', got {view!r}")
    axes = face_frame(points, names, scheme)
    if axes is not None:
        left, up, front = axes
        if view == "front":
            return np.stack([left, up, front]), ("face left–right", "face down–up")
        # seen from the face's right side: its front points to the right of the panel
        return np.stack([front, up, -left]), ("face back–front", "face down–up")
    eye = np.eye(3)
    if view == "front":
        return eye, (space[0], space[1])
    return np.stack([eye[2], eye[1], -eye[0]]), (space[2], space[1])


def _draw(ax: Axes, points: FloatArray, delta: FloatArray,
          edges: list[tuple[int, int]]) -> None:
    if edges:
        # one line for the whole skeleton, segments broken by NaN rows
        i, j = np.array(edges).T
        segs = np.full((len(edges), 3, 2), np.nan)
        segs[:, 0], segs[:, 1] = points[i], points[j]
        ax.plot(*segs.reshape(-1, 2).T, color=NEUTRAL_COLOR, linewidth=0.8, alpha=0.7)
    ax.scatter(points[:, 0], points[:, 1], color=NEUTRAL_COLOR, s=6, zorder=3)
    moves = (np.hypot(delta[:, 0], delta[:, 1]) > 0) & np.isfinite(points).all(axis=1)
    if moves.any():
        ax.quiver(points[moves, 0], points[moves, 1], delta[moves, 0], delta[moves, 1],
                  color=ARROW_COLOR, angles="xy", scale_units="xy", scale=1, width=0.008,
                  zorder=4)
