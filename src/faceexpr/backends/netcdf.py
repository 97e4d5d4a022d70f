"""The ``netcdf`` pose format: any faceexpr pose saved as netCDF-4 (``.nc``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from faceexpr._typing import PathLike
from faceexpr.data import check_fps, validate_pose, warn_confidence
from faceexpr.errors import FileFormatError, InvalidPoseError
from faceexpr.hookspecs import hookimpl
from faceexpr.interfaces import PoseFormat
from faceexpr.io.netcdf import from_netcdf, netcdf_dims, to_netcdf

if TYPE_CHECKING:
    import xarray as xr


class NetcdfFormat(PoseFormat):
    """faceexpr's own files: a pose Dataset as netCDF-4 (HDF5) through h5netcdf.

    Reader option: ``fps``, the frame rate to use instead of the file's.

    Attributes that netCDF cannot hold natively are stored as JSON text; every file
    carries the data ``schema_version`` (:data:`faceexpr.io.netcdf.SCHEMA_VERSION`).
    """

    name: ClassVar[str] = "netcdf"
    suffixes: ClassVar[tuple[str, ...]] = (".nc",)
    aliases: ClassVar[tuple[str, ...]] = ("nc", "faceexpr")
    description: ClassVar[str] = "faceexpr pose or results (netCDF-4)"
    signature: ClassVar[str] = "a netCDF-4 file with a 'landmarks' dimension"
    write_priority: ClassVar[int] = 10

    @classmethod
    def sniff(cls, path: Path) -> bool:
        dims = netcdf_dims(path)
        return dims is not None and "landmarks" in dims

    @classmethod
    def read(cls, path: PathLike, **options: Any) -> xr.Dataset:
        fps = options.pop("fps", None)
        if options:
            raise TypeError(f"the netcdf format takes only the reader option fps, got "
                            f"{sorted(options)}")
        ds = from_netcdf(path)
        for key in ("source_files", "faceexpr_history"):
            # plain xarray writes a list of one string as the string, an empty one as []
            value = ds.attrs.get(key)
            if isinstance(value, str):
                ds.attrs[key] = [value]
            elif isinstance(value, np.ndarray) and value.size == 0:
                ds.attrs[key] = []
        if fps is not None and "frame" in ds.coords:
            # the rate given (e.g. --fps) replaces the file's: time is frame / fps
            rate = check_fps(fps)
            if rate is not None:
                ds = ds.assign_coords(time=("time", ds["frame"].values / rate,
                                            {"units": "seconds"}))
                ds.attrs["fps"] = rate
        if {"position", "confidence"} <= set(map(str, ds.data_vars)):
            # a pose: say what is wrong with its values; anything else is left to
            # load_pose, which says that it is not a pose at all
            try:
                validate_pose(ds)
            except InvalidPoseError as exc:
                raise FileFormatError(f"{path}: {exc}") from exc
            warn_confidence(ds, path)
        return ds

    @classmethod
    def can_write(cls, pose: xr.Dataset) -> bool:
        return True

    @classmethod
    def write(cls, pose: xr.Dataset, path: PathLike) -> None:
        to_netcdf(pose, path)


@hookimpl
def faceexpr_pose_formats() -> list[type[PoseFormat]]:
    return [NetcdfFormat]
