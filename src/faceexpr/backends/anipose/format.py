"""Anipose triangulated poses: ``pose-3d/*.csv``.

One row per frame; per landmark the columns ``<lm>_x, <lm>_y, <lm>_z, <lm>_error,
<lm>_ncams, <lm>_score``; then optionally the alignment ``M_00..M_22`` and
``center_0..center_2``, and the frame number ``fnum``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

from faceexpr._typing import FloatArray, PathLike
from faceexpr.data import validate_pose
from faceexpr.errors import FileFormatError
from faceexpr.interfaces import PoseFormat
from faceexpr.io._common import (
    READ_CSV_FLOATS,
    CsvLayout,
    all_or_none,
    atomic_write,
    build_pose,
    check_confidence,
    check_frames,
    duplicated,
    existing_file,
    first_line,
    scan_csv,
    to_float,
)

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

_AXES = ("x", "y", "z")
_M_COLUMNS = [f"M_{i}{j}" for i in range(3) for j in range(3)]
_CENTER_COLUMNS = [f"center_{i}" for i in range(3)]


def sniff_csv(header: str) -> bool:
    """Tell whether a CSV header line looks like an Anipose ``pose-3d`` file."""
    names = {name.strip().strip('"') for name in header.split(",")}
    return any(
        f"{n[:-2]}_y" in names and f"{n[:-2]}_z" in names
        and (f"{n[:-2]}_score" in names or f"{n[:-2]}_error" in names)
        for n in names if n.endswith("_x")
    )


class AniposeFormat(PoseFormat):
    """Anipose's triangulated ``pose-3d/*.csv`` (``<landmark>_x/_y/_z/_error/_score``).

    Reader option: ``fps`` (Anipose files do not store it). Writes single-view 3D poses.
    """

    name: ClassVar[str] = "anipose"
    suffixes: ClassVar[tuple[str, ...]] = (".csv",)
    description: ClassVar[str] = "Anipose triangulate output (pose-3d .csv)"
    signature: ClassVar[str] = ("a CSV header with <landmark>_x, _y, _z and _score or "
                                "_error columns")

    @classmethod
    def sniff(cls, path: Path) -> bool:
        return sniff_csv(first_line(path))

    @classmethod
    def read(cls, path: PathLike, **options: Any) -> xr.Dataset:
        return from_anipose_csv(path, **options)

    @classmethod
    def can_write(cls, pose: xr.Dataset) -> bool:
        return "cameras" not in pose.dims and pose.sizes.get("space") == 3

    @classmethod
    def write(cls, pose: xr.Dataset, path: PathLike) -> None:
        to_anipose_csv(pose, path)


def from_anipose_csv(path: PathLike, fps: float | None = None) -> xr.Dataset:
    """Read an Anipose ``pose-3d`` CSV file.

    Parameters
    ----------
    path
        The CSV file.
    fps
        Frame rate of the videos (Anipose files do not store it).

    Returns
    -------
    xarray.Dataset
        A 3D pose (units ``"mm"``, the calibration's unit) whose confidence is the
        ``_score`` (NaN where the position is NaN), with extra variables
        ``reprojection_error`` and ``n_cameras`` ``(time, landmarks)`` (NaN where the
        file lacks them), ``anipose_M`` ``(time, axis_row, axis_col)`` and
        ``anipose_center`` ``(time, axis_row)`` when the file has them. ``fnum`` gives
        the ``frame`` coordinate.

    Raises
    ------
    MissingFileError
        When ``path`` does not exist (``<path>: no such file``).
    FileFormatError
        Naming the file and the landmark, column, frame and line at fault: a row cut
        short or with extra cells, a column named twice, ``fnum`` that repeats or goes
        back, an infinite score.

    Warns
    -----
    UserWarning
        For a score outside [0, 1] or missing where the position is known.
    """
    p = existing_file(path)
    layout, df = _read(p, path)
    names = [str(c) for c in df.columns]
    present = set(names)
    landmarks = [n[:-2] for n in names if n.endswith("_x")]
    if not landmarks:
        raise FileFormatError(
            f"{path}: not an Anipose pose-3d CSV: no '<landmark>_x' columns "
            f"(header starts {names[:6]})"
        )
    for lm in landmarks:
        for suffix in ("_y", "_z", "_score"):
            if lm + suffix not in present:
                raise FileFormatError(
                    f"{path}: landmark '{lm}' has no column '{lm}{suffix}'"
                )
    if len(df) == 0:
        raise FileFormatError(f"{path}: the file has a header but no rows of data")

    frame = None
    if "fnum" in present:
        fnum = to_float(df["fnum"], path, "column 'fnum'", layout)
        whole = np.isfinite(fnum) & (fnum == np.round(fnum)) & (np.abs(fnum) <= 2.0**53)
        if not whole.all():
            row = int(np.flatnonzero(~whole)[0])
            raise FileFormatError(f"{path}: column 'fnum', {layout.at(row)}: frame numbers "
                                  f"must be whole numbers, got {fnum[row]}")
        frame = fnum.astype(np.int64)
        check_frames(frame, path, "column 'fnum'", layout)
    frames = frame if frame is not None else np.arange(len(df))

    def column(name: str) -> FloatArray:
        if name not in present:
            return np.full(len(df), np.nan)
        return to_float(df[name], path, f"column '{name}'", layout, frames)

    def per_landmark(suffix: str) -> FloatArray:
        return np.stack([column(lm + suffix) for lm in landmarks], axis=1)

    position = np.stack([per_landmark(f"_{a}") for a in _AXES], axis=-1)
    known = np.isfinite(position).all(axis=-1)
    score = per_landmark("_score")
    check_confidence(score, known, path, [f"column '{lm}_score'" for lm in landmarks],
                     frames, layout)
    confidence = np.where(known, score, np.nan)
    ds = build_pose(path, position, landmarks, confidence, fps=fps,
                    source_software="Anipose", units="mm", frame=frame)
    ds["reprojection_error"] = (("time", "landmarks"), per_landmark("_error"))
    ds["n_cameras"] = (("time", "landmarks"), per_landmark("_ncams"))
    if all_or_none(_M_COLUMNS, present, path):
        m = np.stack([column(c) for c in _M_COLUMNS], axis=-1).reshape(-1, 3, 3)
        ds["anipose_M"] = (("time", "axis_row", "axis_col"), m)
    if all_or_none(_CENTER_COLUMNS, present, path):
        center = np.stack([column(c) for c in _CENTER_COLUMNS], axis=-1)
        ds["anipose_center"] = (("time", "axis_row"), center)
    return ds


def _read(p: Path, path: PathLike) -> tuple[CsvLayout, pd.DataFrame]:
    import pandas as pd

    # fnum is the last column: a row that lost or gained cells has no trusty frame number
    layout = scan_csv(p, path, 1)
    header = layout.header[0]
    if "" in header:
        raise FileFormatError(f"{path}: column {header.index('') + 1} of the header has no "
                              "name")
    dup = duplicated(header)
    if dup is not None:  # pandas would rename the second copy 'nose_x.1' and drop it
        name, a, b = dup
        lm = name.rsplit("_", 1)[0]
        who = f"landmark '{lm}' appears twice: " if lm != name else ""
        raise FileFormatError(f"{path}: {who}column '{name}' is in the header twice "
                              f"(columns {a + 1} and {b + 1})")
    try:
        df: pd.DataFrame = pd.read_csv(p, encoding="utf-8-sig", **READ_CSV_FLOATS)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise FileFormatError(f"{path}: cannot parse the CSV file: {exc}") from exc
    if len(df) != len(layout.lines) or [str(c) for c in df.columns] != header:
        raise FileFormatError(f"{path}: the rows cannot be told apart consistently (stray "
                              "quotes?): not an Anipose pose-3d CSV")
    return layout, df


def to_anipose_csv(ds: xr.Dataset, path: PathLike) -> None:
    """Write a single-view 3D pose as an Anipose ``pose-3d`` CSV file.

    ``_error`` and ``_ncams`` come from the ``reprojection_error`` and ``n_cameras``
    variables when present (else NaN and 0), ``_score`` from the confidence, ``fnum``
    from the ``frame`` coordinate, and ``M_ij``/``center_i`` from ``anipose_M`` and
    ``anipose_center`` when present.

    Raises
    ------
    InvalidPoseError
        When ``ds`` is not a single-view 3D pose.
    """
    import pandas as pd

    validate_pose(ds, ndim=3, cameras=False)
    position = ds["position"].to_numpy().astype(np.float64)
    shape = position.shape[:2]
    error = _variable(ds, "reprojection_error", np.full(shape, np.nan))
    ncams = _variable(ds, "n_cameras", np.zeros(shape))
    score = ds["confidence"].to_numpy().astype(np.float64)
    columns: dict[str, object] = {}
    for i, lm in enumerate(str(n) for n in ds["landmarks"].values):
        for a, axis in enumerate(_AXES):
            columns[f"{lm}_{axis}"] = position[:, i, a]
        columns[f"{lm}_error"] = error[:, i]
        columns[f"{lm}_ncams"] = _as_int_if_whole(ncams[:, i])
        columns[f"{lm}_score"] = score[:, i]
    if "anipose_M" in ds:
        m = ds["anipose_M"].to_numpy().reshape(-1, 9)
        columns.update({name: m[:, k] for k, name in enumerate(_M_COLUMNS)})
    if "anipose_center" in ds:
        center = ds["anipose_center"].to_numpy()
        columns.update({name: center[:, k] for k, name in enumerate(_CENTER_COLUMNS)})
    columns["fnum"] = ds["frame"].to_numpy().astype(np.int64)
    df = pd.DataFrame(columns)
    atomic_write(path, lambda tmp: df.to_csv(tmp, index=False))


def _variable(ds: xr.Dataset, name: str, default: FloatArray) -> FloatArray:
    if name not in ds:
        return default
    return ds[name].transpose("time", "landmarks").to_numpy().astype(np.float64)


def _as_int_if_whole(values: FloatArray) -> npt.NDArray[Any]:
    # Anipose writes camera counts as integers; keep floats only when NaN is present.
    if np.isfinite(values).all() and (values == np.round(values)).all():
        return values.astype(np.int64)
    return values
