"""Videos of synthetic faces: one coloured disc per landmark on a textured background.

:func:`render_face_video` turns a 2D pose (for example
``faceexpr.synthetic.simulate(..., n_cameras=1).view(0)``) into an ``.mp4`` video, so the
video stages (pose estimation, labelled videos) can run end to end on data with a known
ground truth. Every landmark has its own colour (:func:`landmark_colors`), so a pose
estimator such as DeepLabCut can learn to tell them apart.

Needs OpenCV, the ``video`` extra: ``pip install "faceexpr[video]"``.
"""

from __future__ import annotations

import colorsys
import dataclasses
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import xarray as xr
from tqdm.auto import tqdm

from faceexpr._typing import PathLike
from faceexpr.data import get_fps, validate_pose
from faceexpr.errors import InvalidPoseError
from faceexpr.geometry import Camera
from faceexpr.io.video import (
    DEFAULT_FPS,
    SHIFT,
    fixed_point,
    open_writer,
    require_cv2,
    write_video,
)

__all__ = ["landmark_colors", "render_face_video"]

_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def landmark_colors(n_landmarks: int) -> list[tuple[int, int, int]]:
    """Return one distinct, saturated colour per landmark as OpenCV ``(B, G, R)`` tuples.

    Hues step round the colour wheel by the golden ratio, so landmarks next to each other
    in the list get very different colours; brightness alternates between two levels to
    separate hues that end up close.
    """
    if n_landmarks < 0:
        raise ValueError(f"n_landmarks must be >= 0, got {n_landmarks}")
    colors = []
    for i in range(n_landmarks):
        hue = (i * _GOLDEN) % 1.0
        value = 1.0 if i % 2 == 0 else 0.8
        r, g, b = colorsys.hsv_to_rgb(hue, 1.0, value)
        colors.append((round(b * 255), round(g * 255), round(r * 255)))
    return colors


def _synthetic_camera_size() -> tuple[int, int]:
    size = next(f.default for f in dataclasses.fields(Camera) if f.name == "size")
    return (int(size[0]), int(size[1]))  # type: ignore[index]


def _even(n: float) -> int:
    # yuv420p video needs even sizes; OpenCV silently crops odd ones.
    n = max(2, math.ceil(n))
    return n + (n % 2)


def default_image_size(pose2d: xr.Dataset, radius: int = 3) -> tuple[int, int]:
    """Return the ``(width, height)`` a pose's video needs.

    ``attrs["image_size"]`` when the pose has one; the synthetic cameras' size for poses
    made by :mod:`faceexpr.synthetic` (when every landmark fits in it); otherwise the
    extent of the finite positions plus the disc radius and a margin, rounded up to even.
    """
    given = pose2d.attrs.get("image_size")
    if given is not None and np.size(given) == 2:
        w, h = (int(v) for v in np.ravel(given))
        return (w, h)
    xy = np.asarray(pose2d["position"].values, dtype=np.float64).reshape(-1, 2)
    xy = xy[np.isfinite(xy).all(axis=1)]
    extent = (xy.max(axis=0) + radius + 2) if len(xy) else np.array([64.0, 64.0])
    if pose2d.attrs.get("source_software") == "faceexpr.synthetic":
        cam_w, cam_h = _synthetic_camera_size()
        if extent[0] <= cam_w + radius + 2 and extent[1] <= cam_h + radius + 2:
            return (cam_w, cam_h)
    return (_even(extent[0]), _even(extent[1]))


