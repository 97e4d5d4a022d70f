"""Multi-camera calibration from views of a calibration board, with aniposelib.

:class:`Board` describes a ChArUco board or a checkerboard (also from Anipose's
``[calibration]`` config section, :func:`board_from_anipose_config`); :func:`calibrate`
detects it in synchronised videos or image sequences of every camera, calibrates the
cameras with aniposelib (initial intrinsics from the board views, extrinsics chained
through the views two cameras share, then bundle adjustment) and writes Anipose's
``calibration.toml``.

aniposelib and OpenCV are optional: install them with ``pip install "faceexpr[anipose]"``.
They are imported only when a board is made or a calibration runs.

Notes on aniposelib's calibration
---------------------------------
* Only one focal length (``fx = fy``) and one distortion coefficient are fitted per
  camera; the principal point stays at the image centre, ``((w - 1) / 2, (h - 1) / 2)``,
  where ``cv2.initCameraMatrix2D`` puts it.
* The world frame is the first camera's (sorted by name) as the extrinsics are chained
  from it; bundle adjustment then moves every camera, that one too, by a little. Lengths
  are in the unit of the board's square length.
* It picks board views and samples points at random: :func:`calibrate` seeds NumPy's
  global generator for the call (``seed``) and restores its state afterwards.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from faceexpr._typing import PathLike
from faceexpr.errors import (
    CalibrationError,
    FileFormatError,
    InvalidPoseError,
    MissingDependencyError,
)
from faceexpr.geometry import Camera
from faceexpr.io._common import atomic_write
from faceexpr.io.cameras import camera_name
from faceexpr.io.video import open_capture, require_cv2

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
"""File name suffixes read as images (anything else in a list is read as a video)."""

_MARKER_BITS = (4, 5, 6, 7)
_DICT_SIZES = (50, 100, 250, 1000)
_INSTALL = 'pip install "faceexpr[anipose]"'


def _import_aniposelib() -> tuple[Any, Any]:
    """Return aniposelib's ``boards`` and ``cameras`` modules."""
    require_cv2()
    try:
        from aniposelib import boards, cameras
    except ImportError as exc:
        raise MissingDependencyError(
            f"camera calibration needs aniposelib, which is not installed: {_INSTALL}"
        ) from exc
    return boards, cameras


