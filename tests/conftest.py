"""Shared fixtures: synthetic faces with known states (small, fast)."""

from __future__ import annotations

import os

import pytest

from faceexpr.synthetic import SyntheticFace, simulate

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def sim3d() -> SyntheticFace:
    """3000 frames, 5 expressions, 3D with two cameras."""
    return simulate(3000, n_expressions=5, seed=2, n_cameras=1)
