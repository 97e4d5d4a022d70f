"""Summaries of state sequences: frequencies, bouts, dwell times, transitions, comparisons.

Every function that takes ``states`` accepts one state sequence (an
:class:`xarray.DataArray` ``(time,)`` of int, see :mod:`faceexpr.data`) or a list of them,
one per session. Sessions are analysed together: counts and frequencies are summed over
sessions, while bouts and transitions never cross a session boundary.

Frames labelled :data:`~faceexpr.data.NO_STATE` (``-1``) are ignored everywhere: they are
not counted, they end a bout, and no transition is counted across them.

Durations come in two columns: ``*_frames`` (always) and ``*_s`` / ``seconds`` (seconds,
NaN when the frame rate is unknown). The frame rate is the ``fps`` argument or, when that
is ``None``, ``states.attrs["fps"]``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd
import xarray as xr

from faceexpr._typing import FloatArray, IntArray
from faceexpr.data import NO_STATE, get_fps, segment_bounds, validate_pose
from faceexpr.errors import InvalidStatesError
from faceexpr.interfaces import StateModel
from faceexpr.sequences import (
    bout_sequence,
    bout_transition_counts,
    entropy_rate,
    shuffled_baseline,
)
from faceexpr.similarity import StateComparison, StateDistances, bout_sums
from faceexpr.similarity import compare_states as similarity_compare_states
from faceexpr.similarity import state_distances as similarity_state_distances

StatesLike = xr.DataArray | Sequence[xr.DataArray]
"""One state sequence ``(time,)`` or a list of them (one per session)."""


__all__ = [
    "InvalidStatesError",
    "ResultLike",
    "StateMeaning",
    "bout_sequences",
    "bout_transitions",
    "bouts",
    "compare_states",
    "dwell_times",
    "entropy_rates",
    "kinematics_by_state",
    "match_means",
    "match_states",
    "relabel",
    "state_agreement",
    "state_distances",
    "state_frequencies",
    "state_mean_intervals",
    "state_meaning",
    "state_means",
    "state_stds",
    "summarize",
    "transition_counts",
    "transition_matrix",
    "typical_sequences",
]


# --------------------------------------------------------------------------- helpers


def _sessions(states: StatesLike) -> list[xr.DataArray]:
    """Return ``states`` as a list of sessions."""
    if isinstance(states, xr.DataArray):
        return [states]
    out = list(states)
    if not out:
        raise InvalidStatesError("expected at least one state sequence, got an empty list")
    for s in out:
        if not isinstance(s, xr.DataArray):
            raise InvalidStatesError(
                f"expected xarray.DataArray state sequences, got {type(s).__name__}"
            )
    return out


def _labels(states: xr.DataArray, n_states: int | None = None) -> IntArray:
    """Return the labels of one session as an int64 array, checking them."""
    if states.ndim != 1:
        raise InvalidStatesError(f"states must be 1D (time,), got dims {states.dims}")
    values = np.asarray(states.values)
    if values.size and not np.issubdtype(values.dtype, np.integer):
        if not np.issubdtype(values.dtype, np.floating) or not np.all(
            values == np.round(values)
        ):
            raise InvalidStatesError(f"states must hold integer labels, got dtype {values.dtype}")
    labels = values.astype(np.int64)
    if labels.size and labels.min() < NO_STATE:
        raise InvalidStatesError(
            f"state labels must be >= {NO_STATE} ({NO_STATE} = no state), got {labels.min()}"
        )
    if n_states is not None and labels.size and labels.max() >= n_states:
        raise InvalidStatesError(
            f"state label {labels.max()} is out of range for n_states={n_states}"
        )
    return labels


def _all_labels(states: StatesLike, n_states: int | None = None) -> list[IntArray]:
    if n_states is not None and n_states < 1:
        raise InvalidStatesError(f"n_states must be >= 1, got {n_states}")
    return [_labels(s, n_states) for s in _sessions(states)]


def _resolve_fps(states: StatesLike, fps: float | None) -> float | None:
    """Return ``fps`` if given, else the frame rate stored on the state sequence(s)."""
    if fps is not None:
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive finite number, got {fps}")
        return float(fps)
    found = {f for f in (get_fps(s) for s in _sessions(states)) if f is not None}
    if len(found) > 1:
        raise InvalidStatesError(
            f"sessions have different frame rates {sorted(found)}; pass fps explicitly"
        )
    return found.pop() if found else None


def _runs(labels: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Run-length encode ``labels``: ``(starts, stops, values)`` of every run, -1 runs too."""
    if labels.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    starts = np.flatnonzero(np.diff(labels) != 0) + 1
    starts = np.concatenate([[0], starts]).astype(np.int64)
    stops = np.concatenate([starts[1:], [labels.size]]).astype(np.int64)
    return starts, stops, labels[starts]


