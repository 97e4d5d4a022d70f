"""Convert poses to and from the Datasets of the ``movement`` package.

`movement <https://movement.neuroinformatics.dev>`_ (neuroinformatics-unit) keeps pose
tracks in an :class:`xarray.Dataset` too, with ``position (time, space, keypoint,
individual)`` and ``confidence (time, keypoint, individual)``; several cameras add a
``view`` dim. movement 0.17 named these dims in the singular; earlier versions (0.16 and
before, the newest that Python 3.11 installs is 0.15) named them ``keypoints`` and
``individuals``. :func:`from_movement` reads both layouts, recognising them by their dim
names; :func:`to_movement` writes either (singular by default).

+----------------------------+---------------------------------------------------------+
| faceexpr                   | movement                                                |
+============================+=========================================================+
| ``landmarks``              | ``keypoint`` (``keypoints`` before 0.17)                |
+----------------------------+---------------------------------------------------------+
| (one face)                 | ``individual`` (``individuals`` before 0.17)            |
+----------------------------+---------------------------------------------------------+
| ``cameras``                | ``view``                                                |
+----------------------------+---------------------------------------------------------+
| ``time``, ``frame``        | ``time`` (seconds when ``fps`` is known, else frames;   |
|                            | attribute ``time_unit``), ``frame`` kept as a coordinate|
+----------------------------+---------------------------------------------------------+
| ``source_files``           | ``source_file`` (when there is exactly one)             |
+----------------------------+---------------------------------------------------------+

This module needs no ``movement`` installation: it only renames and reorders arrays.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np

from faceexpr._typing import FloatArray, IntArray
from faceexpr.data import check_fps, get_fps, make_pose, validate_pose
from faceexpr.errors import InvalidPoseError

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["LAYOUTS", "from_movement", "to_movement"]

Layout = Literal["singular", "plural"]

LAYOUTS: Final[dict[str, tuple[str, str]]] = {
    "singular": ("keypoint", "individual"),
    "plural": ("keypoints", "individuals"),
}
"""Names of the keypoint and individual dims: ``"singular"`` is movement 0.17's layout,
``"plural"`` that of movement 0.16 and before."""

VIEW_DIM: Final = "view"
"""movement's dim of camera views (faceexpr's ``cameras``)."""

_KEYPOINT_DIMS: Final = ("keypoint", "keypoints")
_INDIVIDUAL_DIMS: Final = ("individual", "individuals")
_VIEW_DIMS: Final = ("view", "views")
_SPACE_NAMES: Final = ("x", "y", "z")
# Attributes that from_movement turns into faceexpr's own (the others are kept as they are).
# schema_version describes faceexpr's own file layout: it does not follow a conversion.
_CONSUMED_ATTRS: Final = frozenset({"ds_type", "time_unit", "fps", "source_software",
                                    "source_file", "source_files", "units",
                                    "faceexpr_history", "schema_version"})


def to_movement(pose: xr.Dataset, individual: str = "individual_0",
                layout: Layout = "singular") -> xr.Dataset:
    """Return a faceexpr pose as a ``movement`` poses Dataset.

    Parameters
    ----------
    pose
        A faceexpr pose (2D or 3D, with or without a ``cameras`` dim).
    individual
        Name of the one individual (the face) along the individual dim.
    layout
        ``"singular"`` (default): dims ``keypoint`` and ``individual``, as movement 0.17
        and later name them; ``"plural"``: ``keypoints`` and ``individuals``, as movement
        0.16 and earlier (the newest on Python 3.11 is 0.15) do.

    Returns
    -------
    xarray.Dataset
        ``position (time, space, keypoint, individual)`` and ``confidence (time,
        keypoint, individual)``, both led by a ``view`` dim when the pose has cameras.
        ``time`` is in seconds (float) when ``fps`` is known, else the frame number
        (int); the faceexpr ``frame`` numbers stay as a coordinate along ``time``.
        Attributes: movement's ``source_software``, ``ds_type = "poses"``,
        ``time_unit`` (``"seconds"`` or ``"frames"``), ``fps`` (only when known) and
        ``source_file`` (when the pose has exactly one source file), besides the pose's
        own attributes (``source_files``, ``units``, ``faceexpr_history``...).

    Raises
    ------
    InvalidPoseError
        When ``pose`` is not a valid pose.
    ValueError
        For an unknown ``layout`` or an empty ``individual`` name.

    Examples
    --------
    >>> import numpy as np
    >>> from faceexpr.data import make_pose
    >>> pose = make_pose(np.zeros((5, 2, 2)), ["nose", "chin"], fps=25.0)
    >>> ds = to_movement(pose)
    >>> ds.position.dims
    ('time', 'space', 'keypoint', 'individual')
    >>> ds.attrs["time_unit"], ds.attrs["fps"]
    ('seconds', 25.0)
    >>> to_movement(pose, layout="plural").confidence.dims
    ('time', 'keypoints', 'individuals')
    """
    import xarray as xr

    validate_pose(pose)
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {sorted(LAYOUTS)}, got {layout!r}")
    if not isinstance(individual, str) or not individual:
        raise ValueError(f"individual must be a non-empty name, got {individual!r}")
    keypoint_dim, individual_dim = LAYOUTS[layout]
    has_cams = "cameras" in pose["position"].dims
    lead: tuple[str, ...] = ("cameras",) if has_cams else ()
    # movement puts the view dim first (it concatenates the views' Datasets along it).
    position = pose["position"].transpose(*lead, "time", "space", "landmarks").values
    confidence = pose["confidence"].transpose(*lead, "time", "landmarks").values
    view: tuple[str, ...] = (VIEW_DIM,) if has_cams else ()

    fps = get_fps(pose)
    frame = np.asarray(pose["frame"].values, dtype=np.int64)
    time: FloatArray | IntArray
    if fps is not None:
        time = np.asarray(pose["time"].values, dtype=np.float64)
    else:
        time = frame.copy()
    coords: dict[str, Any] = {
        "time": time,
        "frame": ("time", frame),
        "space": [str(s) for s in pose["space"].values],
        keypoint_dim: [str(n) for n in pose["landmarks"].values],
        individual_dim: [individual],
    }
    if has_cams:
        coords[VIEW_DIM] = [str(c) for c in pose["cameras"].values]

    attrs = {str(k): v for k, v in pose.attrs.items() if k not in ("fps", "schema_version")}
    source_files = [str(f) for f in pose.attrs.get("source_files", [])]
    attrs.update({
        "source_software": str(pose.attrs.get("source_software", "unknown")),
        "ds_type": "poses",
        "time_unit": "seconds" if fps is not None else "frames",
        "source_files": source_files,
    })
    if fps is not None:
        attrs["fps"] = fps
    if len(source_files) == 1:
        attrs["source_file"] = source_files[0]
    return xr.Dataset(
        {
            "position": ((*view, "time", "space", keypoint_dim, individual_dim),
                         np.asarray(position, dtype=np.float64)[..., np.newaxis],
                         dict(pose["position"].attrs)),
            "confidence": ((*view, "time", keypoint_dim, individual_dim),
                           np.asarray(confidence, dtype=np.float64)[..., np.newaxis],
                           dict(pose["confidence"].attrs)),
        },
        coords=coords,
        attrs=attrs,
    )


def from_movement(ds: xr.Dataset, individual: str | None = None, *,
                  fps: float | None = None) -> xr.Dataset:
    """Return a ``movement`` poses Dataset (either dim layout) as a faceexpr pose.

    Parameters
    ----------
    ds
        A movement poses Dataset: ``position`` with dims ``time``, ``space``,
        ``keypoint`` (or ``keypoints``) and optionally ``individual`` (or
        ``individuals``) and ``view``, in any order; ``confidence`` with the same dims
        but ``space`` (NaN everywhere when it is missing).
    individual
        The individual to take when there are several; may be left out when there is
        one (or no individual dim, e.g. after ``ds.sel(individual=...)``).
    fps
        Frame rate to use instead of the ``fps`` attribute (e.g. when the Dataset has
        none); ``time`` becomes ``frame / fps``.

    Returns
    -------
    xarray.Dataset
        A validated faceexpr pose: ``landmarks`` from the keypoints, a ``cameras`` dim
        from ``view``, ``fps`` from the attribute of that name, ``frame`` from the
        coordinate of that name or else from ``time`` (frame numbers when
        ``time_unit`` is ``"frames"``, seconds times ``fps`` otherwise),
        ``source_software`` (``"movement"`` when the Dataset names none) and
        ``source_files`` (from ``source_files`` or movement's ``source_file``). Other
        attributes (e.g. movement's ``log``) are kept.

    Raises
    ------
    InvalidPoseError
        Naming what is missing or malformed and what was expected: a missing variable
        or dim, a bounding-box Dataset, several individuals and none chosen, an unknown
        ``individual``, time in seconds without a frame rate.

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> ds = xr.Dataset(
    ...     {"position": (("time", "space", "keypoints", "individuals"),
    ...                   np.zeros((4, 2, 3, 1))),
    ...      "confidence": (("time", "keypoints", "individuals"), np.ones((4, 3, 1)))},
    ...     coords={"time": np.arange(4) / 30.0, "space": ["x", "y"],
    ...             "keypoints": ["snout", "ear", "tail"], "individuals": ["mouse"]},
    ...     attrs={"fps": 30.0, "time_unit": "seconds", "ds_type": "poses",
    ...            "source_software": "DeepLabCut"})
    >>> pose = from_movement(ds)
    >>> pose.position.dims
    ('time', 'landmarks', 'space')
    >>> pose.landmarks.values.tolist(), pose.frame.values.tolist(), pose.attrs["fps"]
    (['snout', 'ear', 'tail'], [0, 1, 2, 3], 30.0)
    """
    import xarray as xr

    if not isinstance(ds, xr.Dataset):
        raise InvalidPoseError(f"expected a movement xarray.Dataset, got {type(ds).__name__}")
    ds_type = ds.attrs.get("ds_type")
    if ds_type is not None and ds_type != "poses":
        raise InvalidPoseError(f"the movement Dataset holds {ds_type!r}, expected "
                               "ds_type 'poses' (keypoints, not bounding boxes)")
    if "position" not in ds.data_vars:
        raise InvalidPoseError(f"the movement Dataset has no 'position' variable (has: "
                               f"{sorted(map(str, ds.data_vars))})")
    position = ds["position"]
    dims = [str(d) for d in position.dims]
    keypoint_dim = _one_of(dims, _KEYPOINT_DIMS, "keypoint", required=True)
    individual_dim = _one_of(dims, _INDIVIDUAL_DIMS, "individual", required=False)
    view_dim = _one_of(dims, _VIEW_DIMS, "view", required=False)
    for needed in ("time", "space"):
        if needed not in dims:
            raise InvalidPoseError(
                f"the movement position has dims {tuple(dims)}, without a '{needed}' dim; "
                "expected (time, space, keypoint, individual) (or keypoints, individuals "
                "before movement 0.17), optionally with view")
    known = {"time", "space", keypoint_dim, individual_dim, view_dim}
    extra = [d for d in dims if d not in known]
    if extra:
        raise InvalidPoseError(f"the movement position has unexpected dim(s) {extra}; "
                               f"expected only time, space, {keypoint_dim}"
                               + (f", {individual_dim}" if individual_dim else "")
                               + ", view")
    if "confidence" in ds.data_vars:
        confidence = ds["confidence"]
        want = sorted(d for d in dims if d != "space")
        if sorted(map(str, confidence.dims)) != want:
            raise InvalidPoseError(f"the movement confidence has dims {confidence.dims}, "
                                   f"expected the position's without space ({want})")
    else:
        confidence = xr.full_like(position.isel(space=0, drop=True), np.nan, dtype=float)

    if individual_dim is not None:
        names = _names(ds, individual_dim, position.sizes[individual_dim], "individual")
        index = _choose_individual(names, individual, individual_dim)
        position = position.isel({individual_dim: index}, drop=True)
        confidence = confidence.isel({individual_dim: index}, drop=True)
    elif individual is not None:  # e.g. after ds.sel(individual=...): a scalar label
        held = [str(ds.coords[c].values) for c in _INDIVIDUAL_DIMS if c in ds.coords]
        if held and held[0] != individual:
            raise InvalidPoseError(f"the movement Dataset holds individual {held[0]!r} "
                                   f"only, not {individual!r}")

    lead: tuple[str, ...] = (view_dim,) if view_dim else ()
    position = position.transpose("time", *lead, keypoint_dim, "space")
    confidence = confidence.transpose("time", *lead, keypoint_dim)
    position = position.isel(space=_space_order(ds, position.sizes["space"]))

    if fps is not None and (isinstance(fps, bool) or not isinstance(fps, (int, float))
                            or not (math.isfinite(fps) and fps > 0)):
        raise InvalidPoseError(f"fps must be a positive frame rate, got {fps!r}")
    # a bad rate in the file must not pass for an unknown one (time would be made up)
    check_fps(ds.attrs.get("fps"), "the movement Dataset's fps attribute")
    # The Dataset's own rate turns its seconds into frame numbers; fps=... then sets time.
    frame, rate = _frame_numbers(ds, get_fps(ds) or fps)
    if fps is not None:
        rate = fps

    attrs = ds.attrs
    software = attrs.get("source_software")
    pose = make_pose(
        position.values,
        _names(ds, keypoint_dim, position.sizes[keypoint_dim], "keypoint"),
        confidence.values,
        fps=rate,
        cameras=_names(ds, view_dim, position.sizes[view_dim], "view") if view_dim else None,
        source_software=str(software) if software else "movement",
        source_files=_source_files(attrs),
        units=str(attrs.get("units", "pixels")),
        frame=frame,
    )
    pose.attrs.update({str(k): v for k, v in attrs.items() if k not in _CONSUMED_ATTRS})
    pose.attrs["faceexpr_history"] = _str_list(attrs.get("faceexpr_history")) or []
    return validate_pose(pose)


def _one_of(dims: Sequence[str], names: Sequence[str], what: str, *,
            required: bool) -> str | None:
    """The one of ``names`` among ``dims`` (None when absent and not required)."""
    found = [n for n in names if n in dims]
    if len(found) > 1:
        raise InvalidPoseError(f"the movement position has both {found[0]!r} and "
                               f"{found[1]!r} dims; expected one {what} dim")
    if found:
        return found[0]
    if required:
        raise InvalidPoseError(
            f"the movement position has dims {tuple(dims)}, without a {what} dim: expected "
            f"'{names[0]}' (movement 0.17 and later) or '{names[1]}' (movement 0.16 and "
            "earlier)")
    return None


def _names(ds: xr.Dataset, dim: Hashable, size: int, what: str) -> list[str]:
    """The coordinate labels of ``dim``, or ``{what}_0, {what}_1...`` when it has none."""
    if dim in ds.coords:
        return [str(v) for v in np.atleast_1d(ds.coords[dim].values)]
    return [f"{what}_{i}" for i in range(size)]


def _choose_individual(names: list[str], individual: str | None, dim: str) -> int:
    if individual is None:
        if len(names) == 1:
            return 0
        raise InvalidPoseError(f"the movement Dataset has {len(names)} individuals "
                               f"({names}); choose one with individual=...")
    if names.count(individual) != 1:
        problem = "twice" if individual in names else "not"
        raise InvalidPoseError(f"individual {individual!r} is {problem} in the movement "
                               f"Dataset's '{dim}' coordinate; it has {names}")
    return names.index(individual)


def _space_order(ds: xr.Dataset, size: int) -> list[int]:
    """Indices that put the ``space`` labels in x, y(, z) order."""
    expected = list(_SPACE_NAMES[:size])
    if size not in (2, 3):
        raise InvalidPoseError(f"the movement position has {size} spatial coordinates, "
                               "expected 2 (x, y) or 3 (x, y, z)")
    if "space" not in ds.coords:
        return list(range(size))
    labels = [str(s) for s in ds.coords["space"].values]
    if sorted(labels) != expected:
        raise InvalidPoseError(f"the movement space coordinate is {labels}, expected "
                               f"{expected}")
    return [labels.index(s) for s in expected]


def _frame_numbers(ds: xr.Dataset, fps: float | None) -> tuple[IntArray, float | None]:
    """Frame numbers of the Dataset and its frame rate (``fps``, or None when unknown).

    From the ``frame`` coordinate when there is one, else from ``time``: frame numbers
    when ``time_unit`` is ``"frames"`` (or time holds integers), seconds times the frame
    rate otherwise (``fps``, else one over the regular time step).
    """
    if "frame" in ds.coords and ds["frame"].dims == ("time",):
        return _whole(ds["frame"].values, "frame coordinate"), fps
    if "time" not in ds.coords:
        return np.arange(ds.sizes["time"], dtype=np.int64), fps
    time = np.asarray(ds["time"].values)
    if time.dtype.kind not in "iufm":
        raise InvalidPoseError(f"the movement time coordinate must hold numbers, got dtype "
                               f"{time.dtype}")
    if np.issubdtype(time.dtype, np.timedelta64):  # opened with decode_timedelta
        time = time.astype("timedelta64[ns]").astype(np.int64) / 1e9
        unit = "seconds"
    else:
        unit = str(ds.attrs.get("time_unit", "")).lower()
        if not unit:
            unit = "frames" if np.issubdtype(time.dtype, np.integer) else (
                "seconds" if fps is not None else "frames")
    if not np.isfinite(time.astype(np.float64)).all():
        raise InvalidPoseError("the movement time coordinate has non-finite values")
    if unit == "frames":
        return _whole(np.rint(time.astype(np.float64)), "time coordinate"), fps
    if unit != "seconds":
        raise InvalidPoseError(f"the movement time_unit is {unit!r}, expected 'seconds' or "
                               "'frames'")
    rate = fps
    if rate is None:
        step = np.diff(time.astype(np.float64))
        if len(step) == 0 or not (step > 0).all() or not np.allclose(step, np.median(step),
                                                                       rtol=1e-3):
            raise InvalidPoseError("the movement time is in seconds but the Dataset has no "
                                   "fps attribute (and no regular time step to take it "
                                   "from); give fps=...")
        rate = float(1.0 / np.median(step))
    with np.errstate(over="ignore"):
        frames = np.rint(time.astype(np.float64) * rate)
    return _whole(frames, "time coordinate (times the frame rate)"), rate


def _whole(values: Any, what: str) -> IntArray:
    """Whole, finite numbers as int64 (a cast would turn 1.5 into 1 and NaN into junk)."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    number = arr.astype(np.float64) if arr.dtype.kind == "f" else np.array([np.nan])
    bad = ~np.isfinite(number) | (number != np.round(number)) | (np.abs(number) > 2.0**53)
    if bad.any():
        shown = arr.ravel()[int(np.flatnonzero(bad)[0])] if arr.dtype.kind == "f" else arr.dtype
        raise InvalidPoseError(f"the movement {what} must hold whole numbers, got {shown}")
    return number.astype(np.int64)


def _str_list(value: Any) -> list[str] | None:
    """A list attribute as list of str; None when absent.

    netCDF files written by plain xarray turn a one-item list into its item and an empty
    one into an empty float array; both are read back as lists here.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v) for v in np.asarray(value).ravel().tolist()]
    return [str(value)]


def _source_files(attrs: dict[Hashable, Any]) -> list[str]:
    files = _str_list(attrs.get("source_files"))
    if files is not None:
        return files
    single = attrs.get("source_file")
    return [str(single)] if single else []
