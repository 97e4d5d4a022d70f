"""Recordings: what one session is made of, built the same way for the API and the CLI.

A :class:`Recording` is one session: one pose file or video, or one per camera of a
synchronised set, with the cameras' calibration and the tool's project file when there
are several cameras. :func:`recordings_from_files` groups a list of files into recordings
(files that differ only in the camera part of their name are one recording), and
:func:`session_name` is the one rule that names a session.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from faceexpr._typing import PathLike
from faceexpr.errors import FaceexprError
from faceexpr.interfaces import ProjectSettings
from faceexpr.io.cameras import DEFAULT_CAM_REGEX, camera_names, group_recordings
from faceexpr.registry import triangulator_class

if TYPE_CHECKING:  # the CLI imports this module to build its parser: xarray where used
    import xarray as xr

__all__ = ["Recording", "recordings_from_files", "session_name"]


@dataclass(frozen=True)
class Recording:
    """One session to analyse.

    Attributes
    ----------
    name
        Session name (used for output files and tables).
    files
        One pose file or video, or one per camera (in ``cameras`` order).
    cameras
        Camera names, one per file, when there are several files; else empty.
    cam_regex
        The pattern that named the cameras (passed to the pose estimator).
    calibration
        The cameras' calibration file (e.g. Anipose ``calibration.toml``).
    project
        What the tool's project file says (cam_regex, triangulator options, skeleton).
    """

    name: str
    files: tuple[Path, ...]
    cameras: tuple[str, ...] = ()
    cam_regex: str = DEFAULT_CAM_REGEX
    calibration: Path | None = None
    project: ProjectSettings | None = None

    @property
    def source(self) -> Path | list[Path]:
        """What a pose estimator reads: the one file, or the list of camera files."""
        return self.files[0] if len(self.files) == 1 else list(self.files)


def session_name(item: xr.Dataset | PathLike | Recording, index: int) -> str:
    """The name of a session: a Recording's name, a file's stem, the stem of the first
    file a Dataset was read from, else ``session<index>``."""
    import xarray as xr

    if isinstance(item, Recording):
        return item.name
    if isinstance(item, xr.Dataset):
        files = item.attrs.get("source_files") or []
        return Path(str(files[0])).stem if files else f"session{index}"
    return Path(os.fspath(item)).stem


def recordings_from_files(
    files: Sequence[PathLike],
    *,
    calibration: PathLike | None = None,
    project: PathLike | None = None,
    triangulator: str = "anipose",
    cam_regex: str | None = None,
) -> list[Recording]:
    """Group pose files or videos into recordings.

    Without ``calibration`` every file is a recording of one camera. With it, the files
    are views of synchronised cameras: files whose names differ only in the camera part
    (the match of ``cam_regex``) are one recording.

    Parameters
    ----------
    files
        Pose files or videos.
    calibration
        The cameras' calibration (e.g. Anipose ``calibration.toml``).
    project
        The triangulating tool's project file (e.g. Anipose ``config.toml``), read by the
        registered ``triangulator``'s ``read_project``: its camera pattern, triangulation
        options and skeleton.
    triangulator
        Registered triangulator that reads ``project``.
    cam_regex
        Pattern whose first group in a file name is the camera; default: the project's,
        else ``cam([A-Z])``.

    Raises
    ------
    FaceexprError
        When ``project`` is given without ``calibration``, or no files are given.
    InvalidPoseError
        When a file name has no camera, or two files of one recording share a camera.
    """
    if not files:
        raise FaceexprError("no input files given")
    paths = [Path(os.fspath(f)) for f in files]
    if calibration is None:
        if project is not None:
            raise FaceexprError("a project file needs the cameras' calibration "
                                "(--calibration)")
        return [Recording(p.stem, (p,)) for p in paths]
    settings = None if project is None else triangulator_class(triangulator).read_project(
        project)
    regex = cam_regex or (settings.cam_regex if settings else None) or DEFAULT_CAM_REGEX
    out = []
    for name, group in group_recordings(paths, regex).items():
        cams = camera_names(group, regex)
        order = sorted(range(len(group)), key=lambda i: cams[i])
        out.append(Recording(name, tuple(group[i] for i in order),
                             tuple(cams[i] for i in order), regex, Path(calibration),
                             settings))
    return out


SESSION_NAME_BYTES = 100
"""Longest session name (UTF-8 bytes) used in output paths; longer names are shortened
and given a hash of the full name, so names stay unique and every output path fits the
file system's 255-byte limit."""


def _safe_name(name: str) -> str:
    safe = re.sub(r"[^\w.-]", "_", name).lstrip(".") or "session"
    if len(safe.encode()) <= SESSION_NAME_BYTES:
        return safe
    digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    head = safe.encode()[: SESSION_NAME_BYTES - 9].decode("utf-8", "ignore")
    return f"{head}_{digest}"


def unique_names(names: Sequence[str]) -> list[str]:
    """Session names made unique (``a, a`` → ``a_0, a_1``) and safe as folder names.

    Only letters, digits, ``_``, ``-`` and ``.`` are kept (no path separators, no leading
    dot), long names are shortened (:data:`SESSION_NAME_BYTES`), and names that differ
    only in case count as the same (they would be one folder on macOS and Windows).
    """
    safe = [_safe_name(str(n)) for n in names]
    folded = [n.casefold() for n in safe]
    if len(set(folded)) != len(folded):
        return [f"{n}_{j}" for j, n in enumerate(safe)]
    return safe
