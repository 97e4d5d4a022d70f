"""Where dlib's pretrained model files are: the ``face_recognition_models`` package."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

from faceexpr.errors import MissingDependencyError, MissingFileError

__all__ = ["dlib_module", "model_file"]


def model_file(name: str, what: str) -> Path:
    """Return the path of the model file ``name`` in ``face_recognition_models``.

    The package is located without importing it: ``face_recognition_models`` 0.3 imports
    ``pkg_resources``, which setuptools 82 and later no longer provide. ``what`` names the
    model in the error when the package or the file is missing.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None:
        raise MissingDependencyError(
            f"the dlib {what} comes with face_recognition_models, which is not installed: "
            'pip install "faceexpr[dlib]"')
    for folder in spec.submodule_search_locations or []:
        path = Path(folder) / "models" / name
        if path.is_file():
            return path
    raise MissingFileError(
        2, f"face_recognition_models is installed but holds no models/{name}; reinstall it "
        "(pip install --force-reinstall face_recognition_models)", str(spec.origin))


def dlib_module(what: str) -> Any:
    """Import dlib, or say that ``what`` needs it and how to install it."""
    try:
        return importlib.import_module("dlib")
    except ImportError as exc:
        raise MissingDependencyError(
            f'{what} needs dlib, which is not installed: pip install "faceexpr[dlib]" ({exc})'
        ) from exc
