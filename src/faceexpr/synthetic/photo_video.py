"""Test videos made of real photographs, with the truth of who is where in every frame.

:func:`photo_video` renders shots (:class:`Shot`), each a few photographs placed in the
frame (:class:`Placement`): a whole photo filling the frame (its own background) or the
head-and-shoulders crop around one of its faces, scaled to a face size, moved a little
from frame to frame (drift, spin, zoom, a hand-held wobble) so that a tracker has work to
do, and optionally squeezed to imitate a head turned away. The result
(:class:`PhotoVideo`) gives, for every frame, the shot and each visible face's person
label and box, so that tests and benchmarks can check which person a tracker followed.

The faces are found in the photos when the video is built, with dlib's HOG face detector
(on a copy shrunk to 800 pixels, ``upsample=1``, faces sorted left to right), so the
truth boxes are the detector's own boxes carried through the same transforms as the
pixels. The ready-made scenarios (:func:`cuts_between_people`, :func:`two_in_frame`,
:func:`small_target_large_other`, :func:`turned_face`) are 90 to 180 frames at 640×480;
person ``"A"`` is the one to follow in each. Nothing is read unless the caller gives the
photos' paths.

Needs OpenCV and dlib (the ``dlib`` extra: ``pip install "faceexpr[dlib]"``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from faceexpr._typing import FloatArray, IntArray, PathLike
from faceexpr.errors import ParameterError

__all__ = [
    "FaceRef",
    "FaceTruth",
    "PhotoVideo",
    "Placement",
    "Shot",
    "cuts_between_people",
    "photo_video",
    "small_target_large_other",
    "turned_face",
    "two_in_frame",
]

FaceRef = PathLike | tuple[PathLike, int]
"""A face in a photo: the photo's path (its first face from the left) or ``(path, i)``."""

Box = tuple[float, float, float, float]
"""A box ``(left, top, right, bottom)`` in pixels."""

_MAX_TURN = 0.9
_BACKGROUND = (96, 96, 96)


@dataclass(frozen=True)
class Placement:
    """One photo in a shot, placed so that one of its faces has a given size and position.

    Attributes
    ----------
    photo
        The photograph (any image OpenCV reads).
    label
        The person label of the placed face in the ground truth.
    face
        Which of the photo's faces (0 = leftmost).
    face_size
        Width of the face box in the video at the shot's first frame, in pixels.
    centre
        Where the centre of the face box goes at the first frame, ``(x, y)`` pixels.
    context
        ``None``: the whole photo is drawn and fills the frame (its edges stretched where
        it does not reach). A number: only the crop around the face, this many face widths
        wide (and 1.2 times as high, more below the face than above), over what is
        already drawn.
    drift
        Motion of the centre, ``(dx, dy)`` pixels per frame.
    rotation, spin
        Rotation in the image plane, degrees (positive: anticlockwise), and its change per
        frame.
    zoom
        Relative change of the face size per frame (0.002: 0.2% bigger each frame).
    turn, turn_rate
        An imitated head turn: the face is squeezed horizontally to ``1 - |turn|`` of its
        width and the receding side (right for positive turns) shrinks vertically by
        ``|turn| / 3``; ``turn_rate`` is added per frame. Clipped to ±0.9. Needs a crop
        (``context``).
    shake
        Amplitude in pixels of a hand-held wobble (two slow sinusoids).
    other_labels
        Labels of the photo's other faces, ``((index, label), ...)``; an unlabelled face
        that is visible gets ``"<photo name>#<index>"``.
    """

    photo: PathLike
    label: str
    face: int = 0
    face_size: float = 150.0
    centre: tuple[float, float] = (320.0, 220.0)
    context: float | None = None
    drift: tuple[float, float] = (0.0, 0.0)
    rotation: float = 0.0
    spin: float = 0.0
    zoom: float = 0.0
    turn: float = 0.0
    turn_rate: float = 0.0
    shake: float = 0.0
    other_labels: tuple[tuple[int, str], ...] = ()

    def __post_init__(self) -> None:
        numbers = {"face_size": self.face_size, "rotation": self.rotation, "spin": self.spin,
                   "zoom": self.zoom, "turn": self.turn, "turn_rate": self.turn_rate,
                   "shake": self.shake, "centre": self.centre, "drift": self.drift}
        for name, value in numbers.items():
            if not np.isfinite(np.asarray(value, dtype=np.float64)).all():
                raise ParameterError(f"Placement.{name} must be finite, got {value!r}")
        if self.face_size <= 0:
            raise ParameterError(f"Placement.face_size must be > 0, got {self.face_size!r}")
        if self.context is not None and not (math.isfinite(self.context)
                                             and self.context >= 1.0):
            raise ParameterError(
                f"Placement.context must be None or a number >= 1, got {self.context!r}")
        if isinstance(self.face, bool) or not isinstance(self.face, int) or self.face < 0:
            raise ParameterError(f"Placement.face must be an integer >= 0, got {self.face!r}")
        if self.context is None and (self.turn or self.turn_rate):
            # the homography bends the whole photo: far from the face it streaks
            raise ParameterError("a Placement with a turn needs a crop: give context "
                                 "(e.g. 2.0), not None")

    def at(self, t: int) -> tuple[float, float, float, float, float]:
        """Centre x, centre y, face size, rotation (degrees) and turn at frame ``t`` of
        the shot."""
        x = self.centre[0] + self.drift[0] * t + self.shake * math.sin(2 * math.pi * t / 37)
        y = (self.centre[1] + self.drift[1] * t
             + self.shake * math.sin(2 * math.pi * t / 23 + 1.0))
        size = self.face_size * max(1.0 + self.zoom * t, 0.05)
        turn = min(max(self.turn + self.turn_rate * t, -_MAX_TURN), _MAX_TURN)
        return x, y, size, self.rotation + self.spin * t, turn


