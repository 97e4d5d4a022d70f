"""netCDF (HDF5, through h5netcdf) files of any faceexpr Dataset, poses and results alike.

netCDF attributes hold only strings and numbers, so other attribute values (lists such as
``source_files`` and ``faceexpr_history``, dicts, bools, None) are stored as JSON text
behind a marker and decoded on loading.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import xarray as xr

from faceexpr._typing import PathLike
from faceexpr.errors import FileFormatError
from faceexpr.io._common import atomic_write, existing_file

ENGINE: Final = "h5netcdf"
JSON_MARKER = "faceexpr.json:"
SCHEMA_VERSION: Final = 1
"""Version of the Dataset layout (:mod:`faceexpr.data`) that this faceexpr writes and
reads. Every file :func:`to_netcdf` writes carries it as the ``schema_version``
attribute; a file of another version is refused with a message saying so, instead of
failing later on a renamed variable or dim."""

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
"""First bytes of an HDF5 file (netCDF-4 files are HDF5 files)."""


def to_netcdf(ds: xr.Dataset, path: PathLike) -> None:
    """Write any faceexpr Dataset to a netCDF file that :func:`from_netcdf` reads back.

    The file is written beside ``path`` under a temporary name and renamed at the end,
    so a failure leaves no partial file (and an existing ``path`` untouched).

    Parameters
    ----------
    ds
        The Dataset; its attributes may be str, numbers, numeric arrays, and JSON-able
        lists, dicts, bools or None.
    path
        The file to write (conventionally ``.nc``).

    Raises
    ------
    TypeError
        When an attribute can be stored neither natively nor as JSON.
    FileNotFoundError
        When the folder of ``path`` does not exist.
    """
    out = ds.copy(deep=False)
    out.attrs = _encode_attrs({**ds.attrs, "schema_version": SCHEMA_VERSION}, "the Dataset")
    for name in list(out.variables):
        var = out.variables[name]
        var.attrs = _encode_attrs(ds.variables[name].attrs, f"variable '{name}'")
        # Encodings carried over from a file read earlier (chunks, source) may not fit.
        var.encoding = {}
    atomic_write(path, lambda tmp: out.to_netcdf(tmp, engine=ENGINE))


def from_netcdf(path: PathLike) -> xr.Dataset:
    """Read a Dataset written by :func:`to_netcdf` (or any netCDF4/HDF5 file) into memory.

    Parameters
    ----------
    path
        The netCDF file.

    Returns
    -------
    xarray.Dataset
        With JSON-encoded attributes decoded and text variables as ``str`` arrays. It is
        not validated: use :func:`faceexpr.data.validate_pose` for a pose.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    FileFormatError
        When the file is not netCDF.
    """
    p = existing_file(path)
    try:
        # decode_timedelta=False: a time axis in "seconds" is a float, not a duration.
        with xr.open_dataset(p, engine=ENGINE, decode_timedelta=False) as opened:
            ds = opened.load()
    except Exception as exc:  # h5py/h5netcdf raise OSError, ValueError, KeyError, ...
        raise FileFormatError(f"{path}: cannot read as a netCDF file: {exc}") from exc
    ds.attrs = _decode_attrs(ds.attrs)
    check_schema_version(ds, path)
    ds.attrs.pop("schema_version", None)  # a property of the file, written anew on saving
    for name in list(ds.variables):
        var = ds.variables[name]
        var.attrs = _decode_attrs(var.attrs)
        var.encoding = {}
        if var.dtype == object and all(isinstance(v, str) for v in var.values.ravel()):
            # Older xarray versions return variable-length strings as object arrays.
            text = var.copy(data=var.values.astype(str))
            if name in ds.coords:
                ds = ds.assign_coords({name: text})
            else:
                ds[name] = text
    return ds


def check_schema_version(ds: xr.Dataset, path: PathLike) -> None:
    """Refuse a Dataset written with another :data:`SCHEMA_VERSION` (files without one,
    written by other tools or by faceexpr before versions existed, are read as they are).

    Raises
    ------
    FileFormatError
        Naming the file, its version and the one this faceexpr reads.
    """
    version = ds.attrs.get("schema_version")
    if version is None:
        return
    try:
        number: int | None = int(version)
    except (TypeError, ValueError):
        number = None
    if number != SCHEMA_VERSION:
        newer = number is not None and number > SCHEMA_VERSION
        shown = number if number is not None else repr(version)
        raise FileFormatError(
            f"{path}: written with faceexpr data schema version {shown}, but this "
            f"faceexpr reads version {SCHEMA_VERSION}"
            + ("; upgrade faceexpr to read it" if newer else ""))


def is_hdf5(path: PathLike) -> bool:
    """Whether the file starts with the HDF5 signature (netCDF-4 and pandas ``.h5``)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE
    except OSError:
        return False


def netcdf_dims(path: PathLike) -> set[str] | None:
    """Names of the dimensions of a netCDF-4 file, or None when it is not one.

    Reads only the file's metadata (through h5netcdf, which unpickles nothing).
    """
    if not is_hdf5(path):
        return None
    import h5netcdf

    try:
        with h5netcdf.File(path, "r") as f:
            return {str(d) for d in f.dimensions}
    except Exception:  # any reason it is not netCDF: it is not ours
        return None


def _encode_attrs(attrs: Mapping[Any, Any], owner: str) -> dict[str, Any]:
    encoded: dict[str, Any] = {}
    for key, value in attrs.items():
        encoded[str(key)] = _encode_value(value, f"attribute '{key}' of {owner}")
    return encoded


def _encode_value(value: Any, what: str) -> Any:
    if isinstance(value, str):
        # A string that happens to start with the marker is itself JSON-encoded.
        return JSON_MARKER + json.dumps(value) if value.startswith(JSON_MARKER) else value
    if isinstance(value, (bool, np.bool_)) or value is None:
        return JSON_MARKER + json.dumps(bool(value) if value is not None else None)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf" and value.ndim == 1:
        return value
    try:
        return JSON_MARKER + json.dumps(_plain(value))
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{what} ({type(value).__name__}) cannot be stored in netCDF: {exc}"
        ) from exc


def _plain(value: Any) -> Any:
    """Convert numpy values inside lists/dicts to Python ones json understands."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _decode_attrs(attrs: Mapping[Any, Any]) -> dict[str, Any]:
    decoded: dict[str, Any] = {}
    for key, value in attrs.items():
        if isinstance(value, str) and value.startswith(JSON_MARKER):
            value = json.loads(value[len(JSON_MARKER):])
        decoded[str(key)] = value
    return decoded
