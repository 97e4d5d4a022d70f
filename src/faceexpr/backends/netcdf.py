"""The ``netcdf`` pose format: any faceexpr pose saved as netCDF-4 (``.nc``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import xarray as xr

from faceexpr._typing import PathLike
from faceexpr.hookspecs import hookimpl
from faceexpr.interfaces import PoseFormat
from faceexpr.io.netcdf import from_netcdf, netcdf_dims, to_netcdf


class NetcdfFormat(PoseFormat):
    """faceexpr's own files: a pose Dataset as netCDF-4 (HDF5) through h5netcdf.

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
        if options:
            raise TypeError(f"the netcdf format takes no reader options, got "
                            f"{sorted(options)}")
        return from_netcdf(path)

    @classmethod
    def can_write(cls, pose: xr.Dataset) -> bool:
        return True

    @classmethod
    def write(cls, pose: xr.Dataset, path: PathLike) -> None:
        to_netcdf(pose, path)


@hookimpl
def faceexpr_pose_formats() -> list[type[PoseFormat]]:
    return [NetcdfFormat]