# ---------------------------------------------------------------------------------------
# Boards
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Board:
    """A calibration board, in the terms of Anipose's ``[calibration]`` section.

    Make one with :meth:`charuco` or :meth:`checkerboard`; :meth:`to_aniposelib` makes the
    aniposelib object.

    Attributes
    ----------
    kind
        ``"charuco"`` or ``"checkerboard"``.
    squares_x, squares_y
        ChArUco: number of squares along x and y. Checkerboard: number of *inner corners*
        along x and y, as OpenCV, aniposelib and Anipose's ``board_size`` count them (the
        printed board has ``squares_x + 1`` by ``squares_y + 1`` squares).
    square_length
        Side of a square, in the unit the calibration will have (e.g. mm).
    marker_length
        Side of an ArUco marker (ChArUco only).
    marker_bits, dict_size
        The ArUco dictionary (ChArUco only): ``DICT_{bits}X{bits}_{size}``.
    """

    kind: Literal["charuco", "checkerboard"]
    squares_x: int
    squares_y: int
    square_length: float
    marker_length: float | None = None
    marker_bits: int = 4
    dict_size: int = 50

    def __post_init__(self) -> None:
        if self.kind not in ("charuco", "checkerboard"):
            raise CalibrationError(
                f"unknown board kind {self.kind!r}: use 'charuco' or 'checkerboard'")
        least = 3 if self.kind == "charuco" else 2
        for name in ("squares_x", "squares_y"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise CalibrationError(f"{name} must be an integer, got {value!r}")
            if value < least:
                raise CalibrationError(f"{name} must be at least {least}, got {value}")
        if not np.isfinite(self.square_length) or self.square_length <= 0:
            raise CalibrationError(f"square_length must be > 0, got {self.square_length}")
        if self.kind == "charuco":
            ml = self.marker_length
            if ml is None or not np.isfinite(ml) or not 0 < ml < self.square_length:
                raise CalibrationError(
                    f"marker_length must be > 0 and smaller than square_length "
                    f"({self.square_length}), got {ml}")
            if self.marker_bits not in _MARKER_BITS:
                raise CalibrationError(
                    f"marker_bits must be one of {_MARKER_BITS}, got {self.marker_bits}")
            if self.dict_size not in _DICT_SIZES:
                raise CalibrationError(
                    f"dict_size must be one of {_DICT_SIZES}, got {self.dict_size}")
            n_markers = (self.squares_x * self.squares_y) // 2
            if n_markers > self.dict_size:
                raise CalibrationError(
                    f"a {self.squares_x}x{self.squares_y} ChArUco board has {n_markers} "
                    f"markers, more than the dictionary's {self.dict_size}")

    @classmethod
    def charuco(
        cls, squares_x: int, squares_y: int, square_length: float, marker_length: float,
        marker_bits: int = 4, dict_size: int = 50,
    ) -> Board:
        """A ChArUco board of ``squares_x`` by ``squares_y`` squares."""
        return cls("charuco", squares_x, squares_y, float(square_length),
                   float(marker_length), marker_bits, dict_size)

    @classmethod
    def checkerboard(cls, squares_x: int, squares_y: int, square_length: float) -> Board:
        """A checkerboard with ``squares_x`` by ``squares_y`` inner corners."""
        return cls("checkerboard", squares_x, squares_y, float(square_length))

    @property
    def n_corners(self) -> int:
        """Number of corners the board has (inner corners of the squares)."""
        if self.kind == "charuco":
            return (self.squares_x - 1) * (self.squares_y - 1)
        return self.squares_x * self.squares_y

    @property
    def size_mm(self) -> tuple[float, float]:
        """Width and height of the squares area (in the unit of ``square_length``)."""
        extra = 0 if self.kind == "charuco" else 1
        return ((self.squares_x + extra) * self.square_length,
                (self.squares_y + extra) * self.square_length)

    def to_aniposelib(self) -> Any:
        """Make aniposelib's ``CharucoBoard`` or ``Checkerboard``."""
        boards, _ = _import_aniposelib()
        if self.kind == "checkerboard":
            return boards.Checkerboard(self.squares_x, self.squares_y,
                                       square_length=self.square_length)
        cv2 = require_cv2()
        if not hasattr(cv2, "aruco"):
            raise MissingDependencyError(
                f"ChArUco boards need OpenCV's aruco module (opencv-contrib-python): {_INSTALL}")
        return boards.CharucoBoard(self.squares_x, self.squares_y, self.square_length,
                                   self.marker_length, marker_bits=self.marker_bits,
                                   dict_size=self.dict_size)


def board_from_anipose_config(calibration_section: Mapping[str, Any]) -> Board:
    """Make a :class:`Board` from Anipose's ``[calibration]`` config section.

    Reads ``board_type`` (``"charuco"`` or ``"checkerboard"``), ``board_size`` ``[w, h]``,
    ``board_square_side_length`` and, for ChArUco, ``board_marker_length``,
    ``board_marker_bits`` (default 4) and ``board_marker_dict_number`` (default 50).
    A whole config (with a ``calibration`` table) is accepted too.

    Raises
    ------
    CalibrationError
        A key is missing or has a bad value, or the board type is not supported.
    """
    section: Mapping[str, Any] = calibration_section
    nested = section.get("calibration")
    if isinstance(nested, Mapping) and "board_type" not in section:
        section = nested

    def need(key: str) -> Any:
        if key not in section:
            raise CalibrationError(f"the [calibration] section has no {key!r}")
        return section[key]

    board_type = str(need("board_type")).strip().lower()
    size = need("board_size")
    if (not isinstance(size, Sequence) or isinstance(size, str) or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in size)):
        raise CalibrationError(f"board_size must be two integers [w, h], got {size!r}")
    square = float(need("board_square_side_length"))
    if board_type == "charuco":
        return Board.charuco(size[0], size[1], square, float(need("board_marker_length")),
                             marker_bits=int(section.get("board_marker_bits", 4)),
                             dict_size=int(section.get("board_marker_dict_number", 50)))
    if board_type == "checkerboard":
        return Board.checkerboard(size[0], size[1], square)
    raise CalibrationError(
        f"board_type {board_type!r} is not supported: use 'charuco' or 'checkerboard'")


