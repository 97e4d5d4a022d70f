"""Shared fixtures: synthetic faces with known states (small, fast)."""

from __future__ import annotations

import os

import pytest
from _media import copy_photos

from faceexpr.synthetic import SyntheticFace, simulate

os.environ.setdefault("MPLBACKEND", "Agg")

# Property-based tests: a few examples by default (the suite stays fast), many with
# HYPOTHESIS_PROFILE=fuzz (`nox -s fuzz`). Writing and reading files is slow for
# hypothesis' taste, hence no deadline and no too_slow check.
try:
    from hypothesis import HealthCheck, settings
except ImportError:  # the test extra installs it (only the fuzz tests need it)
    pass
else:
    _QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large]
    # no example database by default (the fuzz profile keeps one to replay failures), and
    # the same examples every run, so the default suite and CI are repeatable; the fuzz
    # profile draws new ones each time
    settings.register_profile("default", max_examples=30, deadline=None, database=None,
                              derandomize=True, suppress_health_check=_QUIET)
    settings.register_profile("fuzz", max_examples=400, deadline=None,
                              suppress_health_check=_QUIET)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def sim3d() -> SyntheticFace:
    """3000 frames, 5 expressions, 3D with two cameras."""
    return simulate(3000, n_expressions=5, seed=2, n_cameras=1)


@pytest.fixture(scope="module")
def photos(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Copies of the test photographs a module names in ``PHOTOS`` (from its ``MEDIA``
    folder, see ``tests/_media.py``): file name -> path."""
    return dict(copy_photos(request.module.MEDIA, request.module.PHOTOS,
                            tmp_path_factory.mktemp("photos")))
