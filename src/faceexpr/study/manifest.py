"""Reading a study manifest: the CSV file that lists the sessions of a study.

One row per session. Columns (names case-insensitive, surrounding spaces ignored):

``session``
    The session's name (optional; default: the recording's name, i.e. the stem of its
    file, without the camera part for camera views).
``subject``, ``condition``
    Who was recorded and in which condition (optional; empty when not given).
``files`` or ``video``
    One pose file or video, or several separated by ``;``: the camera views of one
    synchronised recording. Exactly one of the two columns.
``calibration``
    The cameras' calibration file; needed by a row with several files.
``fps``
    Frame rate (a positive number); empty: the file's own.

Every other column is kept as text in :attr:`StudySession.extra`. Paths are relative to
the manifest's folder unless absolute. The manifest is read as text only (UTF-8, with or
without a byte-order mark): nothing in it is evaluated.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from faceexpr._typing import PathLike
from faceexpr.errors import FaceexprError, FileFormatError, MissingFileError, one_line
from faceexpr.recording import Recording, recordings_from_files, unique_names

if TYPE_CHECKING:  # pandas where the table is built
    import pandas as pd

__all__ = ["FILE_SEPARATOR", "StudySession", "manifest_table", "read_manifest"]

FILE_SEPARATOR = ";"
"""Separates the camera views of one recording in the ``files`` column."""

_KNOWN = ("session", "subject", "condition", "files", "video", "calibration", "fps")


@dataclass(frozen=True)
class StudySession:
    """One session of a study, as its manifest row describes it.

    Attributes
    ----------
    name
        The session's name (unique in the study, also as a folder name).
    subject
        Who was recorded ("" when not given).
    condition
        The condition of the recording ("" when not given).
    recording
        What to analyse; its ``name`` is the session's name.
    fps
        Frame rate from the manifest; None: the file's own.
    extra
        The row's other columns, as text (header name as written → value).
    line
        The row's line in the manifest (1-based).
    """

    name: str
    subject: str
    condition: str
    recording: Recording
    fps: float | None
    extra: dict[str, str] = field(hash=False)
    line: int


@dataclass
class _Context:
    """Where a value comes from, for the messages."""

    shown: str
    folder: Path

    def error(self, line: int, text: str) -> FileFormatError:
        return FileFormatError(f"{self.shown}: line {line}: {text}")


def read_manifest(path: PathLike) -> list[StudySession]:
    """Read a study manifest and check every row before returning.

    Parameters
    ----------
    path
        The manifest CSV (comma separated, UTF-8).

    Returns
    -------
    list of StudySession
        One per row, in the manifest's order (blank rows skipped).

    Raises
    ------
    MissingFileError
        When the manifest, a listed file or a calibration is not there, e.g.
        ``study.csv: line 3: file sessions/s3.csv not found``.
    FileFormatError
        With one line naming the manifest, the line and the column: an empty manifest, a
        header without a ``files`` or ``video`` column or with a column twice, a row with
        more fields than the header, an empty ``files`` cell, a bad ``fps``
        (``study.csv: line 4: column fps must be a positive number, got 'thirty'``),
        several files without a calibration or that are not one recording, a file listed
        in two rows, two sessions with the same name.
    """
    source = Path(os.fspath(path))
    # absolute, so that the recordings read the same files from any working folder
    ctx = _Context(str(path), Path(os.path.abspath(source)).parent)
    rows = _read_rows(source, ctx.shown)
    if not rows:
        raise FileFormatError(f"{ctx.shown}: the manifest is empty (expected a header line "
                              "naming the columns, e.g. session,subject,condition,files)")
    header_line, header = rows[0]
    columns = _columns(header, rows[1:], ctx)
    if not rows[1:]:
        raise FileFormatError(f"{ctx.shown}: the manifest lists no sessions (line "
                              f"{header_line} is the header and no row follows)")
    sessions: list[StudySession] = []
    seen_files: dict[str, int] = {}
    seen_names: dict[str, tuple[int, str]] = {}
    for line, record in rows[1:]:
        if len(record) > len(header):
            raise ctx.error(line, f"the row has {len(record)} fields but the header has "
                                  f"{len(header)} (quote a value that holds a comma)")
        cells = {key: record[i].strip() if i < len(record) else ""
                 for key, i in columns.items()}
        session = _session(line, cells, ctx, seen_files)
        key = unique_names([session.name])[0].casefold()
        if key in seen_names:
            first, name = seen_names[key]
            raise ctx.error(line, f"column session: session {session.name!r} has the name of "
                                  f"the session on line {first} ({name!r}); names that differ "
                                  "only in case or in characters other than letters, digits, "
                                  "'_', '-' and '.' are the same output folder: give each "
                                  "session its own name")
        seen_names[key] = (line, session.name)
        sessions.append(session)
    return sessions


def _read_rows(source: Path, shown: str) -> list[tuple[int, list[str]]]:
    """The manifest's non-blank records with the line each starts on."""
    try:
        data = source.read_bytes()
    except FileNotFoundError:
        raise MissingFileError(f"{shown}: no such file") from None
    except IsADirectoryError:
        raise FileFormatError(f"{shown} is a folder, not a manifest CSV file") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        where = data[: exc.start].count(b"\n") + 1
        raise FileFormatError(f"{shown}: line {where}: not UTF-8 text (byte "
                              f"{data[exc.start]:#04x}); save the manifest as UTF-8 CSV"
                              ) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for record in reader:
            if any(cell.strip() for cell in record):
                rows.append((start, record))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise FileFormatError(f"{shown}: line {start}: not valid CSV ({exc})") from None
    for line, record in rows:
        if any("\0" in cell for cell in record):
            raise FileFormatError(f"{shown}: line {line}: holds a NUL byte (not a text CSV "
                                  "file?)")
    return rows