# ---------------------------------------------------------------------------------------
# Inputs and board detection
# ---------------------------------------------------------------------------------------

ImageInput = PathLike | npt.NDArray[Any]
CameraInput = PathLike | Sequence[ImageInput]
CalibrationInputs = Sequence[PathLike] | Mapping[str, CameraInput]


@dataclass
class _Source:
    """What one camera recorded: image files, images in memory, or videos."""

    kind: Literal["images", "arrays", "videos"]
    items: list[Any]
    where: str  # for messages


def _camera_name(path: PathLike, cam_regex: str) -> str:
    try:
        return camera_name(path, cam_regex)
    except InvalidPoseError as exc:
        raise CalibrationError(str(exc)) from None


def _is_image(path: PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def _existing(path: PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    return p


def _resolve_inputs(inputs: CalibrationInputs, cam_regex: str) -> dict[str, _Source]:
    """Sort the inputs into one source per camera, cameras sorted by name."""
    sources: dict[str, _Source] = {}
    if isinstance(inputs, (str, os.PathLike)):
        raise CalibrationError(
            "inputs must be a list of videos (one or more per camera) or a mapping "
            f"camera name -> images, not a single path ({inputs})")
    if isinstance(inputs, Mapping):
        for name, value in inputs.items():
            sources[str(name)] = _resolve_camera(str(name), value)
    else:
        videos: dict[str, list[Path]] = {}
        for path in inputs:
            videos.setdefault(_camera_name(path, cam_regex), []).append(Path(path))
        for name, paths in videos.items():
            for p in paths:
                _existing(p)
            paths = sorted(paths)
            sources[name] = _Source("videos", paths, ", ".join(str(p) for p in paths))
    if len(sources) < 2:
        raise CalibrationError(
            f"calibrating cameras together needs at least two cameras, got {len(sources)}"
            + (f" ({', '.join(sources)})" if sources else ""))
    return dict(sorted(sources.items()))


def _resolve_camera(name: str, value: CameraInput) -> _Source:
    if isinstance(value, (str, os.PathLike)):
        p = _existing(value)
        if p.is_dir():
            images = sorted(f for f in p.iterdir() if f.is_file() and _is_image(f))
            if not images:
                raise CalibrationError(f"camera {name}: no images in {p}")
            return _Source("images", images, f"{len(images)} images in {p}")
        if _is_image(p):
            return _Source("images", [p], str(p))
        return _Source("videos", [p], str(p))
    if isinstance(value, np.ndarray):
        # one array: a stack of images (N, H, W[, C])
        if value.ndim not in (3, 4):
            raise CalibrationError(
                f"camera {name}: an array of images must be (N, H, W) or (N, H, W, C), "
                f"got shape {value.shape}")
        return _Source("arrays", list(value), f"{len(value)} images in memory")
    items = list(value)
    if not items:
        raise CalibrationError(f"camera {name}: no images or videos given")
    if all(isinstance(v, np.ndarray) for v in items):
        return _Source("arrays", items, f"{len(items)} images in memory")
    if any(isinstance(v, np.ndarray) for v in items):
        raise CalibrationError(f"camera {name}: do not mix images in memory and file paths")
    paths = [_existing(v) for v in items if not isinstance(v, np.ndarray)]
    if all(_is_image(p) for p in paths):
        return _Source("images", paths, f"{len(paths)} images ({paths[0].parent})")
    if any(_is_image(p) for p in paths):
        raise CalibrationError(f"camera {name}: do not mix images and videos")
    return _Source("videos", sorted(paths), ", ".join(str(p) for p in sorted(paths)))


def _gray(image: npt.NDArray[Any], where: str) -> npt.NDArray[np.uint8]:
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] in (3, 4):
        cv2 = require_cv2()
        code = cv2.COLOR_BGR2GRAY if img.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        img = cv2.cvtColor(np.ascontiguousarray(img), code)
    elif img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim != 2:
        raise CalibrationError(f"{where}: not an image (shape {img.shape})")
    if img.dtype != np.uint8:
        if not np.issubdtype(img.dtype, np.number):
            raise CalibrationError(f"{where}: not an image (dtype {img.dtype})")
        img = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img)


