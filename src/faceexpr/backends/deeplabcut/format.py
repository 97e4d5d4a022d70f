"""DeepLabCut pose files: ``.h5`` tables written by pandas, and their ``.csv`` twins.

Columns are a MultiIndex ``(scorer, bodyparts, coords)`` — or ``(scorer, individuals,
bodyparts, coords)`` for multi-animal projects — with ``coords`` ``x, y, likelihood``.
"""

from __future__ import annotations

import csv
import itertools
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from faceexpr._typing import FloatArray, PathLike
from faceexpr.data import validate_pose
from faceexpr.errors import FileFormatError
from faceexpr.interfaces import PoseFormat
from faceexpr.io._common import (
    READ_CSV_FLOATS,
    CsvLayout,
    atomic_write,
    build_pose,
    check_confidence,
    check_frames,
    duplicated,
    existing_file,
    frame_numbers,
    scan_csv,
    to_float,
)
from faceexpr.io.hdf5 import check_pickles, check_storage
from faceexpr.io.netcdf import is_hdf5

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

H5_KEY = "df_with_missing"
SUFFIXES = (".h5", ".hdf5", ".csv")
_HEADER_3 = ["scorer", "bodyparts", "coords"]
_HEADER_4 = ["scorer", "individuals", "bodyparts", "coords"]


def sniff_csv(header: str) -> bool:
    """Tell whether the first line of a CSV file looks like a DeepLabCut header."""
    return header.split(",", 1)[0].strip().strip('"') == "scorer"


def _header_rows(p: Path, path: PathLike) -> tuple[list[list[str]], int | None]:
    """The first four rows of a CSV file, and how many of them are a DeepLabCut header
    (3, 4 for multi-animal files, None when they are not one).

    Raises
    ------
    FileFormatError
        When the file is not readable CSV text.
    """
    try:
        with open(p, encoding="utf-8-sig", newline="") as f:
            rows = list(itertools.islice(csv.reader(f), 4))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise FileFormatError(f"{path}: not a readable CSV text file: {exc}") from exc
    firsts = [row[0].strip() if row else "" for row in rows]
    return rows, 3 if firsts[:3] == _HEADER_3 else 4 if firsts == _HEADER_4 else None


def _is_pandas_hdf(path: Path) -> bool:
    """Whether an HDF5 file holds a pandas table (a group with a ``pandas_type``).

    Reads the file's structure with h5py, which never unpickles anything.
    """
    if not is_hdf5(path):
        return False
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return any(isinstance(node, h5py.Group) and "pandas_type" in node.attrs
                       for node in f.values())
    except Exception:  # not readable as HDF5: not ours
        return False


class DeepLabCutFormat(PoseFormat):
    """DeepLabCut's pose tables: ``.h5`` (pandas/PyTables) and their ``.csv`` twins.

    Reader options: ``fps`` (DeepLabCut files do not store it) and ``individual``
    (multi-animal files). Writes single-view 2D poses.
    """

    name: ClassVar[str] = "deeplabcut"
    suffixes: ClassVar[tuple[str, ...]] = SUFFIXES
    aliases: ClassVar[tuple[str, ...]] = ("dlc",)
    description: ClassVar[str] = "DeepLabCut analyze_videos output (.h5 table or .csv)"
    signature: ClassVar[str] = ("a CSV whose header rows start with scorer, bodyparts, "
                                "coords; or an HDF5 file holding a pandas table")

    @classmethod
    def sniff(cls, path: Path) -> bool:
        if path.suffix.lower() == ".csv":
            try:
                return _header_rows(path, path)[1] is not None
            except (OSError, FileFormatError):
                return False
        return _is_pandas_hdf(path)

    @classmethod
    def read(cls, path: PathLike, **options: Any) -> xr.Dataset:
        return from_dlc_file(path, **options)

    @classmethod
    def can_write(cls, pose: xr.Dataset) -> bool:
        return "cameras" not in pose.dims and pose.sizes.get("space") == 2

    @classmethod
    def write(cls, pose: xr.Dataset, path: PathLike) -> None:
        to_dlc_file(pose, path)


