"""Several single-camera 2D pose files (one per camera) as one pose with a ``cameras`` dim.

Anipose finds the camera of a file with a regular expression on its name (``cam_regex``
in its ``config.toml``): ``session1_camA.h5`` is camera ``A`` with ``cam([A-Z])``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from faceexpr._typing import PathLike
from faceexpr.data import get_fps, make_pose, validate_pose, with_history
from faceexpr.errors import InvalidPoseError
from faceexpr.io.poses import load_pose

if TYPE_CHECKING:
    import xarray as xr

DEFAULT_CAM_REGEX = r"cam([A-Z])"
"""Default camera pattern: ``..._camA...`` is camera ``A``."""

__all__ = ["DEFAULT_CAM_REGEX", "camera_name", "compile_cam_regex", "load_cameras"]


def compile_cam_regex(cam_regex: str, what: str = "cam_regex") -> re.Pattern[str]:
    """Compile a camera pattern, refusing one that cannot name a camera.

    Parameters
    ----------
    cam_regex
        The pattern; its first group is the camera name.
    what
        How the pattern is named in messages (``"--cam-regex"`` on the command line).

    Raises
    ------
    InvalidPoseError
        When the pattern is not a string, not a valid regular expression, or has no
        group (``cam[A-Z]`` would make the whole match the camera, ``camA``, which is not
        what Anipose does). For example ``cam_regex 'cam([A-Z]': not a valid regular
        expression (missing ), unterminated subpattern at position 3)``.
    """
    if not isinstance(cam_regex, str):
        raise InvalidPoseError(f"{what} must be a string (a regular expression), got "
                               f"{cam_regex!r}")
    try:
        pattern = re.compile(cam_regex)
    except re.error as exc:
        raise InvalidPoseError(f"{what} {cam_regex!r}: not a valid regular expression "
                               f"({exc})") from None
    if pattern.groups < 1:
        raise InvalidPoseError(
            f"{what} {cam_regex!r} has no group: the first group (in parentheses) names the "
            f"camera, e.g. {DEFAULT_CAM_REGEX!r}")
    return pattern


def camera_name(path: PathLike, cam_regex: str = DEFAULT_CAM_REGEX) -> str:
    """Return the camera of a file: the first group of ``cam_regex`` in its name.

    The pattern is searched (``re.search``) in the file name without its last suffix, as
    Anipose does (so ``_([A-Z])$`` matches ``vid_A.h5``).

    Raises
    ------
    InvalidPoseError
        When the name does not match, or the pattern is not a valid regular expression
        with a group (:func:`compile_cam_regex`).
    """
    stem = Path(path).stem
    match = compile_cam_regex(cam_regex).search(stem)
    if match is None:
        raise InvalidPoseError(
            f"{path}: cannot tell the camera from the file name: {stem!r} does not match "
            f"cam_regex {cam_regex!r} (or give the camera names with names=[...])")
    name = match.group(1)
    if not name:
        raise InvalidPoseError(f"{path}: cam_regex {cam_regex!r} matched an empty camera name")
    return str(name).strip()


def load_cameras(
    files: Sequence[PathLike],
    cam_regex: str = DEFAULT_CAM_REGEX,
    names: Sequence[str] | None = None,
    *,
    trim: bool = False,
    **load_kwargs: Any,
) -> xr.Dataset:
    """Read one 2D pose file per camera and stack them into a multi-camera pose.

    Parameters
    ----------
    files
        The files, one per camera, in any format :func:`faceexpr.io.load_pose` reads
        (e.g. DeepLabCut ``.h5``).
    cam_regex
        Pattern whose first group, searched in a file name (without suffix), is the
        camera name (Anipose's ``cam_regex``).
    names
        Camera names, one per file, instead of ``cam_regex``.
    trim
        Cut every file to the shortest one instead of raising when their numbers of
        frames differ (Anipose cuts). Frames are matched by position.
    **load_kwargs
        Passed to :func:`faceexpr.io.load_pose` (e.g. ``fps``, ``format``).

    Returns
    -------
    xarray.Dataset
        A 2D pose with dims ``(time, cameras, landmarks, space)``, cameras sorted by name,
        landmarks in the order of the first camera's file, ``time``/``frame`` of that
        file, and ``source_files`` naming every file (in camera order).

    Raises
    ------
    InvalidPoseError
        Naming the file at fault: a name without a camera, two files of one camera,
        different landmarks, different numbers of frames (unless ``trim``), different frame
        rates, or a file that is not a single-camera 2D pose.
    FileNotFoundError, FileFormatError
        When a file cannot be read.

    Examples
    --------
    >>> pose = load_cameras(["s1_camA.h5", "s1_camB.h5", "s1_camC.h5"], fps=30)  # doctest: +SKIP
    >>> list(pose["cameras"].values)  # doctest: +SKIP
    ['A', 'B', 'C']
    """
    paths = [files] if isinstance(files, (str, bytes)) else list(files)
    if not paths:
        raise InvalidPoseError("no files given: load_cameras needs one file per camera")
    if names is None:
        cams = [camera_name(p, cam_regex) for p in paths]
    else:
        cams = [str(n) for n in names]
        if len(cams) != len(paths):
            raise InvalidPoseError(
                f"{len(paths)} files but {len(cams)} camera names {cams} were given")
    seen: dict[str, PathLike] = {}
    for cam, path in zip(cams, paths):
        if cam in seen:
            raise InvalidPoseError(
                f"{seen[cam]} and {path} are both camera {cam!r}; give one file per camera")
        seen[cam] = path

    order = sorted(range(len(paths)), key=lambda i: cams[i])
    cams = [cams[i] for i in order]
    paths = [paths[i] for i in order]
    poses = []
    for path in paths:
        pose = load_pose(path, **load_kwargs)
        if "cameras" in pose.dims or pose.sizes["space"] != 2:
            raise InvalidPoseError(
                f"{path}: expected a single-camera 2D pose, got dims {dict(pose.sizes)}")
        poses.append(pose)

    first, first_path = poses[0], paths[0]
    landmarks = [str(n) for n in first["landmarks"].values]
    for pose, path in zip(poses[1:], paths[1:]):
        has = [str(n) for n in pose["landmarks"].values]
        missing = [lm for lm in landmarks if lm not in has]
        extra = [lm for lm in has if lm not in landmarks]
        if missing or extra:
            raise InvalidPoseError(
                f"{path} has other landmarks than {first_path}"
                + (f"; it lacks {missing}" if missing else "")
                + (f"; it has {extra} that {first_path} lacks" if extra else ""))
    counts = [p.sizes["time"] for p in poses]
    if len(set(counts)) > 1 and not trim:
        listing = ", ".join(f"{path}: {n}" for path, n in zip(paths, counts))
        raise InvalidPoseError(
            f"the files have different numbers of frames ({listing}); pass trim=True to "
            "cut them to the shortest")
    rates = [get_fps(p) for p in poses]
    if any(r != rates[0] and not (r and rates[0] and math.isclose(r, rates[0]))
           for r in rates):
        listing = ", ".join(f"{path}: {r}" for path, r in zip(paths, rates))
        raise InvalidPoseError(f"the files have different frame rates ({listing})")

    n_frames = min(counts)
    poses = [p.isel(time=slice(0, n_frames)).sel(landmarks=landmarks) for p in poses]
    position = np.stack([p["position"].transpose("time", "landmarks", "space").to_numpy()
                         for p in poses], axis=1)
    confidence = np.stack([p["confidence"].transpose("time", "landmarks").to_numpy()
                           for p in poses], axis=1)
    ds = make_pose(
        position, landmarks, confidence, fps=rates[0], cameras=cams,
        source_software=str(first.attrs.get("source_software", "unknown")),
        source_files=[f for p in poses for f in p.attrs.get("source_files", [])]
        or [str(p) for p in paths],
        units=str(first.attrs.get("units", "pixels")), frame=poses[0]["frame"].to_numpy(),
    )
    ds.attrs["faceexpr_history"] = list(first.attrs.get("faceexpr_history", []))
    ds = with_history(ds, "io.load_cameras", cameras=cams, files=[str(p) for p in paths],
                      cam_regex=None if names is not None else cam_regex, trim=trim,
                      n_frames=n_frames)
    return validate_pose(ds, ndim=2, cameras=True)


def camera_names(paths: Sequence[PathLike], cam_regex: str = DEFAULT_CAM_REGEX) -> list[str]:
    """The camera of every file (:func:`camera_name`); an error when two share a camera."""
    names = [camera_name(p, cam_regex) for p in paths]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidPoseError(
            f"several files are camera {twice} by cam_regex {cam_regex!r}: "
            f"{[str(p) for p in paths]}; give one file per camera")
    return names


def group_recordings(files: Sequence[PathLike], cam_regex: str = DEFAULT_CAM_REGEX
                     ) -> dict[str, list[Path]]:
    """Group per-camera files into recordings: names equal once the camera part is removed.

    ``s1_camA.h5, s1_camB.h5, s2_camA.h5, s2_camB.h5`` → ``{"s1": [...], "s2": [...]}``
    (the key is the file stem without the ``cam_regex`` match, stripped of ``"_-. "``).

    Raises
    ------
    InvalidPoseError
        When a file name does not match ``cam_regex``.
    """
    groups: dict[str, list[Path]] = {}
    for f in files:
        path = Path(f)
        camera_name(path, cam_regex)  # names the file when it does not match
        key = compile_cam_regex(cam_regex).sub("", path.stem, count=1).strip("_-. ") or path.stem
        groups.setdefault(key, []).append(path)
    return groups