def _state_index(n_states: int) -> pd.Index:
    return pd.Index(np.arange(n_states), name="state")


# --------------------------------------------------------------------------- bouts


def bouts(states: StatesLike, fps: float | None = None) -> pd.DataFrame:
    """Return one row per bout (maximal run of one state within one session).

    A frame without a state (``-1``) ends a bout and is not part of any.

    A bout is *censored* when its true length is unknown: it touches the first or the last
    frame of its session (it may have begun before the recording or go on after it), or a
    frame without a state borders it (the state may have gone on through the gap).

    Parameters
    ----------
    states
        One state sequence or a list of them (one per session).
    fps
        Frame rate; defaults to ``states.attrs["fps"]``. Seconds are NaN when unknown.

    Returns
    -------
    pandas.DataFrame
        Columns ``session`` (index of the session in the list, 0 for a single sequence),
        ``state``, ``start_frame``, ``stop_frame`` (exclusive; positions along ``time``
        within the session), ``n_frames``, ``start_s``, ``seconds`` and ``censored``
        (bool, see above), in time order.

    Examples
    --------
    >>> import xarray as xr
    >>> bouts(xr.DataArray([0, 0, 1, 2, -1, 1, 0], dims="time"),
    ...       fps=2.0)[["state", "n_frames", "censored"]]
       state  n_frames  censored
    0      0         2      True
    1      1         1     False
    2      2         1      True
    3      1         1      True
    4      0         1      True
    """
    rate = _resolve_fps(states, fps)
    parts = []
    for i, labels in enumerate(_all_labels(states)):
        starts, stops, values = _runs(labels)
        keep = values != NO_STATE
        # runs alternate, so a run's neighbours are the runs before and after it; the
        # session's ends count as gaps (nothing is known beyond them)
        gap = np.concatenate([[True], values == NO_STATE, [True]])
        censored = gap[:-2] | gap[2:]
        parts.append(
            pd.DataFrame({
                "session": np.full(int(keep.sum()), i, dtype=np.int64),
                "state": values[keep],
                "start_frame": starts[keep],
                "stop_frame": stops[keep],
                "censored": censored[keep],
            })
        )
    table = pd.concat(parts, ignore_index=True)
    table["n_frames"] = table["stop_frame"] - table["start_frame"]
    scale = 1.0 / rate if rate is not None else math.nan
    table["start_s"] = table["start_frame"].astype(np.float64) * scale
    table["seconds"] = table["n_frames"].astype(np.float64) * scale
    table["censored"] = table.pop("censored").astype(bool)  # last column, bool when empty
    return table


# --------------------------------------------------------------------------- frequencies


def state_frequencies(
    states: StatesLike, n_states: int, fps: float | None = None
) -> pd.DataFrame:
    """Return how much time is spent in each state, and how often it is entered.

    Parameters
    ----------
    states
        One state sequence or a list of them (one per session).
    n_states
        Number of states ``K``; the table has one row per state ``0..K-1``.
    fps
        Frame rate; defaults to ``states.attrs["fps"]``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``state``, with columns ``n_frames`` (frames in the state, all
        sessions), ``seconds`` (NaN without fps), ``relative`` (fraction of the frames that
        have a state; NaN if none has), ``n_bouts`` and ``bouts_per_minute`` (bouts per
        minute of frames that have a state; NaN without fps).

    Examples
    --------
    >>> import xarray as xr
    >>> state_frequencies(xr.DataArray([0, 0, 1, -1], dims="time"), 3)["relative"].tolist()
    [0.6666666666666666, 0.3333333333333333, 0.0]
    """
    rate = _resolve_fps(states, fps)
    labels = np.concatenate(_all_labels(states, n_states))
    n_frames = np.bincount(labels[labels != NO_STATE], minlength=n_states).astype(np.int64)
    total = int(n_frames.sum())
    bout_table = bouts(states, fps=rate)
    n_bouts = np.bincount(bout_table["state"].to_numpy(np.int64), minlength=n_states)
    seconds = n_frames / rate if rate is not None else np.full(n_states, math.nan)
    minutes = total / rate / 60.0 if rate is not None and total > 0 else math.nan
    return pd.DataFrame(
        {
            "n_frames": n_frames,
            "seconds": seconds,
            "relative": n_frames / total if total > 0 else np.full(n_states, math.nan),
            "n_bouts": n_bouts.astype(np.int64),
            "bouts_per_minute": n_bouts / minutes,
        },
        index=_state_index(n_states),
    )


