"""The plugin that registers faceexpr's own backends through the public hooks.

Backend modules are imported here, but each imports its heavy library (deeplabcut,
aniposelib, torch, dlib) only when the backend is used.
"""

from __future__ import annotations

from faceexpr.hookspecs import hookimpl
from faceexpr.interfaces import PoseEstimator, StateModel, Triangulator


@hookimpl
def faceexpr_pose_estimators() -> list[type[PoseEstimator]]:
    from faceexpr.backends.deeplabcut import DeepLabCutEstimator
    from faceexpr.backends.dlib import DlibEstimator
    from faceexpr.backends.file import FilePoseEstimator

    return [FilePoseEstimator, DeepLabCutEstimator, DlibEstimator]


@hookimpl
def faceexpr_triangulators() -> list[type[Triangulator]]:
    from faceexpr.backends.anipose import AniposeTriangulator

    return [AniposeTriangulator]


@hookimpl
def faceexpr_state_models() -> list[type[StateModel]]:
    from faceexpr.backends.hmmlearn import HmmlearnStateModel
    from faceexpr.backends.pomegranate import PomegranateStateModel

    return [HmmlearnStateModel, PomegranateStateModel]
