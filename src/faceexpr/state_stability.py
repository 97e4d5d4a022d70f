"""Stability of fitted states: do they come back when the model is fitted again?

A state found once may be a property of the data or an accident of one fit (one
initialisation, a few unusual minutes). :func:`stability` refits the state model many
times and asks, for every state of the reference labelling, whether it reappears:

* on **moving-block bootstrap** resamples (:func:`block_bootstrap`): each sequence is
  rebuilt from blocks of consecutive frames drawn with replacement, so the data vary while
  the dynamics inside a block are kept;
* on the **two halves** of the data (the first half of every sequence, then the second);
* with **other seeds** on all frames (``random_state + 1, + 2, ...``).

Every refit labels *all* the original frames (:meth:`~faceexpr.interfaces.StateModel.predict`);
its states are renamed after the reference states by a Hungarian assignment on the state
means in feature space (:func:`faceexpr.analysis.match_means`), and a reference state
*reappears* when the frames it holds and the frames of its partner overlap with a Jaccard
index of at least ``threshold``. The overall agreement of a refit is the adjusted Rand
index (:func:`faceexpr.analysis.state_agreement`) with the reference labels.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from faceexpr._typing import BoolArray, FloatArray, IntArray
from faceexpr.analysis import match_means, relabel, state_agreement
from faceexpr.data import NO_STATE, as_sequences
from faceexpr.errors import InvalidStatesError, ParameterError
from faceexpr.registry import state_model, state_model_class

__all__ = ["REFIT_KINDS", "Stability", "block_bootstrap", "default_block_frames", "stability"]

REFIT_KINDS: tuple[str, ...] = ("bootstrap", "half", "seed")
"""The kinds of refit, in the order they are run."""

MIN_BLOCK_FRAMES = 20
"""The shortest default bootstrap block (frames)."""

BOUTS_PER_BLOCK = 5
"""The default block holds at least this many mean bouts of the reference labels."""

BLOCKS_PER_RESAMPLE = 5
"""The default block is ``1 / BLOCKS_PER_RESAMPLE`` of all frames (unless bouts are
longer)."""


@dataclass
class Stability:
    """How reproducible the states of one fit are (see :func:`stability`).

    Attributes
    ----------
    per_state
        Indexed by ``state`` (``0..K-1``), with columns ``reappearance`` (fraction of all
        refits, failed ones included, in which the state reappears), ``n_refits``,
        ``jaccard_median`` (median Jaccard index with the matched refit state over the
        refits that ran; NaN when none did), ``mean_face_distance`` (median over the
        refits where the state has a partner with frames of the RMS over landmarks of the
        Euclidean distance between the partner's and the state's mean egocentric face,
        in ``units``; NaN without egocentric poses), ``units`` (of that distance, ``""``
        when unknown) and ``n_frames`` (frames of the state in the reference labels).
    refits
        One row per refit, in the order run: ``kind`` (``"bootstrap"``, ``"half"`` or
        ``"seed"``), ``index`` (within the kind), ``seed`` (the model's
        ``random_state``), ``n_fit_frames`` (frames the refit was fitted on), ``ari``
        (adjusted Rand index with the reference labels on the frames with a state in
        both; NaN when the refit failed), ``n_reappeared`` (reference states that
        reappeared) and ``error`` (``""``, or the exception of a failed refit).
    ari
        Median ARI over the refits that ran (NaN when none did).
    threshold
        Jaccard index at or above which a state counts as reappearing.
    block_frames
        Length of the bootstrap blocks, in frames.
    jaccard
        Jaccard index of every refit (rows, as in ``refits``) and reference state
        (columns ``0..K-1``); NaN for failed refits and states without frames.
    """

    per_state: pd.DataFrame
    refits: pd.DataFrame
    ari: float
    threshold: float
    block_frames: int
    jaccard: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def n_states(self) -> int:
        """Number of reference states ``K``."""
        return len(self.per_state)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary (NaN becomes ``None``).

        Returns
        -------
        dict
            ``per_state`` (one record per state, with its ``state``), ``ari``,
            ``threshold``, ``block_frames``, ``n_refits``, ``n_failed``,
            ``refits_by_kind`` and ``failed_by_kind`` (counts per kind of refit).
        """
        records = [{k: _plain(v) for k, v in rec.items()}
                   for rec in self.per_state.reset_index().to_dict(orient="records")]
        failed = self.refits["error"].astype(str) != ""
        return {
            "per_state": records,
            "ari": _plain(self.ari),
            "threshold": float(self.threshold),
            "block_frames": int(self.block_frames),
            "n_refits": len(self.refits),
            "n_failed": int(failed.sum()),
            "refits_by_kind": {str(k): int(n) for k, n in
                               self.refits["kind"].value_counts(sort=False).items()},
            "failed_by_kind": {str(k): int(n) for k, n in
                               self.refits.loc[failed, "kind"].value_counts(sort=False)
                               .items()},
        }


