"""faceexpr-plugin-example: a tiny third-party plugin of faceexpr.

It adds one backend to every stage through the hooks of :mod:`faceexpr.hookspecs`, found
through the entry point ``[project.entry-points.faceexpr] example = "faceexpr_plugin_example"``:

* the pose format ``example-json`` (``.facejson``, :mod:`.formats`),
* the pose estimator ``example-estimator`` (reads ``.facevideo`` files, :mod:`.estimator`),
* the triangulator ``example-triangulator`` (orthographic cameras, :mod:`.triangulator`),
* the state model ``example-kmeans`` (:mod:`.model`),
* the command ``faceexpr example-hello`` (:mod:`.command`).
"""

from __future__ import annotations

from faceexpr import Command, PoseEstimator, PoseFormat, StateModel, Triangulator, hookimpl

from .command import HelloCommand
from .estimator import ExampleEstimator
from .formats import ExampleJsonFormat
from .model import KMeansStateModel
from .triangulator import ExampleTriangulator

__version__ = "0.1.0"
__all__ = ["ExampleEstimator", "ExampleJsonFormat", "ExampleTriangulator", "HelloCommand",
           "KMeansStateModel"]


@hookimpl
def faceexpr_pose_formats() -> list[type[PoseFormat]]:
    return [ExampleJsonFormat]


@hookimpl
def faceexpr_pose_estimators() -> list[type[PoseEstimator]]:
    return [ExampleEstimator]


@hookimpl
def faceexpr_triangulators() -> list[type[Triangulator]]:
    return [ExampleTriangulator]


@hookimpl
def faceexpr_state_models() -> list[type[StateModel]]:
    return [KMeansStateModel]


@hookimpl
def faceexpr_cli_commands() -> list[type[Command]]:
    return [HelloCommand]
