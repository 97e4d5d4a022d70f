"""dlib: pretrained 68-landmark face tracking (``pip install "faceexpr[dlib]"``).

dlib and OpenCV are imported only when a video is tracked.
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
from faceexpr.hookspecs import hookimpl
from faceexpr.interfaces import PoseEstimator

__all__ = ["DEFAULT_CAM_REGEX", "LICENCE_NOTE", "MODEL_FILE", "DlibEstimator",
           "NoFaceFoundError", "default_model_path"]


@hookimpl
def faceexpr_pose_estimators() -> list[type[PoseEstimator]]:
    return [DlibEstimator]
