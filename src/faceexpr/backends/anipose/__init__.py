"""Anipose: its ``pose-3d`` CSV format, project ``config.toml``, camera calibration with
boards, and triangulation with aniposelib (``pip install "faceexpr[anipose]"``).

One home for everything Anipose. aniposelib and OpenCV are imported only when a
calibration or triangulation runs.
"""

from __future__ import annotations

from faceexpr.backends.anipose.calibration import (
    Board,
    CalibrationResult,
    board_from_anipose_config,
    calibrate,
    write_calibration_toml,
)
from faceexpr.backends.anipose.cli import CalibrateCommand
from faceexpr.backends.anipose.config import AniposeConfig, read_anipose_config
from faceexpr.backends.anipose.format import AniposeFormat, from_anipose_csv, to_anipose_csv
from faceexpr.backends.anipose.triangulator import AniposeTriangulator, load_calibration
from faceexpr.hookspecs import hookimpl
from faceexpr.interfaces import Command, PoseFormat, Triangulator

__all__ = [
    "AniposeConfig",
    "AniposeFormat",
    "AniposeTriangulator",
    "Board",
    "CalibrateCommand",
    "CalibrationResult",
    "board_from_anipose_config",
    "calibrate",
    "from_anipose_csv",
    "load_calibration",
    "read_anipose_config",
    "to_anipose_csv",
    "write_calibration_toml",
]


@hookimpl
def faceexpr_pose_formats() -> list[type[PoseFormat]]:
    return [AniposeFormat]


@hookimpl
def faceexpr_triangulators() -> list[type[Triangulator]]:
    return [AniposeTriangulator]


@hookimpl
def faceexpr_cli_commands() -> list[type[Command]]:
    return [CalibrateCommand]
