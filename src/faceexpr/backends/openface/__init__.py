"""OpenFace 2.x: its ``FeatureExtraction`` CSV format (landmarks, head pose, action units)."""

from __future__ import annotations

from faceexpr.backends.openface.format import (
    OpenFaceFormat,
    from_openface_csv,
    landmark_names,
    sniff_csv,
    to_openface_csv,
)
from faceexpr.hookspecs import hookimpl
from faceexpr.interfaces import PoseFormat

__all__ = ["OpenFaceFormat", "from_openface_csv", "landmark_names", "sniff_csv",
           "to_openface_csv"]


@hookimpl
def faceexpr_pose_formats() -> list[type[PoseFormat]]:
    return [OpenFaceFormat]
