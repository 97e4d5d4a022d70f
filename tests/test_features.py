"""Tests of faceexpr.features: head kinematics, feature matrices, scaling and PCA."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from faceexpr.data import make_features, make_pose
from faceexpr.errors import InvalidFeaturesError, InvalidPoseError
from faceexpr.features import (
    Standardizer,
    feature_matrix,
    head_kinematics,
    reduce_pca,
    standardize,
)
from faceexpr.preprocess import egocentric

NAMES = ["nose1", "nose2", "chin", "lear"]
FACE = np.array([[0.0, 40, 14], [0, 0, 34], [0, -66, 16], [75, 10, -62]])


def moving_pose(head: np.ndarray, fps: float | None = 30.0, wiggle: bool = False) -> xr.Dataset:
    """The rigid FACE translated by ``head`` ``(T, 3)``, optionally with a moving chin."""
    pos = FACE[None] + head[:, None, :]
    if wiggle:
        pos[:, 2, 1] += np.sin(np.arange(len(head)) / 3.0) * 4
    return make_pose(pos, NAMES, fps=fps, units="mm")


V = np.array([0.3, -0.2, 0.1])


def constant_velocity(n: int = 40) -> np.ndarray:
    return np.arange(n)[:, None] * V + np.array([5.0, 6.0, 7.0])


@pytest.mark.parametrize("fps", [30.0, 120.0])
def test_constant_velocity_head(fps: float) -> None:
    ego = egocentric(moving_pose(constant_velocity(), fps), "nose1", align=False)
    kin = head_kinematics(ego)
    np.testing.assert_allclose(kin["head_velocity"].values,
                               np.broadcast_to(V * fps, (40, 3)), rtol=0, atol=1e-9)
    np.testing.assert_allclose(kin["head_acceleration"].values, 0.0, atol=1e-7)
    np.testing.assert_allclose(kin["head_speed"].values, np.linalg.norm(V) * fps, atol=1e-9)
    np.testing.assert_allclose(kin["head_position"].values, constant_velocity() + FACE[0])
    assert kin.attrs["time_unit"] == "s"
    assert kin.attrs["fps"] == fps
    assert kin.attrs["units"] == "mm"
    assert "head_angular_speed" not in kin


def test_without_fps_units_are_per_frame() -> None:
    ego = egocentric(moving_pose(constant_velocity(), None), "nose1", align=False)
    kin = head_kinematics(ego)
    np.testing.assert_allclose(kin["head_velocity"].values, np.broadcast_to(V, (40, 3)),
                               atol=1e-9)
    np.testing.assert_allclose(kin["head_speed"].values, np.linalg.norm(V), atol=1e-9)
    assert kin.attrs["time_unit"] == "frame"
    assert np.isnan(kin.attrs["fps"])


def test_constant_acceleration_head() -> None:
    a = np.array([0.02, 0.0, -0.01])  # per frame²
    t = np.arange(30)[:, None]
    head = 0.5 * a * t**2
    kin = head_kinematics(egocentric(moving_pose(head, 10.0), "nose1", align=False))
    np.testing.assert_allclose(kin["head_acceleration"].values,
                               np.broadcast_to(a * 100.0, (30, 3)), atol=1e-8)
    np.testing.assert_allclose(kin["head_velocity"].values, a * t * 10.0, atol=1e-8)


def test_kinematics_gap_stays_nan() -> None:
    pose = moving_pose(constant_velocity(40))
    pos = pose["position"].values.copy()
    pos[20] = np.nan
    pose = make_pose(pos, NAMES, fps=30.0)
    kin = head_kinematics(egocentric(pose, "nose1", align=False))
    vel = kin["head_velocity"].values
    assert np.isnan(vel[20]).all()
    assert np.isfinite(np.delete(vel, 20, axis=0)).all()
    np.testing.assert_allclose(np.delete(vel, 20, axis=0), np.broadcast_to(V * 30.0, (39, 3)),
                               atol=1e-9)


def test_kinematics_short_segment_is_not_a_position() -> None:
    pose = moving_pose(constant_velocity(20))
    pos = pose["position"].values.copy()
    pos[3] = np.nan  # frames 0..2 form a run shorter than the window (7)
    kin = head_kinematics(egocentric(make_pose(pos, NAMES, fps=30.0), "nose1", align=False))
    vel = kin["head_velocity"].values[:3]
    # either NaN (unknown) or the true velocity; never the head position
    assert np.isnan(vel).all() or np.allclose(vel, V * 30.0)


def test_rigid_translation_has_no_angular_speed() -> None:
    ego = egocentric(moving_pose(constant_velocity()), "nose1")
    kin = head_kinematics(ego)
    assert "head_angles" in kin
    np.testing.assert_allclose(kin["head_angular_speed"].values, 0.0, atol=1e-6)


def test_angular_speed_survives_a_missing_frame() -> None:
    pose = moving_pose(constant_velocity(40))
    pos = pose["position"].values.copy()
    pos[10] = np.nan  # one frame without landmarks: no angle there
    ego = egocentric(make_pose(pos, NAMES, fps=30.0), "nose1")
    speed = head_kinematics(ego)["head_angular_speed"].values
    assert np.isnan(speed[10])
    # the frames after the gap keep their (zero) angular speed instead of NaN
    assert np.isfinite(speed[20:]).all()
    np.testing.assert_allclose(speed[20:], 0.0, atol=1e-6)


def test_kinematics_needs_egocentric() -> None:
    with pytest.raises(InvalidPoseError, match="no 'head_position'"):
        head_kinematics(moving_pose(constant_velocity()))


# --- feature_matrix ------------------------------------------------------------------------


def wiggly_ego() -> xr.Dataset:
    rng = np.random.default_rng(0)
    head = np.cumsum(rng.normal(size=(50, 3)), axis=0)
    return egocentric(moving_pose(head, wiggle=True), "nose1", align=False)


def test_feature_matrix_names_and_values() -> None:
    ego = wiggly_ego()
    full = feature_matrix(ego, drop_constant=False)
    assert list(full["features"].values) == [f"{lm}_{ax}" for lm in NAMES for ax in "xyz"]
    np.testing.assert_array_equal(full.values, ego["position"].values.reshape(50, 12))
    np.testing.assert_array_equal(full["time"].values, ego["time"].values)
    assert full.attrs["fps"] == 30.0
    # only the chin's y moves relative to nose1: everything else is constant
    dropped = feature_matrix(ego)
    assert list(dropped["features"].values) == ["chin_y"]
    np.testing.assert_array_equal(dropped.values[:, 0], ego["position"].values[:, 2, 1])


def test_feature_matrix_drops_reference_columns() -> None:
    rng = np.random.default_rng(1)
    pos = rng.normal(size=(30, 4, 2))
    ego = egocentric(make_pose(pos, NAMES), "nose2", align=False)
    f = feature_matrix(ego)
    names = list(f["features"].values)
    assert "nose2_x" not in names and "nose2_y" not in names
    assert names == ["nose1_x", "nose1_y", "chin_x", "chin_y", "lear_x", "lear_y"]


def test_feature_matrix_landmark_subset() -> None:
    ego = wiggly_ego()
    f = feature_matrix(ego, landmarks=["lear", "nose2"], drop_constant=False)
    assert list(f["features"].values) == ["lear_x", "lear_y", "lear_z",
                                          "nose2_x", "nose2_y", "nose2_z"]
    with pytest.raises(InvalidPoseError, match="lacks landmark"):
        feature_matrix(ego, landmarks=["tail"])


def test_feature_matrix_appends_kinematics() -> None:
    ego = wiggly_ego()
    kin = head_kinematics(ego)
    f = feature_matrix(ego, kinematics=kin)
    assert list(f["features"].values) == ["chin_y", "head_speed"]
    np.testing.assert_array_equal(f.sel(features="head_speed").values, kin["head_speed"].values)
    g = feature_matrix(ego, kinematics=kin, kinematic_features=())
    assert list(g["features"].values) == ["chin_y"]


@pytest.mark.parametrize("name", ["bogus", "head_velocity"])
def test_feature_matrix_unknown_kinematic_feature(name: str) -> None:
    ego = wiggly_ego()
    with pytest.raises(InvalidFeaturesError, match=f"no scalar variable '{name}'"):
        feature_matrix(ego, kinematics=head_kinematics(ego), kinematic_features=[name])


def test_feature_matrix_keeps_nan_columns_that_vary() -> None:
    ego = wiggly_ego()
    pos = ego["position"].values.copy()
    pos[3, 2, 1] = np.nan
    f = feature_matrix(ego.assign(position=ego["position"].copy(data=pos)))
    assert list(f["features"].values) == ["chin_y"]
    assert np.isnan(f.values[3, 0]) and np.isfinite(np.delete(f.values, 3)).all()


# --- Standardizer, PCA -------------------------------------------------------------------


def two_sequences() -> list[xr.DataArray]:
    rng = np.random.default_rng(3)
    a = np.column_stack([rng.normal(10, 2, 40), rng.normal(-5, 0.5, 40), np.full(40, 7.0)])
    b = np.column_stack([rng.normal(20, 1, 25), rng.normal(0, 3, 25), np.full(25, 7.0)])
    a[5, 0] = np.nan
    return [make_features(a, ["f", "g", "const"]), make_features(b, ["f", "g", "const"])]


def test_standardizer_pooled_statistics() -> None:
    seqs = two_sequences()
    out = standardize(seqs)
    stacked = np.concatenate([o.values for o in out])
    np.testing.assert_allclose(np.nanmean(stacked, 0), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.nanstd(stacked[:, :2], 0), 1.0, atol=1e-12)
    np.testing.assert_array_equal(stacked[:, 2], 0.0)  # constant: 0, not NaN
    assert np.isnan(out[0].values[5, 0])
    assert np.isnan(stacked).sum() == 1
    # pooled, not per sequence: the sequences keep their different means
    assert np.nanmean(out[0].values[:, 0]) < -0.5 < 0.5 < np.nanmean(out[1].values[:, 0])
    assert out[0].attrs["standardized"] == 1
    assert list(out[1]["features"].values) == ["f", "g", "const"]


def test_standardizer_fit_transform_values() -> None:
    seqs = two_sequences()
    sc = Standardizer().fit(seqs)
    raw = np.concatenate([s.values for s in seqs])
    np.testing.assert_allclose(sc.mean_, np.nanmean(raw, 0))
    np.testing.assert_allclose(sc.scale_[:2], np.nanstd(raw, 0)[:2])
    assert sc.scale_[2] == 1.0
    assert sc.names_ == ["f", "g", "const"]
    new = make_features([[sc.mean_[0] + 2 * sc.scale_[0], sc.mean_[1], 8.0]],
                        ["f", "g", "const"])
    np.testing.assert_allclose(sc.transform(new).values, [[2.0, 0.0, 1.0]])


def test_reduce_pca_components_and_nan_rows() -> None:
    rng = np.random.default_rng(5)
    latent = rng.normal(size=(60, 2)) * [5.0, 2.0]
    mixing = rng.normal(size=(2, 4))
    x = latent @ mixing + rng.normal(size=(60, 4)) * 1e-3
    x[[3, 40], 1] = np.nan
    seqs = [make_features(x[:35], list("abcd")), make_features(x[35:], list("abcd"))]
    out, pca = reduce_pca(seqs, 2)
    assert pca.n_components_ == 2
    assert [o.shape for o in out] == [(35, 2), (25, 2)]
    assert list(out[0]["features"].values) == ["pc1", "pc2"]
    assert np.isnan(out[0].values[3]).all() and np.isnan(out[1].values[5]).all()
    assert np.isnan(np.concatenate([o.values for o in out])).sum() == 4
    ok = np.isfinite(x).all(1)
    np.testing.assert_allclose(np.concatenate([o.values for o in out])[ok],
                               pca.transform(x[ok]), atol=1e-12)
    np.testing.assert_array_equal(out[1]["time"].values, seqs[1]["time"].values)
    # a variance fraction picks the rank of the data
    _, pca99 = reduce_pca(seqs, 0.99)
    assert pca99.n_components_ == 2
    out1, _ = reduce_pca(seqs, 1)
    assert out1[0].shape == (35, 1)


def test_reduce_pca_needs_two_finite_rows() -> None:
    x = np.full((5, 2), np.nan)
    x[0] = 1.0
    with pytest.raises(InvalidFeaturesError, match="at least 2 frames"):
        reduce_pca([make_features(x, ["a", "b"])], 1)
