"""The ``example-triangulator``: 3D from orthographic cameras that look along world axes.

Each camera sees two world axes in parallel projection: a landmark at world position
``p`` is at pixel ``u = su * p[a] + cu``, ``v = sv * p[b] + cv``. The calibration is a
JSON document (scales in pixels per unit; a negative scale flips an axis, as image rows
grow downwards)::

    {"format": "faceexpr-plugin-example-calibration", "units": "mm",
     "cameras": {"front": {"axes": ["x", "y"], "scale": [2, -2], "offset": [400, 300]},
                 "side": {"axes": ["z", "y"], "scale": [2, -2], "offset": [400, 300]}}}

Without a calibration file the convention is camera ``front`` seeing ``x, y`` and camera
``side`` seeing ``z, y``, with scale 1 and offset 0. Each world coordinate is the mean
over the cameras that see it with a confidence of at least ``score_threshold`` (``y``:
both cameras above); a landmark with an axis no such camera sees is NaN. The 3D
confidence is the lowest confidence of the cameras used (0 where NaN).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import xarray as xr

from faceexpr import FileFormatError, InvalidPoseError, Triangulator, make_pose, validate_pose
from faceexpr.data import get_fps, with_history

from .formats import read_document

CALIBRATION_FORMAT = "faceexpr-plugin-example-calibration"
_AXES = "xyz"


@dataclass(frozen=True)
class OrthoCamera:
    """An orthographic camera: the two world axes it sees, pixels per unit and offset."""

    axes: tuple[str, str]
    scale: tuple[float, float] = (1.0, 1.0)
    offset: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        if len(self.axes) != 2 or len(set(self.axes)) != 2 or not set(self.axes) <= set(_AXES):
            raise ValueError(f"a camera sees two of x, y, z, not {list(self.axes)}")
        if 0.0 in self.scale:
            raise ValueError("a camera's scale cannot be 0")


DEFAULT_CAMERAS = {"front": OrthoCamera(("x", "y")), "side": OrthoCamera(("z", "y"))}


def read_calibration(path: str | os.PathLike[str]) -> tuple[dict[str, OrthoCamera], str]:
    """The cameras of a calibration file (see the module documentation) and its units."""
    doc = read_document(path, CALIBRATION_FORMAT)
    try:
        cameras = {
            str(name): OrthoCamera(
                (str(cam["axes"][0]), str(cam["axes"][1])),
                (float(cam.get("scale", [1, 1])[0]), float(cam.get("scale", [1, 1])[1])),
                (float(cam.get("offset", [0, 0])[0]), float(cam.get("offset", [0, 0])[1])))
            for name, cam in doc["cameras"].items()}
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise FileFormatError(f"{path}: malformed calibration: {exc}") from exc
    return cameras, str(doc.get("units", "unknown"))


class ExampleTriangulator(Triangulator):
    """Triangulate orthographic views (see the module documentation).

    Parameters
    ----------
    calibration
        The calibration JSON file, or ``None`` for the default ``front``/``side`` pair.
    score_threshold
        2D points with a lower (or NaN) confidence are not used.
    """

    name: ClassVar[str] = "example-triangulator"

    def __init__(self, calibration: str | os.PathLike[str] | None = None, *,
                 score_threshold: float = 0.5) -> None:
        if calibration is None:
            self.cameras, self.units = dict(DEFAULT_CAMERAS), "unknown"
        else:
            self.cameras, self.units = read_calibration(calibration)
        self.score_threshold = float(score_threshold)

    def triangulate(self, pose2d: xr.Dataset) -> xr.Dataset:
        validate_pose(pose2d, ndim=2, cameras=True)
        names = [str(c) for c in pose2d["cameras"].values]
        unknown = [c for c in names if c not in self.cameras]
        if unknown:
            raise InvalidPoseError(f"cameras {unknown} are not calibrated; the calibration "
                                   f"has {sorted(self.cameras)}")
        unseen = set(_AXES) - {a for c in names for a in self.cameras[c].axes}
        if unseen:
            raise InvalidPoseError(f"no camera among {names} sees axis {sorted(unseen)}")
        position = pose2d["position"].values  # (time, cameras, landmarks, 2)
        confidence = np.nan_to_num(pose2d["confidence"].values, nan=0.0)
        shape = (*position.shape[:1], *position.shape[2:3], 3)
        sums, counts = np.zeros(shape), np.zeros(shape)
        lowest = np.full(shape[:2], np.inf)
        for i, name in enumerate(names):
            cam = self.cameras[name]
            good = np.isfinite(position[:, i]).all(axis=-1) & (
                confidence[:, i] >= self.score_threshold)
            world = (position[:, i] - np.array(cam.offset)) / np.array(cam.scale)
            for j, axis in enumerate(cam.axes):
                k = _AXES.index(axis)
                sums[..., k] += np.where(good, world[..., j], 0.0)
                counts[..., k] += good
            lowest = np.where(good, np.minimum(lowest, confidence[:, i]), lowest)
        seen = np.asarray((counts > 0).all(axis=-1))
        with np.errstate(invalid="ignore", divide="ignore"):
            xyz = np.where(seen[..., None], sums / counts, np.nan)
        pose = make_pose(xyz, [str(n) for n in pose2d["landmarks"].values],
                         np.where(seen, lowest, 0.0), fps=get_fps(pose2d),
                         source_software=str(pose2d.attrs.get("source_software", "unknown")),
                         source_files=list(pose2d.attrs.get("source_files", [])),
                         units=self.units, frame=pose2d["frame"].values)
        pose.attrs["faceexpr_history"] = list(pose2d.attrs.get("faceexpr_history", []))
        return with_history(pose, "example-triangulator.triangulate", cameras=names,
                            score_threshold=self.score_threshold)