@dataclass(frozen=True)
class Shot:
    """``frames`` frames showing ``placements``, drawn in order (later ones on top); a
    shot without placements is a plain grey frame with no face."""

    frames: int
    placements: tuple[Placement, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "placements", tuple(self.placements))
        if isinstance(self.frames, bool) or not isinstance(self.frames, int) or self.frames < 1:
            raise ParameterError(f"Shot.frames must be an integer >= 1, got {self.frames!r}")


@dataclass(frozen=True)
class FaceTruth:
    """A face as drawn in one frame.

    ``box`` is the photo's detector box carried through the frame's transform (the box
    of its edge midpoints: rotation does not grow it, a turn narrows it), not clipped to
    the frame; ``visible`` is the fraction of it inside the frame and not covered by a
    later placement; ``turn`` the imitated turn (0: as in the photo).
    """

    label: str
    box: Box
    visible: float
    turn: float
    photo: str
    face: int


@dataclass(frozen=True, eq=False)
class PhotoVideo:
    """A video written by :func:`photo_video` and its ground truth.

    Attributes
    ----------
    path, size, fps
        The video file, its ``(width, height)`` and frame rate.
    shot
        ``(n_frames,)`` shot index of each frame.
    faces
        For each frame, the faces at least partly visible, in drawing order.
    """

    path: Path
    size: tuple[int, int]
    fps: float
    shot: IntArray
    faces: tuple[tuple[FaceTruth, ...], ...]

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return len(self.faces)

    @property
    def cuts(self) -> tuple[int, ...]:
        """Frames that start a new shot (the first frame excluded)."""
        return tuple(int(i) for i in np.flatnonzero(np.diff(self.shot)) + 1)

    @property
    def labels(self) -> tuple[str, ...]:
        """Person labels in order of first appearance."""
        seen: dict[str, None] = {}
        for frame in self.faces:
            for face in frame:
                seen.setdefault(face.label, None)
        return tuple(seen)

    def boxes(self, label: str, min_visible: float = 0.0) -> FloatArray:
        """``(n_frames, 4)`` box of person ``label`` in each frame; NaN where they are
        absent or less than ``min_visible`` of their box is visible."""
        out = np.full((self.n_frames, 4), np.nan)
        for i, frame in enumerate(self.faces):
            for face in frame:
                if face.label == label and face.visible >= min_visible and face.visible > 0:
                    out[i] = face.box
                    break
        return out

    def frames_with(self, label: str, min_visible: float = 0.5) -> IntArray:
        """Frames where at least ``min_visible`` of person ``label``'s box is visible."""
        return np.flatnonzero(np.isfinite(self.boxes(label, min_visible)[:, 0])).astype(
            np.int64)


