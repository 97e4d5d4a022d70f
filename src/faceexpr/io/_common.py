"""Helpers shared by the pose file readers and writers."""

from __future__ import annotations

import csv
import errno
import importlib.metadata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from faceexpr._files import atomic_write
from faceexpr._typing import FloatArray, PathLike
from faceexpr.data import make_pose
from faceexpr.errors import FileFormatError, InvalidPoseError, MissingFileError

if TYPE_CHECKING:  # imported where used: the format plugins load fast (`faceexpr --help`)
    import pandas as pd
    import xarray as xr

# pandas < 3 parses CSV floats a last bit off what was written unless asked for
# round-trip precision; pandas 3 does it by default and deprecates the option.
__all__ = ["READ_CSV_FLOATS", "CsvLayout", "all_or_none", "atomic_write", "build_pose",
           "check_confidence", "check_frames", "duplicated", "existing_file", "first_line",
           "frame_numbers", "read_text", "scan_csv", "to_float"]


def _pandas_major() -> int:
    """pandas' major version, from its metadata when it has some (importing pandas costs
    a quarter second)."""
    try:
        return int(importlib.metadata.version("pandas").split(".")[0])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        import pandas as pd

        return int(pd.__version__.split(".")[0])


READ_CSV_FLOATS: dict[str, Any] = (
    {} if _pandas_major() >= 3 else {"float_precision": "round_trip"}
)


def existing_file(path: PathLike, *, empty_ok: bool = False) -> Path:
    """Return ``path`` as a Path after checking that it is a readable, non-empty file.

    ``empty_ok`` accepts an empty file (an empty configuration means all defaults).

    Raises
    ------
    MissingFileError
        When there is no such file: ``<path>: no such file`` (a ``FileNotFoundError``).
    FileFormatError
        When ``path`` is a folder or not a regular file (a pipe or a device, which could
        block or never end), cannot be opened, or is empty.
    """
    p = Path(path)
    if not p.exists():
        missing = MissingFileError(f"{path}: no such file")
        missing.errno = errno.ENOENT  # without strerror, str() stays the message above
        raise missing
    if p.is_dir():
        raise FileFormatError(f"{path}: is a folder; expected a file")
    if not p.is_file():
        raise FileFormatError(f"{path}: not a regular file (a pipe, socket or device)")
    try:
        with open(p, "rb"):
            pass
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot open the file: {exc.strerror}") from None
    if p.stat().st_size == 0 and not empty_ok:
        raise FileFormatError(f"{path}: the file is empty")
    return p


MAX_TEXT_BYTES = 16 * 2**20
"""Largest configuration or calibration text file read (they are a few kB)."""


def read_text(path: PathLike, what: str) -> str:
    """Read a small UTF-8 text file (a ``config.toml``, ``calibration.toml``, YAML).

    Raises
    ------
    MissingFileError, FileFormatError
        As :func:`existing_file` (an empty file is read as ``""``); also when the file
        is larger than :data:`MAX_TEXT_BYTES` or not UTF-8 text.
    """
    p = existing_file(path, empty_ok=True)
    if p.stat().st_size > MAX_TEXT_BYTES:
        raise FileFormatError(f"{path}: {p.stat().st_size} bytes is too large for {what} "
                              f"(at most {MAX_TEXT_BYTES})")
    try:
        return p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"{path}: not a UTF-8 text file ({what}): {exc}") from None
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot read {what}: {exc.strerror}") from None


def first_line(path: Path) -> str:
    """Return the first line of a text file (no BOM, no line ending); '' if unreadable."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            return f.readline().rstrip("\r\n")
    except OSError:
        return ""


@dataclass(frozen=True)
class CsvLayout:
    """What one raw pass over a CSV file found (see :func:`scan_csv`).

    Attributes
    ----------
    header
        The header rows, split into fields as :mod:`csv` splits them.
    lines
        The line (from 1) where each data row ends, in the order pandas reads the rows.
    header_end
        The line where the header ends (the lines to skip to reach the data).
    """

    header: list[list[str]]
    lines: npt.NDArray[np.int64]
    header_end: int

    def at(self, row: int, frames: npt.ArrayLike | None = None) -> str:
        """Where data row ``row`` (from 0) is: ``"frame 17 (line 19)"``, or ``"row 18
        (line 19)"`` when the frame numbers are not known."""
        line = f" (line {int(self.lines[row])})" if 0 <= row < len(self.lines) else ""
        if frames is not None:
            return f"frame {np.asarray(frames)[row]}{line}"
        return f"row {row + 1}{line}"