def dwell_times(states: StatesLike, n_states: int, fps: float | None = None) -> pd.DataFrame:
    """Return bout-length statistics per state, from the bouts of known length.

    Censored bouts (cut by the start or end of a session or by frames without a state, see
    :func:`bouts`) are counted but left out of the statistics: their true length is
    unknown, and keeping them would bias short states and long recordings alike.

    Parameters
    ----------
    states
        One state sequence or a list of them (one per session).
    n_states
        Number of states ``K``; states without bouts get ``n_bouts`` 0 and NaN statistics.
    fps
        Frame rate; defaults to ``states.attrs["fps"]``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``state``, with columns ``n_bouts`` (all bouts, censored ones
        included), ``n_censored``, ``mean_frames``, ``median_frames``, ``max_frames``,
        ``mean_s`` and ``median_s`` (NaN without fps). The statistics use the uncensored
        bouts only (``n_bouts - n_censored`` of them): they are NaN for a state whose
        every bout is censored, e.g. one that lasts the whole recording.

    Examples
    --------
    >>> import xarray as xr
    >>> dwell = dwell_times(xr.DataArray([0, 1, 0, 0, 1, 1, 0], dims="time"), 2)
    >>> dwell["n_bouts"].tolist(), dwell["n_censored"].tolist(), dwell["mean_frames"].tolist()
    ([3, 2], [2, 0], [2.0, 1.5])
    """
    rate = _resolve_fps(states, fps)
    _all_labels(states, n_states)  # range check
    table = bouts(states, fps=rate)
    index = _state_index(n_states)
    complete = table.loc[~table["censored"]].groupby("state")["n_frames"]
    counts = table.groupby("state")["censored"]
    out = pd.DataFrame(
        {
            "n_bouts": counts.size().reindex(index, fill_value=0).astype(np.int64),
            "n_censored": counts.sum().reindex(index, fill_value=0).astype(np.int64),
            "mean_frames": complete.mean().reindex(index).astype(np.float64),
            "median_frames": complete.median().reindex(index).astype(np.float64),
            "max_frames": complete.max().reindex(index).astype(np.float64),
        },
        index=index,
    )
    scale = 1.0 / rate if rate is not None else math.nan
    out["mean_s"] = out["mean_frames"] * scale
    out["median_s"] = out["median_frames"] * scale
    return out


# --------------------------------------------------------------------------- transitions


def transition_counts(states: StatesLike, n_states: int) -> xr.DataArray:
    """Count every pair of consecutive frames ``(from_state, to_state)``, self-pairs included.

    Pairs involving a frame without a state (``-1``) and pairs across sessions are not
    counted. This is the statistic a Hidden Markov Model's transition matrix estimates.

    Returns
    -------
    xarray.DataArray
        int64, dims ``(from_state, to_state)``, both with coordinates ``0..K-1``.

    Examples
    --------
    >>> import xarray as xr
    >>> transition_counts(xr.DataArray([0, 0, 1, -1, 1], dims="time"), 2).values.tolist()
    [[1, 1], [0, 0]]
    """
    counts = np.zeros((n_states, n_states), dtype=np.int64)
    for labels in _all_labels(states, n_states):
        src, dst = labels[:-1], labels[1:]
        ok = (src != NO_STATE) & (dst != NO_STATE)
        np.add.at(counts, (src[ok], dst[ok]), 1)
    coords = np.arange(n_states)
    return xr.DataArray(
        counts,
        dims=("from_state", "to_state"),
        coords={"from_state": coords, "to_state": coords},
        name="transition_counts",
    )


def transition_matrix(states: StatesLike, n_states: int) -> xr.DataArray:
    """Return the empirical transition probabilities (row-normalised transition counts).

    Rows of states that are never followed by a state frame are NaN.

    Returns
    -------
    xarray.DataArray
        float, dims ``(from_state, to_state)``; each non-NaN row sums to 1.

    Examples
    --------
    >>> import xarray as xr
    >>> transition_matrix(xr.DataArray([0, 0, 1, 1], dims="time"), 2).values.tolist()
    [[0.5, 0.5], [0.0, 1.0]]
    """
    counts = transition_counts(states, n_states)
    totals = counts.sum("to_state")
    probs = (counts / totals.where(totals > 0)).astype(np.float64)
    probs.name = "transition_matrix"
    return probs


# --------------------------------------------------------------------------- per-state data


def _paired(
    data: xr.Dataset | Sequence[xr.Dataset], states: StatesLike, n_states: int
) -> tuple[list[xr.Dataset], IntArray]:
    """Pair datasets with state sessions; return them and the concatenated labels."""
    datasets = [data] if isinstance(data, xr.Dataset) else list(data)
    sessions = _sessions(states)
    if len(datasets) != len(sessions):
        raise InvalidStatesError(
            f"got {len(datasets)} dataset(s) but {len(sessions)} state sequence(s)"
        )
    all_labels = _all_labels(sessions, n_states)
    for i, (ds, labels) in enumerate(zip(datasets, all_labels, strict=True)):
        if ds.sizes.get("time") != labels.size:
            raise InvalidStatesError(
                f"session {i}: the data has {ds.sizes.get('time')} frames but the states "
                f"have {labels.size}"
            )
    return datasets, np.concatenate(all_labels)


