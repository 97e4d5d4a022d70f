"""Labelled videos: landmarks, skeleton and the current expression state drawn on a video.

:func:`labelled_video` streams a video frame by frame through OpenCV (memory does not
grow with the video's length) and draws each frame's landmarks in the colour of that
frame's state, the same colour the state has in every figure (:func:`state_colors`).

Needs OpenCV, the ``video`` extra: ``pip install "faceexpr[video]"``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import xarray as xr
from tqdm.auto import tqdm

from faceexpr._typing import PathLike
from faceexpr.data import NO_STATE, get_fps, validate_pose
from faceexpr.errors import FileFormatError, InvalidPoseError, InvalidStatesError
from faceexpr.io.video import (
    DEFAULT_FPS,
    SHIFT,
    fixed_point,
    open_capture,
    open_writer,
    require_cv2,
    write_video,
)
from faceexpr.plot._style import NO_STATE_COLOR, STATE_PALETTE, state_label
from faceexpr.schemes import FACE21, SchemeLike, skeleton_edges
from faceexpr.synthetic.video import landmark_colors

__all__ = ["hex_to_bgr", "labelled_video", "state_color_bgr"]

BGR = tuple[int, int, int]


def hex_to_bgr(color: str) -> BGR:
    """Convert ``"#RRGGBB"`` to an OpenCV ``(B, G, R)`` tuple."""
    h = color.lstrip("#")
    if len(h) != 6:
        raise ValueError(f"expected a colour as '#RRGGBB', got {color!r}")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return (b, g, r)


def state_color_bgr(state: int) -> BGR:
    """Return the ``(B, G, R)`` colour of a state (:data:`NO_STATE_COLOR` for ``-1``)."""
    if state < 0:
        return hex_to_bgr(NO_STATE_COLOR)
    return hex_to_bgr(STATE_PALETTE[state % len(STATE_PALETTE)])


def _select_camera(pose: xr.Dataset, camera: str | int | None) -> xr.Dataset:
    if "cameras" not in pose.dims:
        return pose
    names = [str(c) for c in pose["cameras"].values]
    if camera is None:
        if len(names) != 1:
            raise InvalidPoseError(
                f"the pose has {len(names)} cameras {names}: choose one with camera=..."
            )
        camera = 0
    if isinstance(camera, (int, np.integer)):
        if not -len(names) <= camera < len(names):
            raise InvalidPoseError(f"camera index {camera} is out of range for cameras {names}")
        return pose.isel(cameras=int(camera))
    if str(camera) not in names:
        raise InvalidPoseError(f"the pose has no camera {camera!r}; it has {names}")
    return pose.sel(cameras=str(camera))


def _state_labels(
    states: xr.DataArray | npt.ArrayLike, pose: xr.Dataset, n_states: int | None
) -> npt.NDArray[np.int64]:
    """The state of each pose row (aligned by ``frame`` when both have it, else by position)."""
    arr = states if isinstance(states, xr.DataArray) else xr.DataArray(np.asarray(states))
    if arr.ndim != 1:
        raise InvalidStatesError(f"states must be 1D (time,), got dims {arr.dims}")
    values = np.asarray(arr.values)
    if values.size and not np.issubdtype(values.dtype, np.integer):
        if not np.issubdtype(values.dtype, np.floating) or not np.all(values == np.round(values)):
            raise InvalidStatesError(f"states must hold integer labels, got dtype {values.dtype}")
    labels = values.astype(np.int64)
    if labels.size and labels.min() < NO_STATE:
        raise InvalidStatesError(
            f"state labels must be >= {NO_STATE} ({NO_STATE} = no state), got {labels.min()}"
        )
    if n_states is not None:
        if n_states < 1:
            raise InvalidStatesError(f"n_states must be >= 1, got {n_states}")
        if labels.size and labels.max() >= n_states:
            raise InvalidStatesError(
                f"state label {labels.max()} is out of range for n_states={n_states}"
            )
    pose_frames = np.asarray(pose["frame"].values, dtype=np.int64)
    if "frame" in arr.coords and arr["frame"].dims == arr.dims:
        by_frame = dict(zip(np.asarray(arr["frame"].values, dtype=np.int64).tolist(),
                            labels.tolist()))
        missing = [f for f in pose_frames.tolist() if f not in by_frame]
        if missing and len(labels) != len(pose_frames):
            raise InvalidStatesError(
                f"states have no label for {len(missing)} pose frame(s), e.g. frame {missing[0]}"
            )
        if not missing:
            return np.array([by_frame[f] for f in pose_frames.tolist()], dtype=np.int64)
    if len(labels) != len(pose_frames):
        raise InvalidStatesError(
            f"states have {len(labels)} frames but the pose has {len(pose_frames)}"
        )
    return labels


def _point(xy: npt.NDArray[np.float64]) -> tuple[int, int]:
    return (fixed_point(xy[0]), fixed_point(xy[1]))


def _text_color(bgr: BGR) -> BGR:
    b, g, r = bgr
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)


def labelled_video(
    video: PathLike,
    pose: xr.Dataset,
    out: PathLike,
    states: xr.DataArray | None = None,
    n_states: int | None = None,
    scheme: SchemeLike = FACE21,
    camera: str | int | None = None,
    state_names: Sequence[str] | None = None,
    min_confidence: float = 0.0,
    radius: int = 3,
    progress: bool = True,
    max_frames: int | None = None,
) -> Path:
    """Draw landmarks, skeleton and the current state on every frame of a video.

    Parameters
    ----------
    video
        The video the pose was tracked in.
    pose
        2D pose in the video's pixels. Its ``frame`` coordinate gives the video frame of
        each pose row; video frames without a pose row are copied unlabelled. With a
        ``cameras`` dim, ``camera`` chooses the view.
    out
        The labelled video to write (codec ``mp4v``). It is written to a temporary file
        and renamed at the end, so a failure leaves no output file.
    states
        State of every pose row, ``(time,)`` int, ``-1`` = no state; matched to the pose
        by its ``frame`` coordinate when it has one, else by position. Landmarks, skeleton
        and a label box take the state's colour (the same as in the figures). Without
        states every landmark has its own colour and there is no label.
    n_states
        Number of states, to check the labels (default: not checked).
    scheme
        Skeleton to draw: a :class:`~faceexpr.schemes.LandmarkScheme` or chains of landmark
        names (Anipose's ``labeling.scheme``); edges naming landmarks the pose lacks are
        skipped. ``None`` draws no skeleton.
    camera
        Camera name or index when the pose has a ``cameras`` dim (needed when it has
        several).
    state_names
        Display names of the states (default ``"state k"``).
    min_confidence
        Landmarks with a lower confidence are not drawn (nor their edges); NaN positions
        never are.
    radius
        Radius of the landmark dots in pixels.
    progress
        Show a progress bar over the video's frames.
    max_frames
        Stop after this many video frames (a short preview).

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    FileNotFoundError
        When ``video`` does not exist.
    FileFormatError
        When OpenCV cannot read ``video``, or it has fewer frames than the pose needs.
    InvalidPoseError
        When the pose is 3D, or has several cameras and none was chosen.
    MissingDependencyError
        When OpenCV is not installed.
    """
    cv2 = require_cv2()
    pose = validate_pose(pose)
    if pose.sizes["space"] != 2:
        raise InvalidPoseError(
            "labelled_video needs a 2D pose in the video's pixels, got a 3D pose: use the "
            "2D pose of this camera (before triangulation)"
        )
    pose = _select_camera(pose, camera)
    if radius < 1:
        raise ValueError(f"radius must be >= 1 pixel, got {radius}")
    if max_frames is not None and max_frames < 0:
        raise ValueError(f"max_frames must be >= 0, got {max_frames}")

    names = [str(n) for n in pose["landmarks"].values]
    edges = skeleton_edges(scheme, names)
    xy = np.asarray(pose["position"].transpose("time", "landmarks", "space").values,
                    dtype=np.float64)
    conf = np.asarray(pose["confidence"].transpose("time", "landmarks").values,
                      dtype=np.float64)
    visible = np.isfinite(xy).all(axis=-1) & ~(conf < min_confidence)
    frames = np.asarray(pose["frame"].values, dtype=np.int64)
    if frames.size and frames.min() < 0:
        raise InvalidPoseError(f"frame numbers must be >= 0, got {frames.min()}")
    if np.unique(frames).size != frames.size:
        raise InvalidPoseError("the pose's frame numbers must be unique")
    row_of = {int(f): i for i, f in enumerate(frames)}
    labels = None if states is None else _state_labels(states, pose, n_states)
    own_colors = landmark_colors(len(names))
    edge_default = hex_to_bgr(NO_STATE_COLOR)

    cap, src = open_capture(video)
    try:
        n_video = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        rate = float(cap.get(cv2.CAP_PROP_FPS))
        if not (math.isfinite(rate) and rate > 0):
            rate = get_fps(pose) or DEFAULT_FPS
        needed = int(frames.max()) + 1 if frames.size else 0

        def too_short(have: int) -> FileFormatError:
            return FileFormatError(
                f"{src}: the pose has {len(frames)} frames (up to frame {needed - 1}) but "
                f"the video has only {have} frames"
            )

        if n_video > 0 and needed > n_video:
            raise too_short(n_video)
        if width <= 0 or height <= 0:
            raise FileFormatError(f"{src}: OpenCV cannot read the frame size of this video")
        total = n_video if n_video > 0 else None
        if max_frames is not None:
            total = max_frames if total is None else min(total, max_frames)

        scale = max(0.4, min(width, height) / 800)
        thick = max(1, round(scale * 1.6))
        line = max(1, round(radius / 2))
        pad = max(3, round(6 * scale))
        limit = 4.0 * max(width, height) + radius

        def draw(img: npt.NDArray[np.uint8], row: int) -> None:
            state = None if labels is None else int(labels[row])
            color = None if state is None else state_color_bgr(state)
            pts = xy[row]
            ok = visible[row] & (np.abs(pts) < limit).all(axis=-1)
            for a, b in edges:
                if ok[a] and ok[b]:
                    cv2.line(img, _point(pts[a]), _point(pts[b]), color or edge_default,
                             line, cv2.LINE_AA, SHIFT)
            for j in np.flatnonzero(ok):
                c = _point(pts[j])
                cv2.circle(img, c, (radius + 1) << SHIFT, (0, 0, 0), 1, cv2.LINE_AA, SHIFT)
                cv2.circle(img, c, radius << SHIFT, color or own_colors[j], -1, cv2.LINE_8,
                           SHIFT)
            if state is not None and color is not None:
                text = "no state" if state < 0 else state_label(state, state_names)
                (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
                cv2.rectangle(img, (pad, pad), (3 * pad + tw, 3 * pad + th + base), color, -1)
                cv2.putText(img, text, (2 * pad, 2 * pad + th), cv2.FONT_HERSHEY_SIMPLEX,
                            scale, _text_color(color), thick, cv2.LINE_AA)

        def fill(tmp: Path) -> None:
            writer = open_writer(tmp, rate, (width, height), name=out)
            done = 0
            try:
                with tqdm(total=total, desc="labelled video", unit="frame",
                          disable=not progress) as bar:
                    while max_frames is None or done < max_frames:
                        ok, img = cap.read()
                        if not ok:
                            break
                        row = row_of.get(done)
                        if row is not None:
                            draw(img, row)
                        writer.write(img)
                        done += 1
                        bar.update(1)
            finally:
                writer.release()
            if done < needed and (max_frames is None or done < max_frames):
                raise too_short(done)

        return write_video(out, fill)
    finally:
        cap.release()
