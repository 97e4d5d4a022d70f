"""The ``movement`` pose format: poses Datasets of the movement package saved as netCDF.

movement (neuroinformatics-unit) saves its Datasets with ``ds.to_netcdf(path)`` and reads
them with ``xr.open_dataset(path)``; both faceexpr's own files and movement's end in
``.nc``. They are told apart by their dims: movement's have ``keypoint`` (movement 0.17
and later) or ``keypoints`` (earlier), faceexpr's have ``landmarks``. The conversion is
:func:`faceexpr.io.to_movement` / :func:`faceexpr.io.from_movement`; the movement package
itself is not needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from faceexpr._typing import PathLike
from faceexpr.data import validate_pose, warn_confidence
from faceexpr.errors import FileFormatError, InvalidPoseError
from faceexpr.hookspecs import hookimpl
from faceexpr.interfaces import PoseFormat
from faceexpr.io.movement import Layout, from_movement, to_movement
from faceexpr.io.netcdf import from_netcdf, netcdf_dims, to_netcdf

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["MovementFormat", "from_movement_file", "to_movement_file"]

_KEYPOINT_DIMS = frozenset({"keypoint", "keypoints"})


class MovementFormat(PoseFormat):
    """A movement poses Dataset in a netCDF-4 file (``.nc``).

    Reader options: ``individual`` (files of several individuals) and ``fps`` (instead
    of the file's). Writes any pose (2D or 3D, cameras as movement's ``view`` dim) in
    movement 0.17's layout (singular dim names); :func:`to_movement_file` writes the
    layout of movement 0.16 and earlier on request. Its ``write_priority`` is the
    default 0, so ``save_pose(pose, "x.nc")`` writes faceexpr's own netCDF; ask for this
    format with ``format="movement"``.
    """

    name: ClassVar[str] = "movement"
    suffixes: ClassVar[tuple[str, ...]] = (".nc",)
    description: ClassVar[str] = "movement (neuroinformatics-unit) poses Dataset (netCDF-4)"
    signature: ClassVar[str] = ("a netCDF-4 file with a 'keypoint' or 'keypoints' "
                                "dimension (and no 'landmarks')")

    @classmethod
    def sniff(cls, path: Path) -> bool:
        dims = netcdf_dims(path)
        return dims is not None and "landmarks" not in dims and bool(dims & _KEYPOINT_DIMS)

    @classmethod
    def read(cls, path: PathLike, **options: Any) -> xr.Dataset:
        unknown = sorted(set(options) - {"individual", "fps"})
        if unknown:
            raise TypeError(f"the movement format takes the reader options individual and "
                            f"fps, got {unknown}")
        return from_movement_file(path, **options)

    @classmethod
    def can_write(cls, pose: xr.Dataset) -> bool:
        try:
            validate_pose(pose)
        except InvalidPoseError:
            return False
        return True

    @classmethod
    def write(cls, pose: xr.Dataset, path: PathLike) -> None:
        to_movement_file(pose, path)


def from_movement_file(path: PathLike, individual: str | None = None,
                       fps: float | None = None) -> xr.Dataset:
    """Read a movement poses Dataset saved as netCDF (either dim layout) as a pose.

    Parameters
    ----------
    path
        The ``.nc`` file, e.g. written by movement's ``ds.to_netcdf(path)``.
    individual
        The individual to read when the file has several.
    fps
        Frame rate to use instead of the file's ``fps`` attribute.

    Returns
    -------
    xarray.Dataset
        A validated pose (see :func:`faceexpr.io.from_movement`); ``source_files`` is the
        file's when it names some, else ``[path]``.

    Raises
    ------
    MissingFileError
        When ``path`` does not exist (``<path>: no such file``).
    FileFormatError
        When the file is not netCDF, not a movement poses Dataset, or holds several
        individuals and none was chosen (the message lists them).
    """
    ds = from_netcdf(path)
    try:
        pose = from_movement(ds, individual, fps=fps)
    except InvalidPoseError as exc:
        raise FileFormatError(f"{path}: {exc}") from exc
    if not pose.attrs["source_files"]:
        pose.attrs["source_files"] = [str(path)]
    warn_confidence(pose, path)
    return pose


def to_movement_file(pose: xr.Dataset, path: PathLike, individual: str = "individual_0",
                     layout: Layout = "singular") -> None:
    """Write a pose as a movement poses Dataset in a netCDF-4 file (atomically).

    movement reads it with ``xr.open_dataset(path)``; the Dataset passes movement's
    ``ValidPosesInputs.validate`` when ``layout`` matches the movement version.

    Parameters
    ----------
    pose
        The pose.
    path
        The file to write (``.nc``).
    individual
        Name of the one individual.
    layout
        ``"singular"`` (movement 0.17 and later) or ``"plural"`` (movement 0.16 and
        earlier); see :func:`faceexpr.io.to_movement`.
    """
    to_netcdf(to_movement(pose, individual=individual, layout=layout), path)


@hookimpl
def faceexpr_pose_formats() -> list[type[PoseFormat]]:
    return [MovementFormat]