def _pose_by_state(
    pose: xr.Dataset | Sequence[xr.Dataset], states: StatesLike, n_states: int, stat: str,
    ddof: int = 0,
) -> xr.DataArray:
    poses, labels = _paired(pose, states, n_states)
    for p in poses:
        validate_pose(p, cameras=False)
    first = poses[0]["position"]
    parts = [p["position"].transpose("time", "landmarks", "space").values for p in poses]
    # one recording: its own array, not a copy of every frame
    position = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
    out = np.full((n_states, *position.shape[1:]), math.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN
        for k in range(n_states):
            frames = position[labels == k]
            if frames.shape[0] == 0:
                continue
            if stat == "mean":
                out[k] = np.nanmean(frames, axis=0, dtype=np.float64)
            else:
                out[k] = np.nanstd(frames, axis=0, ddof=ddof, dtype=np.float64)
    return xr.DataArray(
        out,
        dims=("states", "landmarks", "space"),
        coords={
            "states": np.arange(n_states),
            "landmarks": first["landmarks"].values,
            "space": first["space"].values,
        },
        name=f"state_{stat}",
        # units say how to draw the faces (pixels: y points down)
        attrs={k: poses[0].attrs[k] for k in ("units",) if k in poses[0].attrs},
    )


def state_means(
    pose: xr.Dataset | Sequence[xr.Dataset], states: StatesLike, n_states: int
) -> xr.DataArray:
    """Return the mean landmark positions of each state (e.g. the typical face per state).

    Parameters
    ----------
    pose
        A single-view pose Dataset (usually egocentric), or a list of them paired with a
        list of state sequences of the same lengths.
    states
        One state sequence or a list of them.
    n_states
        Number of states ``K``.

    Returns
    -------
    xarray.DataArray
        dims ``(states, landmarks, space)``: NaN-ignoring mean of ``position`` over the
        frames of each state; NaN for states without frames.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from faceexpr.data import make_pose
    >>> pose = make_pose(np.arange(8.0).reshape(4, 1, 2), ["nose"])
    >>> state_means(pose, xr.DataArray([0, 0, 1, -1], dims="time"), 2).values[:, 0].tolist()
    [[1.0, 2.0], [4.0, 5.0]]
    """
    return _pose_by_state(pose, states, n_states, "mean")


def state_mean_intervals(
    egocentric: xr.Dataset | Sequence[xr.Dataset],
    states: StatesLike,
    n_states: int,
    n_boot: int = 200,
    level: float = 0.95,
    random_state: int | None = 0,
) -> xr.DataArray:
    """Return bootstrap confidence intervals of :func:`state_means`, resampling bouts.

    Frames of one bout are not independent (a face barely changes from one frame to the
    next), so resampling frames would give intervals far too narrow. Each of the
    ``n_boot`` replicates instead draws a state's bouts with replacement, as many as it
    has, and takes the frame-weighted mean of the drawn bouts (every bout counts with its
    frames, NaN landmarks ignored, as in :func:`state_means`). The interval is the
    percentile interval of the replicates. Censored bouts are included: their frames show
    the state's face even if their length is unknown.

    Parameters
    ----------
    egocentric
        A single-view pose Dataset (usually egocentric) or a list of them, paired with
        ``states`` as in :func:`state_means`.
    states
        One state sequence or a list of them.
    n_states
        Number of states ``K``.
    n_boot
        Number of bootstrap replicates.
    level
        Confidence level of the interval, between 0 and 1.
    random_state
        Seed of the resampling (``None``: a fresh one each call).

    Returns
    -------
    xarray.DataArray
        dims ``(states, landmarks, space, bound)`` with ``bound`` coordinates
        ``["lower", "upper"]``; attrs ``level``, ``n_boot`` and the pose ``units``. NaN for
        states without frames; a state with a single bout gets an interval of zero width
        (there is nothing to resample), so read intervals of states with few bouts with
        care.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from faceexpr.data import make_pose
    >>> pose = make_pose(np.arange(12.0).reshape(6, 1, 2), ["nose"])
    >>> ci = state_mean_intervals(pose, xr.DataArray([0, 0, 1, 0, 1, 0], dims="time"), 2)
    >>> ci.sel(states=0, space="x").values.round(1).tolist()
    [[1.0, 10.0]]
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    poses, _ = _paired(egocentric, states, n_states)
    for p in poses:
        validate_pose(p, cameras=False)
    first = poses[0]["position"]
    n_landmarks, n_space = first.sizes["landmarks"], first.sizes["space"]
    sessions = [xr.DataArray(labels, dims="time")
                for labels in _all_labels(_sessions(states), n_states)]
    # every run of one state is a bout here, shot cuts or not
    all_states, sums, counts = bout_sums(poses, sessions, at_cuts=False)
    shape = (n_landmarks * n_space,)
    all_sums, all_counts = sums.reshape(-1, *shape), counts.reshape(-1, *shape)
    rng = np.random.default_rng(random_state)
    tails = [(1.0 - level) / 2.0, (1.0 + level) / 2.0]
    out = np.full((n_states, n_landmarks * n_space, 2), math.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 0/0 and all-NaN give NaN
        for k in range(n_states):
            mine = all_states == k
            n_bouts = int(mine.sum())
            if n_bouts == 0:
                continue
            # how often every bout is drawn in every replicate
            draws = rng.multinomial(n_bouts, np.full(n_bouts, 1.0 / n_bouts), size=n_boot)
            means = (draws @ all_sums[mine]) / (draws @ all_counts[mine])
            out[k] = np.nanquantile(means, tails, axis=0).T
    return xr.DataArray(
        out.reshape(n_states, n_landmarks, n_space, 2),
        dims=("states", "landmarks", "space", "bound"),
        coords={
            "states": np.arange(n_states),
            "landmarks": first["landmarks"].values,
            "space": first["space"].values,
            "bound": ["lower", "upper"],
        },
        name="state_mean_intervals",
        attrs={"level": level, "n_boot": n_boot,
               **{k: poses[0].attrs[k] for k in ("units",) if k in poses[0].attrs}},
    )


def state_stds(
    pose: xr.Dataset | Sequence[xr.Dataset], states: StatesLike, n_states: int, ddof: int = 0
) -> xr.DataArray:
    """Return the standard deviation of landmark positions within each state.

    Like :func:`state_means` (same arguments and dims), with ``ddof`` the delta degrees of
    freedom of :func:`numpy.nanstd`. NaN for states without frames.
    """
    return _pose_by_state(pose, states, n_states, "std", ddof=ddof)


def kinematics_by_state(
    kinematics: xr.Dataset | Sequence[xr.Dataset], states: StatesLike, n_states: int
) -> pd.DataFrame:
    """Return the mean, standard deviation and median of kinematic variables per state.

    Parameters
    ----------
    kinematics
        Dataset (or a list paired with a list of state sequences) whose data variables with
        dims ``(time,)`` (e.g. ``head_speed``) or ``(time, space)`` (e.g. ``head_velocity``)
        are summarised; variables with other dims are skipped.
    states
        One state sequence or a list of them.
    n_states
        Number of states ``K``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``state`` (``0..K-1``), with flat columns ``"{series}_{stat}"`` where
        ``series`` is the variable name for ``(time,)`` variables and
        ``"{variable}_{component}"`` (e.g. ``head_velocity_x``) for ``(time, space)`` ones,
        and ``stat`` is ``mean``, ``std`` (sample, ``ddof=1``) or ``median``. NaN values
        are ignored; statistics of states without frames are NaN.

    Examples
    --------
    >>> import xarray as xr
    >>> kin = xr.Dataset({"speed": ("time", [1.0, 3.0, 10.0])})
    >>> kinematics_by_state(kin, xr.DataArray([0, 0, 1], dims="time"), 2)["speed_mean"].tolist()
    [2.0, 10.0]
    """
    datasets, labels = _paired(kinematics, states, n_states)
    columns: dict[str, FloatArray] = {}
    for name, var in datasets[0].data_vars.items():
        if var.dims == ("time",):
            columns[str(name)] = np.concatenate(
                [ds[name].values.astype(np.float64) for ds in datasets]
            )
        elif set(var.dims) == {"time", "space"} and var.ndim == 2:
            values = np.concatenate(
                [ds[name].transpose("time", "space").values.astype(np.float64)
                 for ds in datasets]
            )
            comps = var["space"].values if "space" in var.coords else range(var.sizes["space"])
            for j, comp in enumerate(comps):
                columns[f"{name}_{comp}"] = values[:, j]
    index = _state_index(n_states)
    keep = labels != NO_STATE
    kept = labels[keep]
    out = pd.DataFrame(index=index)
    for series, values in columns.items():
        grouped = pd.Series(values[keep]).groupby(kept)
        out[f"{series}_mean"] = grouped.mean().reindex(index).to_numpy(np.float64)
        out[f"{series}_std"] = grouped.std().reindex(index).to_numpy(np.float64)
        out[f"{series}_median"] = grouped.median().reindex(index).to_numpy(np.float64)
    return out


# --------------------------------------------------------------------------- comparisons


def _pair_labels(a: StatesLike, b: StatesLike) -> tuple[IntArray, IntArray]:
    """Concatenate two labelings of the same frames, keeping frames labelled in both."""
    la, lb = np.concatenate(_all_labels(a)), np.concatenate(_all_labels(b))
    if la.size != lb.size:
        raise InvalidStatesError(f"the labelings have {la.size} and {lb.size} frames")
    both = (la != NO_STATE) & (lb != NO_STATE)
    return la[both], lb[both]


def state_agreement(a: StatesLike, b: StatesLike) -> float:
    """Return the adjusted Rand index of two labelings of the same frames.

    Only frames with a state in both are compared. 1.0 means identical up to a renaming
    of the states, about 0 means chance agreement; NaN when no frame is labelled in both.

    Examples
    --------
    >>> import xarray as xr
    >>> state_agreement(xr.DataArray([0, 0, 1, 1], dims="time"),
    ...                 xr.DataArray([1, 1, 0, 0], dims="time"))
    1.0
    """
    from sklearn.metrics import adjusted_rand_score

    la, lb = _pair_labels(a, b)
    if la.size == 0:
        return math.nan
    return float(adjusted_rand_score(la, lb))


def match_states(reference: StatesLike, other: StatesLike, n_states: int,
                 n_other: int | None = None) -> IntArray:
    """Find the renaming of ``other``'s states that best agrees with ``reference``.

    Maximises the number of frames on which the labelings agree (Hungarian assignment on
    the co-occurrence matrix), using frames labelled in both. ``other`` may have a
    different number of states ``n_other`` (two values of K): its states left without a
    partner get the new labels ``n_states, n_states + 1, ...``.

    Returns
    -------
    numpy.ndarray
        int64 of length ``n_other`` (default ``n_states``) with
        ``mapping[other_label] = reference_label``; apply it with :func:`relabel`.

    Examples
    --------
    >>> import xarray as xr
    >>> match_states(xr.DataArray([0, 0, 1, 2], dims="time"),
    ...              xr.DataArray([2, 2, 0, 1], dims="time"), 3).tolist()
    [1, 2, 0]
    """
    n_other = n_states if n_other is None else n_other
    _all_labels(reference, n_states)
    _all_labels(other, n_other)
    ref, oth = _pair_labels(reference, other)
    confusion = np.zeros((n_other, n_states), dtype=np.int64)
    np.add.at(confusion, (oth, ref), 1)
    return _assignment(confusion, maximize=True)


def match_means(reference: npt.ArrayLike, other: npt.ArrayLike) -> IntArray:
    """Rename states of one model after another's by their means (no shared frames needed).

    Hungarian assignment minimising the total Euclidean distance between state means, e.g.
    of two backends, two seeds or two K fitted on the same features. ``reference`` is
    ``(K1, D)``, ``other`` ``(K2, D)`` (e.g. each model's ``means_``); states of ``other``
    without a partner get the labels ``K1, K1 + 1, ...``.

    Returns
    -------
    numpy.ndarray
        int64 ``mapping[other_state] = reference_state``; apply it with :func:`relabel`.

    Examples
    --------
    >>> match_means([[0.0, 0.0], [5.0, 5.0]], [[5.1, 4.9], [0.2, 0.0]]).tolist()
    [1, 0]
    """
    from scipy.spatial.distance import cdist

    ref = np.atleast_2d(np.asarray(reference, dtype=np.float64))
    oth = np.atleast_2d(np.asarray(other, dtype=np.float64))
    if ref.shape[1] != oth.shape[1]:
        raise InvalidStatesError(f"the means have {ref.shape[1]} and {oth.shape[1]} features; "
                                 "they must describe the same features")
    return _assignment(cdist(oth, ref), maximize=False)


def _assignment(cost: npt.NDArray[Any], maximize: bool) -> IntArray:
    """Row → column of an optimal assignment; unassigned rows get new labels after them."""
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(cost, maximize=maximize)
    mapping = np.full(cost.shape[0], -1, dtype=np.int64)
    mapping[rows] = cols
    spare = np.flatnonzero(mapping < 0)
    mapping[spare] = cost.shape[1] + np.arange(spare.size)
    return mapping


def relabel(states: xr.DataArray, mapping: npt.ArrayLike) -> xr.DataArray:
    """Return ``states`` with each label ``k`` replaced by ``mapping[k]``; -1 stays -1.

    Coordinates, name and attributes are kept.

    Examples
    --------
    >>> import xarray as xr
    >>> relabel(xr.DataArray([0, 1, -1], dims="time"), [1, 0]).values.tolist()
    [1, 0, -1]
    """
    table = np.asarray(mapping, dtype=np.int64)
    labels = _labels(states, table.size)
    out = np.where(labels == NO_STATE, NO_STATE, table[np.maximum(labels, 0)])
    return states.copy(data=out)


# --------------------------------------------------------------------------- bundle


def summarize(
    states: StatesLike, n_states: int, fps: float | None = None
) -> dict[str, pd.DataFrame | xr.DataArray]:
    """Return the usual state-sequence summaries in one dictionary.

    Returns
    -------
    dict
        ``"frequencies"`` (:func:`state_frequencies`), ``"dwell_times"``
        (:func:`dwell_times`), ``"bouts"`` (:func:`bouts`), ``"transition_counts"``
        (:func:`transition_counts`) and ``"transition_matrix"`` (:func:`transition_matrix`).

    Examples
    --------
    >>> import xarray as xr
    >>> sorted(summarize(xr.DataArray([0, 1, 1], dims="time"), 2))
    ['bouts', 'dwell_times', 'frequencies', 'transition_counts', 'transition_matrix']
    """
    rate = _resolve_fps(states, fps)
    out: dict[str, Any] = {
        "frequencies": state_frequencies(states, n_states, fps=rate),
        "dwell_times": dwell_times(states, n_states, fps=rate),
        "bouts": bouts(states, fps=rate),
        "transition_counts": transition_counts(states, n_states),
        "transition_matrix": transition_matrix(states, n_states),
    }
    return out


# --------------------------------------------------------------------------- what states mean


class ResultLike(Protocol):
    """What the wrappers below read of a :class:`~faceexpr.pipeline.Result`."""

    @property
    def states(self) -> list[xr.DataArray]: ...
    @property
    def egocentric(self) -> list[xr.Dataset]: ...
    @property
    def model(self) -> StateModel: ...
    @property
    def n_states(self) -> int: ...


def _shot_states(result: ResultLike) -> list[xr.DataArray]:
    """The result's states, carrying the egocentric pose's shot numbers (``segment``)."""
    out = []
    for s, ego in zip(result.states, result.egocentric, strict=True):
        if "segment" in ego.coords and "segment" not in s.coords:
            s = s.assign_coords(segment=("time", np.asarray(ego["segment"].values)))
        out.append(s)
    return out


def state_distances(result: ResultLike) -> StateDistances:
    """How alike the states of a result are: distances between their mean faces and
    between their fitted Gaussians, and a clustering of the states.

    The mean faces are :func:`state_means` of the egocentric (aligned) pose, so the
    mean-face distance (RMS per-landmark Euclidean distance) is in the data's units, e.g.
    mm; the distribution distance is the Bhattacharyya distance between the state model's
    Gaussians in its feature space. See :mod:`faceexpr.similarity`.

    Returns
    -------
    faceexpr.similarity.StateDistances
        ``mean_distance``, ``distribution_distance`` (``(state_a, state_b)``), ``overlap``,
        ``linkage`` and ``order`` (average-linkage clustering on the mean-face distance),
        ``units``; ``to_frame()`` gives one row per pair, ``merges()`` the clustering.

    Examples
    --------
    >>> import faceexpr as fe
    >>> from faceexpr.synthetic.faces import simulate
    >>> sim = simulate(600, n_expressions=3)
    >>> result = fe.Pipeline(n_states=3, progress=False).run(sim.pose3d)
    >>> fe.analysis.state_distances(result).to_frame().shape
    (3, 5)
    """
    faces = state_means(result.egocentric, result.states, result.n_states)
    return similarity_state_distances(faces, result.model.means_, result.model.covars_)


def compare_states(result: ResultLike, a: int, b: int, n_boot: int = 200,
                   seed: int | None = 0, level: float = 0.95) -> StateComparison:
    """Which landmarks differ between the mean faces of states ``a`` and ``b``, by how much.

    The difference is ``mean_b − mean_a`` of the egocentric pose per landmark, with a
    bout-level bootstrap interval of its magnitude (bouts are resampled, not frames: the
    frames of a bout are autocorrelated); bouts end at shot boundaries too. See
    :func:`faceexpr.similarity.compare_states`.

    Returns
    -------
    faceexpr.similarity.StateComparison
        ``table`` (one row per landmark, largest difference first), ``difference``
        ``(landmarks, space)``, ``face_a``, ``face_b``, ``n_bouts`` and ``units``.
    """
    return similarity_compare_states(result.egocentric, _shot_states(result), a, b,
                                     n_boot=n_boot, level=level, random_state=seed)


def bout_sequences(result: ResultLike) -> list[IntArray]:
    """The bout sequences of a result: states of successive bouts, repeats collapsed,
    split at frames without a state, session ends and shot boundaries
    (:func:`faceexpr.sequences.bout_sequence`)."""
    return bout_sequence(_shot_states(result))


def typical_sequences(result: ResultLike, n: int | Sequence[int] = (2, 3, 4),
                      n_perm: int = 1000, seed: int | None = 0) -> pd.DataFrame:
    """Which orders of states occur more often than chance: n-gram counts of the bout
    sequences against a shuffled-bout baseline.

    The baseline shuffles the bouts within each sequence, keeping its bout counts per
    state and never putting a state next to itself; ``above_chance`` holds at a
    Benjamini–Hochberg false discovery rate of 5 % within each ``n``. See
    :mod:`faceexpr.sequences` for the null model.

    Returns
    -------
    pandas.DataFrame
        One row per n-gram that occurs, sorted by ``n`` then count (largest first):
        ``ngram`` (``"0-2-1"``), ``n``, ``count``, ``expected``, ``expected_from_pairs``,
        ``ratio``, ``p_value``, ``q_value``, ``above_chance``
        (:func:`faceexpr.sequences.shuffled_baseline`).
    """
    return shuffled_baseline(bout_sequences(result), n=n, n_perm=n_perm, random_state=seed)


def bout_transitions(result: ResultLike) -> xr.DataArray:
    """Probability that a bout of ``from_state`` is followed by one of ``to_state``
    (never itself), from the bout sequences; NaN rows for states never followed by a bout.

    Returns
    -------
    xarray.DataArray
        ``(from_state, to_state)`` float, ``attrs["n_bouts"]``: bouts of each state
        (a list, for node sizes).
    """
    counts = bout_transition_counts(bout_sequences(result), result.n_states)
    totals = counts.sum("to_state")
    probs = (counts / totals.where(totals > 0)).astype(np.float64)
    probs.name = "bout_transitions"
    seqs = bout_sequences(result)
    labels = np.concatenate(seqs) if seqs else np.zeros(0, np.int64)
    probs.attrs["n_bouts"] = np.bincount(labels, minlength=result.n_states).tolist()
    return probs


def entropy_rates(result: ResultLike) -> pd.DataFrame:
    """How predictable the next state is: entropy rates of the state chains, in bits.

    Rows (index ``level``): ``bout`` (the next bout's state given the current one, from
    the bout sequences; at most ``log2(K − 1)`` bits per bout), ``frame`` (the next
    frame's state, from the frame-to-frame transitions within shots; at most ``log2 K``
    bits per frame, and low because states last many frames) and ``model`` (the fitted
    model's transition matrix at its stationary distribution; NaN when that is not
    unique). Each chain's states are weighted by how often they are left.

    Returns
    -------
    pandas.DataFrame
        Columns ``entropy_bits``, ``max_bits``, ``relative`` (``entropy_bits /
        max_bits``: 1 = no order at all, 0 = fully predictable) and ``n_transitions``.
    """
    k = result.n_states
    pieces = [s.isel(time=slice(lo, hi)) for s in _shot_states(result)
              for lo, hi in segment_bounds(s)]
    rows = []
    for level, counts in (("bout", bout_transition_counts(bout_sequences(result), k)),
                          ("frame", transition_counts(pieces, k))):
        values = np.asarray(counts.values, dtype=np.float64)
        leaving = values.sum(axis=1)
        total = float(leaving.sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            probs = values / leaving[:, None]
        rate = entropy_rate(probs, leaving) if total > 0 else math.nan
        rows.append((level, rate, total))
    try:
        model_rate = entropy_rate(result.model.transmat_)
    except ValueError:  # no unique stationary distribution
        model_rate = math.nan
    rows.append(("model", model_rate, math.nan))
    maxima = {"bout": math.log2(k - 1) if k > 1 else 0.0, "frame": math.log2(k),
              "model": math.log2(k)}
    table = pd.DataFrame(
        {"entropy_bits": [r[1] for r in rows],
         "max_bits": [maxima[r[0]] for r in rows],
         "n_transitions": [r[2] for r in rows]},
        index=pd.Index([r[0] for r in rows], name="level"))
    with np.errstate(divide="ignore", invalid="ignore"):
        table.insert(2, "relative", table["entropy_bits"] / table["max_bits"].where(
            table["max_bits"] > 0))
    return table


@dataclass(frozen=True)
class StateMeaning:
    """What the states of a result mean, computed once for the tables, figures and report:
    how alike they are, where the two most alike differ, their typical orders and how
    predictable the sequence is."""

    distances: StateDistances | None
    """None with a single state."""
    comparison: StateComparison | None
    """The two states nearest in face (None with a single state)."""
    sequences: pd.DataFrame
    """:func:`typical_sequences`."""
    entropy: pd.DataFrame
    """:func:`entropy_rates`."""
    bout_transitions: xr.DataArray
    """:func:`bout_transitions`."""


def state_meaning(result: ResultLike, n_perm: int = 1000, seed: int = 0) -> StateMeaning:
    """Every analysis of what the states mean (:class:`StateMeaning`)."""
    distances = comparison = None
    if result.n_states >= 2:
        distances = state_distances(result)
        closest = distances.to_frame().iloc[0]
        comparison = compare_states(result, int(closest["state_a"]),
                                    int(closest["state_b"]), seed=seed)
    return StateMeaning(distances, comparison,
                        typical_sequences(result, n_perm=n_perm, seed=seed),
                        entropy_rates(result), bout_transitions(result))
