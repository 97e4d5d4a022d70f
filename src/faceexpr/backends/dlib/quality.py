"""Is a 68-point dlib fit a plausible face? Shape measures and a local face score.

dlib's shape predictor always returns 68 points, face or not: on a box over a wall, a flag
or the gap between two people it returns something close to an average face. The shape
alone therefore catches only gross failures and squeezed or strongly turned faces; whether
there is a face in the box at all is answered by :func:`box_face_score`, dlib's HOG face
detector run on a small crop around the box (about 1 ms on a grey image, 1.4 ms on a
colour one)::

    from faceexpr.backends.dlib.quality import box_face_score, fit_quality
    q = fit_quality(points, box, face_score=box_face_score(image, box))
    if not q.ok:
        drop_frame(reason=q.reason)          # "low-quality" or "too-turned"
    confidence *= q.confidence_factor

Measures (all on the 68 points in iBUG 300-W order):

* ``residual``: RMS distance from :data:`MEAN_SHAPE` after the best similarity fit
  (translation, rotation, scale), in units of the face's RMS radius;
* ``affine_residual``: the same after the best affine fit, which also absorbs a squeeze
  (a turned head is narrower); it judges the shape itself;
* ``anisotropy``: smaller over larger singular value of that affine map: 1 for a frontal
  face, about ``cos(angle)`` for a face turned (or tilted up or down) by ``angle``;
* ``asymmetry``: offset of the nose tip (30) from the middle of the outer eye corners
  (36, 45), over half their distance; about ``tan(yaw)`` for the generic face of
  :mod:`~faceexpr.backends.dlib.head_pose` (positive: the subject turns to their left);
* ``spread``: the landmarks' extent over the box's, ``sqrt(w h / (box_w box_h))``;
* ``face_score``: :func:`box_face_score` when given.

The limits come from fits of the predictor on the faces of the test photographs (see the
constants): good fits are detected, jittered (±10% of the box), rotated (±25°) and scaled
(0.6, 1.5) faces; bad ones are boxes shifted half off the face, boxes between two people,
boxes on the background and faces squeezed horizontally to 65% or less.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from faceexpr._typing import FloatArray

__all__ = ["FACE_WIDTH", "FULL_ANISOTROPY", "FULL_ASYMMETRY", "GOOD_FACE_SCORE",
           "GOOD_RESIDUAL", "MAX_ASYMMETRY", "MAX_RESIDUAL", "MAX_SPREAD", "MEAN_SHAPE",
           "MIN_ANISOTROPY", "MIN_FACE_SCORE", "MIN_SPREAD", "NO_FACE_SCORE", "Quality",
           "box_face_score", "fit_quality", "near_face"]

Box = tuple[float, float, float, float]
"""A face box ``(left, top, right, bottom)`` in pixels."""

# Mean frontal shape of dlib's 68-point predictor, image axes (x right, y down), centred,
# RMS radius 1. Made from the predictor's fits on the ten faces that the HOG detector finds
# in the test photographs (media README: persons A, B, C; photos scaled to 640 pixels on
# the long side): each fit and its mirror image (x negated, left and right landmarks
# swapped) were aligned by generalised Procrustes analysis (similarity transforms),
# averaged, made exactly symmetric and rounded to 3 decimals. The photos smile, so the
# mouth is a little wider than at rest.
MEAN_SHAPE: FloatArray = np.array([
    # jaw, 0-16
    (-1.335, -0.580), (-1.312, -0.241), (-1.278, 0.099), (-1.219, 0.440), (-1.103, 0.760),
    (-0.905, 1.039), (-0.645, 1.270), (-0.348, 1.447), (0.000, 1.506), (0.348, 1.447),
    (0.645, 1.270), (0.905, 1.039), (1.103, 0.760), (1.219, 0.440), (1.278, 0.099),
    (1.312, -0.241), (1.335, -0.580),
    # brows, 17-26
    (-1.069, -0.863), (-0.914, -1.028), (-0.686, -1.095), (-0.443, -1.094), (-0.207, -1.022),
    (0.207, -1.022), (0.443, -1.094), (0.686, -1.095), (0.914, -1.028), (1.069, -0.863),
    # nose, 27-35
    (0.000, -0.785), (0.000, -0.576), (0.000, -0.362), (0.000, -0.135), (-0.285, 0.036),
    (-0.147, 0.075), (0.000, 0.114), (0.147, 0.075), (0.285, 0.036),
    # eyes, 36-47
    (-0.806, -0.703), (-0.667, -0.790), (-0.499, -0.795), (-0.356, -0.703), (-0.506, -0.676),
    (-0.667, -0.669), (0.356, -0.703), (0.499, -0.795), (0.667, -0.790), (0.806, -0.703),
    (0.667, -0.669), (0.506, -0.676),
    # mouth, 48-67
    (-0.567, 0.488), (-0.362, 0.391), (-0.155, 0.347), (0.000, 0.383), (0.155, 0.347),
    (0.362, 0.391), (0.567, 0.488), (0.365, 0.652), (0.164, 0.728), (0.000, 0.736),
    (-0.164, 0.728), (-0.365, 0.652), (-0.485, 0.497), (-0.155, 0.457), (0.000, 0.474),
    (0.155, 0.457), (0.485, 0.497), (0.159, 0.564), (0.000, 0.584), (-0.159, 0.564),
], dtype=np.float64)
"""Mean frontal 68-point dlib shape (image axes, centred, RMS radius 1; see the source)."""
MEAN_SHAPE.setflags(write=False)

GOOD_RESIDUAL = 0.18
"""``affine_residual`` up to which a fit keeps its full confidence. Good fits measured
0.05-0.17 (median 0.09; the open mouth of one photo gives the largest values)."""
MAX_RESIDUAL = 0.25
"""Largest ``affine_residual`` of an acceptable fit ("low-quality" above). Fits on the
background or half off the face reach 0.29-0.34, but many of them stay below 0.15 (the
predictor's average face): the face score, not the shape, tells those apart."""
MIN_ANISOTROPY = 0.75
"""Smallest ``anisotropy`` of an acceptable face ("too-turned" below; ``cos 41°``). Good
fits 0.83-1.0; faces squeezed to 65% 0.56-0.68, to 50% 0.44-0.52."""
FULL_ANISOTROPY = 0.85
"""``anisotropy`` from which a fit keeps its full confidence."""
MAX_ASYMMETRY = 1.0
"""Largest ``|asymmetry|`` of an acceptable face ("too-turned" above): about 45° of yaw
for the generic 3D face. Near-frontal photographs 0-0.38 (one looks 20° aside)."""
FULL_ASYMMETRY = 0.6
"""``|asymmetry|`` up to which a fit keeps its full confidence (about 31° of yaw)."""
MIN_SPREAD, MAX_SPREAD = 0.6, 1.6
"""Range of ``spread`` of an acceptable fit (good fits 0.80-1.15): a collapsed or
exploded set of points, or a box that does not belong to the landmarks."""
FACE_WIDTH = 80
"""Width in pixels to which :func:`box_face_score` scales the box: the HOG detector's
window, so the detector scans two pyramid levels of a 112-pixel crop."""
NO_FACE_SCORE = -2.0
"""What :func:`box_face_score` returns when the detector finds nothing even at this score
(its ``adjust_threshold``)."""
MIN_FACE_SCORE = -0.3
"""Lowest face score of an acceptable fit ("low-quality" below). Good fits scored
0.50-2.4; boxes half off the face, between two people or on the background at most
-0.89 (most found nothing: -2); faces squeezed to 65% or less -1.4-1.3."""
GOOD_FACE_SCORE = 0.3
"""Face score from which a fit keeps its full confidence."""

_MARGIN = 0.2  # of the box size on every side of the crop: room for a box slightly off
_NEAR = 0.35  # a detection in the crop counts if its centre is this close (in box sizes)


@dataclass(frozen=True)
class Quality:
    """Plausibility of one 68-point fit (see the module documentation for the measures).

    ``ok`` is False when a measure is out of its range; ``reason`` then says why, as the
    drop reasons of :data:`faceexpr.data.DROP_REASONS` do: ``"too-turned"`` (anisotropy
    or asymmetry) before ``"low-quality"`` (residual, spread, face score); ``"kept"`` when
    ``ok``. ``confidence_factor`` in [0, 1] scales the frame's confidence: 1 while every
    measure is in its good range, falling linearly to 0 at the limits (0 when not ok).
    """

    residual: float
    affine_residual: float
    anisotropy: float
    asymmetry: float
    spread: float
    face_score: float
    ok: bool
    reason: Literal["kept", "low-quality", "too-turned"]
    confidence_factor: float


def _ramp(value: float, full: float, zero: float) -> float:
    """1 at ``full``, 0 at ``zero``, linear in between (either direction)."""
    if math.isnan(value):
        return 1.0
    t = (value - zero) / (full - zero)
    return float(min(1.0, max(0.0, t)))


_MEAN = MEAN_SHAPE - MEAN_SHAPE.mean(axis=0)  # exactly centred, and of RMS radius 1:
_MEAN /= np.sqrt((_MEAN**2).sum(axis=1).mean())  # (MEAN_SHAPE is rounded)


def _similarity_residual(points: FloatArray) -> float:
    """RMS distance of the points from the mean shape after the best similarity fit onto
    it (closed form: the rotation and scale that map the centred points onto it)."""
    q = points - points.mean(axis=0)
    n = float((q * q).sum())
    if n <= 0:
        return math.inf
    a = float((q * _MEAN).sum())
    b = float((q[:, 0] * _MEAN[:, 1] - q[:, 1] * _MEAN[:, 0]).sum())
    aligned = q @ (np.array([[a, -b], [b, a]]) / n).T
    return float(np.sqrt(((aligned - _MEAN) ** 2).sum(axis=1).mean()))


_DESIGN = np.column_stack([MEAN_SHAPE, np.ones(len(MEAN_SHAPE))])
_PINV = np.linalg.pinv(_DESIGN)  # the affine least squares, solved once for all frames


def _affine(points: FloatArray) -> tuple[float, float]:
    """Residual (in the points' RMS radius) and anisotropy of the best affine fit."""
    coef = _PINV @ points  # points ≈ _DESIGN @ coef
    fitted = _DESIGN @ coef
    q = points - points.mean(axis=0)
    size = float(np.sqrt((q * q).sum(axis=1).mean()))
    if size <= 0:
        return math.inf, 0.0
    residual = float(np.sqrt(((fitted - points) ** 2).sum(axis=1).mean())) / size
    sv = np.linalg.svd(coef[:2], compute_uv=False)
    return residual, float(sv[1] / sv[0]) if sv[0] > 0 else 0.0


def _asymmetry(points: FloatArray) -> float:
    """Nose tip offset from the middle of the outer eye corners, along the eye line."""
    eye = points[45] - points[36]
    half = float(np.hypot(eye[0], eye[1])) / 2
    if half <= 0:
        return math.inf
    along = float((points[30] - (points[36] + points[45]) / 2) @ eye) / (2 * half)
    return along / half


def fit_quality(points: npt.ArrayLike, box: Box | None = None, *,
                face_score: float | None = None) -> Quality:
    """Judge one 68-point fit (about 0.05 ms).

    Parameters
    ----------
    points
        (68, 2) landmark positions in pixels, iBUG 300-W order.
    box
        The box ``(left, top, right, bottom)`` the predictor was given; ``None``: no
        ``spread`` (NaN) and no check of it.
    face_score
        :func:`box_face_score` of the box in the frame; ``None``: not checked (NaN).

    Returns
    -------
    Quality
        The measures, ``ok``, ``reason`` and ``confidence_factor``. A fit with NaN points
        is not ok ("low-quality").

    Raises
    ------
    ValueError
        When ``points`` is not a (68, 2) array or ``box`` has no positive size.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape != (68, 2):
        raise ValueError(f"points must be the 68 iBUG landmarks as a (68, 2) array, got "
                         f"shape {pts.shape}")
    score = math.nan if face_score is None else float(face_score)
    if not np.all(np.isfinite(pts)):
        return Quality(math.nan, math.nan, math.nan, math.nan, math.nan, score, False,
                       "low-quality", 0.0)
    spread = math.nan
    if box is not None:
        width, height = float(box[2]) - float(box[0]), float(box[3]) - float(box[1])
        if not (width > 0 and height > 0):
            raise ValueError(f"box must be (left, top, right, bottom) with right > left and "
                             f"bottom > top, got {box!r}")
        extent = pts.max(axis=0) - pts.min(axis=0)
        spread = math.sqrt(float(extent[0] * extent[1]) / (width * height))
    residual = _similarity_residual(pts)
    affine_residual, anisotropy = _affine(pts)
    asymmetry = _asymmetry(pts)

    turned = anisotropy < MIN_ANISOTROPY or not abs(asymmetry) <= MAX_ASYMMETRY
    poor = (not affine_residual <= MAX_RESIDUAL
            or (not math.isnan(spread) and not MIN_SPREAD <= spread <= MAX_SPREAD)
            or (not math.isnan(score) and score < MIN_FACE_SCORE))
    ok = not (turned or poor)
    reason: Literal["kept", "low-quality", "too-turned"] = (
        "kept" if ok else "too-turned" if turned else "low-quality")
    factor = 0.0
    if ok:
        factor = (_ramp(affine_residual, GOOD_RESIDUAL, MAX_RESIDUAL)
                  * _ramp(anisotropy, FULL_ANISOTROPY, MIN_ANISOTROPY)
                  * _ramp(abs(asymmetry), FULL_ASYMMETRY, MAX_ASYMMETRY)
                  * _ramp(score, GOOD_FACE_SCORE, MIN_FACE_SCORE))
        if not math.isnan(spread):  # full confidence over the good fits' 0.8-1.15 and more
            factor *= min(_ramp(spread, 0.7, MIN_SPREAD), _ramp(spread, 1.3, MAX_SPREAD))
    return Quality(residual, affine_residual, anisotropy, asymmetry, spread, score, ok,
                   reason, factor)


def box_face_score(image: npt.NDArray[np.uint8], box: Box, *,
                   detector: Any | None = None) -> float:
    """Return how much the HOG face detector sees a face in ``box`` of ``image``.

    The score of :func:`near_face` (the SVM margin of ``dlib.get_frontal_face_detector``,
    0 at dlib's threshold; good fits scored 0.5-2.4), :data:`NO_FACE_SCORE` (-2) when it
    finds none. About 1 ms on a grey image, 1.4 ms on a colour one (a frame where the full
    detector found the face has its score already).

    Raises
    ------
    MissingDependencyError
        When dlib or OpenCV is not installed.
    ValueError
        When the image is not uint8 grey or colour, or the box has no positive size.
    """
    found = near_face(image, box, detector=detector, min_score=NO_FACE_SCORE)
    return NO_FACE_SCORE if found is None else found[1]


def near_face(image: npt.NDArray[np.uint8], box: Box, *, detector: Any | None = None,
              min_score: float = NO_FACE_SCORE) -> tuple[Box, float] | None:
    """Return the best face detected near the centre of ``box``: ``(box, score)`` in
    image pixels, or None.

    The box, with a margin of 20% of its size, is cut out and scaled so that the box is
    :data:`FACE_WIDTH` pixels wide, so this costs about 1 ms whatever the face's size
    (a search of a whole 640×480 frame takes 40-160 ms); the detector runs on that crop
    without upsampling, and of its detections (score at least ``min_score``) whose centre
    lies within 0.35 box sizes of the crop's centre the best is returned.

    Parameters
    ----------
    image
        The frame: (H, W) grey or (H, W, 3) colour, uint8 (channel order does not matter).
    box
        ``(left, top, right, bottom)`` in pixels; may reach beyond the image (the border
        is repeated).
    detector
        A ``dlib.fhog_object_detector`` to use (default: dlib's frontal face detector,
        loaded once).
    min_score
        Lowest detector score returned (dlib's ``adjust_threshold``).

    Raises
    ------
    MissingDependencyError
        When dlib or OpenCV is not installed.
    ValueError
        When the image is not uint8 grey or colour, or the box has no positive size.
    """
    from faceexpr.io.video import require_cv2

    cv2 = require_cv2()
    img = np.asarray(image)
    if img.dtype != np.uint8 or not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
        raise ValueError(f"image must be a uint8 (H, W) or (H, W, 3) array, got "
                         f"{img.dtype} {img.shape}")
    left, top, right, bottom = (float(v) for v in box)
    size = math.sqrt(max(right - left, 0.0) * max(bottom - top, 0.0))
    if not (size > 0 and math.isfinite(size)):
        raise ValueError(f"box must be (left, top, right, bottom) with right > left and "
                         f"bottom > top, got {box!r}")
    if detector is None:
        from faceexpr.backends.dlib.identity import face_detector

        detector = face_detector()
    side = round(FACE_WIDTH * (1 + 2 * _MARGIN))
    patch = max(round(side * size / FACE_WIDTH), 1)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    # getRectSubPix repeats the border for a box reaching beyond the image
    crop = cv2.getRectSubPix(img, (patch, patch), (cx, cy))
    crop = cv2.resize(crop, (side, side),
                      interpolation=cv2.INTER_AREA if patch > side else cv2.INTER_LINEAR)
    rects, scores, _ = detector.run(np.ascontiguousarray(crop), 0, min_score)
    best: tuple[Box, float] | None = None
    scale = patch / side
    for rect, score in zip(rects, scores):
        dx = (rect.left() + rect.right()) / 2 - side / 2
        dy = (rect.top() + rect.bottom()) / 2 - side / 2
        if abs(dx) <= _NEAR * FACE_WIDTH and abs(dy) <= _NEAR * FACE_WIDTH and (
                best is None or score > best[1]):
            found = (cx + (rect.left() - side / 2) * scale, cy + (rect.top() - side / 2) * scale,
                     cx + (rect.right() - side / 2) * scale,
                     cy + (rect.bottom() - side / 2) * scale)
            best = (found, float(score))
    return best
