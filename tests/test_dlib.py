"""The dlib pose estimator on a real face (scikit-image's astronaut) moved by known affines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _media import require_dlib

dlib, cv2 = require_dlib()
skdata = pytest.importorskip("skimage.data")

import faceexpr as fe  # noqa: E402
from faceexpr.backends.dlib.estimator import (  # noqa: E402
    REUSE_FACTOR,
    DlibEstimator,
    NoFaceFoundError,
    _detector,
    _predictor,
    default_model_path,
)
from faceexpr.errors import FileFormatError, MissingDependencyError  # noqa: E402
from faceexpr.schemes import (  # noqa: E402
    FACE21,
    IBUG68,
    IBUG68_TO_FACE21,
    KNOWN_SCHEMES,
    guess_scheme,
    to_face21,
)

SIZE = 320
N_FRAMES = 75
FPS = 30.0
CENTRE = (162.0, 125.0)  # near the face in the crop below
NOSE_TIP = IBUG68.landmarks.index("nose_bridge_3")  # iBUG point 30


def _face_image() -> np.ndarray:
    """A 320×320 BGR crop of the astronaut photograph with her face near the middle-top."""
    rgb = skdata.astronaut()
    return np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)[0:SIZE, 60:60 + SIZE])


def _write(path: Path, frames: list[np.ndarray], fps: float = FPS) -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def _motion() -> list[np.ndarray]:
    """Smooth known motion: translation ±20/±15 px, rotation ±10°, scale 0.9–1.1."""
    t = np.arange(N_FRAMES) / N_FRAMES
    tx, ty = 20 * np.sin(2 * np.pi * t), 15 * np.sin(4 * np.pi * t + 0.5)
    angle = 10 * np.sin(2 * np.pi * t + 1.0)
    scale = 1 + 0.1 * np.sin(3 * np.pi * t)
    mats = []
    for i in range(N_FRAMES):
        m = cv2.getRotationMatrix2D(CENTRE, float(angle[i]), float(scale[i]))
        m[:, 2] += (tx[i], ty[i])
        mats.append(m)
    return mats


@pytest.fixture(scope="module")
def moving(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray]]:
    """The video of the moving face and the affine (2×3) of every frame."""
    base = _face_image()
    mats = _motion()
    frames = [cv2.warpAffine(base, m, (SIZE, SIZE), borderMode=cv2.BORDER_REFLECT)
              for m in mats]
    return _write(tmp_path_factory.mktemp("dlib") / "face.mp4", frames), mats


@pytest.fixture(scope="module")
def still_landmarks() -> np.ndarray:
    """The 68 landmarks dlib finds on the unwarped image."""
    rgb = np.ascontiguousarray(cv2.cvtColor(_face_image(), cv2.COLOR_BGR2RGB))
    rects, _, _ = _detector().run(rgb, 1, 0.0)
    assert len(rects) == 1
    shape = _predictor(str(default_model_path()))(rgb, rects[0])
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


@pytest.fixture(scope="module")
def pose(moving: tuple[Path, list[np.ndarray]]) -> object:
    return DlibEstimator(progress=False).estimate(moving[0])


def _expected(mats: list[np.ndarray], point: np.ndarray) -> np.ndarray:
    return np.array([m @ np.r_[point, 1.0] for m in mats])


def _history(pose: object) -> dict[str, object]:
    import json

    return dict(json.loads(pose.attrs["faceexpr_history"][-1]))  # type: ignore[attr-defined]


def test_tracks_known_motion(pose, moving, still_landmarks) -> None:
    _, mats = moving
    assert list(pose["landmarks"].values) == list(IBUG68.landmarks)
    assert pose.sizes["time"] == N_FRAMES
    found = np.isfinite(pose["position"].values).all(axis=(1, 2))
    assert found.mean() >= 0.95
    history = _history(pose)
    # detected on the first frame and every detect_every-th; followed in between
    assert history["detected_fraction"] + history["tracked_fraction"] >= 0.95
    assert 0.05 < history["detected_fraction"] < 0.2
    # measured: median 0.5 px, max 1.1 px (nose tip); 0.4–0.7 / 0.9–1.6 px elsewhere
    error = np.linalg.norm(pose["position"].values[:, NOSE_TIP]
                           - _expected(mats, still_landmarks[NOSE_TIP]), axis=1)
    assert np.nanmedian(error) < 2.0
    assert np.nanmax(error) < 4.0
    all_errors = np.linalg.norm(
        pose["position"].values - np.stack([_expected(mats, p) for p in still_landmarks],
                                           axis=1), axis=-1)
    assert np.nanmedian(all_errors) < 3.0
    conf = pose["confidence"].values
    assert np.all((conf > 0.5) & (conf < 1.0))  # detections above dlib's threshold
    assert np.all(conf == conf[:, :1])  # one value per frame
    assert pose.attrs["source_software"] == "dlib"
    assert pose.attrs["units"] == "pixels"
    assert "commercial" in pose.attrs["landmark_model_licence"]
    assert pose.attrs["fps"] == pytest.approx(FPS)
    np.testing.assert_array_equal(pose["frame"].values, np.arange(N_FRAMES))
    np.testing.assert_allclose(pose["time"].values, np.arange(N_FRAMES) / FPS)


def test_detect_every_tracks_between_detections(moving, still_landmarks) -> None:
    path, mats = moving
    est = DlibEstimator(upsample=0, detect_every=5, progress=False)
    tracked = est.estimate(path)
    history = _history(tracked)
    assert history["detected_fraction"] == pytest.approx(1 / 5, abs=0.02)
    assert history["tracked_fraction"] == pytest.approx(4 / 5, abs=0.02)
    error = np.linalg.norm(tracked["position"].values[:, NOSE_TIP]
                           - _expected(mats, still_landmarks[NOSE_TIP]), axis=1)
    assert np.median(error) < 2.0
    assert error.max() < 4.0


def test_stride_and_max_frames(moving) -> None:
    est = DlibEstimator(upsample=0, stride=3, max_frames=10, progress=False)
    out = est.estimate(moving[0])
    np.testing.assert_array_equal(out["frame"].values, np.arange(0, 30, 3))
    np.testing.assert_allclose(out["time"].values, np.arange(0, 30, 3) / FPS)
    assert np.isfinite(out["position"].values).all()


def test_face21_scheme(pose, moving) -> None:
    face = to_face21(pose)
    expected = [n for n in FACE21.landmarks if n not in ("lear", "rear")]
    assert list(face["landmarks"].values) == expected
    assert set(IBUG68_TO_FACE21) == set(expected)
    assert set(IBUG68_TO_FACE21.values()) <= set(IBUG68.landmarks)
    np.testing.assert_array_equal(face["position"].sel(landmarks="nose1").values,
                                  pose["position"].sel(landmarks="nose_bridge_0").values)
    # the subject's left eye is on the image's right in this (unmirrored) photograph
    x = face["position"].sel(space="x")
    assert (x.sel(landmarks="lefteye2") > x.sel(landmarks="righteye2")).all()
    assert guess_scheme(face["landmarks"].values) is FACE21
    direct = DlibEstimator(upsample=0, scheme="face21", max_frames=3,
                           progress=False).estimate(moving[0])
    assert list(direct["landmarks"].values) == expected


def test_scheme_orientation(pose) -> None:
    assert KNOWN_SCHEMES["ibug68"] is IBUG68
    assert guess_scheme(pose["landmarks"].values) is IBUG68
    mean = pose["position"].mean("time")
    left = mean.sel(landmarks=IBUG68.left_right[1]) - mean.sel(landmarks=IBUG68.left_right[0])
    up = mean.sel(landmarks=IBUG68.down_up[1]) - mean.sel(landmarks=IBUG68.down_up[0])
    assert float(left.sel(space="x")) > 0  # towards the subject's left = image right
    assert float(up.sel(space="y")) < 0  # image y grows downwards
    assert all(n in IBUG68.landmarks for edge in IBUG68.edges() for n in edge)


def test_reuses_the_box_when_detection_fails(tmp_path) -> None:
    face = _face_image()
    blank = np.full_like(face, 128)
    frames = [face] * 4 + [blank] * 4 + [face] * 2
    path = _write(tmp_path / "gap.mp4", frames)
    out = DlibEstimator(upsample=0, max_reuse=2, search_every=1, progress=False).estimate(path)
    conf = out["confidence"].values[:, 0]
    finite = np.isfinite(out["position"].values).all(axis=(1, 2))
    np.testing.assert_array_equal(finite, [True] * 6 + [False] * 2 + [True] * 2)
    np.testing.assert_allclose(conf[4:6], conf[3] * REUSE_FACTOR)
    assert np.isnan(conf[6:8]).all()
    assert conf[8] > 0.5
    assert _history(out)["reused_fraction"] == pytest.approx(0.2)


def test_choose_face(tmp_path) -> None:
    face = _face_image()
    small = cv2.resize(face, (SIZE * 3 // 4, SIZE * 3 // 4))
    canvas = np.full((SIZE, 2 * SIZE, 3), 90, dtype=np.uint8)
    canvas[:, SIZE:] = face
    canvas[: small.shape[0], : small.shape[1]] = small
    path = _write(tmp_path / "two.mp4", [canvas] * 2)

    def nose_x(**kw: object) -> float:
        out = DlibEstimator(upsample=0, progress=False, **kw).estimate(path)  # type: ignore[arg-type]
        return float(out["position"].values[0, NOSE_TIP, 0])

    assert nose_x(face=0) < SIZE < nose_x(face=1)
    assert nose_x(face=-1) == nose_x(face=1) == nose_x()  # the larger face is on the right

    # "largest" keeps following the face it found first when a larger one appears
    alone = canvas.copy()
    alone[:, SIZE:] = 90
    path = _write(tmp_path / "appears.mp4", [alone] * 2 + [canvas] * 3)
    out = DlibEstimator(upsample=0, progress=False).estimate(path)
    assert (out["position"].values[:, NOSE_TIP, 0] < SIZE).all()
    np.testing.assert_array_less(0.5, out["confidence"].values)  # detected, not reused


def test_no_face_is_a_clear_error(tmp_path) -> None:
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (120, 160, 3), dtype=np.uint8) for _ in range(6)]
    path = _write(tmp_path / "noise.mp4", frames)
    with pytest.raises(NoFaceFoundError, match=r"noise\.mp4: no face found in any of the 6 "
                                               r"frames tried.*upsample=2"):
        DlibEstimator(progress=False).estimate(path)


def test_unreadable_videos(tmp_path) -> None:
    est = DlibEstimator(progress=False)
    with pytest.raises(FileNotFoundError, match=r"nothere\.mp4"):
        est.estimate(tmp_path / "nothere.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    with pytest.raises(FileFormatError, match=r"bad\.mp4"):
        est.estimate(bad)


def test_options_are_checked() -> None:
    for kw in ({"stride": 0}, {"upsample": -1}, {"detect_every": 0}, {"max_frames": 0},
               {"face": "smallest"}, {"scheme": "ibug5"}, {"min_score": float("nan")}):
        with pytest.raises(ValueError):
            DlibEstimator(**kw)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match=r"missing\.dat"):
        DlibEstimator(model="missing.dat")


def test_missing_dependency_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DlibEstimator, "missing_dependencies", classmethod(lambda cls: ["dlib"]))
    with pytest.raises(MissingDependencyError, match=r'pip install "faceexpr\[dlib\]"'):
        fe.pose_estimator("dlib")


def test_registered_and_several_cameras(tmp_path) -> None:
    assert isinstance(fe.pose_estimator("dlib", progress=False), DlibEstimator)
    face = _face_image()
    shifted = np.ascontiguousarray(np.roll(face, 12, axis=1))
    a = _write(tmp_path / "s1_camA.mp4", [face] * 4)
    b = _write(tmp_path / "s1_camB.mp4", [shifted] * 3)
    out = DlibEstimator(upsample=0, progress=False).estimate([b, a])
    assert list(out["cameras"].values) == ["A", "B"]
    assert out.sizes["time"] == 3
    dx = (out["position"].sel(cameras="B") - out["position"].sel(cameras="A")).sel(space="x")
    assert float(np.median(dx.values)) == pytest.approx(12, abs=2)


def test_pipeline_on_video(moving) -> None:
    result = fe.Pipeline(n_states=2, estimator="dlib",
                         estimator_options={"upsample": 0, "progress": False},
                         reference=IBUG68.reference, pca=4, progress=False).run(moving[0])
    states = result.states[0]
    assert states.sizes["time"] == N_FRAMES
    assert set(np.unique(states.values)) <= {0, 1}
    # the seed study's 21-landmark face, with its default reference "nose1"
    result21 = fe.Pipeline(n_states=2, estimator="dlib",
                           estimator_options={"upsample": 0, "scheme": "face21",
                                              "progress": False},
                           pca=4, progress=False).run(moving[0])
    assert result21.egocentric[0].sizes["landmarks"] == 19


def test_analyze_a_video_with_dlib(moving, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from faceexpr.cli import main

    video, _ = moving
    out = tmp_path / "out"
    assert main(["analyze", str(video), "--estimator", "dlib", "--n-states", "2",
                 "--video", str(video), "--out", str(out), "--quiet"]) == 0
    import pandas as pd

    assert len(pd.read_csv(out / "states.csv")) == N_FRAMES
    for name in ("expressions.png", "sessions/face/timeline.png", "sessions/face/labelled.mp4",
                 "report.html"):
        assert (out / name).exists(), name
    history = [json.loads(r) for r in json.loads((out / "summary.json").read_text())["history"]]
    steps = {r["step"]: r for r in history}
    assert steps["egocentric"]["reference"] == "nose_bridge_0"  # the scheme's reference
