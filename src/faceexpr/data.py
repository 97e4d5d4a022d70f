"""The data contract shared by every stage: pose Datasets, feature matrices, state sequences.

A *pose* is an :class:`xarray.Dataset` with

``position``
    float, dims ``(time, landmarks, space)`` or ``(time, cameras, landmarks, space)``;
    ``space`` is ``["x", "y"]`` or ``["x", "y", "z"]``; NaN where unknown.
``confidence``
    float in [0, 1], the same dims without ``space``; NaN where unknown.

Coordinates: ``time`` (seconds when ``fps`` is known, else the frame number), ``frame``
(int, along ``time``), ``landmarks`` (names), ``space`` and optionally ``cameras``.
Attributes: ``fps`` (float or NaN), ``source_software``, ``source_files`` (list of str),
``units`` and ``faceexpr_history`` (list of str, one record per stage that ran).

*Features* are a DataArray ``(time, features)``; *states* a DataArray ``(time,)`` of int
where ``-1`` marks frames without a state (missing data).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import xarray as xr

from faceexpr.errors import InvalidFeaturesError, InvalidPoseError

SPACE_2D = ("x", "y")
SPACE_3D = ("x", "y", "z")
NO_STATE = -1
"""State label of frames that could not be assigned a state (missing data)."""


def _frame_rate(fps: object) -> float | None:
    """``fps`` as a float when it is a usable frame rate (finite, > 0), else ``None``."""
    if isinstance(fps, (int, float, np.number)) and math.isfinite(fps) and fps > 0:
        return float(fps)
    return None


def time_coords(frames: int | npt.ArrayLike, fps: float | None) -> dict[str, Any]:
    """Return the ``time`` and ``frame`` coordinates of ``frames``.

    ``frames`` is a number of frames (numbered from 0) or the frame numbers themselves.
    ``time`` is in seconds when ``fps`` is known, otherwise it equals the frame number.
    """
    frame = (np.arange(frames, dtype=np.int64) if isinstance(frames, int)
             else np.asarray(frames, dtype=np.int64))
    rate = _frame_rate(fps)
    time = frame / rate if rate else frame.astype(np.float64)
    return {"time": time, "frame": ("time", frame)}


def make_pose(
    position: npt.ArrayLike,
    landmarks: Sequence[str],
    confidence: npt.ArrayLike | None = None,
    *,
    fps: float | None = None,
    cameras: Sequence[str] | None = None,
    source_software: str = "unknown",
    source_files: Sequence[str] = (),
    units: str = "pixels",
    frame: npt.ArrayLike | None = None,
) -> xr.Dataset:
    """Build a validated pose Dataset from arrays.

    Parameters
    ----------
    position
        Array of shape ``(time, landmarks, space)``, or ``(time, cameras, landmarks, space)``
        when ``cameras`` is given. ``space`` has length 2 or 3.
    landmarks
        Landmark names, one per entry of the landmarks axis.
    confidence
        Array of the position's shape without ``space``; all ones (finite positions) when
        omitted.
    fps
        Frame rate; ``time`` is in seconds when it is given.
    cameras
        Camera names when ``position`` has a cameras axis.
    source_software, source_files, units
        Stored as attributes.
    frame
        Frame numbers (default ``0..T-1``), e.g. when a file starts at a later frame.

    Returns
    -------
    xarray.Dataset
        The pose, validated by :func:`validate_pose`.

    Examples
    --------
    >>> import numpy as np
    >>> ds = make_pose(np.zeros((10, 2, 2)), ["nose1", "chin"], fps=30.0)
    >>> ds.position.dims
    ('time', 'landmarks', 'space')
    """
    pos = np.asarray(position, dtype=np.float64)
    lm = [str(name) for name in landmarks]
    dims: tuple[str, ...]
    if cameras is None:
        dims = ("time", "landmarks", "space")
    else:
        dims = ("time", "cameras", "landmarks", "space")
    if pos.ndim != len(dims):
        raise InvalidPoseError(
            f"position must have {len(dims)} axes {dims}, got an array of shape {pos.shape}"
        )
    if pos.shape[-1] not in (2, 3):
        raise InvalidPoseError(
            f"the last axis of position (space) must have length 2 or 3, got {pos.shape[-1]}"
        )
    if pos.shape[-2] != len(lm):
        raise InvalidPoseError(
            f"position has {pos.shape[-2]} landmarks but {len(lm)} names were given"
        )
    if confidence is None:
        conf = np.where(np.isfinite(pos).all(axis=-1), 1.0, np.nan)
    else:
        conf = np.asarray(confidence, dtype=np.float64)
    space = SPACE_2D if pos.shape[-1] == 2 else SPACE_3D
    coords = time_coords(pos.shape[0] if frame is None else frame, fps)
    coords["landmarks"] = lm
    coords["space"] = list(space)
    if cameras is not None:
        coords["cameras"] = [str(c) for c in cameras]
    ds = xr.Dataset(
        {"position": (dims, pos), "confidence": (dims[:-1], conf)},
        coords=coords,
        attrs={
            "fps": float(fps) if fps is not None else math.nan,
            "source_software": source_software,
            "source_files": [str(f) for f in source_files],
            "units": units,
            "faceexpr_history": [],
        },
    )
    ds["time"].attrs["units"] = "seconds" if get_fps(ds) else "frames"
    return validate_pose(ds)


def get_fps(ds: xr.Dataset | xr.DataArray) -> float | None:
    """Return the frame rate stored in ``ds.attrs["fps"]``, or ``None`` when unknown."""
    return _frame_rate(ds.attrs.get("fps"))


def validate_pose(
    ds: object,
    *,
    ndim: int | None = None,
    cameras: bool | None = None,
    landmarks: Sequence[str] = (),
) -> xr.Dataset:
    """Check that ``ds`` follows the pose contract and return it.

    Parameters
    ----------
    ds
        The object to check.
    ndim
        Require 2D (``2``) or 3D (``3``) positions.
    cameras
        ``True`` requires a ``cameras`` dim, ``False`` forbids it.
    landmarks
        Landmarks that must be present.

    Raises
    ------
    InvalidPoseError
        Naming what is missing or malformed and what was expected.
    """
    if not isinstance(ds, xr.Dataset):
        raise InvalidPoseError(f"expected an xarray.Dataset pose, got {type(ds).__name__}")
    for var in ("position", "confidence"):
        if var not in ds.data_vars:
            raise InvalidPoseError(
                f"pose has no '{var}' variable (has: {sorted(map(str, ds.data_vars))})"
            )
    pos = ds["position"]
    has_cams = "cameras" in pos.dims
    expected = ("time", "cameras", "landmarks", "space") if has_cams else (
        "time", "landmarks", "space")
    if pos.dims != expected:
        raise InvalidPoseError(f"position has dims {pos.dims}, expected {expected}")
    if ds["confidence"].dims != expected[:-1]:
        raise InvalidPoseError(
            f"confidence has dims {ds['confidence'].dims}, expected {expected[:-1]}"
        )
    space = tuple(str(s) for s in ds["space"].values)
    if space not in (SPACE_2D, SPACE_3D):
        raise InvalidPoseError(f"space coordinate is {list(space)}, expected ['x','y'] or "
                               "['x','y','z']")
    if not np.issubdtype(pos.dtype, np.floating):
        raise InvalidPoseError(f"position must hold floats, got dtype {pos.dtype}")
    names = [str(n) for n in ds["landmarks"].values]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise InvalidPoseError(f"landmark names are not unique: {dup}")
    if "frame" not in ds.coords:
        raise InvalidPoseError("pose has no 'frame' coordinate along time")
    if ndim is not None and len(space) != ndim:
        raise InvalidPoseError(f"expected {ndim}D positions, got {len(space)}D")
    if cameras is True and not has_cams:
        raise InvalidPoseError("expected a pose with a 'cameras' dim (one 2D view per camera)")
    if cameras is False and has_cams:
        raise InvalidPoseError(
            "this stage takes a single-view pose; got a 'cameras' dim "
            f"({list(map(str, ds['cameras'].values))}): triangulate it or select one camera"
        )
    missing = [lm for lm in landmarks if lm not in names]
    if missing:
        raise InvalidPoseError(f"pose lacks landmark(s) {missing}; it has {names}")
    return ds


def n_spatial_dims(ds: xr.Dataset) -> int:
    """Return 2 or 3, the number of spatial coordinates of a pose."""
    return int(ds.sizes["space"])


def with_history(obj: xr.Dataset, step: str, **params: Any) -> xr.Dataset:
    """Return ``obj`` with a record of ``step`` (and its parameters) appended to its history."""
    record = json.dumps({"step": step, **{k: _jsonable(v) for k, v in params.items()}})
    history = list(obj.attrs.get("faceexpr_history", []))
    out = obj.copy()
    out.attrs = dict(obj.attrs)
    out.attrs["faceexpr_history"] = [*history, record]
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    return str(value)


def make_features(
    values: npt.ArrayLike, names: Sequence[str], time: npt.ArrayLike | None = None
) -> xr.DataArray:
    """Build a feature matrix DataArray ``(time, features)``."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != len(names):
        raise InvalidFeaturesError(
            f"features must be a (time, {len(names)}) array, got shape {arr.shape}"
        )
    t = np.arange(arr.shape[0], dtype=np.float64) if time is None else np.asarray(time)
    return xr.DataArray(arr, dims=("time", "features"),
                        coords={"time": t, "features": [str(n) for n in names]})


