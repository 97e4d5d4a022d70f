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

    def block(names: list[str]) -> FloatArray | None:
        # plain number columns in one copy (ten times faster than column by column);
        # None when some column is missing or must be checked cell by cell
        if all(n in present and _plain_numbers(df[n]) for n in names):
            return df[names].to_numpy(dtype=np.float64, na_value=np.nan)
        return None

    def per_landmark(suffix: str) -> FloatArray:
        fast = block([lm + suffix for lm in landmarks])
        if fast is not None:
            return fast
        return np.stack([column(lm + suffix) for lm in landmarks], axis=1)

    fast = block([f"{lm}_{a}" for lm in landmarks for a in _AXES])
    position = (fast.reshape(len(df), len(landmarks), len(_AXES)) if fast is not None
                else np.stack([per_landmark(f"_{a}") for a in _AXES], axis=-1))
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
        m = block(_M_COLUMNS)
        if m is None:
            m = np.stack([column(c) for c in _M_COLUMNS], axis=-1)
        ds["anipose_M"] = (("time", "axis_row", "axis_col"), m.reshape(-1, 3, 3))
    if all_or_none(_CENTER_COLUMNS, present, path):
        center = block(_CENTER_COLUMNS)
        if center is None:
            center = np.stack([column(c) for c in _CENTER_COLUMNS], axis=-1)
        ds["anipose_center"] = (("time", "axis_row"), center)
    return ds


def _plain_numbers(column: pd.Series[Any]) -> bool:
    """Whether a parsed column converts to float64 as it is (what :func:`to_float` does
    without looking at the cells)."""
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(column.dtype)
                and not pd.api.types.is_bool_dtype(column.dtype))


def _read(p: Path, path: PathLike) -> tuple[CsvLayout, pd.DataFrame]:
    import pandas as pd

    # A plain file (what Anipose writes) is checked by counting its separators, about a
    # quarter of the time of scan_csv's pass with the csv module; any other file, and any
    # file with a problem, goes through scan_csv, which names the faulty line.
    plain = _PlainCsv.open(p)
    layout: CsvLayout | None = None
    if plain is not None:
        header = plain.header
    else:
        # fnum is the last column: a row that lost or gained cells has no trusty frame number
        layout = scan_csv(p, path, 1)
        header = layout.header[0]

    def fail(message: str) -> FileFormatError:
        if layout is None:
            scan_csv(p, path, 1)  # a ragged row is reported first, as without the shortcut
        return FileFormatError(message)

    if "" in header:
        raise fail(f"{path}: column {header.index('') + 1} of the header has no name")
    dup = duplicated(header)
    if dup is not None:  # pandas would rename the second copy 'nose_x.1' and drop it
        name, a, b = dup
        lm = name.rsplit("_", 1)[0]
        who = f"landmark '{lm}' appears twice: " if lm != name else ""
        raise fail(f"{path}: {who}column '{name}' is in the header twice "
                   f"(columns {a + 1} and {b + 1})")
    try:
        df: pd.DataFrame = pd.read_csv(p, encoding="utf-8-sig", **READ_CSV_FLOATS)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise fail(f"{path}: cannot parse the CSV file: {exc}") from exc
    if layout is None:  # the shortcut: the counts must prove every row whole
        layout = (plain.layout(df) if plain is not None else None) or scan_csv(p, path, 1)
    if len(df) != len(layout.lines) or [str(c) for c in df.columns] != header:
        raise FileFormatError(f"{path}: the rows cannot be told apart consistently (stray "
                              "quotes?): not an Anipose pose-3d CSV")
    return layout, df


class _PlainCsv:
    """A CSV file simple enough to check without the :mod:`csv` module.

    ASCII text (after an optional UTF-8 BOM) without quotes, NUL bytes, lone carriage
    returns, a blank first line or a line longer than csv's field limit: every comma
    separates two fields and every newline ends a row, so the rows can be checked by
    counting separators.
    """

    def __init__(self, header: list[str], n_lines: int, n_commas: int,
                 first_row_commas: int | None) -> None:
        self.header = header
        self.n_lines = n_lines
        self.n_commas = n_commas
        self.first_row_commas = first_row_commas

    @classmethod
    def open(cls, p: Path) -> _PlainCsv | None:
        """The file's header and counts, or None when the file is not plain."""
        import csv

        data = p.read_bytes()
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        if (not data.isascii() or b'"' in data or b"\0" in data
                or (b"\r" in data and data.count(b"\r") != data.count(b"\r\n"))):
            return None
        ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
        last = [] if data.endswith(b"\n") else [len(data)]  # a last line without newline
        bounds = np.concatenate([[-1], ends, last]).astype(np.int64)
        if len(bounds) < 2 or int(np.diff(bounds).max()) > csv.field_size_limit():
            return None
        first = data[: int(bounds[1])].decode("ascii").removesuffix("\r")
        if not first.strip():
            return None
        first_row = (data[int(bounds[1]) + 1: int(bounds[2])].count(b",") if len(bounds) > 2
                     else None)
        return cls(first.split(","), len(bounds) - 1, data.count(b","), first_row)

    def layout(self, df: pd.DataFrame) -> CsvLayout | None:
        """The layout :func:`scan_csv` would find, given what pandas read; None when the
        counts do not prove every row has as many fields as the header.

        When the first row has as many fields as the header, pandas refuses any later
        row with more (a first row with one more would make it read the first column as
        the index), so when it read one row per line after the header and the file holds
        exactly ``(rows + 1) * (fields - 1)`` commas, no row has fewer fields either.
        """
        n, fields = len(df), len(self.header)
        if (self.n_lines != n + 1 or self.n_commas != (n + 1) * (fields - 1)
                or (n > 0 and self.first_row_commas != fields - 1)
                or [str(c) for c in df.columns] != self.header):
            return None
        return CsvLayout([self.header], np.arange(2, n + 2, dtype=np.int64), 1)


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
