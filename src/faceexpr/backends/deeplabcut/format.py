"""DeepLabCut pose files: ``.h5`` tables written by pandas, and their ``.csv`` twins.

Columns are a MultiIndex ``(scorer, bodyparts, coords)`` — or ``(scorer, individuals,
bodyparts, coords)`` for multi-animal projects — with ``coords`` ``x, y, likelihood``.
"""

from __future__ import annotations

import csv
import itertools
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import xarray as xr

from faceexpr._typing import FloatArray, PathLike
from faceexpr.data import validate_pose
from faceexpr.errors import FileFormatError
from faceexpr.interfaces import PoseFormat
from faceexpr.io._common import (
    READ_CSV_FLOATS,
    atomic_write,
    build_pose,
    existing_file,
    frame_numbers,
    to_float,
)
from faceexpr.io.hdf5 import check_pickles
from faceexpr.io.netcdf import is_hdf5

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
    FileNotFoundError
        When ``path`` does not exist.
    FileFormatError
        When the file is not a DeepLabCut table; the message names the file and the
        body part, column or row at fault.
    """
    p = existing_file(path)
    suffix = p.suffix.lower()
    header_lines: int | None = None
    if suffix in (".h5", ".hdf5"):
        df = _read_h5(p, path)
    elif suffix == ".csv":
        df, header_lines = _read_csv(p, path)
    else:
        raise FileFormatError(f"{path}: DeepLabCut files end in .h5, .hdf5 or .csv")
    return _to_pose(df, path, fps, individual, header_lines)


def _read_h5(p: Path, path: PathLike) -> pd.DataFrame:
    if not is_hdf5(p):
        raise FileFormatError(f"{path}: cannot read as a pandas HDF5 table (DeepLabCut): "
                              "not an HDF5 file")
    # PyTables unpickles attributes and object arrays while pandas reads: check them first
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
    objects = [c for c in obj.columns if obj[c].dtype == object]
    if objects:
        raise FileFormatError(
            f"{path}: table '{key}' has non-numeric (object) columns, e.g. {objects[0]}; "
            "DeepLabCut tables hold numbers only")
    return obj


def _read_csv(p: Path, path: PathLike) -> tuple[pd.DataFrame, int]:
    rows, n_header = _header_rows(p, path)
    if n_header is None:
        firsts = [row[0].strip() if row else "" for row in rows]
        raise FileFormatError(
            f"{path}: not a DeepLabCut CSV: the first column of the header rows must read "
            f"{_HEADER_3} (multi-animal: {_HEADER_4}), got {firsts}"
        )
    # Labelled-data CSVs index rows by several path columns, left blank in the header.
    n_index = 1
    while n_index < len(rows[0]) and not rows[0][n_index].strip():
        n_index += 1
    try:
        df = pd.read_csv(
            p,
            header=list(range(n_header)),
            index_col=list(range(n_index)) if n_index > 1 else 0,
            encoding="utf-8-sig",
            **READ_CSV_FLOATS,
        )
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"{path}: cannot parse the DeepLabCut CSV: {exc}") from exc
    return df, n_header


def _to_pose(
    df: pd.DataFrame,
    path: PathLike,
    fps: float | None,
    individual: str | None,
    header_lines: int | None,
) -> xr.Dataset:
    columns = df.columns
    if not isinstance(columns, pd.MultiIndex) or columns.nlevels not in (3, 4):
        levels = columns.nlevels if isinstance(columns, pd.MultiIndex) else 1
        raise FileFormatError(
            f"{path}: not a DeepLabCut table: expected column levels {_HEADER_3} "
            f"(multi-animal: {_HEADER_4}), got {levels} level(s)"
        )
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

    def column(bp: str, coord: str) -> FloatArray:
        where = f"body part '{bp}', coordinate '{coord}'"
        return to_float(df[(bp, coord)], path, where, header_lines)

    position = np.stack(
        [np.stack([column(bp, c) for c in space], axis=-1) for bp in bodyparts], axis=1
    )
    confidence: Any = None
    if has_likelihood:
        confidence = np.stack([column(bp, "likelihood") for bp in bodyparts], axis=1)
    return build_pose(
        path, position, bodyparts, confidence, fps=fps, source_software="DeepLabCut",
        units="pixels", frame=frame_numbers(df.index),
    )


def _select_individual(df: pd.DataFrame, path: PathLike, individual: str | None
                       ) -> pd.DataFrame:
    individuals = _unique(df.columns.get_level_values(0))
    if individual is None:
        if len(individuals) != 1:
            raise FileFormatError(
                f"{path}: the file holds several individuals {individuals}; "
                "choose one with individual=..."
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
