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

import itertools
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from faceexpr._arrays import working_float
from faceexpr.errors import InvalidFeaturesError, InvalidPoseError

if TYPE_CHECKING:  # xarray is imported where it is used: `faceexpr --help` stays fast
    import xarray as xr

SPACE_2D = ("x", "y")
SPACE_3D = ("x", "y", "z")
NO_STATE = -1
"""State label of frames that could not be assigned a state (missing data)."""
DROP_REASONS = ("kept", "no-face", "other-person", "low-quality", "too-turned", "cut")
"""Why a video frame has no landmarks: the codes of a pose's optional ``dropped`` variable
(``int8`` along ``time``; its ``flag_meanings`` attribute lists these names, index = code).
``kept`` (0): the frame has landmarks; ``no-face``: no face detected (and none tracked);
``other-person``: faces were found but none is the target; ``low-quality``: the landmark
fit was implausible; ``too-turned``: the head turned beyond ``max_yaw_deg`` /
``max_pitch_deg``; ``cut``: a track was not carried across a shot cut."""


def _frame_rate(fps: object) -> float | None:
    """``fps`` as a float when it is a usable frame rate (finite, > 0), else ``None``."""
    if isinstance(fps, np.ndarray) and fps.ndim == 0:
        fps = fps.item()
    if (isinstance(fps, (int, float, np.integer, np.floating))
            and not isinstance(fps, (bool, np.bool_)) and math.isfinite(fps) and fps > 0):
        return float(fps)
    return None


def check_fps(fps: object, what: str = "fps") -> float | None:
    """Return a frame rate as a float, ``None`` when unknown (``None`` or NaN).

    ``what`` names the value in the message (e.g. ``"the fps attribute"``).

    Raises
    ------
    InvalidPoseError
        When ``fps`` is not a number, or is zero, negative or infinite: a frame rate
        that would turn frame numbers into wrong (or no) seconds.
    """
    if isinstance(fps, np.ndarray) and fps.ndim == 0:
        fps = fps.item()
    if fps is None or (isinstance(fps, (float, np.floating)) and math.isnan(fps)):
        return None
    rate = _frame_rate(fps)
    if rate is None:
        if isinstance(fps, np.generic):
            fps = fps.item()
        shown = f"{fps!r}" if isinstance(fps, (int, float)) else (
            f"{type(fps).__name__} {str(fps)[:40]!r}")
        raise InvalidPoseError(f"{what} is {shown}; expected a frame rate in frames per "
                               "second: a positive finite number (NaN when unknown)")
    return rate


def time_coords(frames: int | npt.ArrayLike, fps: float | None) -> dict[str, Any]:
    """Return the ``time`` and ``frame`` coordinates of ``frames``.

    ``frames`` is a number of frames (numbered from 0) or the frame numbers themselves.
    ``time`` is in seconds when ``fps`` is known, otherwise it equals the frame number.
    """
    frame = (np.arange(frames, dtype=np.int64) if isinstance(frames, int)
             else _whole_numbers(frames, "frame numbers"))
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
    import xarray as xr

    pos = _numbers(position, "position")
    lm = [str(name) for name in landmarks]
    rate = check_fps(fps)
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
        conf = _numbers(confidence, "confidence")
    space = SPACE_2D if pos.shape[-1] == 2 else SPACE_3D
    coords = time_coords(pos.shape[0] if frame is None else frame, rate)
    coords["landmarks"] = lm
    coords["space"] = list(space)
    if cameras is not None:
        coords["cameras"] = [str(c) for c in cameras]
    ds = xr.Dataset(
        {"position": (dims, pos), "confidence": (dims[:-1], conf)},
        coords=coords,
        attrs={
            "fps": rate if rate is not None else math.nan,
            "source_software": source_software,
            "source_files": [str(f) for f in source_files],
            "units": units,
            "faceexpr_history": [],
        },
    )
    ds["time"].attrs["units"] = "seconds" if get_fps(ds) else "frames"
    return validate_pose(ds)


