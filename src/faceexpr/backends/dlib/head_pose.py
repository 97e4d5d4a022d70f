"""Head rotation (yaw, pitch, roll) from 68 iBUG landmarks and a generic 3D face.

The 2D landmarks of a frame are matched to :data:`MODEL_POINTS`, a generic adult face in
millimetres, with OpenCV's ``solvePnP`` (SQPnP, a globally optimal solver), through a
pinhole camera whose focal length is the image width and whose principal point is the
image centre (no lens distortion)::

    from faceexpr.backends.dlib.head_pose import head_pose, head_pose_many
    yaw, pitch, roll = head_pose(points, (width, height))    # degrees, one frame
    angles = head_pose_many(positions, (width, height))      # (T, 3), NaN where missing

Angles, in degrees, of the face relative to the camera (a face looking into the lens is
about ``(0, 0, 0)``):

* **yaw** positive: the subject turns to *their* left (the nose moves to the image's right
  in an unmirrored image);
* **pitch** positive: the subject looks up (the nose moves up in the image);
* **roll** positive: the face turns counter-clockwise in the image as displayed (the head
  leans towards the subject's right shoulder), the sense of a positive angle of
  ``cv2.getRotationMatrix2D``.

The rotation from model to camera is ``Rz(-roll) @ Ry(-yaw) @ Rx(-pitch)`` in OpenCV's
camera axes (x right, y down, z away from the camera; :func:`rotation_matrix`), taken
relative to the line of sight from the camera to the face rather than to the camera's
axis: a face anywhere in the image that looks into the lens is at ``(0, 0, 0)`` (without
this, a face near the top of the image would look down by the angle at which the camera
sees it, 15-35° in portrait photographs).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from faceexpr._typing import FloatArray

__all__ = ["MODEL_INDICES", "MODEL_POINTS", "head_pose", "head_pose_many", "project",
           "rotation_matrix"]

# Generic 3D face, millimetres, x to the image right (the subject's left), y down, z away
# from the camera, origin at the nose tip, for a face looking into the camera. x and y: the
# mean frontal dlib shape of faceexpr.backends.dlib.quality (MEAN_SHAPE, made from the fits
# of ten frontal photographs, mirrored and averaged) scaled so that the outer eye corners
# are 90 mm apart (the adult biocular width), rounded to 1 mm. z: depths behind the nose
# tip chosen from adult facial proportions: nasal tip about 20 mm in front of the nasal
# bridge and 15 mm in front of the subnasale; the inner eye corners about 10 mm behind the
# bridge and the outer ones 15 mm further back; the brow ridge in front of the eyes; mouth
# corners and chin some 30-35 mm behind the nose tip. The jaw outline (points 0-16), which
# follows the silhouette when the head turns, and the lips' middle, which move with
# expressions, are left out.
_MODEL: dict[int, tuple[float, float, float]] = {
    8: (0.0, 92.0, 30.0),  # chin
    17: (-60.0, -41.0, 45.0),  # right brow, outer end
    21: (-12.0, -50.0, 25.0),  # right brow, inner end
    22: (12.0, -50.0, 25.0),  # left brow, inner end
    26: (60.0, -41.0, 45.0),  # left brow, outer end
    27: (0.0, -36.0, 20.0),  # nose bridge, top
    30: (0.0, 0.0, 0.0),  # nose tip
    31: (-16.0, 10.0, 22.0),  # right nostril, outer
    33: (0.0, 14.0, 15.0),  # subnasale
    35: (16.0, 10.0, 22.0),  # left nostril, outer
    36: (-45.0, -32.0, 45.0),  # right eye, outer corner
    39: (-20.0, -32.0, 30.0),  # right eye, inner corner
    42: (20.0, -32.0, 30.0),  # left eye, inner corner
    45: (45.0, -32.0, 45.0),  # left eye, outer corner
    48: (-32.0, 35.0, 35.0),  # mouth, right corner
    54: (32.0, 35.0, 35.0),  # mouth, left corner
}
MODEL_INDICES: tuple[int, ...] = tuple(_MODEL)
"""iBUG indices (0-67) of the landmarks in :data:`MODEL_POINTS`, in its row order."""
MODEL_POINTS: FloatArray = np.array([_MODEL[i] for i in MODEL_INDICES], dtype=np.float64)
"""Generic 3D face (rows: :data:`MODEL_INDICES`; columns x, y, z in mm; see the source for
how the numbers were chosen)."""
MODEL_POINTS.setflags(write=False)

_NAN3 = (math.nan, math.nan, math.nan)


def rotation_matrix(yaw: float, pitch: float, roll: float) -> FloatArray:
    """Return the 3×3 rotation from model to camera axes for angles in degrees.

    ``Rz(-roll) @ Ry(-yaw) @ Rx(-pitch)`` with the right-handed elementary rotations of
    OpenCV's camera axes; the signs make the angles follow the module's conventions.
    """
    y, p, r = (math.radians(-a) for a in (yaw, pitch, roll))
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    rot: FloatArray = rz @ ry @ rx
    return rot


def _angles(rot: FloatArray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of a rotation made by :func:`rotation_matrix`."""
    theta = math.asin(max(-1.0, min(1.0, -float(rot[2, 0]))))
    phi = math.atan2(float(rot[2, 1]), float(rot[2, 2]))
    psi = math.atan2(float(rot[1, 0]), float(rot[0, 0]))
    return -math.degrees(theta), -math.degrees(phi), -math.degrees(psi)


