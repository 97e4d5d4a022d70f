"""DeepLabCut: its ``.h5``/``.csv`` pose format, the pose estimator that runs
``deeplabcut.analyze_videos`` (or an exported model), and face-project setup
(``pip install "faceexpr[dlc]"``).

deeplabcut and torch are imported only when a network runs or a project is made.
"""

from __future__ import annotations

from faceexpr.backends.deeplabcut.cli import DlcCommand
from faceexpr.backends.deeplabcut.estimator import DEFAULT_CAM_REGEX, DeepLabCutEstimator
from faceexpr.backends.deeplabcut.format import DeepLabCutFormat, from_dlc_file, to_dlc_file
from faceexpr.hookspecs import hookimpl
from faceexpr.interfaces import Command, PoseEstimator, PoseFormat

__all__ = [
    "DEFAULT_CAM_REGEX",
    "DeepLabCutEstimator",
    "DeepLabCutFormat",
    "DlcCommand",
    "from_dlc_file",
    "to_dlc_file",
]


@hookimpl
def faceexpr_pose_formats() -> list[type[PoseFormat]]:
    return [DeepLabCutFormat]


@hookimpl
def faceexpr_pose_estimators() -> list[type[PoseEstimator]]:
    return [DeepLabCutEstimator]


@hookimpl
def faceexpr_cli_commands() -> list[type[Command]]:
    return [DlcCommand]
