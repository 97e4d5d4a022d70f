"""Face identity with dlib's face-recognition model, on real photographs of three people.

The photos (``obama*.jpg``: person A, ``biden*.jpg``: B, ``rose_leslie*.jpg``: C,
``obama_and_biden.jpg``: B, A and a child) are looked for in ``$FACEEXPR_MEDIA`` or in
``shared/media`` beside the repository; the tests skip when they are not there.
"""

from __future__ import annotations

import itertools
import pickle
from pathlib import Path

import numpy as np
import pytest
from _media import require_dlib, require_media

dlib, cv2 = require_dlib()

from faceexpr.backends.dlib import identity  # noqa: E402
from faceexpr.backends.dlib.estimator import (  # noqa: E402
    _detector,
    _predictor,
    default_model_path,
)
from faceexpr.backends.dlib.identity import (  # noqa: E402
    MATCH_DISTANCE,
    ReferencePhotoError,
    Target,
    TargetNotFoundError,
)
from faceexpr.errors import FaceexprError, FileFormatError, MissingFileError  # noqa: E402
from faceexpr.synthetic.photo_video import cuts_between_people  # noqa: E402

PEOPLE = {"A": ("obama.jpg", "obama2.jpg"), "B": ("biden.jpg", "biden2.jpg"),
          "C": ("rose_leslie1.jpg", "rose_leslie2.jpg")}
PHOTOS = [*itertools.chain(*PEOPLE.values()), "obama_and_biden.jpg", "two_people.jpg"]


MEDIA = require_media(PHOTOS)


@pytest.fixture(scope="module")
def models() -> tuple[object, object]:
    return _detector(), _predictor(str(default_model_path()))


@pytest.fixture(scope="module")
def descriptors(photos: dict[str, Path], models: tuple[object, object]
                ) -> dict[str, np.ndarray]:
    detector, predictor = models
    return {name: identity.photo_descriptor(photos[name], detector, predictor)
            for name in itertools.chain(*PEOPLE.values())}


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b))


# -- distances ---------------------------------------------------------------------------
def test_model_is_found_and_descriptors_have_128_numbers(descriptors: dict[str, np.ndarray]
                                                          ) -> None:
    assert identity.descriptor_model_path().name == "dlib_face_recognition_resnet_model_v1.dat"
    for d in descriptors.values():
        assert d.shape == (128,) and d.dtype == np.float64
        # measured: norms 1.37 to 1.52 (not normalised, never near zero)
        assert 1.0 < np.linalg.norm(d) < 2.0


@pytest.mark.parametrize("person", sorted(PEOPLE))
def test_two_photos_of_one_person_are_closer_than_the_threshold(
        person: str, descriptors: dict[str, np.ndarray]) -> None:
    first, second = PEOPLE[person]
    # measured: A 0.38, B 0.42, C 0.42
    assert _distance(descriptors[first], descriptors[second]) < MATCH_DISTANCE - 0.1


def test_photos_of_different_people_are_farther_than_the_threshold(
        descriptors: dict[str, np.ndarray]) -> None:
    gaps = [_distance(descriptors[x], descriptors[y])
            for p, q in itertools.combinations(sorted(PEOPLE), 2)
            for x in PEOPLE[p] for y in PEOPLE[q]]
    assert len(gaps) == 12
    # measured: 0.76 to 0.98
    assert min(gaps) > MATCH_DISTANCE + 0.1


def test_faces_of_a_group_photo_are_told_apart(photos: dict[str, Path],
                                               models: tuple[object, object],
                                               descriptors: dict[str, np.ndarray]) -> None:
    detector, predictor = models
    image = identity.read_photo(photos["obama_and_biden.jpg"])
    assert image.shape == (1428, 2000, 3)  # RGB, full resolution
    faces = identity.detect_faces(image, detector, upsample=1)
    assert len(faces) == 3  # B, A and a child, left to right
    found = [identity.face_descriptor(image, predictor(image, dlib.rectangle(*box)))
             for box, _ in faces]
    a = Target(np.stack([descriptors[n] for n in PEOPLE["A"]]))
    b = Target(np.stack([descriptors[n] for n in PEOPLE["B"]]))
    assert [a.matches(f) for f in found] == [False, True, False]
    assert [b.matches(f) for f in found] == [True, False, False]
    assert a.nearest(np.stack(found))[0] == 1
    assert b.nearest(np.stack(found))[0] == 0