class _Detector:
    """Find the board's corners in grey images, the way aniposelib would."""

    def __init__(self, board: Board, aboard: Any, min_corners: int) -> None:
        self.board = board
        self.aboard = aboard
        self.min_corners = min_corners
        self.cv2 = require_cv2()

    def __call__(self, gray: npt.NDArray[np.uint8]) -> tuple[Any, Any] | None:
        """Return ``(corners, ids)`` of a usable detection, or None."""
        if self.board.kind == "charuco":
            corners, ids = self.aboard.detect_image(gray)
        else:
            # aniposelib's Checkerboard.detect_image ignores whether the whole pattern was
            # found and fails on OpenCV 5's empty result, so detect here with its settings.
            pattern = self.aboard.get_size()
            found, corners = self.cv2.findChessboardCorners(
                gray, pattern, None, self.aboard.DETECT_PARAMS)
            if not found or corners is None or len(corners) != self.board.n_corners:
                return None
            corners = self.cv2.cornerSubPix(gray, corners, (3, 3), (-1, -1),
                                            self.aboard.SUBPIX_CRITERIA)
            ids = self.aboard.ids
        if corners is None or ids is None or len(corners) < self.min_corners:
            return None
        return corners, ids


@dataclass
class _Detections:
    rows: list[dict[str, Any]]
    size: tuple[int, int]
    n_frames: int


def _iter_images(source: _Source) -> Iterator[tuple[Any, npt.NDArray[Any], str]]:
    cv2 = require_cv2()
    for i, item in enumerate(source.items):
        if source.kind == "arrays":
            yield (0, i), item, f"image {i}"
        else:
            img = cv2.imread(str(item), cv2.IMREAD_GRAYSCALE)
            if img is None:
                raise FileFormatError(f"{item}: cannot read the file as an image")
            yield (0, i), img, str(item)


def _iter_video_frames(
    source: _Source, skip: int
) -> Iterator[tuple[Any, npt.NDArray[Any], str]]:
    for vnum, path in enumerate(source.items):
        cap, _ = open_capture(path)
        try:
            for fnum in itertools.count():
                if fnum % skip:
                    if not cap.grab():
                        break
                    continue
                ok, frame = cap.read()
                if not ok:
                    break
                yield (vnum, fnum), frame, f"{path} frame {fnum}"
        finally:
            cap.release()


