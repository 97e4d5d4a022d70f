"""PoseEstimator backend that reads poses other tools already wrote."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import xarray as xr

from faceexpr.interfaces import PathLike, PoseEstimator


class FilePoseEstimator(PoseEstimator):
    """Read landmarks from files (DeepLabCut ``.h5``/``.csv``, Anipose ``pose-3d`` ``.csv``,
    netCDF written by faceexpr) instead of tracking them.

    Parameters
    ----------
    source_software
        Force a format instead of recognising it from the file (see
        :func:`faceexpr.io.load_pose`).
    **options
        Passed to the reader (e.g. ``fps``, ``individual``).
    """

    name: ClassVar[str] = "file"

    def __init__(self, source_software: str | None = None, **options: Any) -> None:
        self.source_software = source_software
        self.options = options

    def estimate(self, video: PathLike | Sequence[PathLike]) -> xr.Dataset:
        """Read the pose stored in ``video`` (a pose file, despite the name)."""
        from faceexpr.io import load_pose

        if not isinstance(video, (str, bytes)) and isinstance(video, Sequence):
            if len(video) != 1:
                raise ValueError("the file estimator reads one file at a time; got "
                                 f"{len(video)}")
            video = video[0]
        return load_pose(video, source_software=self.source_software, **self.options)
