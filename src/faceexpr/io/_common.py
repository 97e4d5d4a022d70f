"""Helpers shared by the pose file readers and writers."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import xarray as xr

from faceexpr._files import atomic_write
from faceexpr._typing import FloatArray, PathLike
from faceexpr.data import make_pose
from faceexpr.errors import FileFormatError, InvalidPoseError

# pandas < 3 parses CSV floats a last bit off what was written unless asked for
# round-trip precision; pandas 3 does it by default and deprecates the option.
__all__ = ["READ_CSV_FLOATS", "all_or_none", "atomic_write", "build_pose", "existing_file",
           "first_line", "frame_numbers", "to_float"]

READ_CSV_FLOATS: dict[str, Any] = (
    {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
)


def existing_file(path: PathLike) -> Path:
    """Return ``path`` as a Path after checking that it is a non-empty file.

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        When there is no file to read (the command line reports any OSError).
    FileFormatError
        When the file is empty.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
    if p.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if p.stat().st_size == 0:
        raise FileFormatError(f"{path}: the file is empty")
    return p


def first_line(path: Path) -> str:
    """Return the first line of a text file (no BOM, no line ending); '' if unreadable."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            return f.readline().rstrip("\r\n")
    except OSError:
        return ""


def to_float(
    column: pd.Series[Any], path: PathLike, where: str, header_lines: int | None = None
) -> FloatArray:
    """Convert one parsed column to float64; NaN stays NaN, any other non-number is an error.

    Parameters
    ----------
    column
        The column as pandas parsed it.
    path
        The file, named in the error message.
    where
        What the column is, e.g. ``"column 'nose_x'"``.
    header_lines
        Number of header lines of a text file, to name the line of a bad cell.

    Raises
    ------
    FileFormatError
        Naming the file, the column, the row (and line) and the cell.
    """
    if pd.api.types.is_numeric_dtype(column.dtype):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    numbers = pd.to_numeric(column, errors="coerce")
    bad = (numbers.isna() & column.notna()).to_numpy(dtype=bool)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        line = None if header_lines is None else _line_of_row(Path(path), header_lines, row)
        at = f"row {row + 1}" + ("" if line is None else f" (line {line})")
        raise FileFormatError(
            f"{path}: {where}, {at}: cannot read {column.iloc[row]!r} as a number"
        )
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan)


def _line_of_row(path: Path, header_lines: int, row: int) -> int | None:
    # pandas skips blank lines, so count only non-blank ones after the header.
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            seen = -1
            for number, line in enumerate(f, start=1):
                if number > header_lines and line.strip():
                    seen += 1
                    if seen == row:
                        return number
    except OSError:
        return None
    return None


def frame_numbers(index: pd.Index[Any]) -> npt.NDArray[np.int64] | None:
    """Return an index of whole frame numbers as int64, or None (e.g. image paths)."""
    if isinstance(index, pd.MultiIndex) or len(index) == 0:
        return None
    if pd.api.types.is_integer_dtype(index.dtype):
        return index.to_numpy(dtype=np.int64)
    if pd.api.types.is_float_dtype(index.dtype):
        values = index.to_numpy(dtype=np.float64)
        if np.isfinite(values).all() and (values == np.round(values)).all():
            return values.astype(np.int64)
    return None


def build_pose(path: PathLike, position: FloatArray, landmarks: list[str],
               confidence: FloatArray, **kwargs: Any) -> xr.Dataset:
    """Call :func:`~faceexpr.data.make_pose`, reporting a contract failure as a file error."""
    try:
        return make_pose(position, landmarks, confidence, source_files=[str(path)], **kwargs)
    except InvalidPoseError as exc:
        raise FileFormatError(f"{path}: {exc}") from exc


def all_or_none(columns: list[str], present: set[str], path: PathLike) -> bool:
    """Whether a file has the group of ``columns``; an error when it has only some of them."""
    found = [c for c in columns if c in present]
    if found and len(found) != len(columns):
        missing = [c for c in columns if c not in present]
        raise FileFormatError(f"{path}: has column '{found[0]}' but lacks {missing}")
    return bool(found)
