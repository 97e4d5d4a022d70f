"""Cameras and projections, in OpenCV's and Anipose's conventions.

Core geometry that the synthetic data, the calibration and the figures share; no camera
library is needed to use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceexpr._typing import FloatArray

__all__ = ["Camera"]


@dataclass(frozen=True)
class Camera:
    """A pinhole camera in OpenCV/Anipose conventions (``x_cam = R @ X + t``)."""

    name: str
    matrix: FloatArray
    rotation: FloatArray
    translation: FloatArray
    size: tuple[int, int] = (640, 480)

    @property
    def position(self) -> FloatArray:
        """Camera centre in world coordinates."""
        return np.asarray(-self.rotation.T @ self.translation)

    def project(self, points: FloatArray) -> FloatArray:
        """Project ``(..., 3)`` world points to ``(..., 2)`` pixels."""
        cam = points @ self.rotation.T + self.translation
        uvw = cam @ self.matrix.T
        return np.asarray(uvw[..., :2] / uvw[..., 2:3])