def validate_features(features: object) -> xr.DataArray:
    """Check that ``features`` is a 2D ``(time, features)`` float DataArray and return it."""
    if not isinstance(features, xr.DataArray):
        raise InvalidFeaturesError(
            f"expected an xarray.DataArray of features, got {type(features).__name__}"
        )
    if features.dims != ("time", "features"):
        raise InvalidFeaturesError(
            f"features have dims {features.dims}, expected ('time', 'features')"
        )
    if features.sizes["features"] == 0:
        raise InvalidFeaturesError("features have no columns")
    if "features" not in features.coords:
        raise InvalidFeaturesError("features have no 'features' coordinate (column names)")
    if np.isinf(features.values).any():
        bad = [str(n) for n in features["features"].values[np.isinf(features.values).any(0)]]
        raise InvalidFeaturesError(f"features contain infinite values in {bad}")
    return features


def as_sequences(features: xr.DataArray | Sequence[xr.DataArray]) -> list[xr.DataArray]:
    """Return ``features`` as a list of validated feature matrices with the same columns."""
    seqs = [features] if isinstance(features, xr.DataArray) else list(features)
    if not seqs:
        raise InvalidFeaturesError("no feature sequences given")
    seqs = [validate_features(s) for s in seqs]
    names = list(seqs[0]["features"].values)
    for i, s in enumerate(seqs[1:], start=1):
        if list(s["features"].values) != names:
            raise InvalidFeaturesError(
                f"sequence {i} has different feature columns than sequence 0"
            )
    return seqs