def test_bgr_and_rgb_give_different_descriptors(photos: dict[str, Path],
                                                models: tuple[object, object],
                                                descriptors: dict[str, np.ndarray]) -> None:
    # read_photo converts OpenCV's BGR: the descriptor of the RGB image is the reference
    detector, predictor = models
    rgb = identity.read_photo(photos["obama.jpg"])
    (box, _), = identity.detect_faces(rgb, detector)
    shape = predictor(rgb, dlib.rectangle(*box))
    assert _distance(identity.face_descriptor(rgb, shape), descriptors["obama.jpg"]) < 1e-9
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    assert _distance(identity.face_descriptor(bgr, shape), descriptors["obama.jpg"]) > 0.02


def test_face_descriptor_refuses_a_wrong_image(photos: dict[str, Path],
                                               models: tuple[object, object]) -> None:
    detector, predictor = models
    rgb = identity.read_photo(photos["obama.jpg"])
    (box, _), = identity.detect_faces(rgb, detector)
    shape = predictor(rgb, dlib.rectangle(*box))
    with pytest.raises(ValueError, match=r"\(height, width, 3\) uint8"):
        identity.face_descriptor(rgb.astype(np.float32), shape)
    with pytest.raises(ValueError, match=r"\(height, width, 3\) uint8"):
        identity.face_descriptor(rgb[:, :, 0], shape)


# -- the target from reference photos ------------------------------------------------------
def test_target_from_photos_follows_the_person(photos: dict[str, Path],
                                               models: tuple[object, object],
                                               descriptors: dict[str, np.ndarray]) -> None:
    detector, predictor = models
    target = identity.target_from_photos([photos[n] for n in PEOPLE["A"]], detector,
                                         predictor)
    assert target.descriptors.shape == (2, 128)
    assert target.sources == tuple(str(photos[n]) for n in PEOPLE["A"])
    assert target.threshold == MATCH_DISTANCE
    assert target.distance(descriptors["obama.jpg"]) < 1e-9
    for other in (*PEOPLE["B"], *PEOPLE["C"]):
        assert not target.matches(descriptors[other])
        assert target.distance(descriptors[other]) > 0.7
    one = identity.target_from_photos(photos["obama2.jpg"], detector, predictor)
    assert one.matches(descriptors["obama.jpg"])
    d = target.distances(np.stack([descriptors["biden.jpg"], descriptors["obama2.jpg"]]))
    assert d.shape == (2,) and d[1] < 1e-9 < 0.7 < d[0]


@pytest.mark.parametrize(("upsample", "n_faces"), [(1, 3), (0, 2)])
def test_a_reference_photo_with_several_faces_is_refused(
        photos: dict[str, Path], models: tuple[object, object], upsample: int,
        n_faces: int) -> None:
    # upsample=1 also finds the child in the corner of the photo
    with pytest.raises(ReferencePhotoError) as info:
        identity.target_from_photos([photos["obama.jpg"], photos["obama_and_biden.jpg"]],
                                    *models, upsample=upsample)
    assert str(info.value) == (f"{photos['obama_and_biden.jpg']}: {n_faces} faces found; "
                               "a reference photo must show the target alone")
    assert isinstance(info.value, FaceexprError)


def test_a_reference_photo_without_a_face_is_refused(photos: dict[str, Path],
                                                     models: tuple[object, object],
                                                     tmp_path: Path) -> None:
    group = cv2.imread(str(photos["obama_and_biden.jpg"]))
    background = tmp_path / "flags.png"  # the top left corner: flags, no face
    cv2.imwrite(str(background), group[:500, :550])
    noise = tmp_path / "noise.jpg"
    cv2.imwrite(str(noise), np.random.default_rng(0).integers(0, 256, (480, 640, 3),
                                                               dtype=np.uint8))
    for photo in (background, noise):
        with pytest.raises(ReferencePhotoError, match=r"no face found") as info:
            identity.target_from_photos([photo], *models)
        message = str(info.value)
        assert message.startswith(f"{photo}: no face found; a reference photo must show")
        assert "\n" not in message


def test_a_missing_or_unreadable_reference_photo_is_named(models: tuple[object, object],
                                                          tmp_path: Path) -> None:
    missing = tmp_path / "nobody.jpg"
    with pytest.raises(MissingFileError, match=r"nobody\.jpg: no such file"):
        identity.target_from_photos([missing], *models)
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo\n")
    with pytest.raises(FileFormatError, match=r"notes\.jpg: OpenCV cannot read this file as an"
                                              r" image"):
        identity.target_from_photos([text], *models)
    with pytest.raises(FileFormatError, match="is a folder"):
        identity.target_from_photos([tmp_path], *models)
    with pytest.raises(ValueError, match="no reference photo"):
        identity.target_from_photos([], *models)


