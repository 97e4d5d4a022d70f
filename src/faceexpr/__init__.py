"""faceexpr: facial-expression states from face videos with unsupervised machine learning.

Stages pass xarray objects (see :mod:`faceexpr.data`)::

    import faceexpr as fe
    pose = fe.io.load_pose("pose-3d.csv")
    result = fe.Pipeline(n_states=9).run(pose)
    result.save("out")

Names that need matplotlib, scikit-learn or a backend package (``Pipeline``, ``plot``,
``synthetic``, ``calibrate``...) are imported at first use, so ``import faceexpr`` stays
light.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

# Import the (light) backends package before binding the function ``backends`` below:
# importing a subpackage the first time sets it as an attribute of its parent, which would
# then hide the function.
import faceexpr.backends  # noqa: F401
from faceexpr import data, io, schemes
from faceexpr.data import make_features, make_pose, validate_features, validate_pose
from faceexpr.errors import (
    BackendNotFoundError,
    BackendOptionError,
    CalibrationError,
    FaceexprError,
    FileFormatError,
    InvalidFeaturesError,
    InvalidPoseError,
    InvalidStatesError,
    MissingDependencyError,
    NotFittedError,
    ParameterError,
)
from faceexpr.hookspecs import hookimpl
from faceexpr.interfaces import Command, PoseEstimator, PoseFormat, StateModel, Triangulator
from faceexpr.io import load_pose, save_pose
from faceexpr.registry import (
    backends,
    get_plugin_manager,
    load_state_model,
    pose_estimator,
    pose_format,
    register,
    state_model,
    triangulator,
    unregister,
)
from faceexpr.schemes import FACE21, LandmarkScheme

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers
    from faceexpr import (
        analysis,
        diagnostics,
        features,
        model_selection,
        plot,
        preprocess,
        report,
        state_stability,
        synthetic,
    )
    from faceexpr.backends.anipose import Board, calibrate
    from faceexpr.model_selection import select_n_states
    from faceexpr.pipeline import FittedModel, Pipeline, Result, stability
    from faceexpr.recording import Recording, recordings_from_files

__version__ = "0.1.0"

# name -> (module, attribute or None for the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    "analysis": ("faceexpr.analysis", None),
    "features": ("faceexpr.features", None),
    "model_selection": ("faceexpr.model_selection", None),
    "plot": ("faceexpr.plot", None),
    "preprocess": ("faceexpr.preprocess", None),
    "report": ("faceexpr.report", None),
    "synthetic": ("faceexpr.synthetic", None),
    "Pipeline": ("faceexpr.pipeline", "Pipeline"),
    "Result": ("faceexpr.pipeline", "Result"),
    "FittedModel": ("faceexpr.pipeline", "FittedModel"),
    "Recording": ("faceexpr.recording", "Recording"),
    "recordings_from_files": ("faceexpr.recording", "recordings_from_files"),
    "select_n_states": ("faceexpr.model_selection", "select_n_states"),
    "stability": ("faceexpr.pipeline", "stability"),
    "diagnostics": ("faceexpr.diagnostics", None),
    "state_stability": ("faceexpr.state_stability", None),
    "Board": ("faceexpr.backends.anipose", "Board"),
    "calibrate": ("faceexpr.backends.anipose", "calibrate"),
}
# old names kept working with a warning: name -> new home
_DEPRECATED: dict[str, str] = {"dlc_project": "faceexpr.backends.deeplabcut.project"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = importlib.import_module(module)
        return value if attr is None else getattr(value, attr)
    if name in _DEPRECATED:
        warnings.warn(f"faceexpr.{name} is deprecated; use {_DEPRECATED[name]}",
                      DeprecationWarning, stacklevel=2)
        return importlib.import_module(_DEPRECATED[name])
    raise AttributeError(f"module 'faceexpr' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "FACE21",
    "BackendNotFoundError",
    "BackendOptionError",
    "Board",
    "CalibrationError",
    "Command",
    "FaceexprError",
    "FileFormatError",
    "FittedModel",
    "InvalidFeaturesError",
    "InvalidPoseError",
    "InvalidStatesError",
    "LandmarkScheme",
    "MissingDependencyError",
    "NotFittedError",
    "ParameterError",
    "Pipeline",
    "PoseEstimator",
    "PoseFormat",
    "Recording",
    "Result",
    "StateModel",
    "Triangulator",
    "__version__",
    "analysis",
    "backends",
    "calibrate",
    "data",
    "diagnostics",
    "features",
    "get_plugin_manager",
    "hookimpl",
    "io",
    "load_pose",
    "load_state_model",
    "make_features",
    "make_pose",
    "model_selection",
    "plot",
    "pose_estimator",
    "pose_format",
    "preprocess",
    "recordings_from_files",
    "register",
    "report",
    "save_pose",
    "schemes",
    "select_n_states",
    "stability",
    "state_model",
    "state_stability",
    "synthetic",
    "triangulator",
    "unregister",
    "validate_features",
    "validate_pose",
]