# -- the builder -------------------------------------------------------------------------
def photo_video(path: PathLike, shots: Sequence[Shot], *, size: tuple[int, int] = (640, 480),
                fps: float = 30.0) -> PhotoVideo:
    """Render ``shots`` into an ``.mp4`` video (OpenCV, ``mp4v``) and return its truth.

    The video is written to a temporary file and moved into place when complete.

    Raises
    ------
    ParameterError
        When the size, rate or shots cannot work, or a placement asks for a face its photo
        does not have (the message names the photo).
    MissingFileError, FileFormatError
        When a photo is missing or is not an image OpenCV reads.
    """
    from faceexpr.io.video import open_writer, require_cv2, write_video

    width, height = _frame_size(size)
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise ParameterError(f"fps must be a positive number, got {fps!r}")
    shots = list(shots)
    if not shots or not all(isinstance(s, Shot) for s in shots):
        raise ParameterError("shots must be a non-empty sequence of Shot")
    cv2 = require_cv2()
    photos = _Photos()
    for shot in shots:  # every photo read and every face found before writing anything
        for p in shot.placements:
            photos.face_box(p.photo, p.face)
    truth: list[tuple[FaceTruth, ...]] = []
    shot_of: list[int] = []

    def fill(tmp: Path) -> None:
        writer = open_writer(tmp, float(fps), (width, height), name=path)
        try:
            for k, shot in enumerate(shots):
                layers = [_Layer(p, photos, shot.frames) for p in shot.placements]
                for t in range(shot.frames):
                    frame, faces = _render(layers, t, (width, height))
                    writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
                    truth.append(faces)
                    shot_of.append(k)
        finally:
            writer.release()

    written = write_video(path, fill)
    return PhotoVideo(written, (width, height), float(fps), np.asarray(shot_of, np.int64),
                      tuple(truth))


def _frame_size(size: tuple[int, int]) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ParameterError(f"size must be (width, height), got {size!r}") from None
    if width < 16 or height < 16 or width % 2 or height % 2 or (width, height) != tuple(size):
        # yuv420p video needs even sizes; OpenCV would crop odd ones silently
        raise ParameterError(f"size must be two even integers >= 16, got {size!r}")
    return width, height


class _Photos:
    """Photos read once per video, with their faces (boxes in full-resolution pixels)."""

    def __init__(self) -> None:
        self.images: dict[str, npt.NDArray[np.uint8]] = {}
        self.faces: dict[str, list[Box]] = {}

    def load(self, photo: PathLike) -> tuple[npt.NDArray[np.uint8], list[Box]]:
        key = str(photo)
        if key not in self.images:
            from faceexpr.backends.dlib.identity import read_photo

            image = read_photo(photo)
            stat = Path(photo).stat()
            self.images[key] = image
            self.faces[key] = list(_faces_of(str(Path(photo).resolve()), stat.st_mtime_ns,
                                             stat.st_size, image))
        return self.images[key], self.faces[key]

    def face_box(self, photo: PathLike, face: int) -> Box:
        _, faces = self.load(photo)
        if face >= len(faces):
            found = "no face" if not faces else f"{len(faces)} face(s)"
            raise ParameterError(
                f"{photo}: a placement asks for face {face} (0 = leftmost) but dlib's "
                f"detector found {found} in this photo")
        return faces[face]


_FACE_CACHE: dict[tuple[str, int, int], tuple[Box, ...]] = {}


def _faces_of(path: str, mtime_ns: int, size: int, image: npt.NDArray[np.uint8]
              ) -> tuple[Box, ...]:
    """The faces of a photo, found once per process for each version of the file (the
    detector takes 0.1 to 0.3 s a photo; the scenarios reuse photos)."""
    key = (path, mtime_ns, size)
    if key not in _FACE_CACHE:
        from faceexpr.backends.dlib.identity import detect_faces, face_detector

        found = detect_faces(image, face_detector(), upsample=1)
        if len(_FACE_CACHE) >= 64:
            _FACE_CACHE.clear()
        _FACE_CACHE[key] = tuple((float(x0), float(y0), float(x1), float(y1))
                                 for (x0, y0, x1, y1), _ in found)
    return _FACE_CACHE[key]


