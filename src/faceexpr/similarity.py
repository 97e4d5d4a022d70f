"""Which states look alike and how two states differ: distances, clustering, comparisons.

Two distances between every pair of states:

*mean-face distance*
    the root mean square, over landmarks, of the Euclidean distance between the two
    states' mean faces (:func:`face_distances`), in the data's units after egocentric
    alignment (mm for 3D data): how far apart the typical faces are, landmark by landmark.
*distribution distance*
    the Bhattacharyya distance between the two fitted Gaussians of the state model, in its
    feature space (:func:`gaussian_distances`): small when the states' frames overlap, so
    that the model tells them apart poorly, whatever their mean faces. It is 0 for identical
    Gaussians and grows without bound; ``exp(-distance)`` (the Bhattacharyya coefficient,
    kept as ``overlap``) is 1 for identical and near 0 for well separated states, and bounds
    the error of telling two equally common states apart by ``overlap / 2``.

The states are clustered hierarchically on the mean-face distance (average linkage,
:func:`cluster`): states whose faces are near-copies join first.

:func:`compare_states` says which landmarks move between two states, by how much, with
bootstrap intervals that resample bouts (frames of one bout are not independent).

Every function takes arrays, DataArrays or Datasets (mean faces, model parameters, the
egocentric pose and the states); :mod:`faceexpr.analysis` has wrappers that take a
:class:`~faceexpr.pipeline.Result`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import xarray as xr

from faceexpr._typing import FloatArray, IntArray
from faceexpr.data import NO_STATE, validate_pose
from faceexpr.errors import InvalidStatesError

__all__ = [
    "StateComparison",
    "StateDistances",
    "cluster",
    "compare_states",
    "face_distances",
    "gaussian_distances",
    "state_distances",
]


# --------------------------------------------------------------------------- distances


def face_distances(faces: xr.DataArray) -> xr.DataArray:
    """Return the RMS per-landmark Euclidean distance between every two mean faces.

    Parameters
    ----------
    faces
        ``(states, landmarks, space)`` mean faces, e.g. :func:`faceexpr.analysis.state_means`
        of the egocentric pose. Landmarks unknown (NaN) in either face are left out of
        that pair's mean.

    Returns
    -------
    xarray.DataArray
        ``(state_a, state_b)``, symmetric with a zero diagonal, in the faces' ``units``;
        NaN for a state without a face.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> faces = xr.DataArray(np.array([[[0.0, 0], [0, 0]], [[3.0, 4], [0, 0]]]),
    ...                      dims=("states", "landmarks", "space"))
    >>> face_distances(faces).values.round(3).tolist()  # sqrt((25 + 0) / 2)
    [[0.0, 3.536], [3.536, 0.0]]
    """
    missing = {"states", "landmarks", "space"} - set(faces.dims)
    if missing:
        raise ValueError(f"faces need dims (states, landmarks, space); missing "
                         f"{sorted(missing)} in {tuple(faces.dims)}")
    values = np.asarray(faces.transpose("states", "landmarks", "space").values, np.float64)
    # squared landmark distances of every pair: (K, K, L)
    sq = np.sum((values[:, None] - values[None, :]) ** 2, axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a state without a face: NaN
        out = np.sqrt(np.nanmean(sq, axis=-1))
    k = values.shape[0]
    known = np.isfinite(values).any(axis=(1, 2))
    out[~known, :] = np.nan
    out[:, ~known] = np.nan
    out[np.arange(k)[known], np.arange(k)[known]] = 0.0
    return _square(out, "mean_distance", faces.attrs.get("units"))


def _full_covariances(covars: npt.ArrayLike, k: int, d: int) -> FloatArray:
    """``(K, D, D)`` matrices from full ``(K, D, D)``, diagonal ``(K, D)`` or tied
    ``(D, D)`` covariances."""
    cov = np.asarray(covars, dtype=np.float64)
    if cov.shape == (k, d, d):
        return cov
    if cov.shape == (k, d):
        return np.stack([np.diag(c) for c in cov])
    if cov.shape == (d, d):
        return np.broadcast_to(cov, (k, d, d)).copy()
    raise ValueError(f"covariances of shape {cov.shape} do not fit {k} means of {d} "
                     f"features: expected ({k}, {d}, {d}), ({k}, {d}) or ({d}, {d})")


def gaussian_distances(means: npt.ArrayLike, covars: npt.ArrayLike) -> xr.DataArray:
    """Return the Bhattacharyya distance between every two Gaussians.

    ``D = (μa − μb)ᵀ Σ⁻¹ (μa − μb) / 8 + ln(det Σ / √(det Σa det Σb)) / 2`` with
    ``Σ = (Σa + Σb) / 2``: the first term separates the means (in units of the shared
    spread), the second the shapes. Symmetric, 0 only for identical Gaussians, and finite
    for any positive-definite covariances (the symmetric Kullback–Leibler divergence, by
    contrast, explodes when one covariance is much narrower than the other).

    Parameters
    ----------
    means
        ``(K, D)`` state means, e.g. ``model.means_``.
    covars
        ``(K, D, D)`` covariances (``model.covars_``: full matrices for every covariance
        type), or diagonal ``(K, D)`` or tied ``(D, D)`` ones.

    Returns
    -------
    xarray.DataArray
        ``(state_a, state_b)`` distances in nats, zero diagonal.

    Raises
    ------
    ValueError
        If the shapes do not fit or a covariance is not positive definite.

    Examples
    --------
    >>> round(float(gaussian_distances([[0.0], [2.0]], [[[1.0]], [[1.0]]])[0, 1]), 3)
    0.5
    """
    mu = np.atleast_2d(np.asarray(means, dtype=np.float64))
    k, d = mu.shape
    cov = _full_covariances(covars, k, d)
    sign, logdet = np.linalg.slogdet(cov)
    if np.any(sign <= 0) or not np.all(np.isfinite(logdet)):
        bad = int(np.flatnonzero((sign <= 0) | ~np.isfinite(logdet))[0])
        raise ValueError(f"the covariance of state {bad} is not positive definite")
    out = np.zeros((k, k))
    for a in range(k):
        for b in range(a + 1, k):
            pooled = (cov[a] + cov[b]) / 2.0
            delta = mu[a] - mu[b]
            s, pooled_logdet = np.linalg.slogdet(pooled)
            mahalanobis = float(delta @ np.linalg.solve(pooled, delta))
            shape = 0.5 * (pooled_logdet - 0.5 * (logdet[a] + logdet[b]))
            # rounding can leave a hair below 0 for near-identical states
            out[a, b] = out[b, a] = max(mahalanobis / 8.0 + shape, 0.0) if s > 0 else math.inf
    return _square(out, "distribution_distance", "nats")


def cluster(distance: xr.DataArray | npt.ArrayLike) -> tuple[FloatArray, list[int]]:
    """Cluster states hierarchically (average linkage) on a square distance matrix.

    States without a distance (NaN rows: no frames) are put at twice the largest finite
    distance from every other state, so they join last.

    Returns
    -------
    linkage : numpy.ndarray
        ``(K - 1, 4)`` :func:`scipy.cluster.hierarchy.linkage` matrix: each row joins two
        clusters (a state ``k < K`` or the cluster made by row ``i``, numbered ``K + i``)
        at a distance, with the size of the new cluster. Empty for one state.
    order : list of int
        The states in dendrogram leaf order (similar states side by side).

    Examples
    --------
    >>> import numpy as np
    >>> d = np.array([[0.0, 1, 5], [1, 0, 5], [5, 5, 0]])
    >>> z, order = cluster(d)
    >>> z[0, :3].tolist(), order
    ([0.0, 1.0, 1.0], [2, 0, 1])
    """
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    values = np.array(distance, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise ValueError(f"the distance matrix must be square, got shape {values.shape}")
    k = values.shape[0]
    if k < 2:
        return np.zeros((0, 4)), list(range(k))
    finite = values[np.isfinite(values)]
    far = 2.0 * float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    values = np.where(np.isfinite(values), values, far)
    np.fill_diagonal(values, 0.0)
    values = (values + values.T) / 2.0
    z = np.asarray(linkage(squareform(values, checks=False), method="average"), np.float64)
    return z, [int(i) for i in leaves_list(z)]


@dataclass(frozen=True)
class StateDistances:
    """How alike the states are (see :mod:`faceexpr.similarity` for the two distances)."""

    mean_distance: xr.DataArray
    """``(state_a, state_b)`` RMS per-landmark distance between the mean faces, in
    :attr:`units`."""
    distribution_distance: xr.DataArray
    """``(state_a, state_b)`` Bhattacharyya distance between the fitted Gaussians (nats)."""
    linkage: FloatArray
    """Average-linkage clustering of :attr:`mean_distance` (see :func:`cluster`)."""
    order: list[int]
    """States in dendrogram leaf order."""
    units: str | None
    """Length unit of :attr:`mean_distance` (the pose's ``units``)."""

    @property
    def n_states(self) -> int:
        """Number of states."""
        return int(self.mean_distance.shape[0])

    @property
    def overlap(self) -> xr.DataArray:
        """Bhattacharyya coefficient ``exp(-distribution_distance)``: 1 for identical
        Gaussians, near 0 for states the model never confuses."""
        out = xr.DataArray(np.exp(-np.asarray(self.distribution_distance.values)),
                           coords=self.distribution_distance.coords,
                           dims=self.distribution_distance.dims, name="overlap")
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per pair of states ``state_a < state_b``: ``mean_distance``,
        ``distribution_distance`` and ``overlap``, the pair nearest in face first."""
        a, b = np.triu_indices(self.n_states, k=1)
        table = pd.DataFrame({
            "state_a": a.astype(np.int64), "state_b": b.astype(np.int64),
            "mean_distance": self.mean_distance.values[a, b],
            "distribution_distance": self.distribution_distance.values[a, b],
            "overlap": self.overlap.values[a, b],
        })
        return table.sort_values(["mean_distance", "state_a", "state_b"],
                                 ignore_index=True)

    def merges(self) -> pd.DataFrame:
        """The clustering in words: one row per merge, in the order they happen, with the
        ``distance`` (average mean-face distance between the two groups, in
        :attr:`units`) and the states of each group (``group_a``, ``group_b``)."""
        groups: list[list[int]] = [[k] for k in range(self.n_states)]
        rows = []
        for i, (left, right, dist, _) in enumerate(self.linkage):
            ga, gb = groups[int(left)], groups[int(right)]
            groups.append(sorted(ga + gb))
            rows.append({"step": i + 1, "group_a": "+".join(map(str, ga)),
                         "group_b": "+".join(map(str, gb)), "distance": float(dist)})
        return pd.DataFrame(rows, columns=["step", "group_a", "group_b", "distance"])


def state_distances(faces: xr.DataArray, means: npt.ArrayLike,
                    covars: npt.ArrayLike) -> StateDistances:
    """Return both distances between every two states and their clustering.

    Parameters
    ----------
    faces
        ``(states, landmarks, space)`` mean faces in the data's units (e.g.
        :func:`faceexpr.analysis.state_means` of the egocentric pose).
    means, covars
        The state model's ``means_`` ``(K, D)`` and ``covars_`` (see
        :func:`gaussian_distances`), in the same state order as ``faces``.

    Returns
    -------
    StateDistances
    """
    k = faces.sizes.get("states", 0)
    if np.atleast_2d(np.asarray(means)).shape[0] != k:
        raise ValueError(f"{k} faces but {np.atleast_2d(np.asarray(means)).shape[0]} means")
    mean_distance = face_distances(faces)
    linkage, order = cluster(mean_distance)
    return StateDistances(mean_distance=mean_distance,
                          distribution_distance=gaussian_distances(means, covars),
                          linkage=linkage, order=order, units=faces.attrs.get("units"))


def _square(values: FloatArray, name: str, units: object) -> xr.DataArray:
    k = values.shape[0]
    return xr.DataArray(values, dims=("state_a", "state_b"),
                        coords={"state_a": np.arange(k), "state_b": np.arange(k)},
                        name=name, attrs={"units": units} if units else {})


# --------------------------------------------------------------------------- comparisons


@dataclass(frozen=True)
class StateComparison:
    """How the mean face of state :attr:`b` differs from that of state :attr:`a`."""

    a: int
    b: int
    table: pd.DataFrame
    """One row per landmark, the largest difference first (index ``rank`` from 1):
    ``landmark``, ``d_x``, ``d_y`` (, ``d_z``) (``b − a``), ``magnitude`` (Euclidean
    length), ``magnitude_lower`` and ``magnitude_upper`` (bootstrap interval)."""
    difference: xr.DataArray
    """``(landmarks, space)`` mean face of ``b`` minus that of ``a``, in :attr:`units`."""
    face_a: xr.DataArray
    """``(landmarks, space)`` mean face of ``a``."""
    face_b: xr.DataArray
    """``(landmarks, space)`` mean face of ``b``."""
    n_bouts: tuple[int, int]
    """Bouts of ``a`` and of ``b`` that the bootstrap resamples."""
    level: float
    n_boot: int
    units: str | None

    def top(self, n: int = 3) -> list[str]:
        """The ``n`` landmarks that differ most."""
        return [str(v) for v in self.table["landmark"].iloc[:n]]


def bout_sums(
    poses: Sequence[xr.Dataset], sessions: Sequence[xr.DataArray], *, at_cuts: bool = True
) -> tuple[IntArray, FloatArray, FloatArray]:
    """State ``(B,)``, sum and count ``(B, landmarks, space)`` of the finite coordinates
    of every bout of all sessions (empty arrays when there is none): what a bout-level
    bootstrap of mean faces resamples.

    A bout ends where the state changes and at a frame without a state (those frames'
    runs are left out); with ``at_cuts`` also at a shot boundary (the ``segment``
    coordinate of the pose or the states)."""
    bout_state, sums, counts = [], [], []
    for pose, states in zip(poses, sessions, strict=True):
        labels = np.asarray(states.values).astype(np.int64)
        if labels.size == 0:
            continue
        change = labels[1:] != labels[:-1]
        for obj in (pose, states) if at_cuts else ():
            if "segment" in obj.coords:
                seg = np.asarray(obj["segment"].values)
                change |= seg[1:] != seg[:-1]
        starts = np.concatenate([[0], np.flatnonzero(change) + 1])
        values = labels[starts]
        keep = values != NO_STATE
        position = np.asarray(pose["position"].transpose("time", "landmarks", "space").values,
                              dtype=np.float64)
        finite = np.isfinite(position)
        sums.append(np.add.reduceat(np.where(finite, position, 0.0), starts, axis=0)[keep])
        counts.append(np.add.reduceat(finite.astype(np.float64), starts, axis=0)[keep])
        bout_state.append(values[keep])
    if not bout_state:
        first = poses[0]["position"]
        shape = (0, first.sizes["landmarks"], first.sizes["space"])
        return np.zeros(0, np.int64), np.zeros(shape), np.zeros(shape)
    return np.concatenate(bout_state), np.concatenate(sums), np.concatenate(counts)


def compare_states(
    egocentric: xr.Dataset | Sequence[xr.Dataset],
    states: xr.DataArray | Sequence[xr.DataArray],
    a: int,
    b: int,
    n_boot: int = 200,
    level: float = 0.95,
    random_state: int | None = 0,
) -> StateComparison:
    """Return which landmarks differ between the mean faces of states ``a`` and ``b``.

    The difference of every landmark is ``mean_b − mean_a`` (frame-weighted means, NaN
    ignored, as :func:`faceexpr.analysis.state_means`). Its interval is a bout-level
    bootstrap: frames of one bout are strongly autocorrelated, so each of the ``n_boot``
    replicates draws the bouts of ``a`` and, independently, those of ``b`` with
    replacement (as many as each has), and the interval is the percentile interval of the
    replicates' magnitudes. A magnitude is a length, never below 0: its interval does not
    reach 0 even for a landmark that does not move, so read it against the landmarks at
    the bottom of the table, whose magnitudes are noise.

    Parameters
    ----------
    egocentric
        Aligned pose Dataset(s) (``position`` ``(time, landmarks, space)``), one per session.
    states
        State sequence(s) ``(time,)`` of the same lengths.
    a, b
        The two states; the difference goes from ``a`` to ``b``.
    n_boot
        Bootstrap replicates.
    level
        Confidence level of the intervals.
    random_state
        Seed of the resampling.

    Returns
    -------
    StateComparison

    Raises
    ------
    faceexpr.errors.InvalidStatesError
        If ``a`` equals ``b``, or either has no frames.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    if a == b:
        raise InvalidStatesError(f"compare two different states, got {a} twice")
    poses = [egocentric] if isinstance(egocentric, xr.Dataset) else list(egocentric)
    sessions = [states] if isinstance(states, xr.DataArray) else list(states)
    if len(poses) != len(sessions):
        raise InvalidStatesError(f"got {len(poses)} pose(s) but {len(sessions)} state "
                                 "sequence(s)")
    for i, (pose, labels) in enumerate(zip(poses, sessions, strict=True)):
        validate_pose(pose, cameras=False)
        if pose.sizes["time"] != labels.size:
            raise InvalidStatesError(f"session {i}: the pose has {pose.sizes['time']} "
                                     f"frames but the states have {labels.size}")
    first = poses[0]["position"].transpose("time", "landmarks", "space")
    landmarks = [str(v) for v in first["landmarks"].values]
    space = [str(v) for v in first["space"].values]
    bout_state, sums, counts = bout_sums(poses, sessions)
    if not len(bout_state):
        raise InvalidStatesError("the states have no frames")
    picked: dict[int, tuple[FloatArray, FloatArray]] = {}
    for state in (a, b):
        mine = bout_state == state
        if not mine.any():
            raise InvalidStatesError(f"state {state} has no frames to compare")
        picked[state] = (sums[mine], counts[mine])
    rng = np.random.default_rng(random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 0/0: a landmark never seen
        face = {s: v[0].sum(axis=0) / v[1].sum(axis=0) for s, v in picked.items()}
        replicate = {}
        for s, (state_sums, state_counts) in picked.items():
            n = len(state_sums)
            draws = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)
            replicate[s] = (np.einsum("rb,bls->rls", draws, state_sums)
                            / np.einsum("rb,bls->rls", draws, state_counts))
        diff = face[b] - face[a]
        magnitude = np.sqrt(np.sum(diff**2, axis=-1))
        boot = np.sqrt(np.sum((replicate[b] - replicate[a]) ** 2, axis=-1))
        tails = [(1.0 - level) / 2.0, (1.0 + level) / 2.0]
        lower, upper = np.nanquantile(boot, tails, axis=0)
    table = pd.DataFrame({"landmark": landmarks})
    for j, axis in enumerate(space):
        table[f"d_{axis}"] = diff[:, j]
    table["magnitude"] = magnitude
    table["magnitude_lower"] = lower
    table["magnitude_upper"] = upper
    table = table.sort_values("magnitude", ascending=False, na_position="last",
                              kind="stable", ignore_index=True)
    table.index = pd.RangeIndex(1, len(table) + 1, name="rank")
    units = poses[0].attrs.get("units")
    attrs = {"units": units} if units else {}

    def face_array(values: FloatArray, name: str) -> xr.DataArray:
        return xr.DataArray(values, dims=("landmarks", "space"),
                            coords={"landmarks": landmarks, "space": space}, name=name,
                            attrs=attrs)

    return StateComparison(
        a=int(a), b=int(b), table=table, difference=face_array(diff, "difference"),
        face_a=face_array(face[a], f"state_{a}"), face_b=face_array(face[b], f"state_{b}"),
        n_bouts=(len(picked[a][0]), len(picked[b][0])), level=level, n_boot=n_boot,
        units=str(units) if units else None)
