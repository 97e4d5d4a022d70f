"""Synthetic data with ground truth: faces, their videos, and calibration-board views.

:func:`simulate` makes a face that switches between expressions (:mod:`.faces`);
:mod:`.video` renders a pose as a video; :mod:`.photo_video` builds videos of real
photographs (cuts between people, several faces, a turned face) with the truth of who is
where; :mod:`.boards` renders calibration boards seen by
known cameras. Tests and ``faceexpr demo`` use them; the backends run for real on their
output. This package uses the tools' packages only through their public functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from faceexpr._typing import PathLike
from faceexpr.geometry import Camera
from faceexpr.synthetic.faces import (
    EXPRESSION_NAMES,
    SyntheticFace,
    expression_displacements,
    neutral_face,
    ring_cameras,
    simulate,
    sticky_chain,
)


def write_calibration_toml(cameras: Sequence[Camera], path: PathLike) -> Path:
    """Deprecated: use :func:`faceexpr.backends.anipose.write_calibration_toml`."""
    import warnings

    from faceexpr.backends.anipose import write_calibration_toml as write

    warnings.warn("faceexpr.synthetic.write_calibration_toml is deprecated; use "
                  "faceexpr.backends.anipose.write_calibration_toml",
                  DeprecationWarning, stacklevel=2)
    return write(cameras, path)


__all__ = [
    "EXPRESSION_NAMES",
    "Camera",
    "SyntheticFace",
    "expression_displacements",
    "neutral_face",
    "ring_cameras",
    "simulate",
    "sticky_chain",
    "write_calibration_toml",
]
