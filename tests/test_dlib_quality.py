"""Plausibility of dlib's 68-point fits and head angles, with the real dlib predictor on
real photographs.

Good fits: the faces the HOG detector finds in the photographs, with jittered, rotated and
scaled boxes. Bad fits: the predictor run on boxes half off a face, between two people or
on the background, and on faces squeezed horizontally. Head angles: the generic 3D face
projected with known rotations, and the fits of frontal, squeezed and rotated photographs.
The photographs are looked for in ``$FACEEXPR_MEDIA``, in ``shared/media`` beside the
repository or in ``/work/shared/media``; those tests skip when they are not there.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _media import SKIP_REASON, media_folder, require_dlib

dlib, cv2 = require_dlib()

from faceexpr.backends.dlib.estimator import _detector, _predictor, default_model_path  # noqa: E402
from faceexpr.backends.dlib.head_pose import (  # noqa: E402
    MODEL_INDICES,
    head_pose,
    head_pose_many,
    project,
    rotation_matrix,
)
from faceexpr.backends.dlib.quality import (  # noqa: E402
    GOOD_RESIDUAL,
    MAX_RESIDUAL,
    MEAN_SHAPE,
    MIN_ANISOTROPY,
    MIN_FACE_SCORE,
    NO_FACE_SCORE,
    box_face_score,
    fit_quality,
)

SINGLES = ("obama", "obama2", "biden", "biden2", "rose_leslie1", "rose_leslie2")
PAIRS = ("obama_and_biden", "two_people")
# iBUG point of the mirror image (the subject's right and left swapped)
MIRROR = [*range(16, -1, -1), *range(26, 16, -1), 27, 28, 29, 30, 35, 34, 33, 32, 31,
          45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,
          54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65]

Box = tuple[float, float, float, float]


MEDIA = media_folder(f"{name}.jpg" for name in (*SINGLES, *PAIRS))
needs_media = pytest.mark.skipif(
    MEDIA is None, reason=SKIP_REASON)


class Faces:
    """The photographs (RGB, 640 pixels on the long side), the models and helpers."""

    def __init__(self, folder: Path) -> None:
        self.detector = _detector()
        self.predictor = _predictor(str(default_model_path()))
        self.images: dict[str, np.ndarray] = {}
        for name in SINGLES + PAIRS:
            assert MEDIA is not None
            bgr = cv2.imread(str(shutil.copy(MEDIA / f"{name}.jpg", folder / f"{name}.jpg")))
            s = 640 / max(bgr.shape[:2])
            small = cv2.resize(bgr, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
            self.images[name] = np.ascontiguousarray(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
        # the two largest faces of the two-person photos (obama_and_biden has a child's
        # half-hidden face too)
        self.boxes = {name: sorted(self.detect(img), key=lambda b: b[0] - b[2])[
            :2 if name in PAIRS else 1] for name, img in self.images.items()}

    def detect(self, image: np.ndarray) -> list[Box]:
        return [(float(r.left()), float(r.top()), float(r.right()), float(r.bottom()))
                for r in self.detector(image, 1)]

    def fit(self, image: np.ndarray, box: Box) -> np.ndarray:
        left, top, right, bottom = (round(v) for v in box)
        shape = self.predictor(image, dlib.rectangle(left, top, right, bottom))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)

    def quality(self, image: np.ndarray, box: Box) -> Any:
        """fit_quality of the fit in ``box``, with the box's face score."""
        return fit_quality(self.fit(image, box), box, face_score=self.score(image, box))

    def score(self, image: np.ndarray, box: Box) -> float:
        return box_face_score(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), box)


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> Faces:
    if MEDIA is None:
        pytest.skip("the test photographs are not here")
    return Faces(tmp_path_factory.mktemp("photos"))


def _shifted(box: Box, dx: float, dy: float, scale: float = 1.0) -> Box:
    w, h = box[2] - box[0], box[3] - box[1]
    cx, cy = (box[0] + box[2]) / 2 + dx * w, (box[1] + box[3]) / 2 + dy * h
    return (cx - w * scale / 2, cy - h * scale / 2, cx + w * scale / 2, cy + h * scale / 2)


def _rotated(image: np.ndarray, box: Box, angle: float) -> np.ndarray:
    centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    m = cv2.getRotationMatrix2D(centre, angle, 1.0)
    return cv2.warpAffine(image, m, image.shape[1::-1], borderMode=cv2.BORDER_REFLECT)