def _detect(
    name: str, source: _Source, detector: _Detector, skip: int, progress: bool
) -> _Detections:
    frames: Iterable[tuple[Any, npt.NDArray[Any], str]] = (
        _iter_video_frames(source, skip) if source.kind == "videos" else _iter_images(source))
    if progress:
        from tqdm import tqdm

        total = None if source.kind == "videos" else len(source.items)
        frames = tqdm(frames, total=total, desc=f"camera {name}", ncols=70)
    rows: list[dict[str, Any]] = []
    size: tuple[int, int] | None = None
    n_frames = 0
    for key, image, where in frames:
        gray = _gray(image, f"camera {name}, {where}")
        shape = (int(gray.shape[1]), int(gray.shape[0]))
        if size is None:
            size = shape
        elif shape != size:
            raise CalibrationError(
                f"camera {name}: {where} is {shape[0]}x{shape[1]} pixels, the first frame "
                f"{size[0]}x{size[1]}")
        n_frames += 1
        found = detector(gray)
        if found is not None:
            rows.append({"framenum": key, "corners": found[0], "ids": found[1]})
    if size is None:
        raise CalibrationError(f"camera {name}: no frames could be read from {source.where}")
    rows = detector.aboard.fill_points_rows(rows)
    return _Detections(rows, size, n_frames)


def _common_views(detections: Mapping[str, _Detections]) -> dict[tuple[str, str], int]:
    keys = {name: {r["framenum"] for r in d.rows} for name, d in detections.items()}
    return {(a, b): len(keys[a] & keys[b]) for a, b in itertools.combinations(keys, 2)}


def _check_linked(
    names: list[str], common: Mapping[tuple[str, str], int], min_common_views: int
) -> None:
    """Raise unless pairs with enough shared views link all cameras together."""
    group = {n: n for n in names}

    def root(n: str) -> str:
        while group[n] != n:
            n = group[n]
        return n

    for (a, b), count in common.items():
        if count >= min_common_views:
            group[root(a)] = root(b)
    parts: dict[str, list[str]] = {}
    for n in names:
        parts.setdefault(root(n), []).append(n)
    if len(parts) > 1:
        counts = ", ".join(f"{a}-{b}: {c}" for (a, b), c in common.items())
        groups = " | ".join(", ".join(p) for p in parts.values())
        raise CalibrationError(
            "too few views of the board seen by two cameras at the same time to link all "
            f"cameras (need {min_common_views} per pair along a chain; common views {counts};"
            f" unlinked groups: {groups})")


# ---------------------------------------------------------------------------------------
# Calibration
# ---------------------------------------------------------------------------------------


@dataclass
class CalibrationResult:
    """What :func:`calibrate` found.

    Attributes
    ----------
    error
        Median reprojection error (pixels) of the board corners, as aniposelib reports it.
    camera_group
        The calibrated ``aniposelib.cameras.CameraGroup``.
    path
        Where ``calibration.toml`` was written (None when not written).
    camera_names
        The cameras, in the order of the calibration file (sorted by name).
    n_frames
        Frames (or images) examined per camera.
    n_detections
        Frames per camera where the board was found with enough corners.
    common_views
        Per pair of cameras, the frames where both found the board.
    sources
        The files read per camera (empty for images given in memory).
    """

    error: float
    camera_group: Any
    path: Path | None
    camera_names: list[str]
    n_frames: dict[str, int] = field(default_factory=dict)
    n_detections: dict[str, int] = field(default_factory=dict)
    common_views: dict[tuple[str, str], int] = field(default_factory=dict)
    sources: dict[str, list[Path]] = field(default_factory=dict)

    def to_cameras(self) -> list[Camera]:
        """Return the calibrated cameras as pinhole :class:`~faceexpr.geometry.Camera`.

        Lens distortion is left out.
        """
        from scipy.spatial.transform import Rotation

        out = []
        for cam in self.camera_group.cameras:
            rot = Rotation.from_rotvec(np.asarray(cam.get_rotation(), float)).as_matrix()
            size = cam.get_size()
            out.append(Camera(str(cam.get_name()), np.array(cam.get_camera_matrix(), float),
                              rot, np.array(cam.get_translation(), float),
                              (int(size[0]), int(size[1]))))
        return out


@contextlib.contextmanager
def _seeded(seed: int | None) -> Iterator[None]:
    if seed is None:
        yield
        return
    # aniposelib draws from NumPy's global generator, so that is the one to seed
    state = np.random.get_state()  # noqa: NPY002
    np.random.seed(seed)  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002