def scan_csv(p: Path, path: PathLike, header_lines: int, *, skipinitialspace: bool = False,
             frame_column: int | None = None) -> CsvLayout:
    """Read a CSV file with :mod:`csv` and check that every data row has as many fields
    as the header.

    pandas fills a short row with NaN without a word, so a file cut in the middle of a row
    (or a row that lost cells) would be read as missing data; this pass refuses it.
    Blank lines are skipped, as pandas skips them.

    Parameters
    ----------
    p, path
        The file, and how to name it in messages.
    header_lines
        How many rows the header has.
    skipinitialspace
        Whether spaces after a comma belong to the separator (OpenFace's ``", "``).
    frame_column
        The field that holds the frame number, to name the frame of a bad row.

    Raises
    ------
    FileFormatError
        When the file is not UTF-8 CSV text, its header rows differ in length, or a data
        row has fewer or more fields than the header (naming the line and the frame).
    """
    header: list[list[str]] = []
    lines: list[int] = []
    header_end = 0
    try:
        with open(p, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f, skipinitialspace=skipinitialspace)
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # a blank line: pandas skips it too
                if len(header) < header_lines:
                    header.append(row)
                    if len(row) != len(header[0]):
                        raise FileFormatError(
                            f"{path}: header line {reader.line_num} has {len(row)} fields, "
                            f"the first has {len(header[0])}")
                    header_end = reader.line_num
                    continue
                if len(row) != len(header[0]):
                    line = reader.line_num
                    last = next(reader, None) is None
                    raise FileFormatError(
                        _ragged(path, row, len(header[0]), line, frame_column, last=last))
                lines.append(reader.line_num)
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"{path}: not a UTF-8 text file: {exc}") from None
    except csv.Error as exc:  # NUL bytes, a field longer than csv's limit
        raise FileFormatError(f"{path}: not a readable CSV file: {exc}") from None
    if len(header) < header_lines:
        raise FileFormatError(f"{path}: the file ends within its header ({len(header)} of "
                              f"{header_lines} header lines)")
    return CsvLayout(header, np.asarray(lines, dtype=np.int64), header_end)


def _ragged(path: PathLike, row: list[str], n: int, line: int, frame_column: int | None,
            *, last: bool) -> str:
    frame = ""
    if frame_column is not None and frame_column < len(row) and row[frame_column].strip():
        frame = f" (frame {row[frame_column].strip()[:20]})"
    what = ("the file ends in the middle of a row" if last and len(row) < n
            else "the row lost or gained cells")
    return (f"{path}: line {line}{frame} has {len(row)} fields but the header has {n}: "
            f"{what}")


def duplicated(names: Sequence[str]) -> tuple[str, int, int] | None:
    """The first name that appears twice, with both positions (from 0); None if none."""
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            return name, seen[name], i
        seen[name] = i
    return None


