"""Labelled videos: landmarks, skeleton and the current expression state drawn on a video.

:func:`labelled_video` streams a video frame by frame through OpenCV (memory does not
grow with the video's length) and draws each frame's landmarks in the colour of that
frame's state, the same colour the state has in every figure (:func:`state_colors`).
It writes H.264 in MP4 (``yuv420p``, moov atom first) through the ffmpeg binary that
imageio-ffmpeg bundles, so browsers play it in ``report.html`` and start before the end.

Needs OpenCV and imageio-ffmpeg, the ``video`` extra: ``pip install "faceexpr[video]"``.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Generator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
import xarray as xr
from tqdm.auto import tqdm

from faceexpr._typing import PathLike
from faceexpr.data import DROP_REASONS, NO_STATE, get_fps, validate_pose
from faceexpr.errors import (
    FileFormatError,
    InvalidPoseError,
    InvalidStatesError,
    MissingDependencyError,
)
from faceexpr.io.video import (
    DEFAULT_FPS,
    SHIFT,
    fixed_point,
    open_capture,
    require_cv2,
    write_video,
)
from faceexpr.plot._style import NO_STATE_COLOR, STATE_PALETTE, state_label
from faceexpr.schemes import FACE21, SchemeLike, skeleton_edges
from faceexpr.synthetic.video import landmark_colors

__all__ = ["H264_OPTIONS", "hex_to_bgr", "labelled_video", "state_color_bgr"]

BGR = tuple[int, int, int]

H264_OPTIONS = (
    # constant quality 18, "visually lossless" (x264's default 23 blurs the colour of
    # landmark dots a few pixels wide: yuv420p keeps a quarter of the colour resolution)
    "-crf", "18", "-preset", "veryfast",
    # the index first, so a browser starts playing before it has the whole file
    "-movflags", "+faststart",
    # yuv420p keeps one colour per 2×2 block, so libx264 needs an even width and height
    "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",
    "-f", "mp4",
)
"""ffmpeg output options of a labelled video (codec libx264, pixel format yuv420p)."""
DROP_COLOR = "#8a1c00"
"""Box colour of the reason a frame has no landmarks (the report's warning colour)."""
SHOT_COLOR = "#333333"
"""Box colour of the shot number."""


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


def require_imageio_ffmpeg() -> ModuleType:
    """Import and return imageio-ffmpeg, or raise :class:`MissingDependencyError`."""
    try:  # through importlib: imageio-ffmpeg has no type information
        return importlib.import_module("imageio_ffmpeg")
    except ImportError as exc:
        raise MissingDependencyError(
            "labelled videos are written as H.264 by imageio-ffmpeg, which is not "
            'installed: pip install "faceexpr[video]"'
        ) from exc


class _H264Writer:
    """BGR frames piped to imageio-ffmpeg's ffmpeg: H.264, yuv420p, in MP4."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int], name: PathLike) -> None:
        ffmpeg = require_imageio_ffmpeg()
        self.path, self.name, self.count = path, name, 0
        self._gen: Generator[None, Any, None] = ffmpeg.write_frames(
            str(path), (int(size[0]), int(size[1])), pix_fmt_in="bgr24",
            pix_fmt_out="yuv420p", fps=float(fps), codec="libx264", quality=None,
            macro_block_size=1, ffmpeg_log_level="error", output_params=list(H264_OPTIONS))
        self._gen.send(None)  # starts ffmpeg

    def write(self, img: npt.NDArray[np.uint8]) -> None:
        try:
            self._gen.send(np.ascontiguousarray(img))
        except OSError as exc:  # ffmpeg quit: its first line says why
            raise FileFormatError(f"{self.name}: ffmpeg stopped writing the H.264 video "
                                  f"({str(exc).splitlines()[0]})") from exc
        self.count += 1

    def close(self) -> None:
        """Wait for ffmpeg to finish the file."""
        self._gen.close()

    def check(self, cv2: ModuleType) -> None:
        """The finished file holds every frame (ffmpeg's exit status is not reported)."""
        cap = cv2.VideoCapture(str(self.path))
        try:
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else -1
        finally:
            cap.release()
        if n != self.count:
            raise FileFormatError(f"{self.name}: ffmpeg wrote an incomplete H.264 video "
                                  f"({n} of {self.count} frames readable)")


def _drop_codes(pose: xr.Dataset) -> npt.NDArray[np.int64] | None:
    """The ``dropped`` code of every pose row, checked against :data:`DROP_REASONS`."""
    if "dropped" not in pose.variables:
        return None
    var = pose["dropped"]
    if var.dims != ("time",):
        raise InvalidPoseError(f"the pose's 'dropped' variable must be along time only, got "
                               f"dims {var.dims}")
    values = np.asarray(var.values)
    if not np.issubdtype(values.dtype, np.integer):
        raise InvalidPoseError(f"the pose's 'dropped' codes must be integers, got dtype "
                               f"{values.dtype}")
    codes = values.astype(np.int64)
    bad = codes[(codes < 0) | (codes >= len(DROP_REASONS))]
    if bad.size:
        raise InvalidPoseError(f"the pose's 'dropped' code {bad[0]} is not one of 0.."
                               f"{len(DROP_REASONS) - 1} ({', '.join(DROP_REASONS)})")
    return codes


def _segments(pose: xr.Dataset) -> npt.NDArray[np.int64] | None:
    """The shot (``segment`` coordinate) of every pose row, if the pose has one."""
    if "segment" not in pose.coords or pose["segment"].dims != ("time",):
        return None
    return np.asarray(pose["segment"].values, dtype=np.int64)


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
        The labelled video to write: H.264 in MP4 (:data:`H264_OPTIONS`; an odd width or
        height gets one padding pixel), which browsers play. It is written to a
        temporary file and renamed at the end, so a failure leaves no output file.
    states
        State of every pose row, ``(time,)`` int, ``-1`` = no state; matched to the pose
        by its ``frame`` coordinate when it has one, else by position. Landmarks, skeleton
        and a label box take the state's colour (the same as in the figures). Without
        states every landmark has its own colour and there is no label. Below the state,
        frames the pose marks as dropped (its ``dropped`` variable, codes of
        :data:`faceexpr.data.DROP_REASONS`) say why they have no landmarks ("no face",
        "other person", ...), and a pose with a ``segment`` coordinate shows "shot N".
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
        When the pose is 3D, has several cameras and none was chosen, or has ``dropped``
        codes outside :data:`~faceexpr.data.DROP_REASONS`.
    MissingDependencyError
        When OpenCV or imageio-ffmpeg is not installed.
    """
    cv2 = require_cv2()
    require_imageio_ffmpeg()  # before any work
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
    drops, shots = _drop_codes(pose), _segments(pose)
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
        drop_color, shot_color = hex_to_bgr(DROP_COLOR), hex_to_bgr(SHOT_COLOR)

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
            top = pad
            if state is not None and color is not None:
                text = "no state" if state < 0 else state_label(state, state_names)
                top = label(img, text, color, pad, top)
            if drops is not None and drops[row] > 0:
                label(img, DROP_REASONS[drops[row]].replace("-", " "), drop_color, pad, top)
            if shots is not None:
                text = f"shot {shots[row]}"
                (tw, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
                label(img, text, shot_color, width - 3 * pad - tw, pad)

        def label(img: npt.NDArray[np.uint8], text: str, color: BGR, left: int,
                  top: int) -> int:
            """Draw ``text`` in a filled box at (left, top); return the next box's top."""
            (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
            bottom = int(top + 2 * pad + th + base)
            cv2.rectangle(img, (left, top), (left + 2 * pad + tw, bottom), color, -1)
            cv2.putText(img, text, (left + pad, top + pad + th), cv2.FONT_HERSHEY_SIMPLEX,
                        scale, _text_color(color), thick, cv2.LINE_AA)
            return bottom + pad

        def fill(tmp: Path) -> None:
            writer = _H264Writer(tmp, rate, (width, height), name=out)
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
                writer.close()
            if done < needed and (max_frames is None or done < max_frames):
                raise too_short(done)
            writer.check(cv2)

        return write_video(out, fill)
    finally:
        cap.release()
