"""PoseEstimator backend that reads poses other tools already wrote."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from faceexpr._typing import PathLike
from faceexpr.hookspecs import hookimpl
from faceexpr.interfaces import PoseEstimator
from faceexpr.io import load_cameras, load_pose
from faceexpr.io.cameras import DEFAULT_CAM_REGEX

if TYPE_CHECKING:
    import xarray as xr


class FilePoseEstimator(PoseEstimator):
    """Read landmarks from pose files of any registered format instead of tracking them.

    Parameters
    ----------
    format
        A registered format name (``fe.backends()`` lists them), or ``"auto"``: recognise
        each file by its content (see :func:`faceexpr.io.load_pose`).
    cam_regex
        For several files of one recording (one per camera): the pattern whose first group
        in a file name is the camera (see :func:`faceexpr.io.load_cameras`).
    source_software
        Deprecated name of ``format``.
    **options
        Passed to the format's reader (e.g. ``fps``, ``individual``).
    """

    name: ClassVar[str] = "file"

    def __init__(self, format: str = "auto", *, cam_regex: str = DEFAULT_CAM_REGEX,
                 source_software: str | None = None, **options: Any) -> None:
        self.format = source_software if source_software is not None else format
        self.cam_regex = cam_regex
        self.options = options

    def estimate(self, video: PathLike | Sequence[PathLike]) -> xr.Dataset:
        """Read the pose stored in ``video`` (a pose file, despite the name).

        Several files are the cameras of one recording: they are read and stacked along a
        ``cameras`` dim named by ``cam_regex``.
        """
        if isinstance(video, (str, bytes)) or not isinstance(video, Sequence):
            return load_pose(video, format=self.format, **self.options)
        if len(video) == 1:
            return load_pose(video[0], format=self.format, **self.options)
        return load_cameras(video, self.cam_regex, format=self.format, **self.options)


@hookimpl
def faceexpr_pose_estimators() -> list[type[PoseEstimator]]:
    return [FilePoseEstimator]