def _squeezed(image: np.ndarray, box: Box, f: float) -> tuple[np.ndarray, Box]:
    h, w = image.shape[:2]
    return (cv2.resize(image, (int(w * f), h), interpolation=cv2.INTER_AREA),
            (box[0] * f, box[1], box[2] * f, box[3]))


# -- the mean shape and the measures ---------------------------------------------------
def test_mean_shape_is_centred_unit_and_symmetric() -> None:
    assert MEAN_SHAPE.shape == (68, 2)
    assert np.abs(MEAN_SHAPE.mean(axis=0)).max() < 1e-3
    assert math.sqrt((MEAN_SHAPE ** 2).sum(axis=1).mean()) == pytest.approx(1.0, abs=1e-3)
    mirrored = MEAN_SHAPE[MIRROR] * [-1, 1]
    assert np.abs(mirrored - MEAN_SHAPE).max() < 1e-9
    # a face is wider than its eyes, the chin below the nose, the nose below the eyes
    assert MEAN_SHAPE[8, 1] > MEAN_SHAPE[30, 1] > MEAN_SHAPE[36, 1] > MEAN_SHAPE[19, 1]


def test_the_mean_shape_moved_rotated_and_scaled_is_perfect() -> None:
    a = math.radians(20)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    points = MEAN_SHAPE @ rot.T * 60 + [320, 240]
    box = (320 - 80.0, 240 - 80.0, 320 + 80.0, 240 + 80.0)
    q = fit_quality(points, box)
    assert q.residual < 1e-9 and q.affine_residual < 1e-9
    assert q.anisotropy == pytest.approx(1.0) and abs(q.asymmetry) < 1e-9
    assert q.ok and q.reason == "kept" and q.confidence_factor == 1.0
    assert math.isnan(q.face_score)
    # squeezed to 60% across the face: turned; smeared into noise: low quality
    squeezed = (MEAN_SHAPE * [0.6, 1]) @ rot.T * 60 + [320, 240]
    q = fit_quality(squeezed, box)
    assert q.anisotropy == pytest.approx(0.6, abs=1e-6) and q.reason == "too-turned"
    noisy = points + np.random.default_rng(0).normal(0, 20, points.shape)
    q = fit_quality(noisy, box)
    assert q.affine_residual > MAX_RESIDUAL and q.reason == "low-quality"
    assert not q.ok and q.confidence_factor == 0.0
    # the points fill a third of the box: low quality; with no box, spread is not checked
    assert fit_quality(points, (0.0, 0.0, 640.0, 480.0)).reason == "low-quality"
    assert math.isnan(fit_quality(points).spread) and fit_quality(points).ok
    # a bad face score alone makes a perfect shape low quality
    q = fit_quality(points, box, face_score=-1.0)
    assert q.reason == "low-quality" and q.face_score == -1.0
    assert fit_quality(points, box, face_score=0.0).confidence_factor == pytest.approx(0.5)


def test_hostile_points_and_boxes() -> None:
    with pytest.raises(ValueError, match=r"\(68, 2\) array, got shape \(67, 2\)"):
        fit_quality(np.zeros((67, 2)))
    with pytest.raises(ValueError, match="right > left"):
        fit_quality(MEAN_SHAPE, (10.0, 10.0, 5.0, 20.0))
    points = MEAN_SHAPE * 50 + 100
    points[5] = np.nan
    q = fit_quality(points, (0.0, 0.0, 200.0, 200.0), face_score=1.0)
    assert not q.ok and q.reason == "low-quality" and q.confidence_factor == 0.0
    collapsed = np.full((68, 2), 7.0)
    assert fit_quality(collapsed).reason in ("low-quality", "too-turned")
    image = np.zeros((120, 160), np.uint8)
    with pytest.raises(ValueError, match="uint8"):
        box_face_score(image.astype(np.float32), (0.0, 0.0, 50.0, 50.0))
    with pytest.raises(ValueError, match="right > left"):
        box_face_score(image, (10.0, 10.0, 10.0, 50.0))
    # a box off the image sees its repeated border: no face
    assert box_face_score(image, (500.0, 500.0, 600.0, 600.0)) == NO_FACE_SCORE