def from_dlc_file(
    path: PathLike, fps: float | None = None, individual: str | None = None
) -> xr.Dataset:
    """Read a DeepLabCut ``.h5`` or ``.csv`` pose file.

    Parameters
    ----------
    path
        The file. An ``.h5`` file is read from its ``df_with_missing`` table, or from its
        only table whatever its name.
    fps
        Frame rate of the video (DeepLabCut files do not store it).
    individual
        For multi-animal files, the individual to read; may be omitted when the file
        holds only one.

    Returns
    -------
    xarray.Dataset
        A 2D pose (or 3D when every body part has a ``z`` coordinate) in pixels; the
        confidence is the likelihood (all ones where finite when the file has none).

    Raises
    ------
    MissingFileError
        When ``path`` does not exist (``<path>: no such file``).
    FileFormatError
        When the file is not a DeepLabCut table; the message names the file and the
        body part, column, frame and line at fault: a row cut short or with extra cells,
        a body part named twice, frame numbers that repeat or go back, an infinite
        likelihood, an HDF5 file that stores data elsewhere or holds unsafe pickles.

    Warns
    -----
    UserWarning
        For a likelihood outside [0, 1] or missing where the position is known.
    """
    p = existing_file(path)
    suffix = p.suffix.lower()
    layout: CsvLayout | None = None
    if suffix in (".h5", ".hdf5"):
        df = _read_h5(p, path)
    elif suffix == ".csv":
        df, layout = _read_csv(p, path)
    else:
        raise FileFormatError(f"{path}: DeepLabCut files end in .h5, .hdf5 or .csv")
    return _to_pose(df, path, fps, individual, layout)


def _read_h5(p: Path, path: PathLike) -> pd.DataFrame:
    import pandas as pd

    if not is_hdf5(p):
        raise FileFormatError(f"{path}: cannot read as a pandas HDF5 table (DeepLabCut): "
                              "not an HDF5 file")
    # PyTables unpickles attributes and object arrays while pandas reads: check them first
    # (and before that, that no data lies outside the file or would not fit in memory)
    check_storage(p)
    check_pickles(p)
    try:
        with pd.HDFStore(p, mode="r") as store:
            keys = [k.lstrip("/") for k in store.keys()]
            if H5_KEY in keys:
                key = H5_KEY
            elif len(keys) == 1:
                key = keys[0]
            else:
                key = ""
            obj = store.get(key) if key else None
    except Exception as exc:  # PyTables raises many unrelated types for foreign files
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        raise FileFormatError(
            f"{path}: cannot read as a pandas HDF5 table (DeepLabCut): {lines[-1]}"
        ) from exc
    if obj is None:
        found = ", ".join(keys) if keys else "none"
        raise FileFormatError(
            f"{path}: expected one pandas table (key '{H5_KEY}'), found tables: {found}"
        )
    if not isinstance(obj, pd.DataFrame):
        raise FileFormatError(
            f"{path}: table '{key}' is a {type(obj).__name__}, not a DeepLabCut DataFrame"
        )
    objects = [c for c, dtype in zip(obj.columns, obj.dtypes) if dtype.kind == "O"]
    if objects:
        raise FileFormatError(
            f"{path}: table '{key}' has non-numeric (object) columns, e.g. {objects[0]}; "
            "DeepLabCut tables hold numbers only")
    return obj


