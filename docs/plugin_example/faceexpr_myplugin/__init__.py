"""faceexpr-myplugin: one backend for each of faceexpr's five plugin hooks.

faceexpr calls these hook implementations (marked with ``fe.hookimpl``)
once the module is registered: through the entry point in
``pyproject.toml``, or with ``fe.register``.
"""

import faceexpr as fe

from .command import PoseInfoCommand
from .estimator import OpenFaceCliEstimator
from .gmm import GaussianMixtureModel
from .npz import NpzFormat
from .triangulator import NumpyDltTriangulator


@fe.hookimpl
def faceexpr_pose_formats():
    return [NpzFormat]


@fe.hookimpl
def faceexpr_pose_estimators():
    return [OpenFaceCliEstimator]


@fe.hookimpl
def faceexpr_triangulators():
    return [NumpyDltTriangulator]


@fe.hookimpl
def faceexpr_state_models():
    return [GaussianMixtureModel]


@fe.hookimpl
def faceexpr_cli_commands():
    return [PoseInfoCommand]
