"""Reading and writing poses, videos and faceexpr's own files.

:func:`load_pose` and :func:`save_pose` reach every file format through the registry
(formats are plugins: :func:`faceexpr.hookspecs.faceexpr_pose_formats`); ``fe.backends()``
lists them. :func:`load_cameras` stacks one file per camera into a multi-camera pose;
:func:`to_netcdf`/:func:`from_netcdf` keep any faceexpr Dataset; :func:`to_movement` and
:func:`from_movement` convert to and from the ``movement`` package's layout.

The readers and writers of one tool's files live with that tool, e.g.
:func:`faceexpr.backends.deeplabcut.from_dlc_file`; their old names here still work but
are deprecated.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from faceexpr.io.cameras import DEFAULT_CAM_REGEX, camera_name, group_recordings, load_cameras
from faceexpr.io.movement import from_movement, to_movement
from faceexpr.io.netcdf import SCHEMA_VERSION, from_netcdf, to_netcdf
from faceexpr.io.poses import detect_format, load_pose, save_pose

__all__ = [
    "DEFAULT_CAM_REGEX",
    "SCHEMA_VERSION",
    "camera_name",
    "detect_format",
    "from_movement",
    "from_netcdf",
    "group_recordings",
    "load_cameras",
    "load_pose",
    "save_pose",
    "to_movement",
    "to_netcdf",
]

# Names that lived here before each tool got its own package: name -> new module.
_MOVED = {
    "from_anipose_csv": "faceexpr.backends.anipose",
    "to_anipose_csv": "faceexpr.backends.anipose",
    "AniposeConfig": "faceexpr.backends.anipose",
    "read_anipose_config": "faceexpr.backends.anipose",
    "from_dlc_file": "faceexpr.backends.deeplabcut",
    "to_dlc_file": "faceexpr.backends.deeplabcut",
    "from_openface_csv": "faceexpr.backends.openface",
    "to_openface_csv": "faceexpr.backends.openface",
}


# Old submodules, now shims that warn: faceexpr.io.deeplabcut.from_dlc_file still works.
_MOVED_MODULES = ("anipose", "anipose_config", "deeplabcut", "openface")


def __getattr__(name: str) -> Any:
    # Imported by name at first use, so that this core package never imports a backend.
    if name in _MOVED_MODULES:
        return importlib.import_module(f"faceexpr.io.{name}")
    if name in _MOVED:
        warnings.warn(f"faceexpr.io.{name} is deprecated; use {_MOVED[name]}.{name}",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module 'faceexpr.io' has no attribute {name!r}")
