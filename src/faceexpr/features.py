"""From egocentric poses to the feature matrix a state model is fitted on.

Features are an ``xarray.DataArray`` ``(time, features)`` with names such as
``"lefteye1_x"`` or ``"head_speed"``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from faceexpr._arrays import working_float
from faceexpr._typing import FloatArray
from faceexpr.data import get_fps, make_features, validate_features, validate_pose
from faceexpr.errors import InvalidFeaturesError, InvalidPoseError
from faceexpr.preprocess import apply_by_segments

if TYPE_CHECKING:  # scikit-learn and scipy.signal are imported where used (a second each)
    from sklearn.decomposition import PCA


def _derivative(values: FloatArray, dt: float, order: int, window: int,
                polyorder: int) -> FloatArray:
    from scipy.signal import savgol_filter

    def func(x: FloatArray) -> FloatArray:
        return np.asarray(savgol_filter(x, window, polyorder, deriv=order, delta=dt,
                                        mode="interp"))
    return apply_by_segments(values, func, window, keep_short=False)


def head_kinematics(pose: xr.Dataset, window: int = 7, polyorder: int = 2) -> xr.Dataset:
    """Head position, velocity, acceleration and speed (and angular speed when known).

    Derivatives are Savitzky–Golay derivatives (``scipy.signal.savgol_filter``), computed
    gap by gap, in units per second when the pose has ``fps`` (else per frame).

    Parameters
    ----------
    pose
        An egocentric pose from :func:`faceexpr.preprocess.egocentric` (it holds
        ``head_position`` and, when aligned, ``head_angles``).
    window, polyorder
        Savitzky–Golay window (odd, frames) and polynomial order.

    Returns
    -------
    xarray.Dataset
        ``head_position``, ``head_velocity``, ``head_acceleration`` ``(time, space)``,
        ``head_speed`` ``(time,)``; with angles also ``head_angles`` and
        ``head_angular_speed`` (degrees per unit time).
    """
    validate_pose(pose)
    if "head_position" not in pose:
        raise InvalidPoseError(
            "pose has no 'head_position': run faceexpr.preprocess.egocentric() first")
    fps = get_fps(pose)
    dt = 1.0 / fps if fps else 1.0
    head = np.asarray(pose["head_position"].values, dtype=np.float64)
    vel = _derivative(head, dt, 1, window, polyorder)
    acc = _derivative(head, dt, 2, window, max(polyorder, 2))
    out = xr.Dataset(
        {
            "head_position": (("time", "space"), head),
            "head_velocity": (("time", "space"), vel),
            "head_acceleration": (("time", "space"), acc),
            "head_speed": (("time",), np.linalg.norm(vel, axis=1)),
        },
        coords={"time": pose["time"].values, "frame": ("time", pose["frame"].values),
                "space": pose["space"].values},
        attrs={"fps": fps if fps else np.nan,
               "time_unit": "s" if fps else "frame", "units": pose.attrs.get("units", "")},
    )
    if "head_angles" in pose:
        ang = np.radians(np.asarray(pose["head_angles"].values, dtype=np.float64))
        good = np.isfinite(ang).all(axis=1)
        # unwrap the frames with angles only: np.unwrap spreads a NaN to every later frame
        ang[good] = np.unwrap(ang[good], axis=0)
        ang_vel = np.degrees(_derivative(ang, dt, 1, window, polyorder))
        out["head_angles"] = pose["head_angles"]
        out["head_angular_speed"] = (("time",), np.linalg.norm(ang_vel, axis=1))
        if "head_angle_frame" in pose.attrs:
            out.attrs["head_angle_frame"] = pose.attrs["head_angle_frame"]
    return out


def feature_matrix(
    pose: xr.Dataset,
    landmarks: Sequence[str] | None = None,
    kinematics: xr.Dataset | None = None,
    kinematic_features: Sequence[str] = ("head_speed",),
    drop_constant: bool = True,
) -> xr.DataArray:
    """Flatten landmark coordinates (and optional kinematics) into ``(time, features)``.

    Parameters
    ----------
    pose
        Single-view pose, usually egocentric.
    landmarks
        Landmarks to use (default: all).
    kinematics
        Output of :func:`head_kinematics` to append columns from.
    kinematic_features
        Scalar variables of ``kinematics`` to append (e.g. ``"head_speed"``).
    drop_constant
        Drop columns that never vary (e.g. the egocentric reference, always 0).
    """
    validate_pose(pose, cameras=False, landmarks=landmarks or ())
    sel = pose["position"] if landmarks is None else pose["position"].sel(
        landmarks=list(landmarks))
    t, n_lm, d = sel.shape
    names = [f"{lm}_{ax}" for lm in sel["landmarks"].values for ax in sel["space"].values]
    extra = list(kinematic_features) if kinematics is not None else []
    for var in extra:
        assert kinematics is not None
        if var not in kinematics or kinematics[var].dims != ("time",):
            raise InvalidFeaturesError(
                f"kinematics have no scalar variable '{var}' "
                f"(have: {sorted(map(str, kinematics.data_vars))})")
    # the coordinates keep their precision (float32 poses give float32 features: half the
    # memory of long recordings); filled into one array, not stacked column by column
    values = np.empty((t, n_lm * d + len(extra)), dtype=working_float(sel.dtype))
    values[:, : n_lm * d] = np.asarray(sel.values).reshape(t, n_lm * d)
    for j, var in enumerate(extra):
        assert kinematics is not None
        values[:, n_lm * d + j] = kinematics[var].values
        names.append(var)
    feats = make_features(values, names, time=pose["time"].values)
    feats.attrs["fps"] = pose.attrs.get("fps", np.nan)
    return drop_constant_columns([feats])[0] if drop_constant else feats


def mean_variance(features: Sequence[xr.DataArray]) -> float | None:
    """The mean over columns of each column's variance, pooled over the frames of every
    recording whose features are all finite (None with fewer than 2 such frames): the
    scale of the features, in their own units squared."""
    rows = [np.asarray(f.values, dtype=np.float64) for f in features]
    rows = [r[np.isfinite(r).all(axis=1)] for r in rows]
    n = sum(len(r) for r in rows)
    if n < 2 or not rows[0].shape[1]:
        return None
    mean = sum(r.sum(axis=0) for r in rows) / n
    var = sum(((r - mean) ** 2).sum(axis=0) for r in rows) / (n - 1)
    return float(np.mean(var))


def drop_constant_columns(features: Sequence[xr.DataArray]) -> list[xr.DataArray]:
    """Drop the columns that never vary (or are all NaN) in any of the feature matrices.

    The same columns are dropped from every matrix, so they keep matching names.
    """
    highs, lows = [], []
    for f in features:
        v = validate_features(f).values
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: dropped below
            highs.append(np.nanmax(v, axis=0, initial=-np.inf))
            lows.append(np.nanmin(v, axis=0, initial=np.inf))
    with np.errstate(invalid="ignore"):
        spread = np.max(highs, axis=0) - np.min(lows, axis=0)
    keep = np.flatnonzero(np.isfinite(spread) & (spread > 1e-9))
    if all(len(keep) == f.sizes["features"] for f in features):
        return list(features)  # nothing to drop: no copy
    return [f.isel(features=keep) for f in features]


BLOCK_ROWS = 65_536
"""Rows per block of the pooled statistics and projections (bounds their scratch memory)."""


def _blocks(features: Sequence[xr.DataArray]) -> Iterator[FloatArray]:
    for f in features:
        v = np.asarray(f.values)
        for a in range(0, len(v), BLOCK_ROWS):
            yield v[a : a + BLOCK_ROWS]


class Standardizer:
    """Z-score features with statistics pooled over all sequences (ignoring NaN)."""

    def fit(self, features: Sequence[xr.DataArray]) -> Standardizer:
        """Learn column means and standard deviations."""
        for f in features:
            validate_features(f)
        self.names_ = [str(n) for n in features[0]["features"].values]
        # two passes over row blocks in float64 (mean, then squared deviations): the
        # numbers of numpy's nanmean/nanstd without a copy of all the frames
        d = features[0].sizes["features"]
        count, total = np.zeros(d), np.zeros(d)
        for block in _blocks(features):
            count += np.isfinite(block).sum(axis=0)
            total += np.nansum(block, axis=0, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.mean_ = total / count
        squares = np.zeros(d)
        for block in _blocks(features):
            squares += np.nansum((block - self.mean_) ** 2, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            std = np.sqrt(squares / count)
        self.scale_ = np.where(std > 0, std, 1.0)  # a constant column stays 0, not NaN
        return self

    def transform(self, features: xr.DataArray) -> xr.DataArray:
        """Return ``(features - mean) / std`` (in the features' own float precision)."""
        v = np.asarray(features.values)
        dtype = working_float(v.dtype)
        data = np.subtract(v, self.mean_, dtype=dtype)
        data /= self.scale_.astype(dtype)
        out = features.copy(data=data)
        out.attrs["standardized"] = 1
        return out


def standardize(features: Sequence[xr.DataArray]) -> list[xr.DataArray]:
    """Z-score a list of feature matrices with pooled statistics."""
    scaler = Standardizer().fit(features)
    return [scaler.transform(f) for f in features]


def reduce_pca(
    features: Sequence[xr.DataArray], n_components: int | float, random_state: int | None = 0
) -> tuple[list[xr.DataArray], PCA]:
    """Project feature matrices on their principal components (``sklearn`` PCA).

    ``n_components`` is a number of components, or a fraction of variance to keep. PCA is
    fitted on the finite rows of all sequences together; rows with NaN stay NaN.

    Every output keeps the input's attrs and adds ``explained_variance_ratio`` (a list of
    floats, one per component: the fraction of the variance each explains).
    :func:`component_loadings` turns the returned PCA into landmark displacements.
    """
    from sklearn.decomposition import PCA

    values = [np.asarray(validate_features(f).values) for f in features]
    finite = [np.isfinite(v).all(1) for v in values]
    if sum(int(ok.sum()) for ok in finite) < 2:
        raise InvalidFeaturesError("PCA needs at least 2 frames with all features finite")
    # one array of the finite rows (no copy when that is all of one recording)
    whole = len(values) == 1 and bool(finite[0].all())
    rows = values[0] if whole else np.concatenate([v[ok] for v, ok in zip(values, finite)])
    # sklearn may copy its input; our own concatenation need not be copied again
    pca = PCA(n_components=n_components, random_state=random_state, copy=whole).fit(rows)
    del rows
    return [project_pca(f, pca) for f in features], pca


def project_pca(features: xr.DataArray, pca: PCA) -> xr.DataArray:
    """``features`` on the components of a fitted PCA (``pc1``, ``pc2``, ...), block by
    block (sklearn's transform copies and centres its input); rows with NaN stay NaN. The
    output keeps the input's attrs and adds ``explained_variance_ratio``."""
    x = np.asarray(features.values)
    ok = np.isfinite(x).all(1)
    proj = np.full((len(x), pca.n_components_), np.nan)
    for a in range(0, len(x), BLOCK_ROWS):
        part = ok[a : a + BLOCK_ROWS]
        if part.any():
            idx = np.flatnonzero(part) + a
            proj[idx] = pca.transform(x[idx])
    names = [f"pc{i + 1}" for i in range(pca.n_components_)]
    out = make_features(proj, names, time=features["time"].values)
    out.attrs = dict(features.attrs)
    # a list, not an array: netCDF attrs and JSON keep it as it is
    out.attrs["explained_variance_ratio"] = [float(r) for r in pca.explained_variance_ratio_]
    return out


def component_loadings(
    pca: PCA,
    feature_names: Sequence[str],
    scale: Sequence[float] | FloatArray | None = None,
    space: Sequence[str] = ("x", "y", "z"),
) -> xr.DataArray:
    """What each principal component does to the face: landmark displacements.

    Parameters
    ----------
    pca
        A fitted ``sklearn.decomposition.PCA``, e.g. the second value of
        :func:`reduce_pca`.
    feature_names
        Names of the columns the PCA was fitted on, in order (``"lefteye1_x"``...).
        Columns that are not ``<landmark>_<axis>`` with an axis in ``space`` (kinematic
        features such as ``"head_speed"``) are left out.
    scale
        Standard deviation of every column when the PCA was fitted on standardized
        features (:attr:`Standardizer.scale_`), to give the displacements in the data's
        units; ``None`` when the columns were not standardized.
    space
        Names of the spatial axes that end a landmark column's name.

    Returns
    -------
    xarray.DataArray
        ``(components, landmarks, space)``, coords ``components`` ``"pc1"``...: the
        displacement of every landmark, in the data's units, when the component's score
        rises by one standard deviation (the eigenvector times the square root of its
        variance, times ``scale``). A landmark axis without a column (a constant one,
        dropped) is 0. attrs ``explained_variance_ratio`` (list of floats) and
        ``other_share``: the part of each component (squared weights of its unit-length
        eigenvector) on columns that are not landmark coordinates.

    Raises
    ------
    InvalidFeaturesError
        If ``feature_names`` or ``scale`` does not match the PCA's columns, or no column
        is a landmark coordinate.
    """
    components = np.asarray(pca.components_, dtype=np.float64)
    names = [str(n) for n in feature_names]
    if len(names) != components.shape[1]:
        raise InvalidFeaturesError(
            f"the PCA was fitted on {components.shape[1]} columns but {len(names)} feature "
            "names were given")
    factor = np.ones(len(names)) if scale is None else np.asarray(scale, dtype=np.float64)
    if factor.shape != (len(names),):
        raise InvalidFeaturesError(
            f"scale has {factor.size} values for {len(names)} feature columns")
    axes = [str(a) for a in space]
    columns: list[tuple[int, str, str]] = []
    for j, name in enumerate(names):
        landmark, _, axis = name.rpartition("_")
        if landmark and axis in axes:
            columns.append((j, landmark, axis))
    if not columns:
        raise InvalidFeaturesError(
            f"no feature column is a landmark coordinate '<landmark>_<axis>' with an axis "
            f"in {axes} (columns: {names[:5]}...)")
    landmarks = list(dict.fromkeys(lm for _, lm, _ in columns))
    used = [a for a in axes if any(ax == a for _, _, ax in columns)]
    # per unit score the columns move by the eigenvector (times the standardizer's scale);
    # one standard deviation of the score is sqrt(explained variance)
    per_sd = (components * factor[None, :]
              * np.sqrt(np.asarray(pca.explained_variance_, dtype=np.float64))[:, None])
    values = np.zeros((len(components), len(landmarks), len(used)))
    lm_index = {lm: i for i, lm in enumerate(landmarks)}
    for j, landmark, axis in columns:
        values[:, lm_index[landmark], used.index(axis)] = per_sd[:, j]
    # how much of each (unit-length) eigenvector is on the other columns (head_speed...)
    rest = np.ones(len(names), dtype=bool)
    rest[[j for j, _, _ in columns]] = False
    other = np.sum(components[:, rest] ** 2, axis=1)
    return xr.DataArray(
        values, dims=("components", "landmarks", "space"),
        coords={"components": [f"pc{i + 1}" for i in range(len(components))],
                "landmarks": landmarks, "space": used},
        name="loadings",
        attrs={"explained_variance_ratio": [float(r) for r in pca.explained_variance_ratio_],
               "other_share": [float(v) for v in other],
               "meaning": "landmark displacement per standard deviation of the component"},
    )