def _columns(header: list[str], rows: list[tuple[int, list[str]]], ctx: _Context
             ) -> dict[str, int]:
    """Map each column (known ones by their lower-case name) to its position."""
    columns: dict[str, int] = {}
    folded: dict[str, tuple[str, int]] = {}
    for i, raw in enumerate(header):
        name = raw.strip()
        if not name:
            # a trailing comma in a spreadsheet export: harmless while the column is empty
            for line, record in rows:
                if i < len(record) and record[i].strip():
                    raise ctx.error(line, f"field {i + 1} has a value, but column {i + 1} has "
                                          "no name in the header")
            continue
        key = name.casefold()
        if key in folded:
            raise FileFormatError(f"{ctx.shown}: the header has the column {name!r} twice "
                                  f"(columns {folded[key][1] + 1} and {i + 1}; names are "
                                  "case-insensitive)")
        folded[key] = (name, i)
        columns[key if key in _KNOWN else name] = i
    if "files" in columns and "video" in columns:
        raise FileFormatError(f"{ctx.shown}: the header has both a files and a video column "
                              "(video is another name for files): keep one")
    if "files" not in columns and "video" not in columns:
        hint = ("; the manifest must be comma separated" if len(header) == 1
                and FILE_SEPARATOR in header[0] else "")
        raise FileFormatError(f"{ctx.shown}: the header has no files or video column (it has: "
                              f"{', '.join(n for n, _ in folded.values())}){hint}")
    return columns


def _resolve(ctx: _Context, cell: str) -> Path:
    path = Path(cell)
    return path if path.is_absolute() else ctx.folder / path


def _existing(ctx: _Context, line: int, what: str, cell: str) -> Path:
    """The file a cell names, which must be there and not be a folder."""
    path = _resolve(ctx, cell)
    if not path.exists():
        where = "" if Path(cell).is_absolute() else (
            f" (paths are relative to the manifest's folder, {ctx.folder})")
        raise MissingFileError(f"{ctx.shown}: line {line}: {what} {cell} not found{where}")
    if path.is_dir():
        raise ctx.error(line, f"{what} {cell} is a folder, not a file")
    return path


def _session(line: int, cells: dict[str, str], ctx: _Context,
             seen_files: dict[str, int]) -> StudySession:
    column = "files" if "files" in cells else "video"
    parts = [p.strip() for p in cells[column].split(FILE_SEPARATOR) if p.strip()]
    if not parts:
        raise ctx.error(line, f"column {column} is empty (expected a pose file or video, or "
                              f"the camera views of one recording separated by "
                              f"'{FILE_SEPARATOR}')")
    files: list[Path] = []
    here: set[str] = set()
    for part in parts:
        path = _existing(ctx, line, "file", part)
        key = os.path.normcase(os.path.realpath(path))
        if key in here:
            raise ctx.error(line, f"column {column} lists the file {part} twice")
        if key in seen_files:
            raise ctx.error(line, f"column {column}: the file {part} is listed on line "
                                  f"{seen_files[key]} too; each file belongs to one session")
        here.add(key)
        files.append(path)
    for key in here:
        seen_files[key] = line
    calibration = None
    if cells.get("calibration"):
        calibration = _existing(ctx, line, "calibration", cells["calibration"])
    elif len(files) > 1:
        which = ("column calibration is empty" if "calibration" in cells
                 else "the manifest has no calibration column")
        raise ctx.error(line, f"{which}, but the row has {len(files)} files: the camera views "
                              "of one recording need the cameras' calibration")
    try:
        recordings = recordings_from_files(files, calibration=calibration)
    except FaceexprError as exc:
        raise ctx.error(line, f"column {column}: {one_line(exc)}") from None
    if len(recordings) != 1:
        names = ", ".join(r.name for r in recordings)
        raise ctx.error(line, f"column {column}: the files are not the camera views of one "
                              f"recording (their names make {len(recordings)} recordings: "
                              f"{names}); list one recording per row")
    recording = recordings[0]
    name = cells.get("session") or recording.name
    return StudySession(
        name=name,
        subject=cells.get("subject", ""),
        condition=cells.get("condition", ""),
        recording=dataclasses.replace(recording, name=name),
        fps=_fps(ctx, line, cells.get("fps", "")),
        extra={k: v for k, v in cells.items() if k not in _KNOWN},
        line=line,
    )


def _fps(ctx: _Context, line: int, cell: str) -> float | None:
    if not cell:
        return None
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ctx.error(line, f"column fps must be a positive number, got {cell!r}")
    return value


def manifest_table(sessions: Sequence[StudySession]) -> pd.DataFrame:
    """The sessions as a table, one row per session.

    Returns
    -------
    pandas.DataFrame
        Columns ``session``, ``subject``, ``condition``, ``files`` (the recording's files
        joined by ``;``), ``fps`` (NaN: the file's own), then every extra column of the
        manifest (empty text where a session has none).
    """
    import pandas as pd

    extra: list[str] = []
    for s in sessions:
        extra += [k for k in s.extra if k not in extra]
    base = ["session", "subject", "condition", "files", "fps"]
    rows = [{"session": s.name, "subject": s.subject, "condition": s.condition,
             "files": FILE_SEPARATOR.join(str(f) for f in s.recording.files),
             "fps": math.nan if s.fps is None else s.fps,
             **{k: s.extra.get(k, "") for k in extra}} for s in sessions]
    table = pd.DataFrame(rows, columns=[*base, *extra])
    table["fps"] = table["fps"].astype("float64")
    return table