def _background(size: tuple[int, int], amplitude: int, seed: int) -> npt.NDArray[np.uint8]:
    """Mid-grey BGR image with a smooth blotchy texture plus fine grain, ±``amplitude``."""
    cv2 = require_cv2()
    w, h = size
    rng = np.random.default_rng(seed)
    coarse = rng.standard_normal((max(2, h // 24), max(2, w // 24))).astype(np.float32)
    blotches = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    grain = rng.standard_normal((h, w)).astype(np.float32)
    texture = blotches / max(float(np.abs(blotches).max()), 1e-6) + 0.15 * grain
    grey = np.clip(128.0 + amplitude * np.clip(texture, -1.0, 1.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))


def render_face_video(
    pose2d: xr.Dataset,
    path: PathLike,
    image_size: tuple[int, int] | None = None,
    fps: float | None = None,
    radius: int = 3,
    background: int = 40,
    seed: int = 0,
    progress: bool = False,
) -> Path:
    """Render a 2D pose as an ``.mp4`` video: one coloured disc per landmark.

    Parameters
    ----------
    pose2d
        A single-view 2D pose in pixels (dims ``time, landmarks, space``), e.g.
        ``simulate(n, n_cameras=1).view(0)``.
    path
        The video to write (codec ``mp4v``); written to a temporary file and renamed, so
        a failure never leaves a partial video.
    image_size
        ``(width, height)`` in pixels; default from :func:`default_image_size` (the
        synthetic camera's size, or the extent of the data).
    fps
        Frame rate; default ``pose2d.attrs["fps"]``, else 30.
    radius
        Radius of the landmark discs in pixels.
    background
        Contrast of the static background texture: grey levels vary by up to this much
        around mid-grey (128); 0 gives a flat grey.
    seed
        Seed of the background texture.
    progress
        Show a progress bar.

    Returns
    -------
    pathlib.Path
        ``path``.

    Notes
    -----
    Video frame ``i`` shows the pose row whose ``frame`` coordinate is ``i``, so the pose's
    frame numbers are the video's frame indices (as :func:`faceexpr.plot.video.labelled_video`
    expects); the video has ``max(frame) + 1`` frames and frames without a pose row show
    the background only. Landmark ``j`` always has colour ``landmark_colors(L)[j]``; NaN
    positions are not drawn. Confidence is ignored: every finite position is drawn.
    """
    cv2 = require_cv2()
    pose2d = validate_pose(pose2d, ndim=2, cameras=False)
    if radius < 1:
        raise ValueError(f"radius must be >= 1 pixel, got {radius}")
    if not 0 <= background <= 127:
        raise ValueError(f"background must be in 0..127 (texture contrast), got {background}")
    size = image_size if image_size is not None else default_image_size(pose2d, radius)
    if len(size) != 2 or min(size) < 2:
        raise ValueError(f"image_size must be (width, height) of at least 2 pixels, got {size}")
    rate = fps if fps is not None else (get_fps(pose2d) or DEFAULT_FPS)
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"fps must be a positive number, got {rate}")

    frames = np.asarray(pose2d["frame"].values, dtype=np.int64)
    if frames.size and frames.min() < 0:
        raise InvalidPoseError(f"frame numbers must be >= 0, got {frames.min()}")
    if np.unique(frames).size != frames.size:
        raise InvalidPoseError("frame numbers must be unique to render a video")
    n_video = int(frames.max()) + 1 if frames.size else 0
    row_of = {int(f): i for i, f in enumerate(frames)}
    xy = np.asarray(pose2d["position"].values, dtype=np.float64)
    colors = landmark_colors(xy.shape[1])
    base = _background((int(size[0]), int(size[1])), background, seed)
    # Points far outside the image are not drawn (and would overflow fixed-point ints).
    limit = 4.0 * max(size) + radius

    def fill(tmp: Path) -> None:
        writer = open_writer(tmp, rate, (int(size[0]), int(size[1])), name=path)
        try:
            for i in tqdm(range(n_video), desc="render", unit="frame", disable=not progress):
                img = base.copy()
                row = row_of.get(i)
                if row is not None:
                    for j, (x, y) in enumerate(xy[row]):
                        if np.isfinite(x) and np.isfinite(y) and abs(x) < limit and abs(
                                y) < limit:
                            cv2.circle(img, (fixed_point(x), fixed_point(y)), radius << SHIFT,
                                       colors[j], -1, cv2.LINE_8, SHIFT)
                writer.write(img)
        finally:
            writer.release()

    return write_video(path, fill)