def calibrate(
    inputs: CalibrationInputs,
    board: Board,
    out: PathLike | None = "calibration.toml",
    *,
    cam_regex: str = r"cam([A-Z])",
    fisheye: bool = False,
    progress: bool = False,
    video_skip: int = 20,
    min_corners: int = 9,
    min_common_views: int = 3,
    seed: int | None = 0,
    bundle_options: Mapping[str, Any] | None = None,
) -> CalibrationResult:
    """Calibrate several synchronised cameras from views of a board, like ``anipose calibrate``.

    Parameters
    ----------
    inputs
        Either a list of videos, at least one per camera, whose camera is named by
        ``cam_regex`` on the file name (several videos of one camera are used in name
        order, and must be in step with the other cameras' videos); or a mapping camera name
        → a folder of images, a list of image files, a list of images in memory (``(H, W)``
        or BGR ``(H, W, 3)`` arrays) or video file(s). The i-th image of every camera must
        show the board at the same moment.
    board
        The board (:meth:`Board.charuco`, :meth:`Board.checkerboard`,
        :func:`board_from_anipose_config`); its ``square_length`` sets the unit.
    out
        The ``calibration.toml`` to write (through a temporary file: nothing is written
        when the calibration fails); None to write nothing.
    cam_regex
        Regular expression whose first group is the camera name in a video's file name.
    fisheye
        Calibrate fisheye cameras.
    progress
        Show detection progress bars and aniposelib's messages (its ``verbose``).
    video_skip
        Look for the board in every ``video_skip``-th frame of videos (Anipose: 20).
    min_corners
        Fewest board corners a detection must have to be used (at least 8).
    min_common_views
        Fewest frames two cameras must both see the board in for the pair to link them.
    seed
        Seed of NumPy's global generator during the calibration (None: leave it alone).
    bundle_options
        Extra keyword arguments of aniposelib's ``CameraGroup.bundle_adjust_iter`` (e.g.
        ``n_iters``, ``n_samp_full``, ``error_threshold``).

    Returns
    -------
    CalibrationResult

    Raises
    ------
    CalibrationError
        A camera name cannot be read from a file name, a camera's views have no usable
        board (naming the camera and the frames tried), too few views link the cameras,
        or the calibration fails.
    FileNotFoundError, FileFormatError
        An input file is missing or unreadable.
    MissingDependencyError
        aniposelib or OpenCV is not installed.
    """
    if min_corners < 8:
        raise ValueError(f"min_corners must be at least 8, got {min_corners}")
    if min_common_views < 2:
        raise ValueError(f"min_common_views must be at least 2, got {min_common_views}")
    if video_skip < 1:
        raise ValueError(f"video_skip must be at least 1, got {video_skip}")
    if board.n_corners < min_corners:
        raise CalibrationError(
            f"the board has only {board.n_corners} corners, fewer than min_corners "
            f"({min_corners})")
    _, cameras_mod = _import_aniposelib()
    sources = _resolve_inputs(inputs, cam_regex)
    names = list(sources)
    aboard = board.to_aniposelib()
    detector = _Detector(board, aboard, min_corners)

    detections = {name: _detect(name, src, detector, video_skip, progress)
                  for name, src in sources.items()}
    frame_counts = {n: d.n_frames for n, d in detections.items()}
    kinds = {s.kind for s in sources.values()}
    if "videos" not in kinds and len(set(frame_counts.values())) > 1:
        counts = ", ".join(f"{n}: {c}" for n, c in frame_counts.items())
        raise CalibrationError(
            f"the cameras have different numbers of images ({counts}); the i-th image of "
            "every camera must show the board at the same moment")
    for name, det in detections.items():
        if not det.rows:
            unit = "frames" if sources[name].kind == "videos" else "images"
            every = (f" (every {video_skip}th frame)"
                     if sources[name].kind == "videos" and video_skip > 1 else "")
            raise CalibrationError(
                f"camera {name}: no calibration board ({board.kind} {board.squares_x}x"
                f"{board.squares_y}) with at least {min_corners} corners found in "
                f"{det.n_frames} {unit}{every} of {sources[name].where}")
    common = _common_views(detections)
    _check_linked(names, common, min_common_views)

    cgroup = cameras_mod.CameraGroup.from_names(names, fisheye=fisheye)
    for cam, name in zip(cgroup.cameras, names):
        cam.set_size(list(detections[name].size))
    all_rows = [detections[name].rows for name in names]
    quiet = contextlib.nullcontext() if progress else contextlib.redirect_stdout(io.StringIO())
    try:
        with _seeded(seed), quiet:
            error = cgroup.calibrate_rows(
                all_rows, aboard, init_intrinsics=True, init_extrinsics=True,
                verbose=progress, min_corners_intrinsic=min_corners,
                **dict(bundle_options or {}))
    except (ValueError, np.linalg.LinAlgError) as exc:
        raise CalibrationError(f"aniposelib could not calibrate the cameras: {exc}") from exc
    error = float(error)
    params = np.concatenate([np.ravel(c.get_params()) for c in cgroup.cameras])
    if not np.isfinite(error) or not np.all(np.isfinite(params)):
        raise CalibrationError("the calibration diverged (non-finite camera parameters)")

    # a new dict: CameraGroup shares one default metadata dict between instances
    cgroup.metadata = {"adjusted": False, "error": error}
    path = None
    if out is not None:
        path = Path(out)
        atomic_write(path, lambda tmp: cgroup.dump(str(tmp)))
    return CalibrationResult(
        error=error, camera_group=cgroup, path=path, camera_names=names,
        n_frames=frame_counts,
        n_detections={n: len(d.rows) for n, d in detections.items()},
        common_views=common,
        sources={n: list(s.items) if s.kind != "arrays" else [] for n, s in sources.items()},
    )


