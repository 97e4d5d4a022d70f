"""Cut detection frame by frame, on clips made from real photographs.

Each clip holds 40 frames of one photograph drifting (a slow zoom, a small turn and a shift
back and forth), then 40 of another, written as MPEG-4 with OpenCV and read back, so the
frames carry a real codec's noise. The photographs (persons A, B and C of the media
README) are looked for in ``$FACEEXPR_MEDIA``, in ``shared/media`` beside the repository
or in ``/work/shared/media``; the tests skip when they are not there.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from _media import require_media

cv2 = pytest.importorskip("cv2")

from faceexpr.backends.dlib.shots import THRESHOLD, ShotDetector  # noqa: E402

PHOTOS = ("obama.jpg", "obama2.jpg", "biden.jpg", "biden2.jpg", "rose_leslie1.jpg",
          "rose_leslie2.jpg", "obama_and_biden.jpg", "two_people.jpg")
SIZE = (640, 480)
N = 40  # frames per shot


MEDIA = require_media(PHOTOS)


@pytest.fixture(scope="module")
def stills(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """Every photo as a 640×480 BGR frame (scaled to cover it, centre cut out)."""
    folder = tmp_path_factory.mktemp("photos")
    out = {}
    for name in PHOTOS:
        assert MEDIA is not None
        img = cv2.imread(str(shutil.copy(MEDIA / name, folder / name)))
        h, w = img.shape[:2]
        s = max(SIZE[0] / w, SIZE[1] / h)
        img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        y0, x0 = (img.shape[0] - SIZE[1]) // 2, (img.shape[1] - SIZE[0]) // 2
        out[name.removesuffix(".jpg")] = np.ascontiguousarray(
            img[y0:y0 + SIZE[1], x0:x0 + SIZE[0]])
    return out


def _drift(img: np.ndarray, n: int = N, zoom: tuple[float, float] = (1.0, 1.1),
           shift: float = 20.0, turn: float = 5.0) -> list[np.ndarray]:
    """``n`` frames of ``img`` zooming over ``zoom``, shifting by up to ``shift`` pixels and
    turning by up to ``turn`` degrees, back and forth."""
    w, h = SIZE
    frames = []
    for i in range(n):
        t = i / (n - 1)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), turn * np.sin(2 * np.pi * t),
                                    zoom[0] + (zoom[1] - zoom[0]) * t)
        m[:, 2] += (shift * np.sin(2 * np.pi * t), shift / 2 * np.cos(2 * np.pi * t))
        frames.append(cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT))
    return frames


def _through_codec(frames: list[np.ndarray], path: Path) -> list[np.ndarray]:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, SIZE)
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        out.append(frame)
    cap.release()
    assert len(out) == len(frames)
    return out


def _run(frames: list[np.ndarray], detector: ShotDetector | None = None
         ) -> tuple[list[int], np.ndarray]:
    """Frames where a shot starts, and every frame's score (NaN for the first)."""
    shots = detector or ShotDetector()
    cuts, scores = [], []
    for i, frame in enumerate(frames):
        if shots.push(i, frame):
            cuts.append(i)
        scores.append(shots.score)
    return cuts, np.asarray(scores)


@pytest.mark.parametrize(("first", "second"), [
    ("obama", "biden"),  # two people
    ("obama", "obama2"),  # the same person in another photo
    ("rose_leslie1", "rose_leslie2"),
    ("biden", "biden2"),
    ("obama_and_biden", "two_people"),  # two people, then two people again
])
def test_a_hard_cut_is_found_at_its_frame(stills: dict[str, np.ndarray], tmp_path: Path,
                                          first: str, second: str) -> None:
    frames = _through_codec(_drift(stills[first]) + _drift(stills[second]),
                            tmp_path / "clip.mp4")
    shots = ShotDetector()
    cuts, scores = _run(frames, shots)
    assert cuts == [N]  # at the cut frame itself, no delay
    assert shots.shot == 1
    # the cut scores 55-78 on these clips, frames within a shot at most 12
    assert scores[N] > 1.6 * THRESHOLD
    assert np.nanmax(np.delete(scores, N)) < THRESHOLD / 2