def _camera(image_size: tuple[int, int]) -> FloatArray:
    width, height = (float(v) for v in image_size)
    if not (math.isfinite(width) and math.isfinite(height) and width > 0 and height > 0):
        raise ValueError(f"image_size must be (width, height) in pixels, got {image_size!r}")
    return np.array([[width, 0.0, width / 2], [0.0, width, height / 2], [0.0, 0.0, 1.0]])


def project(rotation: FloatArray, translation: npt.ArrayLike,
            image_size: tuple[int, int]) -> FloatArray:
    """Project :data:`MODEL_POINTS` through the module's pinhole camera.

    Returns a (68, 2) array of pixel positions, NaN for the landmarks not in the model
    (the inverse of :func:`head_pose`, for tests and checks).
    """
    camera = _camera(image_size)
    cam = MODEL_POINTS @ np.asarray(rotation, dtype=np.float64).T + np.asarray(
        translation, dtype=np.float64).reshape(1, 3)
    pix = cam @ camera.T
    points = np.full((68, 2), np.nan)
    points[list(MODEL_INDICES)] = pix[:, :2] / pix[:, 2:3]
    return points


def _solve(cv2: Any, image_points: FloatArray, camera: FloatArray) -> FloatArray | None:
    """Rotation matrix of the model's pose, or None when there is none in front of the
    camera. SQPnP: globally optimal, and faster here than iterating from the previous
    frame's pose (0.04 against 0.12 ms a frame)."""
    ok, rvec, tvec = cv2.solvePnP(MODEL_POINTS, image_points, camera, np.zeros(4),
                                  flags=cv2.SOLVEPNP_SQPNP)
    if not ok or not np.all(np.isfinite(tvec)) or float(tvec[2, 0]) <= 0:
        return None
    rot = np.asarray(cv2.Rodrigues(rvec)[0], dtype=np.float64)
    return _line_of_sight(tvec.ravel()).T @ rot


def _line_of_sight(translation: FloatArray) -> FloatArray:
    """The smallest rotation that turns the camera's axis (0, 0, 1) onto the line to the
    face: a face above the image centre that looks into the lens is seen from below, and
    its angles relative to this line are (0, 0, 0)."""
    ray = translation / np.linalg.norm(translation)
    axis = np.array([-ray[1], ray[0], 0.0])  # (0, 0, 1) × ray
    sin = float(np.linalg.norm(axis))
    if sin < 1e-12:
        return np.eye(3)
    k = axis / sin
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    cos = float(ray[2])
    rot: FloatArray = np.eye(3) + sin * kx + (1.0 - cos) * (kx @ kx)
    return rot


def _image_points(points: npt.ArrayLike) -> FloatArray | None:
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape != (68, 2):
        raise ValueError(f"points must be the 68 iBUG landmarks as a (68, 2) array, got "
                         f"shape {pts.shape}")
    sub = np.ascontiguousarray(pts[list(MODEL_INDICES)])
    return sub if np.all(np.isfinite(sub)) else None


def head_pose(points: npt.ArrayLike, image_size: tuple[int, int]) -> tuple[float, float, float]:
    """Return (yaw, pitch, roll) in degrees of the face whose 68 landmarks are ``points``.

    Parameters
    ----------
    points
        (68, 2) landmark positions in pixels, iBUG 300-W order (x right, y down).
    image_size
        ``(width, height)`` of the image in pixels (gives the approximate camera).

    Returns
    -------
    tuple of float
        Yaw, pitch and roll (module conventions); NaN when a model landmark is NaN or no
        pose puts the face in front of the camera.
    """
    from faceexpr.io.video import require_cv2

    cv2 = require_cv2()
    sub = _image_points(points)
    if sub is None:
        return _NAN3
    rot = _solve(cv2, sub, _camera(image_size))
    return _NAN3 if rot is None else _angles(rot)


def head_pose_many(positions: npt.ArrayLike, image_size: tuple[int, int]) -> FloatArray:
    """Return the (T, 3) yaw, pitch, roll in degrees of a (T, 68, 2) landmark series.

    Frame by frame like :func:`head_pose` (about 0.05 ms a frame); rows are NaN where a
    frame has no pose.
    """
    from faceexpr.io.video import require_cv2

    cv2 = require_cv2()
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim != 3 or pos.shape[1:] != (68, 2):
        raise ValueError(f"positions must be a (T, 68, 2) array of iBUG landmarks, got "
                         f"shape {pos.shape}")
    camera = _camera(image_size)
    out = np.full((len(pos), 3), np.nan)
    for t in range(len(pos)):
        sub = _image_points(pos[t])
        rot = None if sub is None else _solve(cv2, sub, camera)
        if rot is not None:
            out[t] = _angles(rot)
    return out