class _Layer:
    """One placement during one shot: its (pre-shrunk) pixels and per-frame transforms."""

    def __init__(self, placement: Placement, photos: _Photos, frames: int) -> None:
        cv2 = _cv2()
        self.p = placement
        image, self.face_boxes = photos.load(placement.photo)
        x0, y0, x1, y1 = self.face_boxes[placement.face]
        self.centre = ((x0 + x1) / 2, (y0 + y1) / 2)
        self.width = x1 - x0
        self.name = Path(placement.photo).name
        others = dict(placement.other_labels)
        self.face_labels = [placement.label if i == placement.face
                            else others.get(i, f"{self.name}#{i}")
                            for i in range(len(self.face_boxes))]
        height, width = image.shape[:2]
        if placement.context is None:
            self.region = (0, 0, width, height)
        else:
            half_w = placement.context * self.width / 2
            cx, cy = self.centre
            self.region = (max(0, math.floor(cx - half_w)),
                           max(0, math.floor(cy - 1.2 * half_w * 0.8)),
                           min(width, math.ceil(cx + half_w)),
                           min(height, math.ceil(cy + 1.2 * half_w * 1.2)))
        # shrink once per shot with INTER_AREA so the per-frame warp never shrinks by much
        # more than 1 (a linear warp that shrinks a lot aliases)
        biggest = max(placement.at(t)[2] for t in (0, frames - 1))
        self.factor = min(1.0, 1.5 * biggest / self.width)
        rx0, ry0, rx1, ry1 = self.region
        crop = image[ry0:ry1, rx0:rx1]
        if self.factor < 1.0:
            crop = cv2.resize(crop, (max(1, round(crop.shape[1] * self.factor)),
                                     max(1, round(crop.shape[0] * self.factor))),
                              interpolation=cv2.INTER_AREA)
        self.pixels = np.ascontiguousarray(crop)
        # pixels of the shrunk crop -> photo pixels (pixel centres kept aligned)
        sx = (rx1 - rx0) / crop.shape[1]
        sy = (ry1 - ry0) / crop.shape[0]
        self.from_pixels = np.array([[sx, 0.0, rx0 + 0.5 * sx - 0.5],
                                     [0.0, sy, ry0 + 0.5 * sy - 0.5],
                                     [0.0, 0.0, 1.0]])
        self.alpha_source = np.full(crop.shape[:2], 255, np.uint8)

    def transform(self, t: int) -> tuple[FloatArray, float]:
        """Photo pixels -> frame pixels at frame ``t`` (3×3), and the turn."""
        x, y, size, angle, turn = self.p.at(t)
        cx, cy = self.centre
        to_face = np.array([[1 / self.width, 0, -cx / self.width],
                            [0, 1 / self.width, -cy / self.width], [0, 0, 1.0]])
        a = math.radians(angle)
        c, s = math.cos(a), math.sin(a)
        # y points down: this matrix turns the picture anticlockwise on screen
        place = np.array([[size * c, size * s, x], [-size * s, size * c, y], [0, 0, 1.0]])
        return place @ _turn_matrix(turn) @ to_face, turn


def _turn_matrix(turn: float) -> FloatArray:
    """Homography of the unit face square imitating a turn (see :class:`Placement`)."""
    if turn == 0:
        return np.eye(3)
    cv2 = _cv2()
    k = 1.0 - abs(turn)
    far = 0.5 * (1.0 - abs(turn) / 3.0)
    src = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])
    if turn > 0:  # the right side recedes
        dst = np.array([[-0.5 * k, -0.5], [0.5 * k, -far], [0.5 * k, far], [-0.5 * k, 0.5]])
    else:
        dst = np.array([[-0.5 * k, -far], [0.5 * k, -0.5], [0.5 * k, 0.5], [-0.5 * k, far]])
    return np.asarray(cv2.getPerspectiveTransform(src.astype(np.float32), dst.astype(np.float32)),
                      dtype=np.float64)


