"""Camera calibration with the real aniposelib and OpenCV on rendered board views."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("cv2")
pytest.importorskip("aniposelib")

from faceexpr.backends.anipose.calibration import (
    Board,
    CalibrationError,
    CalibrationResult,
    board_from_anipose_config,
    calibrate,
)
from faceexpr.errors import MissingDependencyError
from faceexpr.synthetic import Camera, ring_cameras
from faceexpr.synthetic.boards import BoardViews, render_board_views

CHARUCO = Board.charuco(7, 5, 30.0, 22.0)
CHECKERBOARD = Board.checkerboard(8, 6, 25.0)


@pytest.fixture(scope="module")
def cameras() -> list[Camera]:
    return ring_cameras(3)


@pytest.fixture(scope="module")
def charuco_views(cameras: list[Camera]) -> BoardViews:
    return render_board_views(CHARUCO, cameras, n_views=18, seed=1, blur=0.6, noise=3.0)


@pytest.fixture(scope="module")
def charuco_result(
    charuco_views: BoardViews, tmp_path_factory: pytest.TempPathFactory
) -> CalibrationResult:
    out = tmp_path_factory.mktemp("charuco") / "calibration.toml"
    return calibrate(charuco_views.images, CHARUCO, out)


def _baselines(positions: np.ndarray) -> np.ndarray:
    i, j = np.triu_indices(len(positions), k=1)
    return np.asarray(np.linalg.norm(positions[i] - positions[j], axis=1))


def _rigid_residuals(found: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Distances left after the best rotation + translation of ``found`` onto ``truth``."""
    f, t = found - found.mean(0), truth - truth.mean(0)
    u, _, vt = np.linalg.svd(f.T @ t)
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rot = (u @ d @ vt).T
    return np.asarray(np.linalg.norm(f @ rot.T - t, axis=1))


def _check_cameras(result: CalibrationResult, truth: list[Camera]) -> None:
    found = result.to_cameras()
    assert [c.name for c in found] == [c.name for c in truth]
    p_found = np.array([c.position for c in found])
    p_true = np.array([c.position for c in truth])
    base_true = _baselines(p_true)
    # the unit comes from the board's square length, so baselines are metric
    np.testing.assert_array_less(np.abs(_baselines(p_found) / base_true - 1), 0.02)
    np.testing.assert_array_less(_rigid_residuals(p_found, p_true), 0.02 * base_true.mean())
    focal_true = np.array([c.matrix[0, 0] for c in truth])
    focal = np.array([c.matrix[[0, 1], [0, 1]] for c in found])
    np.testing.assert_allclose(focal, focal_true[:, None].repeat(2, 1), rtol=0.03)


def test_rendered_charuco_corners_match_truth(
    charuco_views: BoardViews, cameras: list[Camera]
) -> None:
    aboard = CHARUCO.to_aniposelib()
    for cam in cameras:
        images = charuco_views.images[cam.name]
        assert len(images) == 18
        assert images[0].shape == (cam.size[1], cam.size[0])
        assert images[0].dtype == np.uint8
        corners, ids = aboard.detect_image(images[0])
        assert len(ids) >= 20
        truth = cam.project(charuco_views.corners(0))[ids.ravel()]
        assert np.median(np.linalg.norm(corners.reshape(-1, 2) - truth, axis=1)) < 0.5


def test_charuco_calibration_recovers_cameras(
    charuco_result: CalibrationResult, cameras: list[Camera]
) -> None:
    assert charuco_result.camera_names == ["A", "B", "C"]
    assert charuco_result.error < 0.5
    assert min(charuco_result.n_detections.values()) >= 15
    assert charuco_result.n_frames == {"A": 18, "B": 18, "C": 18}
    assert min(charuco_result.common_views.values()) >= 15
    _check_cameras(charuco_result, cameras)


def test_calibration_toml_loads_in_aniposelib(charuco_result: CalibrationResult) -> None:
    from aniposelib.cameras import CameraGroup

    assert charuco_result.path is not None
    group = CameraGroup.load(str(charuco_result.path))
    assert group.get_names() == ["A", "B", "C"]
    assert group.metadata["error"] == pytest.approx(charuco_result.error)
    for loaded, fitted in zip(group.cameras, charuco_result.camera_group.cameras):
        np.testing.assert_allclose(loaded.get_camera_matrix(), fitted.get_camera_matrix())
        np.testing.assert_allclose(loaded.get_translation(), fitted.get_translation())
        assert list(loaded.get_size()) == [640, 480]
    assert [p.name for p in charuco_result.path.parent.iterdir()] == ["calibration.toml"]


def test_checkerboard_from_image_folders(cameras: list[Camera], tmp_path: Path) -> None:
    views = render_board_views(CHECKERBOARD, cameras, n_views=15, seed=2)
    folders = views.write(tmp_path / "views")
    assert sorted(folders) == ["A", "B", "C"]
    assert len(folders["A"]) == 15 and folders["A"][0].suffix == ".png"
    result = calibrate({name: tmp_path / "views" / name for name in folders}, CHECKERBOARD,
                       tmp_path / "calibration.toml")
    assert result.sources["B"] == folders["B"]
    _check_cameras(result, cameras)


