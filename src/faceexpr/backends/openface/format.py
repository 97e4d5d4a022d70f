"""OpenFace 2.x output: the CSV files of ``FeatureExtraction`` and ``FaceLandmarkVidMulti``.

One row per frame and face. OpenFace writes ``", "`` between fields, in the header and in
the rows (``RecorderCSV.cpp``)::

    frame, face_id, timestamp, confidence, success,
    gaze_0_x, ..., gaze_angle_y, eye_lmk_x_0, ..., eye_lmk_Z_55,   (-gaze)
    pose_Tx, pose_Ty, pose_Tz, pose_Rx, pose_Ry, pose_Rz,          (-pose)
    x_0, ..., x_67, y_0, ..., y_67,                                (-2Dfp, pixels)
    X_0, ..., X_67, Y_0, ..., Y_67, Z_0, ..., Z_67,                (-3Dfp, mm)
    p_scale, p_rx, p_ry, p_rz, p_tx, p_ty, p_0, ..., p_33,         (-pdmparams)
    AU01_r, ..., AU45_r, AU01_c, ..., AU45_c                       (-aus)

``frame`` counts from 1 (the first frame of the video is 1) and ``timestamp`` is in seconds
(``(frame - 1) / fps`` for a video file, the clock for a webcam, 0 for image folders).
``success`` is 0 where the face was not tracked; the landmarks of such rows are
meaningless (OpenFace writes zeros). Older OpenFace 2.0 files have no ``face_id`` column,
and files written without spaces after the commas are read the same way.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from faceexpr._typing import FloatArray, PathLike
from faceexpr.data import get_fps, validate_pose
from faceexpr.errors import FileFormatError, InvalidPoseError
from faceexpr.interfaces import PoseFormat
from faceexpr.io._common import (
    READ_CSV_FLOATS,
    CsvLayout,
    all_or_none,
    atomic_write,
    build_pose,
    check_confidence,
    duplicated,
    existing_file,
    first_line,
    scan_csv,
    to_float,
)
from faceexpr.schemes import IBUG68

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

HEAD_TRANSLATION = ("pose_Tx", "pose_Ty", "pose_Tz")
HEAD_ROTATION = ("pose_Rx", "pose_Ry", "pose_Rz")
FRAME_NOTE = "frame = OpenFace frame - 1 (0-based video frame index)"
"""Stored in ``attrs['openface_frame']``: how the ``frame`` coordinate relates to the file."""

_AXES = {2: ("x", "y"), 3: ("X", "Y", "Z")}
_UNITS = {2: "pixels", 3: "mm"}
_AU = re.compile(r"^AU\d+_[rc]$")
_TIMESTAMP_TOLERANCE = 0.0005 + 1e-9
"""OpenFace writes timestamps to the millisecond."""
_MAX_GAP = 200_000
_MAX_FILL = 10
"""Frames missing from a file are filled with NaN rows: at most ``_MAX_GAP`` beyond
``_MAX_FILL`` times the rows of the face, so that a file with frames 1 and 10**12
cannot ask for terabytes."""


def sniff_csv(header: str) -> bool:
    """Tell whether a CSV header line looks like OpenFace output (``", "`` or ``","``)."""
    names = {name.strip().strip('"') for name in header.split(",")}
    landmarks = {"x_0", "y_0"} <= names or {"X_0", "Y_0", "Z_0"} <= names
    return landmarks and ("success" in names or "confidence" in names)


class OpenFaceFormat(PoseFormat):
    """OpenFace 2.x ``FeatureExtraction``/``FaceLandmarkVidMulti`` CSV output.

    Reader options: ``dims`` (2 or 3), ``face_id``, ``fps`` and ``min_confidence`` (see
    :func:`from_openface_csv`). Writes poses read from OpenFace (keeping head pose and
    action units).
    """

    name: ClassVar[str] = "openface"
    suffixes: ClassVar[tuple[str, ...]] = (".csv",)
    description: ClassVar[str] = "OpenFace 2.x FeatureExtraction output (.csv)"
    signature: ClassVar[str] = ("a CSV header with x_0, y_0 (or X_0, Y_0, Z_0) and "
                                "success or confidence columns")

    @classmethod
    def sniff(cls, path: Path) -> bool:
        return sniff_csv(first_line(path))

    @classmethod
    def read(cls, path: PathLike, **options: Any) -> xr.Dataset:
        return from_openface_csv(path, **options)

    @classmethod
    def can_write(cls, pose: xr.Dataset) -> bool:
        return "cameras" not in pose.dims and pose.attrs.get("source_software") == "OpenFace"

    @classmethod
    def write(cls, pose: xr.Dataset, path: PathLike) -> None:
        to_openface_csv(pose, path)


def landmark_names(n: int) -> list[str]:
    """Names of ``n`` OpenFace landmarks: :data:`~faceexpr.schemes.IBUG68` for the 68 of
    OpenFace's face model (which follows the iBUG 300-W markup, point ``i`` is
    ``x_i``), else ``lm_0 .. lm_{n-1}``."""
    if n == len(IBUG68.landmarks):
        return list(IBUG68.landmarks)
    return [f"lm_{i}" for i in range(n)]


def from_openface_csv(
    path: PathLike,
    dims: Literal[2, 3] | None = None,
    face_id: int | None = None,
    fps: float | None = None,
    min_confidence: float | None = None,
) -> xr.Dataset:
    """Read the CSV file of OpenFace's ``FeatureExtraction`` or ``FaceLandmarkVidMulti``.

    Parameters
    ----------
    path
        The CSV file.
    dims
        ``2`` reads the image landmarks ``x_i, y_i`` (pixels), ``3`` the 3D landmarks
        ``X_i, Y_i, Z_i`` (mm, camera frame). By default 2D when the file has them, else 3D.
    face_id
        The face to read from a file with several ``face_id`` values (FaceLandmarkVidMulti);
        may be omitted when the file holds one face.
    fps
        Frame rate. By default it comes from the ``timestamp`` column: a whole rate (or an
        NTSC rate such as 30000/1001) when every timestamp is ``(frame - 1) / rate`` to the
        millisecond OpenFace writes, as for a video file; otherwise (e.g. a webcam's clock)
        the inverse of the least-squares slope of timestamp against frame number, which
        averages out the millisecond rounding (a median step would not: at 30 fps the steps
        read 0.033 or 0.034 s, i.e. 30.3 fps). Unknown (NaN) when the timestamps do not
        advance, as for image folders.
    min_confidence
        Frames whose OpenFace ``confidence`` is below this are treated like frames with
        ``success == 0``.

    Returns
    -------
    xarray.Dataset
        A pose whose landmarks are named by :func:`landmark_names`; ``units`` ``"pixels"``
        (2D) or ``"mm"`` (3D). The confidence of every landmark is the frame's OpenFace
        ``confidence``. Frames with ``success == 0`` have NaN positions and confidence (and
        NaN in the extra variables below). The ``frame`` coordinate is 0-based:
        ``frame = OpenFace frame - 1``, the index of the frame in the video, so that
        ``time = frame / fps`` equals OpenFace's ``timestamp`` for a video file (also
        noted in ``attrs["openface_frame"]``). Frames missing from the file between its
        first and last frame of the face (FaceLandmarkVidMulti writes rows only for
        the faces it tracks) become rows of NaN so that time stays regular.
        ``attrs["openface_face_id"]`` holds the face read. Extra variables, when the file
        has the columns: ``openface_timestamp`` ``(time,)`` in seconds;
        ``head_translation`` ``(time, head_axis)`` (``pose_Tx..Tz``, mm, camera frame,
        ``head_axis`` = x, y, z); ``head_rotation`` ``(time, head_angle)`` (``pose_Rx..Rz``,
        radians, OpenFace's Euler angles pitch, yaw, roll; ``head_angle`` = rx, ry, rz);
        ``action_units`` ``(time, au)`` with ``au`` the column names, ``AUxx_r`` the
        intensity (0 to 5) and ``AUxx_c`` the presence (0 or 1).

    Raises
    ------
    MissingFileError
        When ``path`` does not exist (``<path>: no such file``).
    FileFormatError
        Naming the file and the column, row and line at fault: missing landmark columns,
        a cell that is not a number, several faces and no ``face_id``, a frame that appears
        twice for one face, frame numbers that are not whole numbers from 1, a row cut
        short or with extra cells, a column named twice, an infinite confidence, frames
        so far apart that filling the gap would take more than a bounded amount of memory.

    Warns
    -----
    UserWarning
        For a ``confidence`` outside [0, 1] or missing where the face was tracked.
    """
    if dims not in (None, 2, 3):
        raise ValueError(f"dims must be 2, 3 or None, got {dims!r}")
    if min_confidence is not None and not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
    p = existing_file(path)
    layout, df = _read(p, path)
    present = set(df.columns)
    if "frame" not in present:
        hint = (" (single-image output of FaceLandmarkImg is not a time series)"
                if "face" in present else "")
        raise FileFormatError(
            f"{path}: not an OpenFace sequence CSV: no 'frame' column{hint} "
            f"(header starts {list(df.columns[:6])})"
        )
    ndim = _dims_of(present, dims, path)
    columns = _landmark_columns(df, ndim, path)
    if len(df) == 0:
        raise FileFormatError(f"{path}: the file has a header but no rows of data")

    frame_1 = _whole_numbers(to_float(df["frame"], path, "column 'frame'", layout),
                             "frame", path, layout, minimum=1)

    def column(name: str) -> FloatArray:
        return to_float(df[name], path, f"column '{name}'", layout, frame_1)

    faces = (_whole_numbers(column("face_id"), "face_id", path, layout, minimum=0)
             if "face_id" in present else np.zeros(len(df), dtype=np.int64))
    chosen = _choose_face(faces, face_id, path)
    rows = np.flatnonzero(faces == chosen)
    _check_unique(frame_1[rows], rows, chosen, layout, path)

    # Convert every column on the whole file so a bad cell is named by its file row.
    def selected(name: str) -> FloatArray:
        return column(name)[rows]

    n_landmarks = len(columns[0])
    position = np.stack(
        [np.stack([selected(c) for c in axis_columns], axis=-1) for axis_columns in columns],
        axis=-1,
    )  # (rows, landmarks, space)
    ok = np.ones(len(rows), dtype=bool)
    if "success" in present:
        tracked = selected("success")
        ok &= np.isfinite(tracked) & (tracked != 0)
    conf = selected("confidence") if "confidence" in present else np.ones(len(rows))
    located = np.any(np.all(np.isfinite(position), axis=-1), axis=1)
    check_confidence(conf[:, None], (located & ok)[:, None], path, ["column 'confidence'"],
                     frame_1[rows], _rows_of(layout, rows))
    if min_confidence is not None:
        ok &= conf >= min_confidence
    position[~ok] = np.nan
    confidence = np.where(np.isfinite(position).all(axis=-1) & ok[:, None], conf[:, None],
                          np.nan)

    timestamp = selected("timestamp") if "timestamp" in present else None
    if fps is None and timestamp is not None:
        fps = _fps_from_timestamps(frame_1[rows], timestamp)

    # Sort by frame and fill the frames the face is missing from with NaN rows.
    first, last = int(frame_1[rows].min()), int(frame_1[rows].max())
    slot = frame_1[rows] - first
    n_time = last - first + 1
    if n_time > _MAX_FILL * len(rows) + _MAX_GAP:
        raise FileFormatError(
            f"{path}: face_id {chosen} has {len(rows)} rows but its frames run from {first} "
            f"to {last}; faceexpr fills at most {_MAX_GAP} frames missing from a file")

    def regular(values: FloatArray) -> FloatArray:
        out = np.full((n_time, *values.shape[1:]), np.nan)
        out[slot] = values
        return out

    ds = build_pose(
        path, regular(position), landmark_names(n_landmarks), regular(confidence), fps=fps,
        source_software="OpenFace", units=_UNITS[ndim],
        frame=np.arange(first - 1, last, dtype=np.int64),
    )
    ds.attrs["openface_face_id"] = int(chosen)
    ds.attrs["openface_frame"] = FRAME_NOTE

    def frame_values(names: list[str]) -> FloatArray:
        values = np.stack([selected(n) for n in names], axis=-1)
        values[~ok] = np.nan
        return regular(values)

    if timestamp is not None:
        ds["openface_timestamp"] = ("time", regular(timestamp))
        ds["openface_timestamp"].attrs["units"] = "seconds"
    if all_or_none([*HEAD_TRANSLATION, *HEAD_ROTATION], present, path):
        ds["head_translation"] = (("time", "head_axis"), frame_values([*HEAD_TRANSLATION]))
        ds["head_rotation"] = (("time", "head_angle"), frame_values([*HEAD_ROTATION]))
        ds = ds.assign_coords(head_axis=["x", "y", "z"], head_angle=["rx", "ry", "rz"])
        ds["head_translation"].attrs.update(
            units="mm", description="OpenFace pose_Tx, pose_Ty, pose_Tz: head position "
            "relative to the camera (z away from it)")
        ds["head_rotation"].attrs.update(
            units="radians", description="OpenFace pose_Rx, pose_Ry, pose_Rz: rotation "
            "about the camera's x, y, z axes (pitch, yaw, roll)")
    aus = [c for c in df.columns if _AU.match(c)]
    if aus:
        ds["action_units"] = (("time", "au"), frame_values(aus))
        ds = ds.assign_coords(au=aus)
        ds["action_units"].attrs["description"] = (
            "OpenFace action units: AUxx_r intensity (0 to 5), AUxx_c presence (0 or 1)")
    return ds


def _read(p: Path, path: PathLike) -> tuple[CsvLayout, pd.DataFrame]:
    import pandas as pd

    names = [n.strip() for n in first_line(p).split(",")]
    layout = scan_csv(p, path, 1, skipinitialspace=True,
                      frame_column=names.index("frame") if "frame" in names else None)
    header = [n.strip() for n in layout.header[0]]
    dup = duplicated(header)
    if dup is not None:  # pandas would rename the second copy 'x_0.1' and drop it
        name, a, b = dup
        raise FileFormatError(f"{path}: column '{name}' is in the header twice (columns "
                              f"{a + 1} and {b + 1})")
    try:
        df: pd.DataFrame = pd.read_csv(p, encoding="utf-8-sig", skipinitialspace=True,
                                       **READ_CSV_FLOATS)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise FileFormatError(f"{path}: cannot parse the CSV file: {exc}") from exc
    df.columns = pd.Index([str(c).strip() for c in df.columns])
    if len(df) != len(layout.lines) or list(df.columns) != header:
        raise FileFormatError(f"{path}: the rows cannot be told apart consistently (stray "
                              "quotes or unnamed columns?): not an OpenFace CSV")
    return layout, df


def _rows_of(layout: CsvLayout, rows: npt.NDArray[np.intp]) -> CsvLayout:
    """The layout of the file's rows ``rows`` only (to name the lines of one face)."""
    return CsvLayout(layout.header, layout.lines[rows], layout.header_end)


def _dims_of(present: set[str], dims: int | None, path: PathLike) -> int:
    has = {n: f"{_AXES[n][0]}_0" in present for n in (2, 3)}
    if dims is None:
        if has[2] or has[3]:
            return 2 if has[2] else 3
        raise FileFormatError(
            f"{path}: no landmark columns: neither 'x_0', 'y_0', ... (2D, OpenFace option "
            "-2Dfp) nor 'X_0', 'Y_0', 'Z_0', ... (3D, option -3Dfp)"
        )
    if not has[dims]:
        other = 3 if dims == 2 else 2
        hint = f"; it has {other}D ones, use dims={other}" if has[other] else ""
        first = ", ".join(f"'{a}_0'" for a in _AXES[dims])
        raise FileFormatError(f"{path}: no {dims}D landmark columns ({first}, ...){hint}")
    return dims


def _landmark_columns(df: pd.DataFrame, ndim: int, path: PathLike) -> list[list[str]]:
    """Column names per axis, ``[[x_0, x_1, ...], [y_0, ...]]``, checking none is missing."""
    axes = _AXES[ndim]
    present = set(df.columns)
    indices: set[int] = set()
    for axis in axes:
        pattern = re.compile(rf"^{axis}_(\d+)$")
        indices |= {int(m.group(1)) for c in df.columns if (m := pattern.match(c))}
    n = max(indices) + 1
    if n > len(present):  # a hostile x_1000000000 must not make a billion names
        raise FileFormatError(f"{path}: landmark column '{axes[0]}_{n - 1}' but the file has "
                              f"only {len(present)} columns; expected "
                              f"{', '.join(f'{a}_0..{a}_{n - 1}' for a in axes)}")
    columns = [[f"{axis}_{i}" for i in range(n)] for axis in axes]
    missing = [c for cols in columns for c in cols if c not in present]
    if missing:
        shown = ", ".join(f"'{c}'" for c in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise FileFormatError(
            f"{path}: missing landmark column(s) {shown}{more} "
            f"(expected {', '.join(f'{a}_0..{a}_{n - 1}' for a in axes)})"
        )
    return columns


def _whole_numbers(values: FloatArray, name: str, path: PathLike, layout: CsvLayout,
                   minimum: int) -> npt.NDArray[np.int64]:
    bad = (~np.isfinite(values) | (values != np.round(values)) | (values < minimum)
           | (np.abs(values) > 2.0**53))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        what = ("frame numbers must be whole numbers from 1 (OpenFace counts frames from 1)"
                if name == "frame" else f"{name} must be a whole number >= {minimum}")
        raise FileFormatError(f"{path}: column '{name}', {layout.at(row)}: {what}, got "
                              f"{float(values[row])}")
    return values.astype(np.int64)


def _choose_face(faces: npt.NDArray[np.int64], face_id: int | None, path: PathLike) -> int:
    ids = sorted(int(i) for i in np.unique(faces))
    if face_id is None:
        if len(ids) != 1:
            raise FileFormatError(
                f"{path}: the file holds several faces (face_id {ids}); "
                "choose one with face_id=..."
            )
        return ids[0]
    if face_id not in ids:
        raise FileFormatError(f"{path}: no face_id {face_id}; the file holds face_id {ids}")
    return int(face_id)


def _check_unique(frames: npt.NDArray[np.int64], rows: npt.NDArray[np.intp], face: int,
                  layout: CsvLayout, path: PathLike) -> None:
    order = np.argsort(frames, kind="stable")
    repeated = np.flatnonzero(np.diff(frames[order]) == 0)
    if repeated.size == 0:
        return
    k = int(repeated[0])
    a, b = sorted((int(rows[order[k]]), int(rows[order[k + 1]])))
    raise FileFormatError(
        f"{path}: frame {int(frames[order[k]])} appears twice for face_id {face} (lines "
        f"{layout.lines[a]} and {layout.lines[b]})"
    )


def _fps_from_timestamps(frames: npt.NDArray[np.int64], timestamps: FloatArray
                         ) -> float | None:
    ok = np.isfinite(timestamps)
    f, t = frames[ok].astype(np.float64), timestamps[ok]
    if len(f) < 2 or np.ptp(f) == 0:
        return None
    try:
        with np.errstate(all="ignore"):
            slope = float(np.polyfit(f, t, 1)[0])  # seconds per frame
    except (np.linalg.LinAlgError, ValueError):  # timestamps too large to fit
        return None
    estimate = 1.0 / slope if np.isfinite(slope) and slope > 0 else math.inf
    if not np.isfinite(estimate):
        return None
    # A video's timestamps are (frame - 1) / fps rounded to the millisecond: take the
    # round rate they were made from when there is one.
    for rate in _round_rates(estimate):
        if np.all(np.abs(t - (f - 1) / rate) <= _TIMESTAMP_TOLERANCE):
            return rate
    return estimate


def _round_rates(estimate: float) -> list[float]:
    whole = [float(round(estimate))] if round(estimate) >= 1 else []
    ntsc = [n * 1000 / 1001 for n in (24, 30, 48, 60, 120, 240)]
    return whole + [r for r in ntsc if abs(r - estimate) < 0.5]


def to_openface_csv(ds: xr.Dataset, path: PathLike) -> None:
    """Write a single-view pose as an OpenFace ``FeatureExtraction`` CSV file.

    The columns are those of OpenFace, with ``", "`` between fields: ``frame`` (the
    ``frame`` coordinate + 1), ``face_id`` (``attrs["openface_face_id"]``, else 0),
    ``timestamp`` (the ``openface_timestamp`` variable as it is, else ``time`` when the
    frame rate is known, else 0), ``confidence`` (the median confidence of the frame's landmarks),
    ``success`` (1 when any landmark of the frame is known), ``pose_T*``/``pose_R*`` from
    ``head_translation`` and ``head_rotation`` when present, ``x_i, y_i`` for a 2D pose or
    ``X_i, Y_i, Z_i`` for a 3D one (landmark names are not stored: landmark ``i`` is the
    ``i``-th), and the ``action_units`` columns when present. Rows with ``success`` 0 hold
    zeros, as OpenFace writes them; an unknown landmark of a tracked frame is left empty.

    Raises
    ------
    InvalidPoseError
        When ``ds`` is not a single-view pose, or its frame numbers are negative.
    """
    import pandas as pd

    validate_pose(ds, cameras=False)
    ndim = int(ds.sizes["space"])
    position = ds["position"].to_numpy().astype(np.float64)
    confidence = ds["confidence"].to_numpy().astype(np.float64)
    frame = ds["frame"].to_numpy().astype(np.int64)
    if (frame < 0).any():
        raise InvalidPoseError(
            f"OpenFace numbers frames from 1 (frame coordinate + 1); got frame {frame.min()}"
        )
    success: npt.NDArray[np.bool_] = np.any(np.all(np.isfinite(position), axis=-1), axis=1)
    conf = np.full(len(frame), np.nan)
    with_conf = np.isfinite(confidence).any(axis=1)
    if with_conf.any():
        # the median returns a frame's one confidence exactly, as the reader broadcast it
        conf[with_conf] = np.nanmedian(confidence[with_conf], axis=1)
    fps = get_fps(ds)
    timestamp = frame / fps if fps else np.zeros(len(frame))
    if "openface_timestamp" in ds:
        timestamp = ds["openface_timestamp"].to_numpy().astype(np.float64)

    columns: dict[str, Any] = {
        "frame": frame + 1,
        "face_id": np.full(len(frame), int(ds.attrs.get("openface_face_id", 0))),
        "timestamp": timestamp,
        "confidence": np.where(success, conf, 0.0),
        "success": success.astype(np.int64),
    }
    if "head_translation" in ds and "head_rotation" in ds:
        translation = ds["head_translation"].transpose("time", ...).to_numpy()
        rotation = ds["head_rotation"].transpose("time", ...).to_numpy()
        for k, name in enumerate(HEAD_TRANSLATION):
            columns[name] = _failed_as_zero(translation[:, k], success)
        for k, name in enumerate(HEAD_ROTATION):
            columns[name] = _failed_as_zero(rotation[:, k], success)
    for a, axis in enumerate(_AXES[ndim]):
        for i in range(position.shape[1]):
            columns[f"{axis}_{i}"] = _failed_as_zero(position[:, i, a], success)
    if "action_units" in ds:
        aus = ds["action_units"].transpose("time", ...)
        names = [str(n) for n in aus[aus.dims[1]].values]
        values = aus.to_numpy().astype(np.float64)
        for k, name in enumerate(names):
            columns[name] = _failed_as_zero(values[:, k], success)
    text = pd.DataFrame(columns).to_csv(index=False, lineterminator="\n")
    # numbers and these column names hold no commas, so this gives OpenFace's separator
    text = text.replace(",", ", ")
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _failed_as_zero(values: FloatArray, success: npt.NDArray[np.bool_]) -> FloatArray:
    return np.where(success, values, 0.0).astype(np.float64)