def _numbers(values: npt.ArrayLike, what: str) -> npt.NDArray[np.float64]:
    """``values`` as float64; an error for text or objects, which NumPy would coerce."""
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError) as exc:  # ragged nested sequences
        raise InvalidPoseError(f"{what} is not an array of numbers: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise InvalidPoseError(f"{what} must hold numbers, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def _whole_numbers(values: npt.ArrayLike, what: str) -> npt.NDArray[np.int64]:
    """``values`` as int64 after checking that they are finite whole numbers."""
    arr = _numbers(values, what)
    bad = ~np.isfinite(arr) | (arr != np.round(arr)) | (np.abs(arr) > 2.0**53)
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise InvalidPoseError(f"{what} must be whole numbers, got {arr.ravel()[i]} at "
                               f"index {i}")
    return arr.astype(np.int64)


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

    Besides the dims and coordinates it checks the values: position and confidence hold
    floats (every other variable along time numbers), no position or confidence is
    infinite, the ``frame`` numbers are whole and increase (no frame twice), ``time`` is
    finite, and the ``fps`` attribute is a positive finite frame rate or NaN (unknown).
    The attributes ``source_files`` and ``faceexpr_history`` are lists of strings,
    ``source_software`` and ``units`` strings. A confidence outside [0, 1] is not
    refused here (readers warn of it, see :func:`confidence_outside`).

    Raises
    ------
    InvalidPoseError
        Naming what is missing or malformed (the frame and landmark of a bad value) and
        what was expected.
    """
    import xarray as xr

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
    for var in ("position", "confidence"):
        if not np.issubdtype(ds[var].dtype, np.floating):
            raise InvalidPoseError(f"{var} must hold floats, got dtype {ds[var].dtype}")
    names = [str(n) for n in ds["landmarks"].values]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise InvalidPoseError(f"landmark names are not unique: {dup}")
    if has_cams:
        cams = [str(c) for c in ds["cameras"].values]
        if len(set(cams)) != len(cams):
            dup = sorted({c for c in cams if cams.count(c) > 1})
            raise InvalidPoseError(f"camera names are not unique: {dup}")
    if "frame" not in ds.coords:
        raise InvalidPoseError("pose has no 'frame' coordinate along time")
    _check_values(ds)
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


_CONFIDENCE_SLACK = 1e-6
"""How far a confidence may stray out of [0, 1] by rounding (e.g. a mean of scores)."""


def _check_values(ds: xr.Dataset) -> None:
    """The value checks of :func:`validate_pose`: attributes, dtypes, frame order,
    infinities."""
    check_fps(ds.attrs.get("fps"), "the fps attribute")
    for key in ("source_files", "faceexpr_history"):
        value = ds.attrs.get(key, [])
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise InvalidPoseError(f"the {key} attribute must be a list of strings, got "
                                   f"{type(value).__name__} {str(value)[:40]!r}")
    for key in ("source_software", "units"):
        if not isinstance(ds.attrs.get(key, ""), str):
            raise InvalidPoseError(f"the {key} attribute must be a string, got "
                                   f"{str(ds.attrs[key])[:40]!r}")
    frame = ds["frame"]
    if frame.dims != ("time",) or frame.dtype.kind not in "iu":
        raise InvalidPoseError(f"the frame coordinate must be whole numbers along time, got "
                               f"dims {frame.dims} of dtype {frame.dtype}")
    frames = frame.values.astype(np.int64)
    back = np.flatnonzero(np.diff(frames) <= 0)
    if back.size:
        k = int(back[0])
        raise InvalidPoseError(
            f"frame {frames[k + 1]} follows frame {frames[k]} (time index {k + 1}): frame "
            "numbers must increase, each frame once")
    time = ds["time"]
    if (time.dims != ("time",) or time.dtype.kind not in "iuf"
            or not np.isfinite(time.values).all()):
        raise InvalidPoseError(f"the time coordinate must hold finite numbers along time, "
                               f"got dims {time.dims} of dtype {time.dtype}")
    for name, var in ds.data_vars.items():
        if "time" in var.dims and var.dtype.kind not in "biuf":
            raise InvalidPoseError(f"variable '{name}' must hold numbers, got dtype "
                                   f"{var.dtype}")
    pos = ds["position"].values
    if np.isinf(pos).any():
        at = _where(ds, np.isinf(pos).any(axis=-1))
        raise InvalidPoseError(f"position is infinite at {at}; expected finite coordinates "
                               "(NaN where unknown)")
    conf = ds["confidence"].values
    if np.isinf(conf).any():
        value = conf[np.unravel_index(int(np.flatnonzero(np.isinf(conf))[0]), conf.shape)]
        raise InvalidPoseError(f"confidence is {value} at {_where(ds, np.isinf(conf))}; "
                               "expected a value in [0, 1] (NaN where unknown)")


def confidence_outside(ds: xr.Dataset) -> str | None:
    """Describe the first confidence of a pose outside [0, 1] (``"confidence 5.0 at frame
    3, landmark 'nose1' (12 value(s))"``), or None when every one is in [0, 1] or NaN.

    A reader warns with it: the positions of such a pose are usable, but its confidence
    is not a likelihood, so a confidence threshold means nothing on it.
    """
    conf = ds["confidence"].values
    bad = (conf < -_CONFIDENCE_SLACK) | (conf > 1 + _CONFIDENCE_SLACK)
    if not bad.any():
        return None
    value = conf[np.unravel_index(int(np.flatnonzero(bad)[0]), bad.shape)]
    return f"confidence {value} at {_where(ds, bad)} ({int(bad.sum())} value(s))"


def warn_confidence(ds: xr.Dataset, path: object) -> None:
    """Warn (naming ``path``) when a pose read from a file has a confidence outside
    [0, 1] (see :func:`confidence_outside`)."""
    found = confidence_outside(ds)
    if found is not None:
        warnings.warn(f"{path}: {found} is outside [0, 1]: not a likelihood, so a "
                      "confidence threshold means nothing on this file", UserWarning,
                      stacklevel=3)


def _where(ds: xr.Dataset, mask: npt.NDArray[np.bool_]) -> str:
    """Name the first True entry of a ``(time, [cameras,] landmarks)`` mask."""
    index = np.unravel_index(int(np.flatnonzero(mask)[0]), mask.shape)
    parts = [f"frame {int(ds['frame'].values[index[0]])}"]
    if mask.ndim == 3:
        parts.append(f"camera {str(ds['cameras'].values[index[1]])!r}")
    parts.append(f"landmark {str(ds['landmarks'].values[index[-1]])!r}")
    return ", ".join(parts)


def segment_bounds(obj: xr.Dataset | xr.DataArray) -> list[tuple[int, int]]:
    """``(start, stop)`` of every shot along ``time``: the runs of one value of the
    ``segment`` coordinate (a video's shots, see :data:`DROP_REASONS`); one run of all
    frames when there is no such coordinate."""
    n = int(obj.sizes["time"])
    if "segment" not in obj.coords or n == 0:
        return [(0, n)]
    seg = np.asarray(obj["segment"].values)
    edges = [0, *(np.flatnonzero(seg[1:] != seg[:-1]) + 1).tolist(), n]
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def drop_counts(pose: xr.Dataset) -> dict[str, int] | None:
    """Frames of ``pose`` per reason of :data:`DROP_REASONS` (``kept`` included), from its
    ``dropped`` variable; None when the pose does not record why frames are missing."""
    if "dropped" not in pose.data_vars:
        return None
    codes = np.asarray(pose["dropped"].values).astype(np.int64).ravel()
    counts = np.bincount(np.clip(codes, 0, len(DROP_REASONS) - 1), minlength=len(DROP_REASONS))
    return {name: int(c) for name, c in zip(DROP_REASONS, counts)}


def n_spatial_dims(ds: xr.Dataset) -> int:
    """Return 2 or 3, the number of spatial coordinates of a pose."""
    return int(ds.sizes["space"])


def with_precision(pose: xr.Dataset, dtype: npt.DTypeLike) -> xr.Dataset:
    """``pose`` with its floating-point variables in ``dtype`` (no copy of those already
    in it).

    float32 keeps 7 significant digits: 0.1 µm at 1 m, 1e-4 px at 2000 px, far below any
    tracker's error, in half the memory of float64.

    A variable with a finite value beyond the range of ``dtype`` keeps its type (its
    values are left as they are, not turned into infinities).
    """
    want = np.dtype(dtype)
    out = pose
    for name, var in pose.data_vars.items():
        if var.dtype.kind != "f" or var.dtype == want:
            continue
        values = np.asarray(var.values)
        with np.errstate(over="ignore", invalid="ignore"):
            new = values.astype(want)
            if (np.isinf(new) & np.isfinite(values)).any():
                continue
        if out is pose:
            out = pose.copy(deep=False)
        out[name] = var.copy(data=new)
    return out


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
    """Build a feature matrix DataArray ``(time, features)`` (float32 values stay float32,
    anything else becomes float64; state models compute in float64 either way)."""
    import xarray as xr

    arr = np.asarray(values)
    arr = np.asarray(arr, dtype=working_float(arr.dtype))
    if arr.ndim != 2 or arr.shape[1] != len(names):
        raise InvalidFeaturesError(
            f"features must be a (time, {len(names)}) array, got shape {arr.shape}"
        )
    t = np.arange(arr.shape[0], dtype=np.float64) if time is None else np.asarray(time)
    return xr.DataArray(arr, dims=("time", "features"),
                        coords={"time": t, "features": [str(n) for n in names]})


def validate_features(features: object) -> xr.DataArray:
    """Check that ``features`` is a 2D ``(time, features)`` float DataArray and return it."""
    import xarray as xr

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
    import xarray as xr

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