# -- real fits ---------------------------------------------------------------------------
@needs_media
def test_good_fits_are_kept(faces: Faces) -> None:
    rng = np.random.default_rng(1)
    n = 0
    for name, boxes in faces.boxes.items():
        assert len(boxes) == (2 if name in PAIRS else 1), name
        image = faces.images[name]
        for box in boxes:
            cases = [(image, box)]
            cases += [(image, _shifted(box, *rng.uniform(-0.08, 0.08, 2),
                                       scale=rng.uniform(0.9, 1.1))) for _ in range(3)]
            cases += [(_rotated(image, box, a), box) for a in (-25, -12, 12, 25)]
            small = cv2.resize(image, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
            cases.append((small, (box[0] * 0.6, box[1] * 0.6, box[2] * 0.6, box[3] * 0.6)))
            for img, b in cases:
                q = faces.quality(img, b)
                n += 1
                assert q.ok and q.reason == "kept", (name, b, q)
                # measured: affine residual 0.05-0.17, face score 0.5-2.4, factor >= 0.8
                assert q.affine_residual < GOOD_RESIDUAL, (name, q)
                assert q.face_score > MIN_FACE_SCORE + 0.6, (name, q)
                assert q.anisotropy > MIN_ANISOTROPY + 0.07, (name, q)
                assert q.confidence_factor >= 0.75, (name, q)
    assert n == 90


@needs_media
def test_boxes_off_the_face_are_low_quality(faces: Faces) -> None:
    bad: list[tuple[str, Box]] = []
    for name in PAIRS:  # the box between the two people
        a, b = faces.boxes[name]
        bad.append((name, ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, (a[2] + b[2]) / 2,
                           (a[3] + b[3]) / 2)))
    for name, boxes in faces.boxes.items():  # half off the face
        for box in boxes:
            bad += [(name, _shifted(box, dx, dy)) for dx, dy in
                    ((0.5, 0), (-0.5, 0), (0, 0.5), (0, -0.5), (0.45, 0.45))]
    rng = np.random.default_rng(2)
    for name in faces.boxes:  # on the background, away from any face
        h, w = faces.images[name].shape[:2]
        every_face = faces.detect(faces.images[name])
        found = 0
        while found < 3:
            s = rng.uniform(60, 150)
            x, y = rng.uniform(0, w - s), rng.uniform(0, h - s)
            if all(x > b[2] + 20 or x + s < b[0] - 20 or y > b[3] + 20 or y + s < b[1] - 20
                   for b in every_face):
                bad.append((name, (x, y, x + s, y + s)))
                found += 1
    assert len(bad) == 2 + 5 * 10 + 3 * 8
    shape_only_ok = 0
    for name, box in bad:
        image = faces.images[name]
        points = faces.fit(image, box)
        q = fit_quality(points, box, face_score=faces.score(image, box))
        assert not q.ok and q.confidence_factor == 0.0, (name, box, q)
        assert q.face_score < MIN_FACE_SCORE - 0.5, (name, box, q)  # measured <= -0.87
        shape_only_ok += fit_quality(points, box).ok
    # the predictor returns about its average face: the shape alone passes most of them
    assert shape_only_ok > len(bad) // 2


@needs_media
@pytest.mark.parametrize("factor", [0.65, 0.5])
def test_squeezed_faces_are_too_turned(faces: Faces, factor: float) -> None:
    for name in SINGLES:
        image, box = _squeezed(faces.images[name], faces.boxes[name][0], factor)
        q = faces.quality(image, box)
        assert q.reason == "too-turned" and q.confidence_factor == 0.0, (name, q)
        assert q.anisotropy < factor + 0.05, (name, q)  # measured 0.56-0.68 at 0.65


# -- head pose ---------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(640, 480), (1280, 720), (480, 640)])
@pytest.mark.parametrize("angles", [
    (0, 0, 0), (30, 0, 0), (-30, 0, 0), (0, 20, 0), (0, -20, 0), (0, 0, 25), (0, 0, -25),
    (30, 20, 25), (-30, -20, -25), (-20, 15, 10)])