def to_float(column: pd.Series[Any], path: PathLike, where: str,
             layout: CsvLayout | None = None, frames: npt.ArrayLike | None = None
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
    layout
        The file's :func:`scan_csv` layout, to name the line of a bad cell.
    frames
        The frame number of every row, to name the frame of a bad cell.

    Raises
    ------
    FileFormatError
        Naming the file, the column, the frame (or row) and line, and the cell.
    """
    import pandas as pd

    if (pd.api.types.is_numeric_dtype(column.dtype)
            and not pd.api.types.is_bool_dtype(column.dtype)):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    numbers = pd.to_numeric(column.astype(object), errors="coerce")
    bad = (numbers.isna() & column.notna()).to_numpy(dtype=bool)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        at = layout.at(row) if layout is not None else f"row {row + 1}"
        frame = "" if frames is None else f" (frame {np.asarray(frames)[row]})"
        raise FileFormatError(
            f"{path}: {where}, {at}: cannot read {str(column.iloc[row])[:40]!r} as a "
            f"number{frame}")
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan)


def _at(row: int, frames: npt.ArrayLike, layout: CsvLayout | None) -> str:
    return layout.at(row, frames) if layout is not None else f"frame {np.asarray(frames)[row]}"


def check_frames(frames: npt.NDArray[np.int64], path: PathLike, where: str,
                 layout: CsvLayout | None = None) -> None:
    """Refuse frame numbers that repeat or go back.

    No tool writes the frames of one recording out of order: a file whose frames go
    back has been edited or concatenated, and which order its rows mean cannot be told.

    Raises
    ------
    FileFormatError
        Naming the file, ``where`` the frame numbers are, both frames and their lines.
    """
    back = np.flatnonzero(np.diff(frames) <= 0)
    if back.size == 0:
        return
    k = int(back[0])
    problem = "repeats" if frames[k + 1] == frames[k] else "comes after"
    raise FileFormatError(
        f"{path}: {where}: {_at(k + 1, frames, layout)} {problem} {_at(k, frames, layout)}; "
        "frame numbers must increase, each frame once")


def check_confidence(confidence: FloatArray, known: npt.ArrayLike, path: PathLike,
                     columns: Sequence[str], frames: npt.ArrayLike,
                     layout: CsvLayout | None = None) -> None:
    """Check a tracker's ``(rows, landmarks)`` confidences before they enter a pose.

    An infinite confidence is an error (a pose holds finite numbers or NaN). A finite
    one outside [0, 1] is a warning: the positions are usable, but the column is not a
    likelihood (shifted columns, another tool's numbers), so a confidence threshold
    means nothing on it. A NaN confidence where the position is known is a warning too:
    the point is usable, but every confidence threshold counts it as missing.

    Parameters
    ----------
    confidence
        ``(rows, landmarks)`` as read.
    known
        Where the position is finite, the same shape.
    path
        The file.
    columns
        What each landmark's confidence is, e.g. ``"column 'nose_score'"``.
    frames
        The frame number of each row.
    layout
        The file's CSV layout, to name lines.

    Raises
    ------
    FileFormatError
        Naming the file, the column, the frame (and line) and the value.
    """
    def first(mask: npt.NDArray[np.bool_]) -> tuple[int, int, str]:
        row, col = (int(i) for i in np.unravel_index(int(np.flatnonzero(mask)[0]),
                                                     mask.shape))
        return row, col, f"{columns[col]}, {_at(row, frames, layout)}"

    if np.isinf(confidence).any():
        row, col, where = first(np.isinf(confidence))
        raise FileFormatError(f"{path}: {where}: confidence {confidence[row, col]}; expected "
                              "a value in [0, 1] (empty where unknown)")
    outside = (confidence < 0) | (confidence > 1)
    if outside.any():
        row, col, where = first(outside)
        warnings.warn(
            f"{path}: {where}: confidence {confidence[row, col]} is outside [0, 1] "
            f"({int(outside.sum())} value(s)): not a likelihood, so a confidence threshold "
            "means nothing on this file", UserWarning, stacklevel=3)
    unknown = np.isnan(confidence) & np.asarray(known, dtype=bool)
    if unknown.any():
        _, _, where = first(unknown)
        warnings.warn(
            f"{path}: {int(unknown.sum())} point(s) have a position but no confidence "
            f"(first: {where}); every confidence threshold counts them as missing",
            UserWarning, stacklevel=3)


def frame_numbers(index: pd.Index[Any], path: PathLike, layout: CsvLayout | None = None
                  ) -> npt.NDArray[np.int64] | None:
    """Return a table's row index as frame numbers (int64), or None when it names images.

    An index of text that is not numbers (image paths of labelled data, several columns
    of them) gives None; an index of numbers must hold whole, finite numbers, all of them.

    Raises
    ------
    FileFormatError
        When an index of numbers has a cell that is empty, not a number or not whole, or
        an index of image names names one image twice.
    """
    import pandas as pd

    if len(index) == 0:
        return None
    if isinstance(index, pd.MultiIndex) or not (
            pd.api.types.is_numeric_dtype(index.dtype)
            or pd.to_numeric(pd.Series(index, dtype=object), errors="coerce").notna().any()):
        dup = np.flatnonzero(index.duplicated())
        if dup.size:
            row = int(dup[0])
            at = layout.at(row) if layout is not None else f"row {row + 1}"
            raise FileFormatError(f"{path}: {at}: the image {index[row]!r} appears twice")
        return None
    values = pd.to_numeric(pd.Series(index, dtype=object), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values) | (values != np.round(values)) | (np.abs(values) > 2.0**53)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        at = layout.at(row) if layout is not None else f"row {row + 1}"
        raise FileFormatError(f"{path}: {at}: the frame number {str(index[row])[:40]!r} is "
                              "not a whole number")
    return values.astype(np.int64)


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
