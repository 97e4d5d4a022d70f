"""dlib: pretrained 68-landmark face tracking of one person (``pip install "faceexpr[dlib]"``).

:mod:`.estimator` tracks; :mod:`.identity` (face descriptors, the target), :mod:`.shots`
(cuts), :mod:`.quality` (plausible fits) and :mod:`.head_pose` (yaw, pitch, roll) are its
parts. dlib and OpenCV are imported only when a video is tracked.
"""

from __future__ import annotations

from faceexpr.backends.dlib.estimator import (
    DEFAULT_CAM_REGEX,
    LICENCE_NOTE,
    MODEL_FILE,
    DlibEstimator,
    NoFaceFoundError,
    default_model_path,
)
from faceexpr.backends.dlib.identity import (
    MATCH_DISTANCE,
    ReferencePhotoError,
    Target,
    TargetNotFoundError,
)
from faceexpr.hookspecs import hookimpl
from faceexpr.interfaces import PoseEstimator

__all__ = ["DEFAULT_CAM_REGEX", "LICENCE_NOTE", "MATCH_DISTANCE", "MODEL_FILE",
           "DlibEstimator", "NoFaceFoundError", "ReferencePhotoError", "Target",
           "TargetNotFoundError", "default_model_path"]


@hookimpl
def faceexpr_pose_estimators() -> list[type[PoseEstimator]]:
    return [DlibEstimator]