def write_calibration_toml(cameras: Sequence[Camera], path: PathLike) -> Path:
    """Write cameras in Anipose's ``calibration.toml`` format (``[cam_0]``, ... ``[metadata]``)."""
    def vec(a: npt.ArrayLike) -> str:
        return "[ " + ", ".join(repr(float(v)) for v in np.ravel(a)) + ",]"

    from scipy.spatial.transform import Rotation

    lines = []
    for i, cam in enumerate(cameras):
        rvec = Rotation.from_matrix(cam.rotation).as_rotvec()
        lines += [
            f"[cam_{i}]", f'name = "{cam.name}"', f"size = [ {cam.size[0]}, {cam.size[1]},]",
            "matrix = [ " + ", ".join(vec(row) for row in cam.matrix) + ",]",
            f"distortions = {vec(np.zeros(5))}", f"rotation = {vec(rvec)}",
            f"translation = {vec(cam.translation)}", "",
        ]
    lines += ["[metadata]", "adjusted = false", "error = 0.0", ""]
    atomic_write(path, lambda tmp: tmp.write_text("\n".join(lines)))
    return Path(path)


# ---------------------------------------------------------------------------------------
# Reading calibration.toml
# ---------------------------------------------------------------------------------------

_DISTORTIONS = (4, 5, 8, 12, 14)
"""Lengths of distortion vectors OpenCV takes (fisheye cameras: 4)."""


