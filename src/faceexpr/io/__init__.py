"""Readers and writers of pose files.

:func:`load_pose` picks the reader from ``source_software`` or from the file itself;
:func:`save_pose` picks the writer from the suffix. Formats:

``deeplabcut``
    DeepLabCut ``.h5``/``.csv`` (:func:`from_dlc_file`, :func:`to_dlc_file`).
``anipose``
    Anipose ``pose-3d/*.csv`` (:func:`from_anipose_csv`, :func:`to_anipose_csv`).
``openface``
    OpenFace 2.x ``FeatureExtraction``/``FaceLandmarkVidMulti`` ``.csv``
    (:func:`from_openface_csv`, :func:`to_openface_csv`).
``netcdf``
    Any faceexpr Dataset as ``.nc`` (:func:`from_netcdf`, :func:`to_netcdf`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import xarray as xr

from faceexpr.data import n_spatial_dims, validate_pose
from faceexpr.errors import FileFormatError, InvalidPoseError
from faceexpr.io import anipose, deeplabcut, openface
from faceexpr.io._common import PathLike, existing_file, first_line
from faceexpr.io.anipose import from_anipose_csv, to_anipose_csv
from faceexpr.io.anipose_config import AniposeConfig, read_anipose_config
from faceexpr.io.cameras import group_recordings, load_cameras
from faceexpr.io.deeplabcut import from_dlc_file, to_dlc_file
from faceexpr.io.netcdf import from_netcdf, to_netcdf
from faceexpr.io.openface import from_openface_csv, to_openface_csv

__all__ = [
    "CSV_SNIFFERS",
    "READERS",
    "SUFFIX_FORMATS",
    "AniposeConfig",
    "from_anipose_csv",
    "from_dlc_file",
    "from_netcdf",
    "from_openface_csv",
    "group_recordings",
    "load_cameras",
    "load_pose",
    "read_anipose_config",
    "save_pose",
    "to_anipose_csv",
    "to_dlc_file",
    "to_netcdf",
    "to_openface_csv",
]

Reader = Callable[..., xr.Dataset]

READERS: dict[str, Reader] = {
    "deeplabcut": from_dlc_file,
    "anipose": from_anipose_csv,
    "netcdf": from_netcdf,
    "openface": from_openface_csv,
}
"""Readers by format name (``source_software``, lower case)."""

SUFFIX_FORMATS: dict[str, str] = {".h5": "deeplabcut", ".hdf5": "deeplabcut", ".nc": "netcdf"}
"""Formats recognised from the suffix alone; ``.csv`` files are sniffed."""

CSV_SNIFFERS: dict[str, Callable[[str], bool]] = {
    "deeplabcut": deeplabcut.sniff_csv,
    "anipose": anipose.sniff_csv,
    "openface": openface.sniff_csv,
}
"""Tests of a CSV file's first line, tried in order; the first that says yes picks the
reader of that name in :data:`READERS`. A new CSV format registers its reader in
:data:`READERS` and its header test here, as OpenFace does."""

_ALIASES = {"dlc": "deeplabcut"}


def load_pose(path: PathLike, source_software: str | None = None, **kwargs: Any) -> xr.Dataset:
    """Read a pose file of any supported format.

    Parameters
    ----------
    path
        The file.
    source_software
        ``"deeplabcut"``, ``"anipose"``, ``"openface"`` or ``"netcdf"`` (case-insensitive);
        by default the format is recognised from the suffix (``.h5``, ``.hdf5``, ``.nc``)
        or, for ``.csv``, from the header line.
    **kwargs
        Passed to the reader, e.g. ``fps``, ``individual`` (DeepLabCut) or ``face_id``
        (OpenFace).

    Returns
    -------
    xarray.Dataset
        A validated pose.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    FileFormatError
        When the format is not recognised or the file is malformed.
    """
    fmt = _format_of(path, source_software)
    ds = READERS[fmt](path, **kwargs)
    try:
        return validate_pose(ds)
    except InvalidPoseError as exc:  # e.g. a netCDF file of results rather than a pose
        raise FileFormatError(f"{path}: not a pose: {exc}") from exc


def _format_of(path: PathLike, source_software: str | None) -> str:
    known = ", ".join(READERS)
    if source_software is not None:
        fmt = source_software.strip().lower()
        fmt = _ALIASES.get(fmt, fmt)
        if fmt not in READERS:
            raise FileFormatError(
                f"{path}: unknown source_software {source_software!r}; known: {known}"
            )
        return fmt
    p = existing_file(path)
    suffix = p.suffix.lower()
    if suffix in SUFFIX_FORMATS:
        return SUFFIX_FORMATS[suffix]
    if suffix == ".csv":
        header = first_line(p)
        for fmt, sniff in CSV_SNIFFERS.items():
            if sniff(header):
                return fmt
        raise FileFormatError(
            f"{path}: unrecognised CSV header; recognised CSV formats: "
            f"{', '.join(CSV_SNIFFERS)} (or pass source_software=...)"
        )
    raise FileFormatError(
        f"{path}: unrecognised file type {suffix or '(no suffix)'!s}; recognised: "
        f".h5/.hdf5 (DeepLabCut), .nc (netCDF), .csv ({', '.join(CSV_SNIFFERS)}); "
        f"formats: {known}"
    )


def save_pose(ds: xr.Dataset, path: PathLike) -> None:
    """Write a pose in the format given by the suffix of ``path``.

    ``.nc`` is netCDF, ``.h5``/``.hdf5`` DeepLabCut, and ``.csv`` an OpenFace file for a
    pose read from OpenFace (``attrs["source_software"] == "OpenFace"``, keeping its head
    pose and action units), else an Anipose file for a 3D pose or a DeepLabCut file for a
    2D one.

    Raises
    ------
    InvalidPoseError
        When ``ds`` is not a pose the chosen format can hold.
    FileFormatError
        When the suffix is not one of these.
    """
    validate_pose(ds)
    suffix = Path(path).suffix.lower()
    if suffix == ".nc":
        to_netcdf(ds, path)
    elif suffix in (".h5", ".hdf5"):
        to_dlc_file(ds, path)
    elif suffix == ".csv" and ds.attrs.get("source_software") == "OpenFace":
        to_openface_csv(ds, path)
    elif suffix == ".csv" and n_spatial_dims(ds) == 3:
        to_anipose_csv(ds, path)
    elif suffix == ".csv":
        to_dlc_file(ds, path)
    else:
        raise FileFormatError(f"{path}: cannot tell the format; use .nc, .h5, .hdf5 or .csv")