def test_target_checks_its_descriptors() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Target(np.zeros((0, 128)))
    with pytest.raises(ValueError, match=r"\(n, 128\)"):
        Target(np.zeros((2, 64)))
    with pytest.raises(ValueError, match="NaN"):
        Target(np.full((1, 128), np.nan))
    with pytest.raises(ValueError, match="2 descriptors but 1 sources"):
        Target(np.zeros((2, 128)), ("x",))
    with pytest.raises(ValueError, match="threshold"):
        Target(np.zeros((1, 128)), threshold=0.0)
    target = Target(np.zeros((1, 128)))
    assert target.nearest(np.zeros((0, 128))) == (-1, float("inf"))
    with pytest.raises(ValueError, match=r"\(n, 128\)"):
        target.distance(np.zeros(127))


# -- the most frequent person --------------------------------------------------------------
def test_most_frequent_target_takes_the_largest_cluster_and_the_earliest_of_a_tie(
        descriptors: dict[str, np.ndarray]) -> None:
    a1, a2 = (descriptors[n] for n in PEOPLE["A"])
    b1, b2 = (descriptors[n] for n in PEOPLE["B"])
    c1 = descriptors["rose_leslie1.jpg"]
    tie = identity.most_frequent_target(np.stack([b1, a1, b2, a2, c1]))
    assert tie.labels.tolist() == [0, 1, 0, 1, 2]
    assert tie.sizes == (2, 2, 1)
    assert tie.chosen == 0  # B: seen first
    assert tie.target.matches(b1) and not tie.target.matches(a1)
    more = identity.most_frequent_target(np.stack([b1, a1, c1, a2, a1, b2]))
    assert more.sizes == (2, 3, 1) and more.chosen == 1
    assert more.target.sources == ("cluster 1, face 1", "cluster 1, face 3",
                                   "cluster 1, face 4")
    single = identity.most_frequent_target(c1[None])
    assert single.sizes == (1,) and single.labels.tolist() == [0]
    with pytest.raises(ValueError, match="no face descriptor"):
        identity.most_frequent_target(np.zeros((0, 128)))


def test_most_frequent_target_keeps_few_references(descriptors: dict[str, np.ndarray]) -> None:
    rng = np.random.default_rng(1)
    a = descriptors["obama.jpg"]
    faces = a + rng.normal(0, 0.01, (40, 128))
    clusters = identity.most_frequent_target(faces, max_references=5)
    assert clusters.sizes == (40,)
    assert clusters.target.sources == tuple(f"cluster 0, face {i}" for i in (0, 10, 20, 29, 39))


def test_most_frequent_target_in_a_video_with_cuts(photos: dict[str, Path],
                                                   models: tuple[object, object],
                                                   descriptors: dict[str, np.ndarray],
                                                   tmp_path: Path) -> None:
    detector, predictor = models
    video = cuts_between_people(tmp_path / "cuts.mp4", photos["obama.jpg"],
                                photos["biden2.jpg"], photos["rose_leslie1.jpg"],
                                a_again=photos["obama2.jpg"])
    cap = cv2.VideoCapture(str(video.path))
    found, who = [], []
    index = 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        if index % 10 == 0:
            rgb = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            for box, _ in identity.detect_faces(rgb, detector, upsample=0):
                found.append(identity.face_descriptor(rgb, predictor(rgb, dlib.rectangle(*box))))
                who.append(video.faces[index][0].label)
        index += 1
    cap.release()
    assert index == 180
    # one face per sampled frame: A in shots 0 and 2 (two different photos), B, C
    assert who == ["A"] * 5 + ["B"] * 4 + ["A"] * 5 + ["C"] * 4
    clusters = identity.most_frequent_target(np.stack(found))
    assert clusters.sizes == (10, 4, 4)
    assert clusters.chosen == 0
    assert clusters.labels.tolist() == [{"A": 0, "B": 1, "C": 2}[w] for w in who]
    for name in PEOPLE["A"]:
        assert clusters.target.matches(descriptors[name])
    for name in (*PEOPLE["B"], *PEOPLE["C"]):
        assert not clusters.target.matches(descriptors[name])


# -- the error for a target never found ----------------------------------------------------
def test_target_not_found_says_how_close_the_closest_face_came() -> None:
    error = identity.target_not_found("videos/s1.mp4", 0.7123)
    assert isinstance(error, TargetNotFoundError) and isinstance(error, FaceexprError)
    assert str(error) == ("the target was not found in videos/s1.mp4: the closest face was "
                          "at distance 0.71 (a match needs < 0.60)")
    assert (error.video, error.best_distance, error.threshold) == ("videos/s1.mp4", 0.7123,
                                                                   0.6)
    none = identity.target_not_found(Path("s2.mp4"), None, threshold=0.5)
    assert str(none) == "the target was not found in s2.mp4: no face was found to compare with it"
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error) and copy.best_distance == 0.7123