def _render(layers: list[_Layer], t: int, size: tuple[int, int],
            ) -> tuple[npt.NDArray[np.uint8], tuple[FaceTruth, ...]]:
    cv2 = _cv2()
    width, height = size
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = _BACKGROUND
    alphas: list[npt.NDArray[np.float32]] = []
    drawn: list[tuple[int, FaceTruth]] = []
    for j, layer in enumerate(layers):
        matrix, turn = layer.transform(t)
        warp = matrix @ layer.from_pixels
        if layer.p.context is None:  # the whole photo: stretch its edges to fill the frame
            frame = cv2.warpPerspective(layer.pixels, warp, size, flags=cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_REPLICATE)
            alpha = np.ones((height, width), np.float32)
        else:
            pixels = cv2.warpPerspective(layer.pixels, warp, size, flags=cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_CONSTANT)
            alpha = cv2.warpPerspective(layer.alpha_source, warp, size,
                                        flags=cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_CONSTANT).astype(np.float32)
            alpha /= 255.0
            blend = alpha[:, :, None]
            frame = (pixels * blend + frame * (1.0 - blend) + 0.5).astype(np.uint8)
        alphas.append(alpha)
        rx0, ry0, rx1, ry1 = layer.region
        for i, box in enumerate(layer.face_boxes):
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            if not (rx0 <= cx < rx1 and ry0 <= cy < ry1):
                continue  # outside the crop: not drawn
            drawn.append((j, FaceTruth(layer.face_labels[i], _carry_box(matrix, box), 0.0,
                                       turn if i == layer.p.face else 0.0, layer.name, i)))
    faces = []
    for j, face in drawn:
        later = [alphas[k] for k in range(j + 1, len(alphas))]
        visible = _visible(face.box, later, size)
        if visible > 0:
            faces.append(FaceTruth(face.label, face.box, visible, face.turn, face.photo,
                                   face.face))
    return frame, tuple(faces)


def _carry_box(matrix: FloatArray, box: Box) -> Box:
    """The box of the transformed edge midpoints of ``box``."""
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    points = np.array([[x0, cy, 1.0], [x1, cy, 1.0], [cx, y0, 1.0], [cx, y1, 1.0]]).T
    moved = matrix @ points
    xy = moved[:2] / moved[2]
    return (float(xy[0].min()), float(xy[1].min()), float(xy[0].max()), float(xy[1].max()))


def _visible(box: Box, later: list[npt.NDArray[np.float32]], size: tuple[int, int]) -> float:
    """Fraction of ``box`` inside the frame and not covered by the ``later`` layers."""
    area = max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)
    if area <= 0:
        return 0.0
    x0, y0 = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
    x1, y1 = min(size[0], math.ceil(box[2])), min(size[1], math.ceil(box[3]))
    if x1 <= x0 or y1 <= y0:
        return 0.0
    inside = (min(box[2], size[0]) - max(box[0], 0.0)) * (min(box[3], size[1])
                                                           - max(box[1], 0.0))
    uncovered = 1.0
    if later:
        cover = np.max([a[y0:y1, x0:x1] for a in later], axis=0)
        uncovered = float(1.0 - cover.mean())
    return max(0.0, min(1.0, inside / area * uncovered))


def _cv2() -> Any:
    from faceexpr.io.video import require_cv2

    return require_cv2()


# -- ready-made scenarios ----------------------------------------------------------------
def _ref(face: FaceRef) -> tuple[PathLike, int]:
    if isinstance(face, tuple):
        return face[0], int(face[1])
    return face, 0