def test_calibration_from_videos(cameras: list[Camera], tmp_path: Path) -> None:
    import cv2

    views = render_board_views(CHARUCO, cameras, n_views=12, seed=5)
    videos = []
    for cam in cameras:
        path = tmp_path / f"calib-cam{cam.name}.avi"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, cam.size,
                                 False)
        for img in views.images[cam.name]:
            writer.write(img)
        writer.release()
        videos.append(path)
    result = calibrate(videos[::-1], CHARUCO, None, video_skip=1)
    assert result.path is None and not (tmp_path / "calibration.toml").exists()
    assert result.n_frames == {"A": 12, "B": 12, "C": 12}
    _check_cameras(result, cameras)


def test_calibration_is_reproducible_with_a_seed(
    charuco_views: BoardViews, capfd: pytest.CaptureFixture[str]
) -> None:
    few = {name: imgs[:8] for name, imgs in charuco_views.images.items()}
    options = {"n_iters": 2}
    first = calibrate(few, CHARUCO, None, bundle_options=options)
    assert capfd.readouterr().out == ""  # aniposelib's prints are silenced without progress
    state = np.random.get_state()[1].copy()  # noqa: NPY002
    second = calibrate(few, CHARUCO, None, bundle_options=options)
    assert first.error == second.error
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002


def test_no_board_names_the_camera(charuco_views: BoardViews, tmp_path: Path) -> None:
    images = {name: list(imgs[:6]) for name, imgs in charuco_views.images.items()}
    images["B"] = [np.full((480, 640), 128, np.uint8)] * 6
    out = tmp_path / "calibration.toml"
    with pytest.raises(CalibrationError, match=r"camera B: no calibration board.* 6 images"):
        calibrate(images, CHARUCO, out)
    assert list(tmp_path.iterdir()) == []


def test_too_few_common_views(charuco_views: BoardViews, tmp_path: Path) -> None:
    blank = np.full((480, 640), 128, np.uint8)
    images = {name: list(imgs[:6]) for name, imgs in charuco_views.images.items()}
    images["C"] = [*images["C"][:2], *[blank] * 4]
    with pytest.raises(CalibrationError, match=r"too few views.*A-C: 2.*B-C: 2"):
        calibrate(images, CHARUCO, tmp_path / "calibration.toml")
    assert list(tmp_path.iterdir()) == []


def test_input_errors(charuco_views: BoardViews, tmp_path: Path) -> None:
    (tmp_path / "calib-camA.mp4").write_bytes(b"x")
    (tmp_path / "calib-left.mp4").write_bytes(b"x")
    with pytest.raises(CalibrationError, match=r"calib-left\.mp4.*cam_regex"):
        calibrate([tmp_path / "calib-camA.mp4", tmp_path / "calib-left.mp4"], CHARUCO, None)
    with pytest.raises(CalibrationError, match="at least two cameras"):
        calibrate({"A": charuco_views.images["A"]}, CHARUCO, None)
    uneven = {"A": charuco_views.images["A"][:5], "B": charuco_views.images["B"][:4]}
    with pytest.raises(CalibrationError, match="different numbers of images"):
        calibrate(uneven, CHARUCO, None)
    with pytest.raises(FileNotFoundError):
        calibrate({"A": tmp_path / "nope", "B": tmp_path / "nope2"}, CHARUCO, None)


def test_missing_aniposelib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aniposelib", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "faceexpr\[anipose\]"'):
        CHARUCO.to_aniposelib()


def test_board_from_anipose_config() -> None:
    section = {"board_type": "charuco", "board_size": [7, 5], "board_marker_bits": 4,
               "board_marker_dict_number": 50, "board_marker_length": 22,
               "board_square_side_length": 30}
    assert board_from_anipose_config(section) == CHARUCO
    assert board_from_anipose_config({"calibration": section}) == CHARUCO
    checker = {"board_type": "checkerboard", "board_size": [8, 6],
               "board_square_side_length": 25}
    assert board_from_anipose_config(checker) == CHECKERBOARD
    with pytest.raises(CalibrationError, match="aruco"):
        board_from_anipose_config({**section, "board_type": "aruco"})
    with pytest.raises(CalibrationError, match="board_marker_length"):
        board_from_anipose_config({k: v for k, v in section.items()
                                   if k != "board_marker_length"})
    with pytest.raises(CalibrationError, match="marker_length"):
        Board.charuco(7, 5, 30, 40)
    with pytest.raises(CalibrationError, match="more than the dictionary"):
        Board.charuco(12, 10, 30, 22)


def test_calibrate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from faceexpr.cli import main

    cameras = ring_cameras(3)
    render_board_views(CHARUCO, cameras, n_views=12, seed=5).write(tmp_path / "views")
    folders = [str(tmp_path / "views" / c.name) for c in cameras]
    out = tmp_path / "calibration.toml"
    args = ["calibrate", *folders, "--cam-regex", "^([A-Z])$", "--board-size", "7", "5",
            "--square", "30", "--marker", "22", "--out", str(out), "--quiet"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "cameras A, B, C" in printed and "calibration written to" in printed
    from aniposelib.cameras import CameraGroup

    assert CameraGroup.load(str(out)).get_names() == ["A", "B", "C"]
    assert main(args) == 1  # exists: needs --overwrite
    assert "--overwrite" in capsys.readouterr().err
    assert main(["calibrate", *folders, "--out", str(tmp_path / "x.toml")]) == 1
    assert "--board-size W H and --square" in capsys.readouterr().err
