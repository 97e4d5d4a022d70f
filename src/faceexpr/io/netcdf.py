"""netCDF (HDF5, through h5netcdf) files of any faceexpr Dataset, poses and results alike.

netCDF attributes hold only strings and numbers, so other attribute values (lists such as
``source_files`` and ``faceexpr_history``, dicts, bools, None) are stored as JSON text
behind a marker and decoded on loading.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from faceexpr._typing import PathLike
from faceexpr.errors import FileFormatError
from faceexpr.io._common import atomic_write, existing_file
from faceexpr.io.hdf5 import check_storage

if TYPE_CHECKING:
    import xarray as xr

ENGINE: Final = "h5netcdf"
JSON_MARKER = "faceexpr.json:"
SCHEMA_VERSION: Final = 1
"""Version of the Dataset layout (:mod:`faceexpr.data`) that this faceexpr writes and
reads. Every file :func:`to_netcdf` writes carries it as the ``schema_version``
attribute; a file of another version is refused with a message saying so, instead of
failing later on a renamed variable or dim."""

MAX_JSON_CHARS: Final = 16 * 2**20
"""Longest JSON attribute :func:`from_netcdf` decodes (a hostile file is refused rather
than parsed without end)."""
MAX_JSON_DEPTH: Final = 64
"""Deepest nesting of lists and dicts a JSON attribute may have."""

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
    # HDF5 crashes the process (SIGSEGV) when the disk fills while it writes a file, so
    # the file is built in memory and written by Python, which raises a plain OSError.
    data = out.to_netcdf(engine=ENGINE)
    atomic_write(path, partial(_write_bytes, data))


def _write_bytes(data: memoryview | bytes | None, path: Path) -> None:
    with open(path, "wb") as fh:
        fh.write(data or b"")


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
    MissingFileError
        When ``path`` does not exist.
    FileFormatError
        When the file is not netCDF, its data lie in other files or would not fit in
        memory (:func:`faceexpr.io.hdf5.check_storage`), or an attribute is not what
        faceexpr writes (naming the attribute).

    Notes
    -----
    Nothing in the file can run code: h5netcdf reads it through h5py, which unpickles
    nothing, and JSON attributes decode to plain values (str, numbers, bools, None, lists
    and dicts of them) of at most :data:`MAX_JSON_CHARS` characters.
    """
    import xarray as xr

    p = existing_file(path)
    if not is_hdf5(p):
        raise FileFormatError(f"{path}: cannot read as a netCDF file: not a netCDF-4 (HDF5) "
                              "file")
    check_storage(p)
    try:
        # decode_timedelta=False: a time axis in "seconds" is a float, not a duration.
        with xr.open_dataset(p, engine=ENGINE, decode_timedelta=False,
                             phony_dims="access") as opened:
            ds = opened.load()
    except Exception as exc:  # h5py/h5netcdf raise OSError, ValueError, KeyError, ...
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        raise FileFormatError(f"{path}: cannot read as a netCDF file: {lines[-1]}") from exc
    ds.attrs = _decode_attrs(ds.attrs, path, "the file")
    check_schema_version(ds, path)
    ds.attrs.pop("schema_version", None)  # a property of the file, written anew on saving
    for name in list(ds.variables):
        var = ds.variables[name]
        var.attrs = _decode_attrs(var.attrs, path, f"variable '{name}'")
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
    number: int | None = None
    if isinstance(version, np.ndarray) and version.size == 1:
        version = version.ravel()[0]
    if (isinstance(version, (int, float, np.integer, np.floating))
            and not isinstance(version, (bool, np.bool_)) and np.isfinite(version)
            and float(version) == round(float(version))):
        number = int(version)
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

    Reads only the file's structure, with h5py (which unpickles nothing): a netCDF-4
    dimension is a dataset of the root group marked ``CLASS = "DIMENSION_SCALE"``. Only
    the file's own (hard-linked) members are looked at: a link into another file is not
    followed. (h5netcdf is not used here: when it fails half-way through opening a
    damaged file it prints an ignored exception on stderr.)
    """
    if not is_hdf5(path):
        return None
    import h5py

    try:
        with h5py.File(path, "r") as f:
            dims = set()
            for name in f:
                if not isinstance(f.get(name, getlink=True), h5py.HardLink):
                    continue
                obj = f[name]
                if (isinstance(obj, h5py.Dataset)
                        and _text(obj.attrs.get("CLASS")) == "DIMENSION_SCALE"):
                    dims.add(str(name))
            return dims
    except Exception:  # any reason it is not netCDF: it is not ours
        return None


def _text(value: Any) -> str | None:
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "replace")
    return value if isinstance(value, str) else None


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


def _decode_attrs(attrs: Mapping[Any, Any], path: PathLike, owner: str) -> dict[str, Any]:
    """Attributes with the JSON ones decoded (see :func:`from_netcdf`'s notes).

    Raises
    ------
    FileFormatError
        Naming the file, the attribute and its owner, when a JSON attribute is longer
        than :data:`MAX_JSON_CHARS`, not JSON, or nested deeper than
        :data:`MAX_JSON_DEPTH`.
    """
    decoded: dict[str, Any] = {}
    for key, value in attrs.items():
        if isinstance(value, str) and value.startswith(JSON_MARKER):
            what = f"{path}: attribute '{key}' of {owner}"
            text = value[len(JSON_MARKER):]
            if len(text) > MAX_JSON_CHARS:
                raise FileFormatError(f"{what} holds {len(text)} characters of JSON, more "
                                      f"than the {MAX_JSON_CHARS} faceexpr reads")
            try:
                value = json.loads(text)
            except (ValueError, RecursionError) as exc:  # RecursionError: [[[[...
                raise FileFormatError(f"{what} is not valid JSON: {exc}") from None
            if _depth(value) > MAX_JSON_DEPTH:
                raise FileFormatError(f"{what} nests JSON deeper than {MAX_JSON_DEPTH} "
                                      "levels")
        decoded[str(key)] = value
    return decoded


def _depth(value: Any) -> int:
    """Nesting depth of decoded JSON (iterative: deep input must not recurse)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict)
                                                  else item))
    return deepest
