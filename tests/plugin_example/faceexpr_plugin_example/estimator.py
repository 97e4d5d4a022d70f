"""The ``example-estimator`` pose estimator: a stand-in for a landmark tracker.

Its "videos" are ``.facevideo`` JSON documents holding what a tracker would find in each
frame, the pixel position of every landmark::

    {"format": "faceexpr-plugin-example-video", "fps": 30.0, "size": [800, 600],
     "landmarks": ["nose1", ...],
     "frames": [[[u, v], ...], ...]}         # (time, landmarks, 2); [null, null]: lost

Like a tracker it reports a confidence: 1 inside the image, 0 outside it or when lost.
Several files (one per camera, the camera named by ``cam_regex`` in the file name) give a
pose with a ``cameras`` dim.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import xarray as xr

from faceexpr import FileFormatError, InvalidPoseError, PoseEstimator, make_pose
from faceexpr.data import get_fps
from faceexpr.io import DEFAULT_CAM_REGEX, camera_name

from .formats import floats, read_document

VIDEO_FORMAT = "faceexpr-plugin-example-video"


class ExampleEstimator(PoseEstimator):
    """Read the landmarks of ``.facevideo`` files (see the module documentation).

    Parameters
    ----------
    cam_regex
        Pattern whose first group in a file name is the camera (several files).
    """

    name: ClassVar[str] = "example-estimator"

    def __init__(self, *, cam_regex: str = DEFAULT_CAM_REGEX) -> None:
        self.cam_regex = cam_regex

    def estimate(self, video: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
                 ) -> xr.Dataset:
        if isinstance(video, (str, os.PathLike)):
            return self._track(Path(video))
        paths = [Path(v) for v in video]
        if len(paths) == 1:
            return self._track(paths[0])
        cams = [camera_name(p, self.cam_regex) for p in paths]
        if len(set(cams)) != len(cams):
            raise InvalidPoseError(f"two files of one camera among {[str(p) for p in paths]}")
        views = [self._track(p) for p in paths]
        first = views[0]
        for path, view in zip(paths[1:], views[1:]):
            if (list(view["landmarks"].values) != list(first["landmarks"].values)
                    or view.sizes["time"] != first.sizes["time"]):
                raise InvalidPoseError(f"{path}: other landmarks or frames than {paths[0]}")
        return make_pose(np.stack([v["position"].values for v in views], axis=1),
                         [str(n) for n in first["landmarks"].values],
                         np.stack([v["confidence"].values for v in views], axis=1),
                         fps=get_fps(first), cameras=cams, source_software=self.name,
                         source_files=[str(p) for p in paths], units="pixels")

    def _track(self, path: Path) -> xr.Dataset:
        doc = read_document(path, VIDEO_FORMAT)
        try:
            width, height = (float(s) for s in doc["size"])
            landmarks = [str(n) for n in doc["landmarks"]]
            uv = floats(doc["frames"])
            if uv.ndim != 3 or uv.shape[1:] != (len(landmarks), 2):
                raise ValueError(f"frames must be (time, {len(landmarks)}, 2), got {uv.shape}")
        except (KeyError, TypeError, ValueError) as exc:
            raise FileFormatError(f"{path}: malformed {VIDEO_FORMAT} file: {exc}") from exc
        u, v = uv[..., 0], uv[..., 1]
        inside = (u >= 0) & (u < width) & (v >= 0) & (v < height)  # False where lost (NaN)
        return make_pose(uv, landmarks, inside.astype(np.float64), fps=doc.get("fps"),
                         source_software=self.name, source_files=[str(path)], units="pixels")
