"""Tests of faceexpr.data: the pose and feature data contract."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from faceexpr.data import (
    get_fps,
    make_features,
    make_pose,
    n_spatial_dims,
    time_coords,
    validate_features,
    validate_pose,
    with_history,
)
from faceexpr.errors import InvalidFeaturesError, InvalidPoseError

LM = ["nose1", "chin", "lear"]


def pose(ndim: int = 2, n: int = 6, cameras: list[str] | None = None, **kw: object) -> xr.Dataset:
    shape: tuple[int, ...] = (n, len(LM), ndim)
    if cameras is not None:
        shape = (n, len(cameras), len(LM), ndim)
    pos = np.arange(np.prod(shape), dtype=float).reshape(shape)
    return make_pose(pos, LM, cameras=cameras, **kw)  # type: ignore[arg-type]


# --- make_pose -----------------------------------------------------------------------


def test_make_pose_dims_and_coords_with_fps() -> None:
    ds = pose(3, n=5, fps=25.0)
    assert ds["position"].dims == ("time", "landmarks", "space")
    assert ds["position"].shape == (5, 3, 3)
    assert ds["confidence"].dims == ("time", "landmarks")
    np.testing.assert_allclose(ds["time"].values, [0.0, 0.04, 0.08, 0.12, 0.16])
    np.testing.assert_array_equal(ds["frame"].values, np.arange(5))
    assert ds["frame"].dtype == np.int64
    assert list(ds["space"].values) == ["x", "y", "z"]
    assert list(ds["landmarks"].values) == LM
    assert ds.attrs["fps"] == 25.0
    assert ds["time"].attrs["units"] == "seconds"
    assert ds.attrs["faceexpr_history"] == []
    assert get_fps(ds) == 25.0
    assert n_spatial_dims(ds) == 3


def test_make_pose_without_fps_uses_frames() -> None:
    ds = pose(2, n=4)
    np.testing.assert_array_equal(ds["time"].values, [0.0, 1.0, 2.0, 3.0])
    assert ds["time"].dtype == np.float64
    assert np.isnan(ds.attrs["fps"])
    assert ds["time"].attrs["units"] == "frames"
    assert get_fps(ds) is None
    assert list(ds["space"].values) == ["x", "y"]
    assert n_spatial_dims(ds) == 2


def test_make_pose_frame_offset() -> None:
    ds = pose(2, n=4, fps=10.0, frame=[100, 101, 102, 103])
    np.testing.assert_array_equal(ds["frame"].values, [100, 101, 102, 103])
    np.testing.assert_allclose(ds["time"].values, [10.0, 10.1, 10.2, 10.3])
    ds2 = pose(2, n=3, frame=[7, 8, 9])
    np.testing.assert_array_equal(ds2["time"].values, [7.0, 8.0, 9.0])


def test_make_pose_with_cameras() -> None:
    ds = pose(2, n=3, cameras=["A", "B"])
    assert ds["position"].dims == ("time", "cameras", "landmarks", "space")
    assert ds["position"].shape == (3, 2, 3, 2)
    assert ds["confidence"].shape == (3, 2, 3)
    assert list(ds["cameras"].values) == ["A", "B"]


def test_time_coords() -> None:
    c = time_coords(3, 2.0)
    np.testing.assert_array_equal(c["time"], [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(c["frame"][1], [0, 1, 2])
    for bad in (None, float("nan"), 0.0, -5.0):
        np.testing.assert_array_equal(time_coords(3, bad)["time"], [0.0, 1.0, 2.0])


def test_default_confidence_nan_where_position_nan() -> None:
    pos = np.ones((3, 2, 2))
    pos[1, 0, 0] = np.nan  # one coordinate missing is enough
    pos[2, 1, :] = np.nan
    ds = make_pose(pos, ["a", "b"])
    expected = np.array([[1.0, 1.0], [np.nan, 1.0], [1.0, np.nan]])
    np.testing.assert_array_equal(ds["confidence"].values, expected)


def test_given_confidence_is_kept() -> None:
    conf = [[0.1, 0.2], [0.3, 0.4]]
    ds = make_pose(np.zeros((2, 2, 3)), ["a", "b"], conf)
    np.testing.assert_array_equal(ds["confidence"].values, conf)


@pytest.mark.parametrize(
    ("shape", "names", "match"),
    [
        ((4, 2), ["a", "b"], "3 axes"),
        ((4, 2, 4), ["a", "b"], "length 2 or 3, got 4"),
        ((4, 2, 2), ["a"], "2 landmarks but 1 names"),
    ],
)
def test_make_pose_bad_shapes(shape: tuple[int, ...], names: list[str], match: str) -> None:
    with pytest.raises(InvalidPoseError, match=match):
        make_pose(np.zeros(shape), names)


def test_make_pose_cameras_needs_4_axes() -> None:
    with pytest.raises(InvalidPoseError, match="4 axes"):
        make_pose(np.zeros((4, 2, 2)), ["a", "b"], cameras=["A"])


# --- validate_pose ---------------------------------------------------------------------


def test_validate_pose_returns_input() -> None:
    ds = pose()
    assert validate_pose(ds) is ds


def test_validate_pose_wrong_type() -> None:
    with pytest.raises(InvalidPoseError, match="got dict"):
        validate_pose({"position": 1})
    with pytest.raises(InvalidPoseError, match="got DataArray"):
        validate_pose(pose()["position"])


@pytest.mark.parametrize("var", ["position", "confidence"])
def test_validate_pose_missing_variable(var: str) -> None:
    with pytest.raises(InvalidPoseError, match=f"no '{var}' variable"):
        validate_pose(pose().drop_vars(var))


def test_validate_pose_wrong_dims_order() -> None:
    ds = pose()
    ds["position"] = ds["position"].transpose("landmarks", "time", "space")
    with pytest.raises(InvalidPoseError, match=r"position has dims \('landmarks', 'time'"):
        validate_pose(ds)


def test_validate_pose_wrong_confidence_dims() -> None:
    ds = pose()
    ds["confidence"] = ds["confidence"].transpose("landmarks", "time")
    with pytest.raises(InvalidPoseError, match="confidence has dims"):
        validate_pose(ds)


def test_validate_pose_bad_space() -> None:
    ds = pose().assign_coords(space=["u", "v"])
    with pytest.raises(InvalidPoseError, match=r"space coordinate is \['u', 'v'\]"):
        validate_pose(ds)
    ds3 = pose(3).assign_coords(space=["x", "z", "y"])
    with pytest.raises(InvalidPoseError, match="space coordinate"):
        validate_pose(ds3)


def test_validate_pose_integer_positions() -> None:
    ds = pose()
    ds["position"] = ds["position"].astype(np.int64)
    with pytest.raises(InvalidPoseError, match="floats"):
        validate_pose(ds)


def test_validate_pose_duplicate_landmarks() -> None:
    ds = pose().assign_coords(landmarks=["nose1", "chin", "nose1"])
    with pytest.raises(InvalidPoseError, match=r"not unique: \['nose1'\]"):
        validate_pose(ds)


def test_validate_pose_missing_frame() -> None:
    with pytest.raises(InvalidPoseError, match="'frame' coordinate"):
        validate_pose(pose().drop_vars("frame"))


def test_validate_pose_ndim_requirement() -> None:
    assert validate_pose(pose(3), ndim=3) is not None
    with pytest.raises(InvalidPoseError, match="expected 3D positions, got 2D"):
        validate_pose(pose(2), ndim=3)
    with pytest.raises(InvalidPoseError, match="expected 2D positions, got 3D"):
        validate_pose(pose(3), ndim=2)


def test_validate_pose_cameras_requirement() -> None:
    multi = pose(cameras=["A", "B"])
    single = pose()
    validate_pose(multi, cameras=True)
    validate_pose(single, cameras=False)
    with pytest.raises(InvalidPoseError, match="expected a pose with a 'cameras' dim"):
        validate_pose(single, cameras=True)
    with pytest.raises(InvalidPoseError, match=r"single-view pose.*\['A', 'B'\]"):
        validate_pose(multi, cameras=False)


def test_validate_pose_landmarks_requirement() -> None:
    validate_pose(pose(), landmarks=["chin", "nose1"])
    with pytest.raises(InvalidPoseError, match=r"lacks landmark\(s\) \['mouth', 'eye'\]"):
        validate_pose(pose(), landmarks=["chin", "mouth", "eye"])


# --- history -----------------------------------------------------------------------------


def test_with_history_appends_without_mutating() -> None:
    ds = pose()
    before = list(ds.attrs["faceexpr_history"])
    out = with_history(ds, "step1", a=1, b=np.float64(2.5), arr=np.array([1, 2]),
                       path=Path("x/y.csv"), nested={"k": (np.int64(3), None)}, flag=True)
    out2 = with_history(out, "step2")
    assert ds.attrs["faceexpr_history"] == before == []
    assert len(out.attrs["faceexpr_history"]) == 1
    assert len(out2.attrs["faceexpr_history"]) == 2
    rec = json.loads(out2.attrs["faceexpr_history"][0])
    assert rec == {"step": "step1", "a": 1, "b": 2.5, "arr": [1, 2], "path": "x/y.csv",
                   "nested": {"k": [3, None]}, "flag": True}
    assert json.loads(out2.attrs["faceexpr_history"][1]) == {"step": "step2"}
    # the other attributes are carried over, the data are equal
    assert out2.attrs["units"] == ds.attrs["units"]
    np.testing.assert_array_equal(out2["position"].values, ds["position"].values)


def test_with_history_on_object_without_history() -> None:
    ds = xr.Dataset()
    out = with_history(ds, "x")
    assert "faceexpr_history" not in ds.attrs
    assert out.attrs["faceexpr_history"] == ['{"step": "x"}']


# --- features ----------------------------------------------------------------------------


def test_make_features_coords() -> None:
    f = make_features(np.arange(6.0).reshape(3, 2), ["a", "b"])
    assert f.dims == ("time", "features")
    np.testing.assert_array_equal(f["time"].values, [0.0, 1.0, 2.0])
    assert list(f["features"].values) == ["a", "b"]
    f2 = make_features(np.zeros((2, 1)), ["a"], time=[0.5, 1.5])
    np.testing.assert_array_equal(f2["time"].values, [0.5, 1.5])
    assert validate_features(f) is f


@pytest.mark.parametrize("shape", [(3,), (3, 3), (2, 2, 2)])
def test_make_features_bad_shape(shape: tuple[int, ...]) -> None:
    with pytest.raises(InvalidFeaturesError, match=r"\(time, 2\) array"):
        make_features(np.zeros(shape), ["a", "b"])


def test_validate_features_errors() -> None:
    with pytest.raises(InvalidFeaturesError, match="got ndarray"):
        validate_features(np.zeros((3, 2)))
    f = make_features(np.zeros((3, 2)), ["a", "b"])
    with pytest.raises(InvalidFeaturesError, match="expected \\('time', 'features'\\)"):
        validate_features(f.T)
    with pytest.raises(InvalidFeaturesError, match="no columns"):
        validate_features(f.isel(features=slice(0, 0)))
    with pytest.raises(InvalidFeaturesError, match="no 'features' coordinate"):
        validate_features(f.drop_vars("features"))


def test_validate_features_names_infinite_columns() -> None:
    vals = np.zeros((4, 3))
    vals[1, 0] = np.inf
    vals[3, 2] = -np.inf
    vals[2, 1] = np.nan  # NaN is allowed
    f = make_features(vals, ["ok0", "ok1", "ok2"])
    with pytest.raises(InvalidFeaturesError, match=r"infinite values in \['ok0', 'ok2'\]"):
        validate_features(f)
    vals[1, 0] = vals[3, 2] = 0.0
    assert validate_features(make_features(vals, ["a", "b", "c"])) is not None
