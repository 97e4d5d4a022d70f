"""``faceexpr analyze VIDEO --estimator dlib --target ...`` on bad input: one-line errors.

Every case must fail with exit code 1, one ``faceexpr: error:`` line on stderr naming the
file at fault, and no output folder left behind. The video with people in it is
:func:`faceexpr.synthetic.photo_video.two_in_frame` (persons A and B of the media README);
the photos are looked for in ``$FACEEXPR_MEDIA`` or in ``shared/media`` beside the
repository, and the tests skip when they are not there.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from _media import require_dlib, require_media

dlib, cv2 = require_dlib()

from faceexpr.backends.dlib.identity import MATCH_DISTANCE  # noqa: E402
from faceexpr.cli import main  # noqa: E402
from faceexpr.synthetic.photo_video import PhotoVideo, two_in_frame  # noqa: E402

PHOTOS = ("obama.jpg", "obama2.jpg", "biden.jpg", "rose_leslie1.jpg", "obama_and_biden.jpg")


MEDIA = require_media(PHOTOS)


@pytest.fixture(scope="module")
def two(photos: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> PhotoVideo:
    """A (obama.jpg) and B (biden.jpg) side by side, 90 frames."""
    out = tmp_path_factory.mktemp("two") / "two.mp4"
    return two_in_frame(out, photos["obama.jpg"], photos["biden.jpg"])


@pytest.fixture(scope="module")
def no_frames(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid AVI container (MJPG) holding no frame: OpenCV opens it and reads nothing."""
    path = tmp_path_factory.mktemp("empty") / "no_frames.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (64, 48))
    writer.release()
    capture = cv2.VideoCapture(str(path))
    try:
        assert capture.isOpened() and not capture.read()[0]
    finally:
        capture.release()
    return path


def _fails(args: list[str], out: Path, capfd: pytest.CaptureFixture[str]) -> str:
    """Run ``faceexpr analyze ARGS --estimator dlib`` and check it fails cleanly; return the
    error line."""
    code = main(["analyze", *args, "--estimator", "dlib", "--n-states", "2", "--quiet",
                 "--out", str(out)])
    err = capfd.readouterr().err
    assert code == 1, err
    assert err.startswith("faceexpr: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert not out.exists()
    return err


def test_reference_photo_with_several_faces(two: PhotoVideo, photos: dict[str, Path],
                                            tmp_path: Path,
                                            capfd: pytest.CaptureFixture[str]) -> None:
    err = _fails([str(two.path), "--target", str(photos["obama_and_biden.jpg"])],
                 tmp_path / "out", capfd)
    assert "obama_and_biden.jpg" in err and "3 faces" in err  # B, A and a child


@pytest.mark.parametrize("kind", ["grey", "noise"])
def test_reference_photo_without_face(kind: str, two: PhotoVideo, tmp_path: Path,
                                      capfd: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    image = (np.full((300, 400, 3), 128, np.uint8) if kind == "grey"
             else rng.integers(0, 256, (300, 400, 3), dtype=np.uint8))
    photo = tmp_path / f"{kind}.jpg"
    assert cv2.imwrite(str(photo), image)
    err = _fails([str(two.path), "--target", str(photo)], tmp_path / "out", capfd)
    assert f"{kind}.jpg" in err and "no face found" in err


def test_target_never_found_gives_the_closest_distance(two: PhotoVideo,
                                                       photos: dict[str, Path],
                                                       tmp_path: Path,
                                                       capfd: pytest.CaptureFixture[str]
                                                       ) -> None:
    err = _fails([str(two.path), "--target", str(photos["rose_leslie1.jpg"])],
                 tmp_path / "out", capfd)
    assert "two.mp4" in err and "target was not found" in err
    found = re.search(r"closest face was at distance (\d\.\d\d)", err)
    assert found is not None, err
    # measured 0.89: C is far from A and B (different people: 0.76 to 0.98)
    assert MATCH_DISTANCE < float(found.group(1)) < 1.2
    assert f"< {MATCH_DISTANCE:.2f}" in err


def test_empty_video_file(photos: dict[str, Path], tmp_path: Path,
                          capfd: pytest.CaptureFixture[str]) -> None:
    video = tmp_path / "empty.mp4"
    video.write_bytes(b"")
    err = _fails([str(video), "--target", str(photos["obama2.jpg"])], tmp_path / "out", capfd)
    assert "empty.mp4" in err and "empty" in err.split("empty.mp4", 1)[1]


@pytest.mark.parametrize("target", [None, "photo"])
def test_video_without_frames(target: str | None, no_frames: Path, photos: dict[str, Path],
                              tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    args = [str(no_frames)]
    if target is not None:
        args += ["--target", str(photos["obama2.jpg"])]
    err = _fails(args, tmp_path / "out", capfd)
    assert "no_frames.avi" in err and "no frame" in err


def test_video_without_frames_most_frequent(no_frames: Path, tmp_path: Path,
                                            capfd: pytest.CaptureFixture[str]) -> None:
    err = _fails([str(no_frames), "--target", "most-frequent"], tmp_path / "out", capfd)
    assert "no_frames.avi" in err and "no frame" in err


def test_missing_reference_photo(two: PhotoVideo, photos: dict[str, Path], tmp_path: Path,
                                 capfd: pytest.CaptureFixture[str]) -> None:
    gone = tmp_path / "nothere.jpg"
    err = _fails([str(two.path), "--target", str(photos["obama2.jpg"]), str(gone)],
                 tmp_path / "out", capfd)
    assert "nothere.jpg" in err and "not found" in err
