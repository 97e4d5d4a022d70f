"""Reading and writing videos with OpenCV (the optional ``video`` extra).

Every video faceexpr writes goes through :func:`write_video`: to a temporary file first,
renamed into place when complete, so a failure never leaves a truncated video.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from faceexpr._typing import PathLike
from faceexpr.errors import FileFormatError, MissingDependencyError
from faceexpr.io._common import atomic_write, existing_file

DEFAULT_FPS = 30.0
"""Frame rate of a rendered video when neither the call nor the pose gives one."""
FOURCC = "mp4v"
"""Codec of every video faceexpr writes (MPEG-4 part 2, readable without extra codecs)."""
SHIFT = 4
"""Fractional bits of the fixed-point coordinates given to ``cv2.circle``/``cv2.line``."""


def fixed_point(v: float) -> int:
    """Return ``v`` as an OpenCV fixed-point coordinate with :data:`SHIFT` bits."""
    return round(v * (1 << SHIFT))


def require_cv2() -> ModuleType:
    """Import and return OpenCV, or raise :class:`MissingDependencyError` with the fix."""
    try:
        import cv2
    except ImportError as exc:
        raise MissingDependencyError(
            'this needs OpenCV, which is not installed: pip install "faceexpr[video]"'
        ) from exc
    return cv2


def write_video(path: PathLike, frames: Callable[[Path], None]) -> Path:
    """Write a video atomically: ``frames(tmp)`` writes the whole video to the file ``tmp``.

    Internal helper shared by the video writers: the video goes to a temporary file
    beside ``path`` (with the same suffix, which OpenCV uses to pick the container) and is
    renamed into place only when ``frames`` returns; a failure leaves no file behind.
    """
    target = Path(path)
    suffix = target.suffix or ".mp4"

    def write(tmp: Path) -> None:
        video_tmp = tmp.with_name(tmp.name + suffix)
        try:
            frames(video_tmp)
            if not video_tmp.is_file() or video_tmp.stat().st_size == 0:
                raise FileFormatError(f"{target}: OpenCV wrote no video (codec {FOURCC})")
            os.replace(video_tmp, tmp)
        finally:
            video_tmp.unlink(missing_ok=True)

    atomic_write(target, write)
    return target


def open_writer(
    path: Path, fps: float, size: tuple[int, int], name: PathLike | None = None
) -> Any:
    """Open an OpenCV ``VideoWriter`` (codec :data:`FOURCC`) or raise naming ``name``."""
    cv2 = require_cv2()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*FOURCC), float(fps),
                             (int(size[0]), int(size[1])))
    if not writer.isOpened():
        raise FileFormatError(
            f"{name or path}: OpenCV cannot write a {FOURCC} video of size {size} at {fps} fps"
        )
    return writer


def open_capture(path: PathLike) -> tuple[Any, Path]:
    """Open a video for reading; return the ``cv2.VideoCapture`` and the resolved path.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    FileFormatError
        When OpenCV cannot open it as a video.
    """
    cv2 = require_cv2()
    p = existing_file(path)
    cap = cv2.VideoCapture(str(p))
    if not cap.isOpened():
        cap.release()
        raise FileFormatError(f"{p}: OpenCV cannot open this file as a video")
    return cap, p


def check_video(path: PathLike) -> Path:
    """Check that ``path`` is a video OpenCV can decode (it reads the first frame), so a
    corrupt video is refused before any work rather than after a long fit.

    Raises
    ------
    FileNotFoundError, FileFormatError
        As :func:`open_capture`; also when the first frame cannot be decoded.
    """
    cap, p = open_capture(path)
    try:
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok or frame is None or getattr(frame, "size", 0) == 0:
        raise FileFormatError(f"{p}: OpenCV opened the file but could not decode a frame; "
                              "is it a complete, uncorrupted video?")
    return p


def read_video_frames(
    path: PathLike, max_frames: int | None = None
) -> Iterator[npt.NDArray[np.uint8]]:
    """Yield the frames of a video one at a time as ``(height, width, 3)`` BGR arrays.

    Errors are those of :func:`open_capture`; the video is closed when the loop ends.
    """
    cap, _ = open_capture(path)
    try:
        n = 0
        while max_frames is None or n < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            n += 1
            yield np.asarray(frame, dtype=np.uint8)
    finally:
        cap.release()
