"""faceexpr: facial-expression states from face videos with unsupervised machine learning.

Stages pass xarray objects (see :mod:`faceexpr.data`)::

    import faceexpr as fe
    pose = fe.io.load_pose("pose-3d.csv")
    result = fe.Pipeline(n_states=9).run(pose)
    result.save("out")
"""

from __future__ import annotations

# Load the backends package before binding the function ``backends`` below: importing a
# subpackage for the first time sets it as an attribute of its parent and would hide it.
import faceexpr.backends.builtin  # noqa: F401
from faceexpr import (
    analysis,
    data,
    dlc_project,
    features,
    io,
    model_selection,
    plot,
    preprocess,
    report,
    schemes,
    synthetic,
)
from faceexpr.calibration import Board, calibrate
from faceexpr.data import make_features, make_pose, validate_features, validate_pose
from faceexpr.errors import (
    BackendNotFoundError,
    CalibrationError,
    FaceexprError,
    FileFormatError,
    InvalidFeaturesError,
    InvalidPoseError,
    InvalidStatesError,
    MissingDependencyError,
    NotFittedError,
)
from faceexpr.hookspecs import hookimpl
from faceexpr.interfaces import PoseEstimator, StateModel, Triangulator
from faceexpr.model_selection import select_n_states
from faceexpr.pipeline import Pipeline, Result
from faceexpr.registry import (
    backends,
    get_plugin_manager,
    pose_estimator,
    register,
    state_model,
    triangulator,
    unregister,
)
from faceexpr.schemes import FACE21, LandmarkScheme

__version__ = "0.1.0"

__all__ = [
    "FACE21",
    "BackendNotFoundError",
    "Board",
    "CalibrationError",
    "FaceexprError",
    "FileFormatError",
    "InvalidFeaturesError",
    "InvalidPoseError",
    "InvalidStatesError",
    "LandmarkScheme",
    "MissingDependencyError",
    "NotFittedError",
    "Pipeline",
    "PoseEstimator",
    "Result",
    "StateModel",
    "Triangulator",
    "__version__",
    "analysis",
    "backends",
    "calibrate",
    "data",
    "dlc_project",
    "features",
    "get_plugin_manager",
    "hookimpl",
    "io",
    "make_features",
    "make_pose",
    "model_selection",
    "plot",
    "pose_estimator",
    "preprocess",
    "register",
    "report",
    "schemes",
    "select_n_states",
    "state_model",
    "synthetic",
    "triangulator",
    "unregister",
    "validate_features",
    "validate_pose",
]
