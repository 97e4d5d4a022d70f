"""Reading and writing pose files of any registered format.

The formats are plugins (:func:`faceexpr.hookspecs.faceexpr_pose_formats`): this module
asks the registry for them and never names one.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faceexpr._typing import PathLike
from faceexpr.data import validate_pose
from faceexpr.errors import BackendNotFoundError, FileFormatError, InvalidPoseError
from faceexpr.interfaces import PoseFormat
from faceexpr.io._common import existing_file
from faceexpr.registry import pose_format, pose_formats

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["detect_format", "load_pose", "save_pose"]


def load_pose(path: PathLike, format: str = "auto", *, source_software: str | None = None,
              **options: Any) -> xr.Dataset:
    """Read a pose file of any registered format.

    Parameters
    ----------
    path
        The file.
    format
        A registered format name or alias (``"deeplabcut"``/``"dlc"``, ``"anipose"``,
        ``"openface"``, ``"netcdf"``, ``"movement"``, or a plugin's; case-insensitive).
        ``"auto"`` (default) asks every format whose suffixes include the file's suffix
        whether it recognises the content (:func:`detect_format`).
    source_software
        Deprecated name of ``format``.
    **options
        Passed to the format's reader, e.g. ``fps``, ``individual`` (DeepLabCut) or
        ``face_id`` (OpenFace).

    Returns
    -------
    xarray.Dataset
        A validated pose.

    Raises
    ------
    MissingFileError
        When ``path`` does not exist (``<path>: no such file``; a ``FileNotFoundError``).
    FileFormatError
        When ``path`` is a folder or empty, no format or more than one recognises the
        file (the message lists each format tried and why it refused), or the file is
        malformed (the message names the file and the frame, landmark or line at fault).
        Every error a file can cause is a :class:`~faceexpr.errors.FaceexprError`.

    Warns
    -----
    UserWarning
        When the data are usable but odd, naming the file, frame and landmark: a
        confidence outside [0, 1], a position without a confidence.
    """
    if source_software is not None:
        warnings.warn("load_pose(source_software=...) is deprecated; use format=...",
                      DeprecationWarning, stacklevel=2)
        format = source_software
    fmt = _named(format, path) if format.strip().lower() != "auto" else detect_format(path)
    ds = fmt.read(path, **options)
    try:
        return validate_pose(ds)
    except InvalidPoseError as exc:  # e.g. a netCDF file of results rather than a pose
        raise FileFormatError(f"{path}: not a pose: {exc}") from exc


def detect_format(path: PathLike) -> type[PoseFormat]:
    """Return the one registered format that recognises ``path``.

    Every format whose ``suffixes`` include the file's suffix is asked
    (:meth:`~faceexpr.interfaces.PoseFormat.sniff`).

    Raises
    ------
    MissingFileError
        When there is no file.
    FileFormatError
        When ``path`` is a folder, or none or several formats recognise it, listing
        every format and why it refused.
    """
    p = existing_file(path)
    suffix = p.suffix.lower()
    yes: list[type[PoseFormat]] = []
    refused: list[str] = []
    for name, cls in pose_formats().items():
        if suffix not in cls.suffixes:
            refused.append(f"{name}: reads {', '.join(cls.suffixes) or 'no files'}, not "
                           f"{suffix or '(no suffix)'}")
        elif cls.sniff(p):
            yes.append(cls)
        else:
            refused.append(f"{name}: expected {cls.signature or 'its own content'}")
    if len(yes) == 1:
        return yes[0]
    if yes:
        raise FileFormatError(
            f"{path}: several formats recognise this file ({', '.join(c.name for c in yes)}); "
            "choose one with format=... (--format)")
    raise FileFormatError(f"{path}: no registered pose format recognises this file; "
                          + "; ".join(refused))


def save_pose(pose: xr.Dataset, path: PathLike, format: str = "auto") -> None:
    """Write a pose in a registered format (atomically: complete or not at all).

    Parameters
    ----------
    pose
        The pose.
    path
        The file to write.
    format
        A registered format name, or ``"auto"``: the format among those whose suffixes
        include the suffix of ``path`` that can hold ``pose``
        (:meth:`~faceexpr.interfaces.PoseFormat.can_write`); when several can, the one
        the pose was read from (``attrs["source_software"]``), else the one with the
        highest ``write_priority``. So ``.nc`` is faceexpr's netCDF,
        ``.h5`` DeepLabCut, and ``.csv`` OpenFace for a pose read from OpenFace, Anipose
        for another 3D pose and DeepLabCut for a 2D one.

    Raises
    ------
    InvalidPoseError
        When ``pose`` is not a pose, or not one the chosen format can hold.
    FileFormatError
        When no format or several could write it.
    """
    validate_pose(pose)
    if format.strip().lower() != "auto":
        fmt = _named(format, path)
        if not fmt.can_write(pose):
            raise InvalidPoseError(f"{path}: the {fmt.name} format cannot hold this pose "
                                   f"(dims {dict(pose.sizes)})")
        fmt.write(pose, path)
        return
    suffix = Path(path).suffix.lower()
    fits = [c for c in pose_formats().values() if suffix in c.suffixes]
    able = [c for c in fits if c.can_write(pose)]
    source = str(pose.attrs.get("source_software", "")).strip().lower()
    if len(able) > 1:
        able = [c for c in able if c.name == source] or able
    if len(able) > 1:
        top = max(c.write_priority for c in able)
        able = [c for c in able if c.write_priority == top]
    if len(able) == 1:
        able[0].write(pose, path)
        return
    if not fits:
        suffixes = sorted({s for c in pose_formats().values() if c.can_write(pose)
                           for s in c.suffixes})
        raise FileFormatError(f"{path}: no format writes {suffix or '(no suffix)'} files; "
                              f"this pose can be written as {', '.join(suffixes)}")
    if not able:
        raise InvalidPoseError(
            f"{path}: none of the {suffix} formats ({', '.join(c.name for c in fits)}) can "
            f"hold this pose (dims {dict(pose.sizes)})")
    raise FileFormatError(f"{path}: several formats can write this pose as {suffix} "
                          f"({', '.join(c.name for c in able)}); choose one with format=...")


def _named(name: str, path: PathLike) -> type[PoseFormat]:
    try:
        return pose_format(name)
    except BackendNotFoundError as exc:
        raise FileFormatError(f"{path}: unknown format {name!r}; registered: "
                              f"{', '.join(pose_formats())}") from exc
