"""Feature traces and states along time: what the model saw and what it decided."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from faceexpr._typing import FloatArray
from faceexpr.plot._lines import envelope
from faceexpr.plot._states import binned_columns, chip_labels, draw_state_strip, state_labels
from faceexpr.plot._style import NO_STATE_COLOR, state_colors, time_axis
from faceexpr.plot.loadings import component_label

TRACE_COLOR = "#222222"
"""Colour of feature traces drawn over state bands."""
BAND_ALPHA = 0.35
"""Opacity of the state bands behind the feature traces."""


# --------------------------------------------------------------------------- timeline


def _trace_names(names: list[str], total: int,
                 explained: object) -> tuple[list[str], str]:
    """Lane labels (``PC1 (23 %)`` for principal components) and the y label."""
    shown = len(names)
    ratios = (list(np.asarray(explained, dtype=np.float64).ravel())
              if isinstance(explained, (list, tuple, np.ndarray)) else [])
    numbers = [int(n[2:]) if n[:2] == "pc" and n[2:].isdigit() else 0 for n in names]
    if not ratios or len(ratios) != total or not all(1 <= k <= total for k in numbers):
        return names, f"feature (scaled, offset)\n{shown} of {total} shown"
    labels = [component_label(k - 1, ratios[k - 1]) for k in numbers]
    share = 100.0 * sum(ratios[k - 1] for k in numbers)
    return labels, (f"principal component (scaled, offset)\n{shown} of {total} shown, "
                    f"{share:.0f} % of variance")


def _scaled_traces(values: FloatArray) -> FloatArray:
    """Scale every column so that its 1st–99th percentile range spans 0.9 (centred on 0)."""
    out = np.full_like(values, np.nan)
    for j in range(values.shape[1]):
        col = values[:, j]
        finite = col[np.isfinite(col)]
        if finite.size == 0:
            continue
        low, mid, high = np.percentile(finite, [1.0, 50.0, 99.0])
        spread = high - low if high > low else (float(np.ptp(finite)) or 1.0)
        out[:, j] = (col - mid) / spread * 0.9
    return out


def timeline(
    features: xr.DataArray,
    states: xr.DataArray,
    n_states: int,
    max_features: int = 8,
    title: str | None = None,
) -> Figure:
    """Plot feature traces over state bands, and a state raster below them.

    Parameters
    ----------
    features
        Feature matrix with dims ``(time, features)``; NaN rows (frames without
        landmarks) leave gaps. Principal components of
        :func:`faceexpr.features.reduce_pca` (``attrs["explained_variance_ratio"]``) are
        labelled ``PC1 (23 %)``, with the share of variance each explains.
    states
        State sequence ``(time,)`` aligned with ``features``; ``-1`` means no state.
        Its ``time`` coordinate is in seconds when ``attrs["fps"]`` is set, else the
        x axis shows frame numbers.
    n_states
        Number of states ``K`` of the model (sets the colours and raster rows).
    max_features
        At most this many features (the first ones) are drawn.
    title
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes sharing x: the top one holds the feature traces (one lane per feature,
        each scaled to its 1st–99th percentile range; the y label says how many of how
        many features or components are shown) over bands coloured by state; the bottom
        one is a raster with one row per state (``"state k"``, coloured chips) that is
        filled where the state is active, plus a grey ``"no state"`` row when some
        frames have no state.

    Raises
    ------
    ValueError
        If the inputs are empty, have the wrong dims, differ in length, or hold labels
        outside ``-1..n_states-1``.
    """
    labels = state_labels(states, n_states)
    if "time" not in features.dims or features.ndim != 2:
        raise ValueError(f"features must have dims (time, features), got {features.dims}")
    if max_features < 1:
        raise ValueError(f"max_features must be at least 1, got {max_features}")
    if features.sizes["time"] != labels.size:
        raise ValueError(
            f"features have {features.sizes['time']} frames but states have {labels.size}"
        )
    other = next(d for d in features.dims if d != "time")
    if features.sizes[other] == 0:
        raise ValueError("features has no feature columns: there is nothing to plot")
    feats = features.transpose("time", other).isel({other: slice(0, max_features)})
    names = ([str(n) for n in feats[other].values] if other in feats.coords
             else [f"feature {j}" for j in range(feats.sizes[other])])
    names, ylabel = _trace_names(names, features.sizes[other],
                                 features.attrs.get("explained_variance_ratio"))
    x, xlabel = time_axis(states)
    # long recordings: a raster column holds several frames, filled if any has the state
    cols, width, left, right, image_right = binned_columns(x)
    n_traces = len(names)
    has_missing = bool((labels < 0).any())
    n_rows = n_states + int(has_missing)

    # the two-line y label needs about 2.4 inches, however few the traces
    top = max(0.45 * n_traces + 0.4, 2.4)
    fig = Figure(figsize=(11.0, 1.2 + top + 0.28 * n_rows), layout="constrained")
    ax_top, ax_raster = fig.subplots(
        2, 1, sharex=True, height_ratios=[top, 0.28 * n_rows + 0.2])

    # Top: state bands behind the traces; the first feature sits in the top lane.
    lo, hi = -0.75, n_traces - 0.25
    draw_state_strip(ax_top, labels, x, n_states, y=(lo, hi), alpha=BAND_ALPHA)
    scaled = _scaled_traces(np.asarray(feats.values, dtype=np.float64))
    offsets = np.arange(n_traces - 1, -1, -1, dtype=np.float64)
    for j in range(n_traces):
        ax_top.plot(*envelope(x, scaled[:, j] + offsets[j]), color=TRACE_COLOR,
                    linewidth=0.7, zorder=2)
    ax_top.set_ylim(lo, hi)
    ax_top.set_yticks(offsets, names)
    ax_top.set_ylabel(ylabel)
    ax_top.tick_params(axis="y", length=0)

    # Bottom: one-hot raster, row k filled where state k is active.
    raster = np.full((n_rows, width), np.nan)
    for k in range(n_states):
        raster[k, cols[labels == k]] = k
    if has_missing:
        raster[n_states, cols[labels < 0]] = -1
    cmap = ListedColormap(state_colors(n_states)).with_extremes(
        under=NO_STATE_COLOR, bad=(1.0, 1.0, 1.0, 0.0))
    ax_raster.imshow(
        raster, cmap=cmap, vmin=-0.5, vmax=n_states - 0.5, aspect="auto",
        interpolation="nearest", origin="upper",
        extent=(left, image_right, n_rows - 0.5, -0.5),
    )
    row_names = [f"state {k}" for k in range(n_states)] + (["no state"] if has_missing else [])
    ax_raster.set_yticks(np.arange(n_rows), row_names)
    chip_labels(ax_raster.get_yticklabels(),
                 state_colors(n_states) + ([NO_STATE_COLOR] if has_missing else []))
    ax_raster.tick_params(axis="y", length=0)
    ax_raster.set_ylim(n_rows - 0.5, -0.5)
    ax_raster.set_xlim(left, right)
    ax_raster.set_xlabel(xlabel)
    if title:
        fig.suptitle(title)
    return fig