@pytest.mark.parametrize(("name", "zoom", "shift", "turn"), [
    ("obama", (1.0, 1.5), 20.0, 5.0),  # a strong slow zoom
    ("rose_leslie2", (1.0, 1.0), 60.0, 15.0),  # fast motion: 60 px and 15° within 40 frames
    ("biden2", (1.0, 1.3), 60.0, 15.0),
])
def test_motion_and_zoom_within_a_shot_are_not_cuts(
        stills: dict[str, np.ndarray], tmp_path: Path, name: str,
        zoom: tuple[float, float], shift: float, turn: float) -> None:
    frames = _through_codec(_drift(stills[name], 2 * N, zoom, shift, turn),
                            tmp_path / "clip.mp4")
    cuts, scores = _run(frames)
    assert cuts == []
    assert np.nanmax(scores) < 0.7 * THRESHOLD  # measured at most 16


def test_min_shot_frames_and_frame_numbers(stills: dict[str, np.ndarray]) -> None:
    a, b, c = stills["obama"], stills["biden"], stills["rose_leslie1"]
    # a cut 5 frames after another is ignored with min_shot_frames=10
    frames = [a] * 20 + [b] * 5 + [c] * 20
    assert _run(frames, ShotDetector(min_shot_frames=10))[0] == [20]
    assert _run(frames, ShotDetector(min_shot_frames=5))[0] == [20, 25]
    # frame numbers may skip (a stride); min_shot_frames counts in them
    shots = ShotDetector(min_shot_frames=10)
    assert [shots.push(i, f) for i, f in zip((0, 3, 6, 9, 12), [a, a, a, b, b])] == [
        False, False, False, False, False]  # frame 9 is only 9 after the start
    assert shots.push(15, c) and shots.shot == 1
    shots.reset()
    assert shots.shot == 0 and np.isnan(shots.score) and not shots.push(0, c)


def test_colour_order_and_grey_frames(stills: dict[str, np.ndarray]) -> None:
    a, b = stills["obama"], stills["biden2"]
    bgr, rgb = ShotDetector(), ShotDetector()
    for i, f in enumerate((a, b)):
        bgr.push(i, f)
        rgb.push(i, np.ascontiguousarray(f[:, :, ::-1]))
    assert rgb.score == pytest.approx(bgr.score, rel=2e-3)  # hue rounds differently
    grey = ShotDetector(min_shot_frames=1)
    frames = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in (a, a, b)]
    assert [grey.push(i, f) for i, f in enumerate(frames)] == [False, False, True]
    assert grey.score > THRESHOLD
    # a frame of another size is a cut (a new video stitched on)
    other = ShotDetector(min_shot_frames=1)
    other.push(0, a)
    assert other.push(1, cv2.resize(a, (320, 320))) and other.score == 255.0


def test_hostile_input(stills: dict[str, np.ndarray]) -> None:
    shots = ShotDetector()
    with pytest.raises(ValueError, match="uint8"):
        shots.push(0, stills["obama"].astype(np.float32))
    with pytest.raises(ValueError, match="uint8"):
        shots.push(0, np.zeros((10, 10, 4), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        shots.push(0, np.zeros((0, 10, 3), np.uint8))
    shots.push(5, stills["obama"])
    with pytest.raises(ValueError, match="frame_index must increase: got 5 after 5"):
        shots.push(5, stills["obama"])
    for bad in ({"threshold": 0}, {"threshold": float("nan")}, {"min_shot_frames": 0},
                {"min_shot_frames": 2.5}, {"min_ratio": -1}, {"width": 4}, {"width": True}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            ShotDetector(**bad)  # type: ignore[arg-type]
    assert "threshold=30.0" in repr(ShotDetector())