def test_known_rotations_are_recovered(size: tuple[int, int],
                                       angles: tuple[float, float, float]) -> None:
    rng = np.random.default_rng(3)
    for shift in ((0.0, 0.0), (120.0, -80.0)):  # in the middle and near a corner
        distance = 700.0
        t = np.array([shift[0] / size[0] * distance, shift[1] / size[0] * distance, distance])
        # a face off the image centre looking into the lens is seen at an angle: give it
        # the rotation on top of the one that turns it towards the camera
        ray = t / np.linalg.norm(t)
        yaw0 = math.degrees(math.atan2(ray[0], ray[2]))
        pitch0 = -math.degrees(math.atan2(-ray[1], math.hypot(ray[0], ray[2])))
        towards = rotation_matrix(-yaw0, pitch0, 0)
        points = project(towards @ rotation_matrix(*angles), t, size)
        points[list(MODEL_INDICES)] += rng.normal(0, 0.3, (len(MODEL_INDICES), 2))
        got = head_pose(points, size)
        assert np.allclose(got, angles, atol=2.0), (size, shift, angles, got)


def test_angle_conventions() -> None:
    size = (640, 480)

    def moved(angles: tuple[float, float, float]) -> np.ndarray:
        p = project(rotation_matrix(*angles), [0, 0, 600], size)
        return p[30] - (p[36] + p[45]) / 2  # the nose tip from the eyes' middle

    assert moved((20, 0, 0))[0] > moved((0, 0, 0))[0] + 10  # yaw > 0: nose to image right
    assert moved((0, 20, 0))[1] < moved((0, 0, 0))[1] - 10  # pitch > 0: nose up
    # roll > 0: counter-clockwise on the screen, as cv2.getRotationMatrix2D
    p = project(rotation_matrix(0, 0, 20), [0, 0, 600], size)
    eye = p[45] - p[36]
    assert math.degrees(math.atan2(-eye[1], eye[0])) == pytest.approx(20, abs=0.5)
    assert np.allclose(head_pose(project(np.eye(3), [0, 0, 600], size), size), 0,
                       atol=1e-6)


def test_head_pose_many_and_hostile_input() -> None:
    size = (640, 480)
    series = np.stack([project(rotation_matrix(y, 0, 0), [0, 0, 600], size)
                       for y in (-20, 0, 20, 40)])
    series[np.isnan(series)] = 0.0  # landmarks outside the model do not matter
    series[1, 30] = np.nan  # the nose tip missing: no pose for that frame
    got = head_pose_many(series, size)
    assert got.shape == (4, 3) and np.isnan(got[1]).all()
    assert np.allclose(got[[0, 2, 3], 0], [-20, 20, 40], atol=1e-3)
    assert np.allclose(got[2], head_pose(series[2], size))
    assert head_pose_many(np.zeros((0, 68, 2)), size).shape == (0, 3)
    with pytest.raises(ValueError, match=r"\(T, 68, 2\)"):
        head_pose_many(np.zeros((3, 68)), size)
    with pytest.raises(ValueError, match=r"\(68, 2\)"):
        head_pose(np.zeros((21, 2)), size)
    with pytest.raises(ValueError, match="image_size"):
        head_pose(series[0], (0, 480))


@needs_media
def test_head_pose_of_real_faces(faces: Faces) -> None:
    for name in SINGLES:
        image, box = faces.images[name], faces.boxes[name][0]
        h, w = image.shape[:2]
        yaw, pitch, roll = head_pose(faces.fit(image, box), (w, h))
        if name != "obama2":  # looks about 20° to his right
            assert abs(yaw) < 12 and abs(pitch) < 12, (name, yaw, pitch)  # measured <= 10
        # squeezed to half its width, a face looks turned
        squeezed, sbox = _squeezed(image, box, 0.5)
        s_yaw = head_pose(faces.fit(squeezed, sbox), squeezed.shape[1::-1])[0]
        assert abs(s_yaw) > abs(yaw) + 15, (name, yaw, s_yaw)  # measured 20-44° more
        # rotated in the image plane, the roll follows the rotation
        for angle in (20, -20):
            rotated = _rotated(image, box, angle)
            found = faces.detect(rotated)
            rbox = min(found, key=lambda b: abs(b[0] - box[0]) + abs(b[1] - box[1])
                       ) if found else box
            r_roll = head_pose(faces.fit(rotated, rbox), (w, h))[2]
            assert r_roll - roll == pytest.approx(angle, abs=4), (name, angle, roll, r_roll)