def cuts_between_people(path: PathLike, a: FaceRef, b: FaceRef, c: FaceRef, *,
                        a_again: FaceRef | None = None,
                        frames: tuple[int, int, int, int] = (50, 40, 50, 40),
                        size: tuple[int, int] = (640, 480), fps: float = 30.0) -> PhotoVideo:
    """Four shots cut hard: A, B, A again (``a_again``, e.g. another photo of A), C.

    Each shot is a whole photo, its face about 150 pixels wide, drifting, turning and
    zooming a little. With the default lengths A is on screen 100 of 180 frames.
    """
    people = [("A", a), ("B", b), ("A", a_again if a_again is not None else a), ("C", c)]
    # (drift, spin, zoom, shake) of each shot
    motions = [((0.4, 0.1), 0.05, 0.001, 2.0), ((-0.3, 0.2), -0.05, -0.001, 1.5),
               ((0.2, -0.2), 0.08, 0.0015, 2.0), ((-0.4, 0.0), -0.04, 0.001, 1.0)]
    if len(frames) != len(people):
        raise ParameterError(f"frames must give the lengths of the 4 shots, got {frames!r}")
    w, h = size
    shots = []
    for (label, face), (drift, spin, zoom, shake), n in zip(people, motions, frames):
        photo, index = _ref(face)
        shots.append(Shot(n, (Placement(photo, label, index, face_size=150.0,
                                        centre=(0.5 * w, 0.44 * h), drift=drift, spin=spin,
                                        zoom=zoom, shake=shake),)))
    return photo_video(path, shots, size=size, fps=fps)


def two_in_frame(path: PathLike, a: FaceRef, b: FaceRef, *, frames: int = 90,
                 size: tuple[int, int] = (640, 480), fps: float = 30.0) -> PhotoVideo:
    """A and B side by side in one shot (head-and-shoulders crops on grey, faces 110
    pixels wide), A on the left, B on the right, drifting apart slowly."""
    (pa, ia), (pb, ib) = _ref(a), _ref(b)
    w, h = size
    shot = Shot(frames, (
        Placement(pa, "A", ia, face_size=110.0, centre=(0.31 * w, 0.45 * h), context=1.9,
                  drift=(-0.15, 0.1), spin=0.03, shake=1.5),
        Placement(pb, "B", ib, face_size=110.0, centre=(0.69 * w, 0.45 * h), context=1.9,
                  drift=(0.15, -0.1), spin=-0.03, shake=1.5)))
    return photo_video(path, [shot], size=size, fps=fps)


def small_target_large_other(path: PathLike, target: FaceRef, other: FaceRef, *,
                             target_size: float = 80.0, other_size: float = 220.0,
                             frames: int = 90, size: tuple[int, int] = (640, 480),
                             fps: float = 30.0) -> PhotoVideo:
    """The target A small (face ``target_size`` pixels wide, a crop in the top right
    corner) over another person B filling the frame with a large face."""
    (pt, it), (po, io) = _ref(target), _ref(other)
    w, h = size
    shot = Shot(frames, (
        Placement(po, "B", io, face_size=other_size, centre=(0.38 * w, 0.5 * h),
                  drift=(0.2, 0.0), zoom=0.0005, shake=1.0),
        Placement(pt, "A", it, face_size=target_size, centre=(0.83 * w, 0.24 * h),
                  context=2.0, drift=(-0.1, 0.1), spin=0.05, shake=0.8)))
    return photo_video(path, [shot], size=size, fps=fps)


def turned_face(path: PathLike, target: FaceRef, *, frames: tuple[int, int] = (70, 60),
                max_turn: float = 0.8, size: tuple[int, int] = (640, 480),
                fps: float = 30.0) -> PhotoVideo:
    """A's face turning away, then leaving the frame: two shots.

    Shot 0: the imitated turn grows from 0 to ``max_turn`` (see :class:`Placement`);
    the face is a head-and-shoulders crop on grey. Shot 1: the whole photo, frontal
    again, sliding right until half the face box is out of the frame. dlib's HOG
    detector (``upsample=1``) loses the turned face from a turn of about 0.6.
    """
    photo, index = _ref(target)
    w, h = size
    n0, n1 = frames
    face_size = 150.0
    start = 0.62 * w
    slide = (w - start) / max(n1 - 1, 1)  # the centre reaches the right edge
    return photo_video(path, [
        Shot(n0, (Placement(photo, "A", index, face_size=face_size, centre=(0.5 * w, 0.45 * h),
                            context=2.4, turn_rate=max_turn / max(n0 - 1, 1), shake=1.0),)),
        Shot(n1, (Placement(photo, "A", index, face_size=face_size, centre=(start, 0.45 * h),
                            drift=(slide, 0.0), shake=1.0),)),
    ], size=size, fps=fps)