def _read_csv(p: Path, path: PathLike) -> tuple[pd.DataFrame, CsvLayout]:
    import pandas as pd

    rows, n_header = _header_rows(p, path)
    if n_header is None:
        firsts = [row[0].strip() if row else "" for row in rows]
        raise FileFormatError(
            f"{path}: not a DeepLabCut CSV: the first column of the header rows must read "
            f"{_HEADER_3} (multi-animal: {_HEADER_4}), got {firsts}"
        )
    layout = scan_csv(p, path, n_header, frame_column=0)
    if len(layout.lines) == 0:
        raise FileFormatError(f"{path}: the file has a header but no rows of data")
    header = layout.header
    # Labelled-data CSVs index rows by several path columns, left blank in the header.
    n_index = 1
    while n_index < len(header[0]) and not header[0][n_index].strip():
        n_index += 1
    labels = list(zip(*(row[n_index:] for row in header)))
    _check_header(labels, path, n_index)
    if _index_names_row(p, n_header, n_index):
        # pandas writes the names of a named index as a row of its own: not a frame
        layout = CsvLayout(header, layout.lines[1:], int(layout.lines[0]))
    try:
        # The header is taken from the csv module's rows: pandas, given a header, takes a
        # first data row with only its index filled (a frame without any detection) for
        # the row of index names and drops it.
        df = pd.read_csv(p, header=None, skiprows=layout.header_end, encoding="utf-8-sig",
                         index_col=list(range(n_index)) if n_index > 1 else 0,
                         skip_blank_lines=True, **READ_CSV_FLOATS)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"{path}: cannot parse the DeepLabCut CSV: {exc}") from exc
    if len(df) != len(layout.lines) or df.shape[1] != len(labels):
        raise FileFormatError(f"{path}: the rows cannot be told apart consistently (stray "
                              "quotes?): not a DeepLabCut CSV")
    df.columns = pd.MultiIndex.from_tuples(labels, names=[row[0] for row in header])
    return df, layout


def _index_names_row(p: Path, n_header: int, n_index: int) -> bool:
    """Whether the row after the header names the index (text in the index columns,
    nothing else) rather than holding a frame, which has a number there."""
    with open(p, encoding="utf-8-sig", newline="") as f:
        rows = (r for r in csv.reader(f) if r and not (len(r) == 1 and not r[0].strip()))
        row = next(itertools.islice(rows, n_header, None), None)
    if row is None or any(cell.strip() for cell in row[n_index:]):
        return False
    names = [cell.strip() for cell in row[:n_index]]
    return all(names) and not any(_is_number(n) for n in names)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_header(labels: list[tuple[str, ...]], path: PathLike, n_index: int) -> None:
    """Refuse a header that names one column twice (pandas would rename the second
    copy ``x.1``, and the body part would lose it without a word)."""
    dup = duplicated(["\x00".join(label) for label in labels])
    if dup is None:
        return
    label = labels[dup[1]]
    who = f"body part '{label[-2]}'" + (f" of individual '{label[1]}'" if len(label) == 4
                                        else "")
    raise FileFormatError(
        f"{path}: {who} has two '{label[-1]}' columns (columns {dup[1] + n_index + 1} and "
        f"{dup[2] + n_index + 1}): a body part may appear once in the header")


def _to_pose(
    df: pd.DataFrame,
    path: PathLike,
    fps: float | None,
    individual: str | None,
    layout: CsvLayout | None,
) -> xr.Dataset:
    import pandas as pd

    columns = df.columns
    if not isinstance(columns, pd.MultiIndex) or columns.nlevels not in (3, 4):
        levels = columns.nlevels if isinstance(columns, pd.MultiIndex) else 1
        raise FileFormatError(
            f"{path}: not a DeepLabCut table: expected column levels {_HEADER_3} "
            f"(multi-animal: {_HEADER_4}), got {levels} level(s)"
        )
    # Labels as text throughout: an .h5 table may hold numbers as labels.
    columns = pd.MultiIndex.from_tuples([tuple(str(v) for v in c) for c in columns],
                                        names=columns.names)
    df = df.set_axis(columns, axis=1)
    scorers = _unique(columns.get_level_values(0))
    if len(scorers) > 1:
        raise FileFormatError(f"{path}: the table mixes several scorers: {scorers}")
    df = df.droplevel(0, axis=1)
    if columns.nlevels == 4:
        df = _select_individual(df, path, individual)
    elif individual is not None:
        raise FileFormatError(
            f"{path}: individual={individual!r} was given but the file is single-animal"
        )
    if len(df) == 0:
        raise FileFormatError(f"{path}: the table has no rows of data")
    if df.shape[1] == 0:
        raise FileFormatError(f"{path}: the table has no body-part columns")
    dup = df.columns[df.columns.duplicated()]
    if len(dup):
        label = tuple(dup[0])
        raise FileFormatError(f"{path}: body part '{label[0]}' has two '{label[1]}' columns")

    bodyparts = _unique(df.columns.get_level_values(0))
    coords = {bp: [str(c) for c in df[bp].columns] for bp in bodyparts}
    space = ["x", "y", "z"] if all("z" in coords[bp] for bp in bodyparts) else ["x", "y"]
    has_likelihood = any("likelihood" in c for c in coords.values())
    wanted = [*space, "likelihood"] if has_likelihood else space
    for bp in bodyparts:
        for coord in wanted:
            if coord not in coords[bp]:
                raise FileFormatError(
                    f"{path}: body part '{bp}' has no '{coord}' column (it has {coords[bp]})"
                )

    frame = frame_numbers(df.index, path, layout)
    if frame is not None:
        check_frames(frame, path, "the frame index", layout)
    frames = frame if frame is not None else np.arange(len(df))

    def column(bp: str, coord: str) -> FloatArray:
        where = f"body part '{bp}', coordinate '{coord}'"
        return to_float(df[(bp, coord)], path, where, layout, frames)

    position = np.stack(
        [np.stack([column(bp, c) for c in space], axis=-1) for bp in bodyparts], axis=1
    )
    confidence: Any = None
    if has_likelihood:
        confidence = np.stack([column(bp, "likelihood") for bp in bodyparts], axis=1)
        check_confidence(confidence, np.isfinite(position).all(axis=-1), path,
                         [f"body part '{bp}', likelihood" for bp in bodyparts], frames,
                         layout)
    return build_pose(
        path, position, bodyparts, confidence, fps=fps, source_software="DeepLabCut",
        units="pixels", frame=frame,
    )


