"""The ``movement`` pose format (placeholder until the converter lands)."""

from __future__ import annotations

from faceexpr.hookspecs import hookimpl
from faceexpr.interfaces import PoseFormat


@hookimpl
def faceexpr_pose_formats() -> list[type[PoseFormat]]:
    return []
