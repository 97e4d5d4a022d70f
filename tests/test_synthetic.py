"""Tests of faceexpr.synthetic: simulated faces, cameras and the files they write."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tomllib
from scipy.spatial.transform import Rotation

from faceexpr.io import load_pose
from faceexpr.schemes import FACE21
from faceexpr.synthetic import (
    EXPRESSION_NAMES,
    Camera,
    expression_displacements,
    neutral_face,
    ring_cameras,
    simulate,
    sticky_chain,
)


def bout_lengths(states: np.ndarray) -> np.ndarray:
    change = np.flatnonzero(np.diff(states) != 0)
    edges = np.concatenate([[0], change + 1, [len(states)]])
    return np.diff(edges)


def test_simulate_3d_shapes() -> None:
    sim = simulate(200, n_expressions=4, seed=1)
    assert sim.pose3d["position"].shape == (200, 21, 3)
    assert list(sim.pose3d["landmarks"].values) == list(FACE21.landmarks)
    assert sim.pose3d.attrs["fps"] == 30.0 and sim.pose3d.attrs["units"] == "mm"
    assert sim.pose2d is None and sim.cameras == []
    assert sim.states.shape == (200,)
    assert set(np.unique(sim.states.values)) <= set(range(4))
    assert sim.expressions == list(EXPRESSION_NAMES[:4]) == sim.states.attrs["expressions"]
    assert sim.head_rotation.shape == (200, 3, 3) and sim.head_position.shape == (200, 3)
    np.testing.assert_allclose(sim.states["time"].values, np.arange(200) / 30.0)
    with pytest.raises(ValueError, match="no cameras"):
        sim.view(0)


def test_simulate_with_three_cameras() -> None:
    sim = simulate(150, n_cameras=3, seed=2)
    assert sim.pose2d is not None
    assert sim.pose2d["position"].shape == (150, 3, 21, 2)
    assert sim.pose2d["confidence"].shape == (150, 3, 21)
    assert list(sim.pose2d["cameras"].values) == ["A", "B", "C"]
    assert [c.name for c in sim.cameras] == ["A", "B", "C"]
    v = sim.view("B")
    assert v["position"].dims == ("time", "landmarks", "space")
    np.testing.assert_array_equal(v["position"].values, sim.pose2d["position"].values[:, 1])
    np.testing.assert_array_equal(sim.view(2)["position"].values,
                                  sim.pose2d["position"].values[:, 2])


def test_simulate_is_reproducible() -> None:
    a, b = simulate(100, seed=9), simulate(100, seed=9)
    np.testing.assert_array_equal(a.pose3d["position"].values, b.pose3d["position"].values)
    c = simulate(100, seed=10)
    assert not np.array_equal(a.states.values, c.states.values) or not np.allclose(
        a.head_position, c.head_position)


@pytest.mark.parametrize("mean_dwell_s", [0.5, 1.0])
def test_states_follow_mean_dwell(mean_dwell_s: float) -> None:
    sim = simulate(3000, n_expressions=5, mean_dwell_s=mean_dwell_s, seed=4)
    bouts = bout_lengths(sim.states.values)
    expected = mean_dwell_s * 30.0
    assert abs(bouts.mean() - expected) < 0.3 * expected
    assert len(np.unique(sim.states.values)) == 5


def test_sticky_chain_never_repeats_on_a_switch() -> None:
    rng = np.random.default_rng(0)
    states = sticky_chain(rng, 5000, 3, 10.0)
    assert abs(bout_lengths(states).mean() - 10.0) < 2.0
    assert set(np.unique(states)) == {0, 1, 2}


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_dropout_fraction(dropout: float) -> None:
    sim = simulate(1000, dropout=dropout, n_cameras=2, seed=6)
    lost3d = np.isnan(sim.pose3d["position"].values).any(-1)
    assert np.array_equal(lost3d, np.isnan(sim.pose3d["confidence"].values))
    assert abs(lost3d.mean() - dropout) < 0.01
    assert sim.pose2d is not None
    conf = sim.pose2d["confidence"].values
    assert abs((conf < 0.5).mean() - dropout) < 0.01
    # 2D dropouts keep a position, as a tracker reports them
    assert np.isfinite(sim.pose2d["position"].values).all()


def test_projection_matches_camera_project() -> None:
    sim = simulate(120, n_cameras=2, noise_mm=0.0, noise_px=0.0, dropout=0.0, seed=3)
    world = sim.pose3d["position"].values
    for i, cam in enumerate(sim.cameras):
        np.testing.assert_allclose(sim.view(i)["position"].values, cam.project(world),
                                   atol=1e-9)
    # the face is in the image
    uv = sim.view(0)["position"].values
    assert (uv > 0).all() and (uv[..., 0] < 640).all() and (uv[..., 1] < 480).all()


def test_camera_project_and_position() -> None:
    cams = ring_cameras(3)
    for i, cam in enumerate(cams):
        expected = 600.0 * np.sqrt(1.0 + (0.05 * i) ** 2)
        assert np.linalg.norm(cam.position) == pytest.approx(expected, rel=1e-9)
        np.testing.assert_allclose(cam.rotation @ cam.rotation.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(cam.rotation) == pytest.approx(1.0)
        # a point on the optical axis lands on the principal point
        axis_point = cam.position + 100.0 * cam.rotation[2]
        np.testing.assert_allclose(cam.project(axis_point), [320.0, 240.0], atol=1e-9)
    np.testing.assert_allclose(cams[0].position, 600 * np.array([np.sin(np.radians(-30)), 0,
                                                                   np.cos(np.radians(-30))]))
    k = np.array([[100.0, 0, 10], [0, 100, 20], [0, 0, 1]])
    cam = Camera("X", k, np.eye(3), np.array([0.0, 0.0, 10.0]))
    np.testing.assert_allclose(cam.project(np.array([[1.0, 2.0, 0.0]])), [[20.0, 40.0]])


def test_write_calibration_toml(tmp_path: Path) -> None:
    sim = simulate(20, n_cameras=3, seed=0)
    path = sim.write_calibration(tmp_path / "calibration.toml")
    with path.open("rb") as fh:
        calib = tomllib.load(fh)
    assert sorted(calib) == ["cam_0", "cam_1", "cam_2", "metadata"]
    assert calib["metadata"]["adjusted"] is False
    for i, cam in enumerate(sim.cameras):
        entry = calib[f"cam_{i}"]
        assert entry["name"] == cam.name
        assert entry["size"] == [640, 480]
        assert np.array(entry["matrix"]).shape == (3, 3)
        np.testing.assert_array_equal(entry["matrix"], cam.matrix)
        assert entry["distortions"] == [0.0] * 5
        rot = Rotation.from_rotvec(entry["rotation"]).as_matrix()
        np.testing.assert_allclose(rot, cam.rotation, atol=1e-12)
        np.testing.assert_allclose(entry["translation"], cam.translation, atol=1e-12)


def test_anipose_csv_round_trip(tmp_path: Path) -> None:
    sim = simulate(60, dropout=0.05, seed=8)
    path = sim.write_anipose_csv(tmp_path / "face.csv")
    back = load_pose(path, fps=30.0)
    orig = sim.pose3d["position"].values
    assert np.isnan(orig).any()
    np.testing.assert_allclose(back["position"].values, orig, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(np.isnan(back["position"].values), np.isnan(orig))
    assert list(back["landmarks"].values) == list(sim.pose3d["landmarks"].values)
    np.testing.assert_array_equal(back["frame"].values, np.arange(60))


@pytest.mark.parametrize("suffix", [".h5", ".csv"])
def test_dlc_round_trip(tmp_path: Path, suffix: str) -> None:
    sim = simulate(40, n_cameras=2, dropout=0.05, seed=8)
    assert sim.pose2d is not None
    pos = sim.pose2d["position"].values.copy()
    pos[[2, 7], 1, [0, 5]] = np.nan  # camera B loses two points
    sim.pose2d = sim.pose2d.assign(position=sim.pose2d["position"].copy(data=pos))
    path = sim.write_dlc(tmp_path / f"B{suffix}", camera="B")
    back = load_pose(path)
    np.testing.assert_allclose(back["position"].values, pos[:, 1], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(np.isnan(back["position"].values), np.isnan(pos[:, 1]))
    np.testing.assert_allclose(back["confidence"].values,
                               sim.pose2d["confidence"].values[:, 1], atol=1e-9)
    assert list(back["landmarks"].values) == list(sim.pose2d["landmarks"].values)


def test_neutral_face_and_expressions() -> None:
    names, face = neutral_face()
    assert names == list(FACE21.landmarks) and face.shape == (21, 3)
    disp = expression_displacements(9)
    assert disp.shape == (9, 21, 3)
    assert (disp[0] == 0).all()  # neutral
    smile = disp[EXPRESSION_NAMES.index("smile")]
    np.testing.assert_array_equal(smile[names.index("llip")], [7, 6, -3])
    assert all(np.abs(disp[k]).max() > 0 for k in range(1, 9))


@pytest.mark.parametrize("n", [0, -1, 10])
def test_invalid_n_expressions(n: int) -> None:
    with pytest.raises(ValueError, match=r"n_expressions must be in 1\.\.9"):
        simulate(50, n_expressions=n)
    with pytest.raises(ValueError, match="n_expressions"):
        expression_displacements(n)


def test_invalid_n_frames() -> None:
    with pytest.raises(ValueError, match="n_frames must be >= 2"):
        simulate(1)
