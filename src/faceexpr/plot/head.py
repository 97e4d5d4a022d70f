"""Head kinematics along time, and their distributions per state."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from faceexpr._typing import FloatArray
from faceexpr.data import get_fps
from faceexpr.plot._lines import envelope
from faceexpr.plot._states import chip_labels, draw_state_strip, state_labels, text_color
from faceexpr.plot._style import NO_STATE_COLOR, panel_grid, state_colors, time_axis

COMPONENT_COLORS: tuple[str, ...] = ("#000000", "#E69F00", "#0072B2", "#009E73")
"""Line colours of the x, y, z (or pitch, yaw, roll) components; not state colours."""

_UNIT_NAMES = {"pixels": "px", "pixel": "px", "px": "px", "mm": "mm",
               "millimeters": "mm", "millimetres": "mm"}


def _length_unit(ds: xr.Dataset) -> str:
    """Short name of the length unit of ``ds`` (``"mm"``, ``"px"``; ``"a.u."`` if unknown)."""
    unit = str(ds.attrs.get("units", "") or "").strip()
    return _UNIT_NAMES.get(unit.lower(), unit) or "a.u."


def _units(ds: xr.Dataset) -> dict[str, str]:
    """Unit of every known kinematic variable of ``ds`` (per second when fps is known)."""
    length = _length_unit(ds)
    t = "s" if get_fps(ds) is not None else "frame"
    return {
        "head_position": length,
        "head_velocity": f"{length}/{t}",
        "head_acceleration": f"{length}/{t}²",
        "head_speed": f"{length}/{t}",
        "head_angles": "°",
        "head_angular_speed": f"°/{t}",
    }


_NAMES = {
    "head_position": "position",
    "head_velocity": "velocity",
    "head_acceleration": "acceleration",
    "head_speed": "speed",
    "head_angles": "head angle",
    "head_angular_speed": "angular speed",
}


def _check_kinematics(ds: xr.Dataset, what: str = "kinematics") -> None:
    if not isinstance(ds, xr.Dataset):
        raise ValueError(f"{what} must be an xarray.Dataset, got {type(ds).__name__}")
    if ds.sizes.get("time", 0) == 0:
        raise ValueError(f"{what} has no frames (empty 'time' dim): there is nothing to plot")


def kinematics(
    kinematics: xr.Dataset,
    states: xr.DataArray | None = None,
    n_states: int | None = None,
) -> Figure:
    """Plot head position, velocity, acceleration (and angles) along time.

    Parameters
    ----------
    kinematics
        Output of :func:`faceexpr.features.head_kinematics`: ``head_position``,
        ``head_velocity``, ``head_acceleration`` ``(time, space)`` and optionally
        ``head_angles`` ``(time, angle)`` (its ``angle`` names label the lines: ``pitch``,
        ``yaw``, ``roll`` in the face's frame, ``rot_x``... about the data's axes); attrs
        ``units`` (``"mm"``/``"pixels"``) and ``fps``.
    states
        Optional state sequence ``(time,)`` of the same recording (``-1`` = no state),
        drawn as a strip below the panels.
    n_states
        Number of states ``K``; defaults to the largest label + 1.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per variable present (position, velocity, acceleration, angles), one
        line per component (x, y[, z], or the angle names), sharing the time axis; units
        in the y labels (per second when fps is known, per frame otherwise). With
        ``states``, a last thin panel shows the state of every frame and a legend below
        the figure names the states.

    Raises
    ------
    ValueError
        If there is no frame, no variable to plot, or ``states`` does not match.
    """
    _check_kinematics(kinematics)
    names = [n for n in ("head_position", "head_velocity", "head_acceleration", "head_angles")
             if n in kinematics.data_vars]
    if not names:
        raise ValueError(
            "kinematics has none of head_position, head_velocity, head_acceleration, "
            f"head_angles (variables: {sorted(map(str, kinematics.data_vars))})")
    labels = None
    if states is not None:
        if n_states is None:
            top = np.nanmax(np.asarray(states.values, dtype=np.float64)) if states.size else -1
            n_states = max(int(top) + 1, 1) if np.isfinite(top) else 1
        labels = state_labels(states, n_states)
        if labels.size != kinematics.sizes["time"]:
            raise ValueError(
                f"kinematics have {kinematics.sizes['time']} frames but states have "
                f"{labels.size}")
    x, xlabel = time_axis(kinematics)
    units = _units(kinematics)
    n_axes = len(names) + int(labels is not None)
    ratios = [1.0] * len(names) + ([0.12] if labels is not None else [])
    fig = Figure(figsize=(10.0, 2.1 * len(names) + (0.9 if labels is not None else 0.3)),
                 layout="constrained")
    axes: list[Axes] = list(np.atleast_1d(
        fig.subplots(n_axes, 1, sharex=True, height_ratios=ratios, squeeze=False)[:, 0]))
    for ax, name in zip(axes, names):
        var = kinematics[name]
        comp_dims = [d for d in var.dims if d != "time"]
        if comp_dims:
            dim = comp_dims[0]
            values = np.asarray(var.transpose("time", dim).values, dtype=np.float64)
            comps = ([str(c) for c in var[dim].values] if dim in var.coords
                     else [str(j) for j in range(var.sizes[dim])])
        else:
            values = np.asarray(var.values, dtype=np.float64)[:, None]
            comps = [_NAMES[name]]
        for j, comp in enumerate(comps):
            ax.plot(*envelope(x, values[:, j]),
                    color=COMPONENT_COLORS[j % len(COMPONENT_COLORS)],
                    linewidth=0.8, label=comp)
        # angles about the data's axes (no face frame) are not the head's pitch/yaw/roll
        about_data = name == "head_angles" and all(c.startswith("rot_") for c in comps)
        ax.set_ylabel(f"{'rotation, data axes' if about_data else _NAMES[name]} "
                      f"({units[name]})")
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), frameon=False,
                  fontsize="small", handlelength=1.5)
        ax.grid(axis="y", color="#EEEEEE", linewidth=0.6)
    if labels is not None and n_states is not None:
        strip = axes[-1]
        draw_state_strip(strip, labels, x, n_states)
        strip.set_yticks([])
        strip.set_ylabel("state", rotation=0, ha="right", va="center")
        handles = [Patch(facecolor=c, label=f"state {k}")
                   for k, c in enumerate(state_colors(n_states))]
        if (labels < 0).any():
            handles.append(Patch(facecolor=NO_STATE_COLOR, label="no state"))
        fig.legend(handles=handles, loc="outside lower center", frameon=False,
                   ncols=min(len(handles), 10), fontsize="small")
    else:
        axes[-1].set_xlim(float(x[0]), float(x[-1]) if x.size > 1 else float(x[0]) + 1.0)
    axes[-1].set_xlabel(xlabel)
    return fig


# --------------------------------------------------------------------------- by state


def _scalar_series(ds: xr.Dataset, name: str) -> FloatArray:
    """Values of ``name`` per frame: the variable itself, or its norm over the other dim."""
    if name not in ds.data_vars:
        raise ValueError(
            f"kinematics has no variable {name!r} (variables: "
            f"{sorted(map(str, ds.data_vars))})")
    var = ds[name]
    if var.dims == ("time",):
        return np.asarray(var.values, dtype=np.float64)
    if var.ndim == 2 and "time" in var.dims:
        other = next(d for d in var.dims if d != "time")
        values = np.asarray(var.transpose("time", other).values, dtype=np.float64)
        return np.asarray(np.linalg.norm(values, axis=1), dtype=np.float64)
    raise ValueError(f"variable {name!r} must have dims (time,) or (time, space), "
                     f"got {var.dims}")


def _axis_label(ds: xr.Dataset, name: str) -> str:
    var = ds[name]
    short = _NAMES.get(name, name)
    label = short if var.dims == ("time",) else f"|{short}|"
    unit = _units(ds).get(name)
    return f"{label} ({unit})" if unit else label


def kinematics_by_state(
    kinematics: xr.Dataset | Sequence[xr.Dataset],
    states: xr.DataArray | Sequence[xr.DataArray],
    n_states: int,
    variables: Sequence[str] | None = None,
) -> Figure:
    """Box plots of scalar kinematic variables per state.

    Parameters
    ----------
    kinematics
        One kinematics Dataset (see :func:`kinematics`) or a list of them, one per
        session.
    states
        The state sequence(s) ``(time,)`` paired with ``kinematics``.
    n_states
        Number of states ``K``.
    variables
        Variables to show, one panel each. ``(time,)`` variables are used as they are,
        ``(time, space)`` ones as their norm. Default: ``head_speed``,
        ``head_angular_speed`` (when present) and ``head_acceleration`` (norm).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per variable with one box per state (coloured by state; the whiskers
        span 1.5 IQR, outliers are small dots). Frames without a state (``-1``) or with
        NaN values are left out; a state without frames keeps an empty slot.

    Raises
    ------
    ValueError
        If the inputs are empty, of different lengths or numbers, or a variable is
        missing.
    """
    datasets = [kinematics] if isinstance(kinematics, xr.Dataset) else list(kinematics)
    sessions = [states] if isinstance(states, xr.DataArray) else list(states)
    if not datasets:
        raise ValueError("no kinematics given: there is nothing to plot")
    if len(datasets) != len(sessions):
        raise ValueError(
            f"got {len(datasets)} kinematics Dataset(s) but {len(sessions)} state sequence(s)")
    all_labels = []
    for i, (ds, st) in enumerate(zip(datasets, sessions)):
        _check_kinematics(ds, f"kinematics of session {i}")
        labels = state_labels(st, n_states, f"states of session {i}")
        if labels.size != ds.sizes["time"]:
            raise ValueError(f"session {i}: kinematics have {ds.sizes['time']} frames but "
                             f"states have {labels.size}")
        all_labels.append(labels)
    first = datasets[0]
    if variables is None:
        variables = [v for v in ("head_speed", "head_angular_speed", "head_acceleration")
                     if all(v in ds.data_vars for ds in datasets)]
        if not variables:
            raise ValueError("kinematics has none of head_speed, head_angular_speed, "
                             "head_acceleration; pass variables=")
    variables = list(variables)
    if not variables:
        raise ValueError("variables is empty: there is nothing to plot")
    labels_all = np.concatenate(all_labels)
    colors = state_colors(n_states)
    fig, axes = panel_grid(len(variables), ncols=len(variables),
                           panel_size=(max(3.2, 0.42 * n_states + 1.2), 3.2))
    for ax, name in zip(axes, variables):
        values = np.concatenate([_scalar_series(ds, name) for ds in datasets])
        keep = (labels_all >= 0) & np.isfinite(values)
        groups = [values[keep & (labels_all == k)] for k in range(n_states)]
        present = [k for k in range(n_states) if groups[k].size > 0]
        if present:
            parts = ax.boxplot(
                [groups[k] for k in present], positions=present, widths=0.6,
                patch_artist=True, manage_ticks=False,
                flierprops={"marker": ".", "markersize": 2, "markeredgecolor": "#555555",
                            "alpha": 0.5},
            )
            for box, k in zip(parts["boxes"], present):
                box.set_facecolor(colors[k])
                box.set_edgecolor("#333333")
            for median, k in zip(parts["medians"], present):
                median.set_color(text_color(colors[k]))
                median.set_linewidth(1.5)
        ax.set_xlim(-0.6, n_states - 0.4)
        ax.set_xticks(np.arange(n_states), [str(k) for k in range(n_states)])
        chip_labels(ax.get_xticklabels(), colors)
        ax.set_xlabel("state")
        ax.set_ylabel(_axis_label(first, name))
        ax.grid(axis="y", color="#EEEEEE", linewidth=0.6)
        ax.set_axisbelow(True)
    return fig