def _select_individual(df: pd.DataFrame, path: PathLike, individual: str | None
                       ) -> pd.DataFrame:
    individuals = _unique(df.columns.get_level_values(0))
    if individual is None:
        if len(individuals) != 1:
            raise FileFormatError(
                f"{path}: the file holds several individuals {individuals}; "
                "choose one with individual=... (--individual)"
            )
        individual = individuals[0]
    if individual not in individuals:
        raise FileFormatError(
            f"{path}: no individual {individual!r}; the file holds {individuals}"
        )
    selected = df.loc[:, df.columns.get_level_values(0) == individual]
    return selected.droplevel(0, axis=1)


def _unique(values: pd.Index[Any]) -> list[str]:
    """Distinct values in order of first appearance, as str."""
    return list(dict.fromkeys(str(v) for v in values))


def to_dlc_file(ds: xr.Dataset, path: PathLike, scorer: str = "faceexpr") -> None:
    """Write a single-view 2D pose as a DeepLabCut ``.h5`` or ``.csv`` file (by suffix).

    Parameters
    ----------
    ds
        A pose with ``space`` ``[x, y]`` and no ``cameras`` dim.
    path
        Ends in ``.h5``/``.hdf5`` (table ``df_with_missing``) or ``.csv``.
    scorer
        Name written in the ``scorer`` column level.

    Raises
    ------
    InvalidPoseError
        When ``ds`` is not a single-view 2D pose.
    FileFormatError
        When the suffix is not one DeepLabCut uses.
    """
    import pandas as pd

    validate_pose(ds, ndim=2, cameras=False)
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise FileFormatError(f"{path}: DeepLabCut files end in .h5, .hdf5 or .csv")
    position = ds["position"].to_numpy().astype(np.float64)
    confidence = ds["confidence"].to_numpy().astype(np.float64)
    n_time, n_landmarks = confidence.shape
    data = np.concatenate([position, confidence[..., None]], axis=-1)
    columns = pd.MultiIndex.from_product(
        [[scorer], [str(n) for n in ds["landmarks"].values], ["x", "y", "likelihood"]],
        names=_HEADER_3,
    )
    index = pd.Index(ds["frame"].to_numpy().astype(np.int64))
    df = pd.DataFrame(data.reshape(n_time, n_landmarks * 3), index=index, columns=columns)
    if suffix == ".csv":
        atomic_write(path, lambda tmp: df.to_csv(tmp))
    else:
        # DeepLabCut writes format="table", but pandas writes nothing for an empty table.
        fmt: Literal["table", "fixed"] = "table" if len(df) else "fixed"
        atomic_write(path, lambda tmp: df.to_hdf(tmp, key=H5_KEY, mode="w", format=fmt))