def calibration_cameras(data: Mapping[str, Any], path: PathLike
                        ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Check a parsed Anipose ``calibration.toml`` before aniposelib and OpenCV see it.

    aniposelib takes every table but ``[metadata]`` as a camera, in the sorted order of
    the table names, and hands its numbers to OpenCV unchecked: a ``matrix = [1, 2, 3]``
    fails later in ``cv2`` with a message that names neither the file nor the camera.

    Parameters
    ----------
    data
        The parsed TOML.
    path
        The file, named in messages.

    Returns
    -------
    cameras, metadata
        One dict per camera in aniposelib's order (``name``, ``size`` ``[w, h]``,
        ``matrix`` 3x3, ``distortions``, ``rotation`` and ``translation`` of 3, and
        ``fisheye``), as lists of Python numbers; and the ``[metadata]`` table.

    Raises
    ------
    FileFormatError
        Naming the file, the table and camera, the key, what was expected and what was
        found: a missing key, a wrong shape, a number that is not finite, a camera matrix
        whose last row is not ``[0, 0, 1]`` or whose focal lengths are not positive, an
        image size that is not two positive integers, no cameras, or two of one name.
    """
    metadata = data.get("metadata", {})
    if not isinstance(metadata, Mapping):
        raise FileFormatError(f"{path}: metadata must be a table ([metadata])")
    cameras = []
    for key in sorted(k for k in data if k != "metadata"):
        table = data[key]
        if not isinstance(table, Mapping):
            raise FileFormatError(f"{path}: '{key}' is not a camera table ([{key}]): "
                                  f"every top-level entry but [metadata] is a camera")
        cameras.append(_camera(table, f"{path}: [{key}]"))
    if not cameras:
        raise FileFormatError(f"{path}: the calibration has no cameras ([cam_0] tables)")
    names = [c["name"] for c in cameras]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise FileFormatError(f"{path}: several cameras are named {dup}")
    return cameras, dict(metadata)


def _camera(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    for key in ("name", "size", "matrix", "distortions", "rotation", "translation"):
        if key not in table:
            raise FileFormatError(f"{where}: not an Anipose calibration: the camera table "
                                  f"lacks the key '{key}'")
    name = table["name"]
    if not isinstance(name, (str, int)) or isinstance(name, bool) or str(name) == "":
        raise FileFormatError(f"{where}: name must be a string, got {_shown(name)}")
    where = f"{where} (camera '{name}')"
    fisheye = table.get("fisheye", False)
    if not isinstance(fisheye, bool):
        raise FileFormatError(f"{where}: fisheye must be true or false, got {fisheye!r}")
    size = _vector(table["size"], (2,), "size", "the image's [width, height] in pixels",
                   where)
    if not all(v > 0 and v == round(v) for v in size):
        raise FileFormatError(f"{where}: size must be the image's [width, height] in "
                              f"pixels, two whole numbers > 0, got {_shown(table['size'])}")
    rows = table["matrix"]
    if not isinstance(rows, list) or len(rows) != 3:
        raise FileFormatError(f"{where}: matrix must be 3 rows of 3 finite numbers, got "
                              f"{_shown(rows)}")
    matrix = [_vector(row, (3,), "matrix", "3 rows of 3", where) for row in rows]
    if matrix[2] != [0.0, 0.0, 1.0] or not (matrix[0][0] > 0 and matrix[1][1] > 0):
        raise FileFormatError(f"{where}: matrix must be a camera matrix [[fx, 0, cx], "
                              f"[0, fy, cy], [0, 0, 1]] with fx, fy > 0, got {matrix}")
    lengths = (4,) if fisheye else _DISTORTIONS
    return {
        "name": str(name), "size": [int(v) for v in size], "matrix": matrix,
        "distortions": _vector(table["distortions"], lengths, "distortions",
                               " or ".join(map(str, lengths)), where),
        "rotation": _vector(table["rotation"], (3,), "rotation", "3 (a rotation vector)",
                            where),
        "translation": _vector(table["translation"], (3,), "translation", "3", where),
        "fisheye": fisheye,
    }


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _vector(value: object, lengths: tuple[int, ...], key: str, expected: str, where: str
            ) -> list[float]:
    """A TOML array of finite numbers of one of ``lengths``, as a list of floats."""
    if (not isinstance(value, list) or len(value) not in lengths
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                       and math.isfinite(v) for v in value)):
        raise FileFormatError(f"{where}: {key} must be {expected} finite numbers, got "
                              f"{_shown(value)}")
    return [float(v) for v in value]
