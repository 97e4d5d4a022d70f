"""Synthetic views of a calibration board with known poses, for testing calibration.

:func:`render_board_views` draws a :class:`~faceexpr.backends.anipose.Board` (OpenCV's image of
the ChArUco board, or a checkerboard) on white paper, places it at random poses around
the face position (the world origin) and warps it into every
:class:`~faceexpr.geometry.Camera` with the homography of the board plane, over a grey
background. The true board poses come back with the images, so a calibration made from
them can be compared with the cameras that made them.

Needs OpenCV (``pip install "faceexpr[video]"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.spatial.transform import Rotation

from faceexpr._typing import FloatArray, PathLike
from faceexpr.backends.anipose import Board
from faceexpr.geometry import Camera
from faceexpr.io.video import require_cv2

Image = npt.NDArray[np.uint8]

# Grey levels of the printed board: black ink and white paper, short of 0 and 255 so that
# noise is not clipped.
_BLACK = 25
_WHITE = 230
# The output is drawn this many times larger, then averaged down (anti-aliasing).
_SUPERSAMPLE = 3


@dataclass
class BoardViews:
    """Rendered views of a board and the truth behind them.

    Attributes
    ----------
    images
        Per camera name, one ``(H, W)`` uint8 grey image per view.
    rotations
        ``(n_views, 3, 3)`` board-to-world rotations: a board point ``p`` (board frame:
        origin at the top-left corner of the squares, x along a row, y down the columns,
        z into the board, in the square length's unit) is at ``rotations @ p + translations``.
    translations
        ``(n_views, 3)`` world position of the board frame's origin.
    board
        The board.
    cameras
        The cameras.
    """

    images: dict[str, list[Image]]
    rotations: FloatArray
    translations: FloatArray
    board: Board
    cameras: list[Camera]

    def corners(self, view: int) -> FloatArray:
        """World positions ``(n_corners, 3)`` of the board's inner corners in a view.

        ChArUco: in OpenCV's corner id order. Checkerboard: row by row from the top left.
        """
        return np.asarray(board_corners(self.board) @ self.rotations[view].T
                          + self.translations[view])

    def write(self, folder: PathLike, suffix: str = ".png") -> dict[str, list[Path]]:
        """Write the images to ``folder/<camera>/view_000.png`` ...; return the paths."""
        return write_board_views(self, folder, suffix=suffix)


def board_corners(board: Board) -> FloatArray:
    """Inner corners of the board ``(n_corners, 3)`` in the board frame (see :class:`BoardViews`).

    ChArUco corners are in OpenCV's id order (row by row from the top left), like
    checkerboard corners.
    """
    nx, ny = ((board.squares_x - 1, board.squares_y - 1) if board.kind == "charuco"
              else (board.squares_x, board.squares_y))
    j, i = np.mgrid[1:ny + 1, 1:nx + 1]
    pts = np.stack([i.ravel(), j.ravel(), np.zeros(i.size)], axis=1) * board.square_length
    return np.asarray(pts, dtype=np.float64)


def board_image(board: Board, pixels_per_square: int = 60, margin_squares: float = 0.5
                ) -> tuple[Image, float]:
    """Draw the printed board: the squares on white paper with a margin.

    Returns
    -------
    image
        ``(H, W)`` uint8 image, black 0 and white 255.
    offset
        Pixels between the image's edge and the squares (the margin).
    """
    if pixels_per_square < 4:
        raise ValueError(f"pixels_per_square must be at least 4, got {pixels_per_square}")
    margin = round(margin_squares * pixels_per_square)
    extra = 0 if board.kind == "charuco" else 1
    nx, ny = board.squares_x + extra, board.squares_y + extra
    w, h = nx * pixels_per_square, ny * pixels_per_square
    if board.kind == "charuco":
        # the same board aniposelib's CharucoBoard detects (OpenCV's current pattern)
        aruco = require_cv2().aruco
        bits, n = board.marker_bits, board.dict_size
        dictionary = aruco.getPredefinedDictionary(getattr(aruco, f"DICT_{bits}X{bits}_{n}"))
        cv_board = aruco.CharucoBoard((board.squares_x, board.squares_y), board.square_length,
                                      board.marker_length, dictionary)
        img = cv_board.generateImage((w + 2 * margin, h + 2 * margin), marginSize=margin,
                                     borderBits=1)
        return np.asarray(img, dtype=np.uint8), float(margin)
    img = np.full((h + 2 * margin, w + 2 * margin), 255, np.uint8)
    rows, cols = np.indices((ny, nx))
    for r, c in zip(rows.ravel(), cols.ravel()):
        if (r + c) % 2 == 0:  # top-left square black
            y0, x0 = margin + r * pixels_per_square, margin + c * pixels_per_square
            img[y0:y0 + pixels_per_square, x0:x0 + pixels_per_square] = 0
    return img, float(margin)


def _board_pose(rng: np.random.Generator, board: Board, spread: FloatArray,
                max_tilt: float, max_roll: float) -> tuple[FloatArray, FloatArray]:
    """A random board pose near the origin, facing the +z side (where the cameras are)."""
    # board x = world x, board y = world down, board z = world -z (away from the cameras)
    base = np.diag([1.0, -1.0, -1.0])
    phi = rng.uniform(0, 2 * np.pi)
    tilt = Rotation.from_rotvec(rng.uniform(0, max_tilt) * np.array([np.cos(phi), np.sin(phi),
                                                                        0.0]))
    roll = Rotation.from_rotvec([0.0, 0.0, rng.uniform(-max_roll, max_roll)])
    rot = (tilt * roll).as_matrix() @ base
    w, h = board.size_mm
    centre = rng.uniform(-1, 1, 3) * spread
    return rot, centre - rot @ np.array([w / 2, h / 2, 0.0])


def _faces_all(rot: FloatArray, trans: FloatArray, board: Board,
               cameras: Sequence[Camera]) -> bool:
    """Whether every camera sees the board's printed side, in front of it."""
    w, h = board.size_mm
    outline = np.array([[0, 0, 0], [w, 0, 0], [w, h, 0], [0, h, 0]], float) @ rot.T + trans
    for cam in cameras:
        to_cam = cam.position - (trans + rot @ np.array([w / 2, h / 2, 0.0]))
        if rot[:, 2] @ to_cam >= 0:  # board z points into the board, away from a viewer
            return False
        depth = (outline @ cam.rotation.T + cam.translation)[:, 2]
        if np.any(depth <= 1.0):
            return False
    return True


def render_board_views(
    board: Board,
    cameras: Sequence[Camera],
    n_views: int = 20,
    seed: int | None = 0,
    *,
    spread_mm: tuple[float, float, float] = (40.0, 30.0, 60.0),
    max_tilt_deg: float = 40.0,
    max_roll_deg: float = 15.0,
    blur: float = 0.0,
    noise: float = 0.0,
    background: int = 128,
    pixels_per_square: int = 100,
) -> BoardViews:
    """Render a board at random known poses into every camera.

    Parameters
    ----------
    board
        The board to draw (ChArUco or checkerboard).
    cameras
        The cameras (e.g. :func:`~faceexpr.synthetic.ring_cameras`); the board faces the
        world's +z side, where those cameras are.
    n_views
        Number of board poses.
    seed
        Seed of the random poses and noise.
    spread_mm
        The board's centre is drawn uniformly within ± these offsets (x, y, z) of the
        origin (the face position).
    max_tilt_deg
        Largest tilt of the board away from facing +z (about a random axis in its plane).
    max_roll_deg
        Largest rotation of the board in its plane (small, so that a checkerboard's
        corners are ordered alike in every camera).
    blur
        Standard deviation (pixels) of a Gaussian blur; 0 for none.
    noise
        Standard deviation (grey levels) of Gaussian pixel noise; 0 for none.
    background
        Grey level around the board.
    pixels_per_square
        Resolution of the board's texture.

    Returns
    -------
    BoardViews
        The ``(H, W)`` uint8 images per camera and the true board poses.
    """
    if n_views < 1:
        raise ValueError(f"n_views must be at least 1, got {n_views}")
    if not cameras:
        raise ValueError("no cameras given")
    if not 0 <= max_tilt_deg < 80:
        raise ValueError(f"max_tilt_deg must be in [0, 80), got {max_tilt_deg}")
    cv2 = require_cv2()
    rng = np.random.default_rng(seed)
    texture, margin = board_image(board, pixels_per_square)
    paper = (_BLACK + texture.astype(np.float32) * ((_WHITE - _BLACK) / 255.0))
    s = board.square_length / pixels_per_square
    # texture pixel (u, v) -> board plane (x, y) in the square length's unit
    to_board = np.array([[s, 0, (0.5 - margin) * s], [0, s, (0.5 - margin) * s], [0, 0, 1]])
    a = _SUPERSAMPLE
    upsample = np.array([[a, 0, (a - 1) / 2], [0, a, (a - 1) / 2], [0, 0, 1]])
    spread = np.asarray(spread_mm, dtype=np.float64)

    rotations: list[FloatArray] = []
    translations: list[FloatArray] = []
    while len(rotations) < n_views:
        rot, trans = _board_pose(rng, board, spread, np.radians(max_tilt_deg),
                                 np.radians(max_roll_deg))
        if _faces_all(rot, trans, board, cameras):
            rotations.append(rot)
            translations.append(trans)

    images: dict[str, list[Image]] = {cam.name: [] for cam in cameras}
    for rot, trans in zip(rotations, translations):
        for cam in cameras:
            w, h = cam.size
            plane = np.column_stack([cam.rotation @ rot[:, 0], cam.rotation @ rot[:, 1],
                                     cam.rotation @ trans + cam.translation])
            hom = upsample @ cam.matrix @ plane @ to_board
            big = cv2.warpPerspective(paper, hom / hom[2, 2], (a * w, a * h),
                                      flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_CONSTANT,
                                      borderValue=float(background))
            img = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA)
            if blur > 0:
                img = cv2.GaussianBlur(img, (0, 0), blur)
            if noise > 0:
                img = img + rng.normal(0.0, noise, img.shape).astype(np.float32)
            images[cam.name].append(np.clip(np.round(img), 0, 255).astype(np.uint8))
    return BoardViews(images, np.array(rotations), np.array(translations), board,
                      list(cameras))


def write_board_views(views: BoardViews, folder: PathLike, suffix: str = ".png"
                      ) -> dict[str, list[Path]]:
    """Write rendered views to ``folder/<camera>/view_000.png`` ...; return the paths.

    A folder per camera can be given to :func:`faceexpr.backends.anipose.calibrate`.
    """
    cv2 = require_cv2()
    out: dict[str, list[Path]] = {}
    for name, images in views.images.items():
        sub = Path(folder) / name
        sub.mkdir(parents=True, exist_ok=True)
        paths = []
        for i, img in enumerate(images):
            path = sub / f"view_{i:03d}{suffix}"
            if not cv2.imwrite(str(path), img):
                raise OSError(f"{path}: OpenCV could not write the image")
            paths.append(path)
        out[name] = paths
    return out