def _plain(value: Any) -> Any:
    """A number or string as a JSON value: numpy scalars become Python's, NaN ``None``."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(float(value)) else float(value)
    return value


# --------------------------------------------------------------------------- resampling


def default_block_frames(states: Sequence[xr.DataArray]) -> int:
    """Return the default bootstrap block length for a labelling.

    ``max(20, round(n / 5), ceil(5 * mean bout length))`` frames for ``n`` frames in all,
    at most the longest sequence: a resample is drawn from about five blocks, and every
    block holds many bouts, so the dwell times and transitions inside it survive
    resampling. The mean bout length is the number of labelled frames over the number of
    bouts (runs of one state; ``-1`` ends a run). On the 3000-frame synthetic demo this
    is 600 frames; shorter blocks made the weakest state (one expression plus most of the
    transition frames) fail to reappear more often there (10-14% of refits at 60-120
    frames, 5-8% at 300, none of 70 at 600 over seeds 0-4), while plain refits on the
    same frames cut into such blocks all reproduced every state.

    Examples
    --------
    >>> import xarray as xr
    >>> default_block_frames([xr.DataArray(([0] * 10 + [1] * 10) * 30, dims="time")])
    120
    >>> default_block_frames([xr.DataArray([0] * 50 + [1] * 50 + [2] * 500, dims="time")])
    600
    """
    n_frames = n_labelled = n_bouts = 0
    longest = 0
    for s in states:
        labels = np.asarray(s.values, dtype=np.int64)
        n_frames += labels.size
        longest = max(longest, labels.size)
        if labels.size == 0:
            continue
        labelled = labels != NO_STATE
        starts = labelled & np.concatenate([[True], labels[1:] != labels[:-1]])
        n_labelled += int(labelled.sum())
        n_bouts += int(starts.sum())
    mean_bout = n_labelled / n_bouts if n_bouts else 1.0
    block = max(MIN_BLOCK_FRAMES, round(n_frames / BLOCKS_PER_RESAMPLE),
                math.ceil(BOUTS_PER_BLOCK * mean_bout))
    return max(2, min(block, longest))


def block_bootstrap(features: Sequence[xr.DataArray], block_frames: int,
                    rng: np.random.Generator) -> list[xr.DataArray]:
    """Draw one moving-block bootstrap resample of several sequences.

    Each sequence is rebuilt on its own (so every sequence keeps its share of the frames):
    blocks of ``block_frames`` consecutive frames start at positions drawn uniformly with
    replacement (every start from which a whole block fits, so blocks may overlap), until
    the sequence's length is reached; the last block is cut to that length. A sequence
    shorter than ``block_frames`` is one block. The blocks are returned as separate
    sequences, so a model fitted on them learns no transition across a join.

    Parameters
    ----------
    features
        The sequences (each with ``time`` as its first dimension).
    block_frames
        Length of a block, in frames (>= 1).
    rng
        Random generator the block starts are drawn from.

    Returns
    -------
    list of xarray.DataArray
        The blocks, in the order drawn; each is a slice of consecutive frames of one
        input sequence (with its coordinates).
    """
    if block_frames < 1:
        raise ParameterError(f"block_frames must be >= 1, got {block_frames}")
    blocks: list[xr.DataArray] = []
    for seq in features:
        n = int(seq.sizes["time"])
        if n == 0:
            continue
        size = min(block_frames, n)
        drawn = 0
        while drawn < n:
            start = int(rng.integers(0, n - size + 1))
            length = min(size, n - drawn)
            blocks.append(seq.isel(time=slice(start, start + length)))
            drawn += length
    return blocks


def _halves(features: Sequence[xr.DataArray]) -> tuple[list[xr.DataArray], list[xr.DataArray]]:
    """The first and the second half of every sequence."""
    first = [f.isel(time=slice(0, f.sizes["time"] // 2)) for f in features]
    second = [f.isel(time=slice(f.sizes["time"] // 2, None)) for f in features]
    return first, second


# --------------------------------------------------------------------------- checks


def _check_states(states: Sequence[xr.DataArray], features: Sequence[xr.DataArray],
                  n_states: int) -> list[IntArray]:
    if isinstance(states, xr.DataArray):
        states = [states]
    states = list(states)
    if len(states) != len(features):
        raise ParameterError(f"states: got {len(states)} state sequence(s) for "
                             f"{len(features)} feature matrices")
    out = []
    for i, (s, f) in enumerate(zip(states, features, strict=True)):
        if not isinstance(s, xr.DataArray) or s.ndim != 1:
            raise InvalidStatesError(f"states[{i}] must be a 1D (time,) DataArray")
        values = np.asarray(s.values)
        if values.size and not np.issubdtype(values.dtype, np.integer):
            raise InvalidStatesError(f"states[{i}] must hold integer labels, got dtype "
                                     f"{values.dtype}")
        labels = values.astype(np.int64)
        if labels.size != f.sizes["time"]:
            raise ParameterError(f"states[{i}] has {labels.size} frames but features[{i}] "
                                 f"has {f.sizes['time']}")
        if labels.size and (labels.min() < NO_STATE or labels.max() >= n_states):
            raise InvalidStatesError(f"states[{i}] holds labels outside {NO_STATE}.."
                                     f"{n_states - 1} (n_states={n_states})")
        out.append(labels)
    return out


def _check_positions(egocentric: Sequence[xr.Dataset],
                     features: Sequence[xr.DataArray]) -> tuple[FloatArray, str]:
    """Concatenated egocentric positions ``(frames, landmarks, space)`` and their units."""
    if isinstance(egocentric, xr.Dataset):
        egocentric = [egocentric]
    egocentric = list(egocentric)
    if len(egocentric) != len(features):
        raise ParameterError(f"egocentric: got {len(egocentric)} pose Dataset(s) for "
                             f"{len(features)} feature matrices")
    parts = []
    for i, (ds, f) in enumerate(zip(egocentric, features, strict=True)):
        if "position" not in ds or set(ds["position"].dims) != {"time", "landmarks", "space"}:
            raise ParameterError(f"egocentric[{i}] must hold 'position' (time, landmarks, "
                                 "space)")
        if ds.sizes["time"] != f.sizes["time"]:
            raise ParameterError(f"egocentric[{i}] has {ds.sizes['time']} frames but "
                                 f"features[{i}] has {f.sizes['time']}")
        parts.append(np.asarray(ds["position"].transpose("time", "landmarks", "space").values,
                                dtype=np.float64))
    first = egocentric[0]
    units = first.attrs.get("units", first["position"].attrs.get("units", ""))
    return np.concatenate(parts, axis=0), str(units or "")


def _mean_face(positions: FloatArray, frames: BoolArray) -> FloatArray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN landmarks give NaN
        return np.asarray(np.nanmean(positions[frames], axis=0), dtype=np.float64)



def _face_distance(a: FloatArray, b: FloatArray) -> float:
    """RMS over landmarks of the Euclidean distance between two faces ``(landmarks, space)``."""
    squared = np.sum((a - b) ** 2, axis=-1)
    squared = squared[np.isfinite(squared)]
    return float(np.sqrt(squared.mean())) if squared.size else math.nan


# --------------------------------------------------------------------------- main


def _state_means(x: FloatArray, labels: IntArray, n_states: int) -> FloatArray:
    """Mean feature vector of the frames of each state (NaN rows for empty states)."""
    finite = np.isfinite(x).all(axis=1)
    out = np.full((n_states, x.shape[1]), math.nan)
    for k in range(n_states):
        frames = finite & (labels == k)
        if frames.any():
            out[k] = x[frames].mean(axis=0)
    return out


def stability(
    features: Sequence[xr.DataArray],
    states: Sequence[xr.DataArray],
    *,
    backend: str,
    n_states: int,
    model_options: Mapping[str, Any] | None = None,
    egocentric: Sequence[xr.Dataset] | None = None,
    n_resamples: int = 10,
    halves: bool = True,
    seeds: int = 2,
    block_frames: int | None = None,
    threshold: float = 0.5,
    random_state: int | None = 0,
    progress: bool = False,
) -> Stability:
    """Refit the state model many times and report how often each state reappears.

    Parameters
    ----------
    features
        The feature matrices ``(time, features)`` the reference labels were found on
        (e.g. ``result.features``), one per sequence.
    states
        The reference labels (e.g. ``result.states``), one per sequence; ``-1`` = no state.
        Only the labels are needed, not the model that produced them.
    backend
        State-model backend of the refits (e.g. ``"native"``).
    n_states
        Number of states ``K`` of the reference and of every refit.
    model_options
        Further options of the backend (not ``n_states`` or ``random_state``). A backend
        with a ``progress`` option gets ``progress=False`` unless it is given here.
    egocentric
        Egocentric poses (e.g. ``result.egocentric``), one per sequence, for the mean-face
        distance; without them it is NaN.
    n_resamples
        Moving-block bootstrap refits (:func:`block_bootstrap`).
    halves
        Also refit on the first and on the second half of every sequence.
    seeds
        Refits on all frames with the seeds ``random_state + 1 .. random_state + seeds``.
    block_frames
        Length of the bootstrap blocks in frames (>= 2); default
        :func:`default_block_frames` of ``states``.
    threshold
        Jaccard index (``0 < threshold <= 1``) at or above which a state reappears.
    random_state
        Seed of the resampling, and the model seed of the bootstrap and half refits (the
        seed refits add 1, 2, ...). ``None``: a fresh draw.
    progress
        Show a progress bar over the refits.

    Returns
    -------
    Stability
        Per-state reappearance and agreement, one row per refit, the median ARI.

    Raises
    ------
    ParameterError
        A ``ValueError`` naming the parameter: counts below 0, no refit at all, a
        threshold outside ``(0, 1]``, a block shorter than 2 frames, sequences of
        different numbers or lengths, or model options that set ``n_states`` or
        ``random_state``.
    InvalidStatesError, InvalidFeaturesError, BackendOptionError
        For malformed labels or features, or options the backend refuses.

    Notes
    -----
    A refit that raises (e.g. a resample too short for the backend) does not stop the
    others: it is recorded with its error and NaN ARI, counts as "not reappeared" for every
    state, and one warning says how many failed.
    """
    for name, value in (("n_resamples", n_resamples), ("seeds", seeds)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ParameterError(f"{name} must be a whole number >= 0, got {value!r}")
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) \
            or not 0 < threshold <= 1:
        raise ParameterError(f"threshold must be in (0, 1], got {threshold!r}")
    if isinstance(n_states, bool) or not isinstance(n_states, (int, np.integer)) \
            or n_states < 1:
        raise ParameterError(f"n_states must be a whole number >= 1, got {n_states!r}")
    if n_resamples + (2 if halves else 0) + seeds == 0:
        raise ParameterError("n_resamples, halves and seeds ask for no refit at all")
    if block_frames is not None and (isinstance(block_frames, bool)
                                     or not isinstance(block_frames, (int, np.integer))
                                     or block_frames < 2):
        raise ParameterError(f"block_frames must be a whole number >= 2, got {block_frames!r}")
    options = dict(model_options or {})
    taken = {"n_states", "random_state"} & set(options)
    if taken:
        raise ParameterError(f"model_options must not set {sorted(taken)}; they are "
                             "parameters of stability() itself")
    if "progress" in state_model_class(backend).accepted_options():
        options.setdefault("progress", False)
    # options the backend refuses fail here, once, not in every refit
    state_model(backend, n_states=int(n_states), random_state=random_state, **options)

    feats = as_sequences(list(features))
    ref_labels = _check_states(states, feats, int(n_states))
    k_ref = int(n_states)
    positions, units = (_check_positions(egocentric, feats) if egocentric is not None
                        else (None, ""))
    block = int(block_frames) if block_frames is not None else default_block_frames(
        [xr.DataArray(lab, dims="time") for lab in ref_labels])

    x_all = np.concatenate([np.asarray(f.values, dtype=np.float64) for f in feats])
    ref = np.concatenate(ref_labels)
    ref_da = [xr.DataArray(lab, dims="time") for lab in ref_labels]
    ref_means = _state_means(x_all, ref, k_ref)
    present = np.flatnonzero(np.isfinite(ref_means).all(axis=1))
    if present.size == 0:
        raise InvalidStatesError("states: no frame with finite features has a state")
    ref_faces = ([_mean_face(positions, ref == k) for k in range(k_ref)]
                 if positions is not None else [])

    rng = np.random.default_rng(random_state)
    base = int(random_state) if random_state is not None else int(rng.integers(2**31 - 1))
    # the resamples are drawn before any fit, so they depend on random_state alone
    plan: list[tuple[str, int, int, list[xr.DataArray]]] = [
        ("bootstrap", i, base, block_bootstrap(feats, block, rng)) for i in range(n_resamples)]
    if halves:
        plan += [("half", i, base, part) for i, part in enumerate(_halves(feats))]
    plan += [("seed", i, base + 1 + i, feats) for i in range(seeds)]

    rows: list[dict[str, Any]] = []
    jaccard = np.full((len(plan), k_ref), math.nan)
    distances = np.full((len(plan), k_ref), math.nan)
    for r, (kind, index, seed, data) in enumerate(tqdm(plan, desc="stability",
                                                       disable=not progress, leave=False)):
        row: dict[str, Any] = {"kind": kind, "index": index, "seed": seed,
                               "n_fit_frames": int(sum(d.sizes["time"] for d in data)),
                               "ari": math.nan, "n_reappeared": 0, "error": ""}
        try:
            model = state_model(backend, n_states=k_ref, random_state=seed, **options)
            model.fit(data)
            predicted = [model.predict(f) for f in feats]
        except Exception as exc:  # one failed refit must not end the others
            row["error"] = f"{type(exc).__name__}: {exc}"
            rows.append(row)
            continue
        pred = np.concatenate([np.asarray(p.values, dtype=np.int64) for p in predicted])
        other = _state_means(x_all, pred, k_ref)
        empty = ~np.isfinite(other).all(axis=1)
        other[empty] = np.asarray(model.means_, dtype=np.float64)[empty]
        mapping = match_means(ref_means[present], other)
        # positions among the present states back to reference labels; the refit states
        # left without a partner get K, K+1, ... which no reference state has
        matched = mapping < present.size
        table = k_ref + mapping - present.size
        table[matched] = present[mapping[matched]]
        renamed = np.concatenate([np.asarray(relabel(p, table).values, dtype=np.int64)
                                  for p in predicted])
        for k in present:
            a, b = ref == k, renamed == k
            jaccard[r, k] = (a & b).sum() / (a | b).sum()
            if positions is not None and b.any():
                distances[r, k] = _face_distance(_mean_face(positions, b), ref_faces[k])
        row["ari"] = state_agreement(ref_da, predicted)
        row["n_reappeared"] = int((jaccard[r] >= threshold).sum())
        rows.append(row)

    refits = pd.DataFrame(rows, columns=["kind", "index", "seed", "n_fit_frames", "ari",
                                         "n_reappeared", "error"])
    failed = refits["error"] != ""
    if failed.any():
        first = refits.loc[failed, "error"].iloc[0]
        warnings.warn(f"stability: {int(failed.sum())} of {len(refits)} refits failed "
                      f"(first: {first}); they count as not reappeared", RuntimeWarning,
                      stacklevel=2)
    state_index = pd.Index(np.arange(k_ref), name="state")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN
        jaccard_median = np.nanmedian(jaccard, axis=0)
        distance_median = np.nanmedian(distances, axis=0)
    reappeared = np.nan_to_num(jaccard, nan=0.0) >= threshold
    per_state = pd.DataFrame({
        "reappearance": reappeared.mean(axis=0),
        "n_refits": np.full(k_ref, len(plan), dtype=np.int64),
        "jaccard_median": jaccard_median,
        "mean_face_distance": distance_median,
        "units": [units] * k_ref,
        "n_frames": np.bincount(ref[ref >= 0], minlength=k_ref).astype(np.int64),
    }, index=state_index)
    ari = refits["ari"].to_numpy(np.float64)
    ok = np.isfinite(ari)
    return Stability(
        per_state=per_state,
        refits=refits,
        ari=float(np.median(ari[ok])) if ok.any() else math.nan,
        threshold=float(threshold),
        block_frames=block,
        jaccard=pd.DataFrame(jaccard, columns=state_index),
    )
