"""Conversion to and from the movement package's Datasets, and its netCDF files.

The tests without a marker need no movement installation: they build movement's layouts
(0.15's plural dims and 0.17's singular ones) by hand. Those marked ``movement`` round-trip
through the real package (``nox -s movement``; left out of the default run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

import faceexpr as fe
from faceexpr.backends.movement import MovementFormat, from_movement_file, to_movement_file
from faceexpr.data import make_pose, with_history
from faceexpr.errors import FileFormatError, InvalidPoseError
from faceexpr.io import detect_format, from_movement, load_pose, save_pose, to_movement
from faceexpr.io.movement import Layout
from faceexpr.registry import pose_format

LANDMARKS = ["nose1", "chin", "brow left", "mouth_corner"]
LAYOUT_DIMS = {"singular": ("keypoint", "individual"), "plural": ("keypoints", "individuals")}


def random_pose(ndim: int = 2, n_frames: int = 12, seed: int = 0, first_frame: int = 0,
                cameras: list[str] | None = None, fps: float | None = 30.0) -> xr.Dataset:
    """Random positions with some NaN; confidence NaN where the position is unknown."""
    rng = np.random.default_rng(seed)
    shape: tuple[int, ...] = (n_frames, len(LANDMARKS), ndim)
    if cameras is not None:
        shape = (n_frames, len(cameras), len(LANDMARKS), ndim)
    position = rng.normal(100.0, 30.0, size=shape)
    position[rng.random(shape[:-1]) < 0.2] = np.nan
    confidence = np.where(np.isfinite(position).all(-1), rng.random(shape[:-1]), np.nan)
    pose = make_pose(position, LANDMARKS, confidence, cameras=cameras, fps=fps,
                     frame=np.arange(first_frame, first_frame + n_frames),
                     source_software="DeepLabCut", source_files=["video1DLC.h5"])
    return with_history(pose, "test", seed=seed)


def assert_same_pose(actual: xr.Dataset, expected: xr.Dataset) -> None:
    """Same numbers, names, frames, times and attributes (NaN equal to NaN)."""
    assert actual["position"].dims == expected["position"].dims
    np.testing.assert_array_equal(actual["position"].values, expected["position"].values)
    np.testing.assert_array_equal(actual["confidence"].values, expected["confidence"].values)
    for coord in ("landmarks", "space", "frame", "time", "cameras"):
        if coord in expected.coords:
            np.testing.assert_array_equal(actual[coord].values, expected[coord].values)
        else:
            assert coord not in actual.coords
    assert actual["frame"].dtype == np.int64
    for key in ("source_software", "source_files", "units", "faceexpr_history"):
        assert actual.attrs[key] == expected.attrs[key], key
    np.testing.assert_equal(actual.attrs["fps"], expected.attrs["fps"])
    assert actual["time"].attrs["units"] == expected["time"].attrs["units"]


def movement_dataset(layout: str = "plural", n_frames: int = 6, individuals: tuple[str, ...] = (
        "mouse",), fps: float | None = None, views: tuple[str, ...] = (),
        **attrs: Any) -> xr.Dataset:
    """A poses Dataset built the way movement builds one (float32, view dim first)."""
    kp, ind = LAYOUT_DIMS[layout]
    rng = np.random.default_rng(3)
    shape = (*(len(views),) * bool(views), n_frames, 2, 3, len(individuals))
    position = rng.random(shape).astype(np.float32)
    confidence = np.full(shape[:-3] + shape[-2:], np.nan, dtype=np.float32)
    lead = ("view",) if views else ()
    coords: dict[str, Any] = {
        "time": (np.arange(n_frames) / fps if fps else np.arange(n_frames)),
        "space": ["x", "y"], kp: ["snout", "ear", "tail"], ind: list(individuals)}
    if views:
        coords["view"] = list(views)
    base: dict[str, Any] = {"source_software": "SLEAP", "ds_type": "poses",
                            "time_unit": "seconds" if fps else "frames"}
    if fps:
        base["fps"] = fps
    return xr.Dataset(
        {"position": ((*lead, "time", "space", kp, ind), position),
         "confidence": ((*lead, "time", kp, ind), confidence)},
        coords=coords, attrs={**base, **attrs})


# --- to_movement / from_movement, no movement package needed ----------------------------


@pytest.mark.parametrize("layout", ["singular", "plural"])
def test_to_movement_layout(layout: Layout) -> None:
    pose = random_pose(first_frame=4)
    ds = to_movement(pose, individual="face", layout=layout)
    kp, ind = LAYOUT_DIMS[layout]
    assert ds["position"].dims == ("time", "space", kp, ind)
    assert ds["confidence"].dims == ("time", kp, ind)
    assert list(ds[kp].values) == LANDMARKS
    assert list(ds[ind].values) == ["face"]
    assert list(ds["space"].values) == ["x", "y"]
    np.testing.assert_array_equal(ds["position"].values[..., 0],
                                  pose["position"].transpose("time", "space", "landmarks"))
    np.testing.assert_array_equal(ds["confidence"].values[..., 0], pose["confidence"].values)
    np.testing.assert_array_equal(ds["time"].values, np.arange(4, 16) / 30.0)
    np.testing.assert_array_equal(ds["frame"].values, np.arange(4, 16))
    assert ds.attrs["ds_type"] == "poses"
    assert ds.attrs["time_unit"] == "seconds"
    assert ds.attrs["fps"] == 30.0
    assert ds.attrs["source_software"] == "DeepLabCut"
    assert ds.attrs["source_file"] == "video1DLC.h5"
    assert "units" not in ds["time"].attrs  # movement's time has no units to decode


def test_to_movement_without_fps_counts_frames() -> None:
    ds = to_movement(random_pose(fps=None, first_frame=7))
    assert ds.attrs["time_unit"] == "frames"
    assert "fps" not in ds.attrs
    assert ds["time"].dtype == np.int64
    np.testing.assert_array_equal(ds["time"].values, np.arange(7, 19))


def test_to_movement_cameras_become_a_leading_view_dim() -> None:
    pose = random_pose(cameras=["cam1", "cam2"])
    ds = to_movement(pose)
    assert ds["position"].dims == ("view", "time", "space", "keypoint", "individual")
    assert ds["confidence"].dims == ("view", "time", "keypoint", "individual")
    assert list(ds["view"].values) == ["cam1", "cam2"]
    np.testing.assert_array_equal(
        ds["position"].sel(view="cam2", individual="individual_0").transpose(
            "time", "keypoint", "space").values,
        pose["position"].sel(cameras="cam2").values)


@pytest.mark.parametrize("layout", ["singular", "plural"])
@pytest.mark.parametrize("ndim,cameras", [(2, None), (3, None), (2, ["left", "right"])])
@pytest.mark.parametrize("fps", [30.0, None])
def test_round_trip(layout: Layout, ndim: int, cameras: list[str] | None,
                    fps: float | None) -> None:
    pose = random_pose(ndim=ndim, cameras=cameras, fps=fps, first_frame=100)
    back = from_movement(to_movement(pose, layout=layout))
    assert_same_pose(back, pose)
    assert np.isnan(back["position"].values).any()  # NaNs kept, not dropped
    assert np.isnan(back["confidence"].values).any()


def test_from_movement_015_style_dataset() -> None:
    """float32, int frame times, no fps, NaN confidence, no frame coordinate."""
    ds = movement_dataset("plural", source_file="/data/mouse.slp")
    pose = from_movement(ds)
    assert pose["position"].dims == ("time", "landmarks", "space")
    assert pose["position"].dtype == np.float64
    np.testing.assert_array_equal(pose["position"].values,
                                  ds["position"].values[..., 0].transpose(0, 2, 1))
    assert np.isnan(pose["confidence"].values).all()
    assert list(pose["landmarks"].values) == ["snout", "ear", "tail"]
    np.testing.assert_array_equal(pose["frame"].values, np.arange(6))
    np.testing.assert_array_equal(pose["time"].values, np.arange(6.0))
    assert np.isnan(pose.attrs["fps"])
    assert pose.attrs["source_software"] == "SLEAP"
    assert pose.attrs["source_files"] == ["/data/mouse.slp"]
    assert pose.attrs["faceexpr_history"] == []


def test_from_movement_seconds_give_frames() -> None:
    ds = movement_dataset("singular", fps=25.0, log='[{"operation": "filter"}]')
    pose = from_movement(ds)
    assert pose.attrs["fps"] == 25.0
    np.testing.assert_array_equal(pose["frame"].values, np.arange(6))
    np.testing.assert_allclose(pose["time"].values, np.arange(6) / 25.0)
    assert pose.attrs["log"] == '[{"operation": "filter"}]'  # movement's own kept


def test_from_movement_seconds_without_fps() -> None:
    ds = movement_dataset("singular", fps=50.0)
    del ds.attrs["fps"]
    pose = from_movement(ds)  # the rate of a regular time step
    assert pose.attrs["fps"] == pytest.approx(50.0)
    np.testing.assert_array_equal(pose["frame"].values, np.arange(6))
    assert from_movement(ds, fps=50.0).attrs["fps"] == 50.0
    ds = ds.assign_coords(time=[0.0, 0.02, 0.05, 0.06, 0.1, 0.2])
    with pytest.raises(InvalidPoseError, match=r"no fps attribute.*give fps="):
        from_movement(ds)


def test_from_movement_fps_option_sets_time() -> None:
    pose = from_movement(movement_dataset("plural"), fps=10.0)
    assert pose.attrs["fps"] == 10.0
    np.testing.assert_allclose(pose["time"].values, np.arange(6) / 10.0)
    with pytest.raises(InvalidPoseError, match="fps must be a positive"):
        from_movement(movement_dataset("plural"), fps=-1.0)


@pytest.mark.parametrize("layout", ["singular", "plural"])
def test_from_movement_view_dim_becomes_cameras(layout: str) -> None:
    ds = movement_dataset(layout, views=("top", "side"))
    pose = from_movement(ds)
    assert pose["position"].dims == ("time", "cameras", "landmarks", "space")
    assert list(pose["cameras"].values) == ["top", "side"]
    np.testing.assert_array_equal(pose["position"].sel(cameras="side").values,
                                  ds["position"].values[1, ..., 0].transpose(0, 2, 1))


def test_from_movement_dims_in_any_order_and_space_labels() -> None:
    ds = movement_dataset("singular")
    shuffled = ds.transpose("individual", "keypoint", "space", "time").isel(space=[1, 0])
    np.testing.assert_array_equal(from_movement(shuffled)["position"].values,
                                  from_movement(ds)["position"].values)


def test_several_individuals() -> None:
    ds = movement_dataset("plural", individuals=("Alice", "Bob"))
    with pytest.raises(InvalidPoseError, match=r"2 individuals \(\['Alice', 'Bob'\]\); "
                                                "choose one with individual="):
        from_movement(ds)
    bob = from_movement(ds, individual="Bob")
    np.testing.assert_array_equal(bob["position"].values,
                                  ds["position"].values[..., 1].transpose(0, 2, 1))
    with pytest.raises(InvalidPoseError, match=r"'Carol' is not .* \['Alice', 'Bob'\]"):
        from_movement(ds, individual="Carol")
    # after ds.sel(individuals=...) the dim is gone: one individual, named by a scalar
    alice = ds.sel(individuals="Alice")
    assert from_movement(alice, individual="Alice")["position"].shape == (6, 3, 2)
    with pytest.raises(InvalidPoseError, match="holds individual 'Alice' only"):
        from_movement(alice, individual="Bob")


@pytest.mark.parametrize("change,match", [
    (lambda ds: ds.rename(keypoints="bodyparts"),
     r"without a keypoint dim: expected 'keypoint' \(movement 0.17 and later\) or "
     r"'keypoints' \(movement 0.16 and earlier\)"),
    (lambda ds: ds.isel(time=0), "without a 'time' dim"),
    (lambda ds: ds.drop_vars("position"), "no 'position' variable"),
    (lambda ds: ds.assign_attrs(ds_type="bboxes"), "holds 'bboxes'.*expected ds_type 'poses'"),
    (lambda ds: ds.expand_dims(session=2), r"unexpected dim\(s\) \['session'\]"),
    (lambda ds: ds.assign_coords(space=["x", "q"]), r"space coordinate is \['x', 'q'\]"),
    (lambda ds: ds.assign(confidence=ds["confidence"].isel(keypoints=0)),
     "confidence has dims"),
])
def test_from_movement_errors(change: Any, match: str) -> None:
    with pytest.raises(InvalidPoseError, match=match):
        from_movement(change(movement_dataset("plural")))


def test_from_movement_without_confidence_gives_nan() -> None:
    pose = from_movement(movement_dataset("singular").drop_vars("confidence"))
    assert np.isnan(pose["confidence"].values).all()
    assert pose["confidence"].shape == (6, 3)


def test_to_movement_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="layout must be one of"):
        to_movement(random_pose(), layout="dual")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-empty name"):
        to_movement(random_pose(), individual="")
    with pytest.raises(InvalidPoseError):
        to_movement(movement_dataset())


# --- the "movement" pose format: .nc files beside faceexpr's own -----------------------


@pytest.mark.parametrize("cameras", [None, ["cam1", "cam2"]])
def test_format_round_trip_and_detection(tmp_path: Path, cameras: list[str] | None) -> None:
    pose = random_pose(ndim=2 if cameras else 3, cameras=cameras, first_frame=3)
    save_pose(pose, tmp_path / "m.nc", format="movement")
    fe.io.save_pose(pose, tmp_path / "f.nc", format="netcdf")
    assert detect_format(tmp_path / "m.nc").name == "movement"
    assert detect_format(tmp_path / "f.nc").name == "netcdf"
    back = load_pose(tmp_path / "m.nc")
    assert_same_pose(back, pose)
    assert "schema_version" not in back.attrs  # faceexpr's file layout, not movement's
    assert_same_pose(load_pose(tmp_path / "f.nc"), pose)
    assert not pose_format("netcdf").sniff(tmp_path / "m.nc")
    assert not MovementFormat.sniff(tmp_path / "f.nc")
    with xr.open_dataset(tmp_path / "m.nc", engine="h5netcdf") as opened:
        assert "keypoint" in opened.dims and "landmarks" not in opened.dims
        assert opened.attrs["ds_type"] == "poses"


def test_save_pose_auto_nc_is_faceexpr_netcdf(tmp_path: Path) -> None:
    pose = random_pose()
    save_pose(pose, tmp_path / "auto.nc")  # netcdf's write_priority wins over movement's
    assert detect_format(tmp_path / "auto.nc").name == "netcdf"
    save_pose(pose.assign_attrs(source_software="movement"), tmp_path / "from_movement.nc")
    assert detect_format(tmp_path / "from_movement.nc").name == "movement"


def test_plural_file_and_reader_options(tmp_path: Path) -> None:
    pose = random_pose(fps=None)
    to_movement_file(pose, tmp_path / "old.nc", individual="face", layout="plural")
    with xr.open_dataset(tmp_path / "old.nc", engine="h5netcdf") as opened:
        assert opened["position"].dims == ("time", "space", "keypoints", "individuals")
    assert_same_pose(load_pose(tmp_path / "old.nc"), pose)
    assert_same_pose(from_movement_file(tmp_path / "old.nc", individual="face"), pose)
    assert load_pose(tmp_path / "old.nc", fps=20.0).attrs["fps"] == 20.0
    with pytest.raises(TypeError, match="individual and fps"):
        load_pose(tmp_path / "old.nc", face_id=1)


def test_file_written_by_xarray(tmp_path: Path) -> None:
    """A movement Dataset saved the way movement users do (ds.to_netcdf)."""
    path = tmp_path / "sleap.nc"
    movement_dataset("plural", individuals=("Alice", "Bob"), fps=30.0).to_netcdf(
        path, engine="h5netcdf")
    with pytest.raises(FileFormatError, match=r"sleap.nc: .*\['Alice', 'Bob'\]"):
        load_pose(path)
    pose = load_pose(path, individual="Alice")
    assert pose.attrs["source_files"] == [str(path)]
    assert pose.attrs["source_software"] == "SLEAP"
    assert pose.attrs["fps"] == 30.0


def test_to_movement_saved_by_plain_xarray(tmp_path: Path) -> None:
    """Lists in attributes survive a file that xarray wrote without faceexpr's help."""
    pose = random_pose()
    to_movement(pose).to_netcdf(tmp_path / "plain.nc", engine="h5netcdf")
    assert_same_pose(load_pose(tmp_path / "plain.nc"), pose)
    to_movement(make_pose(np.zeros((3, 2, 2)), ["a", "b"])).to_netcdf(
        tmp_path / "bare.nc", engine="h5netcdf")
    bare = load_pose(tmp_path / "bare.nc")
    assert bare.attrs["source_files"] == [str(tmp_path / "bare.nc")]
    assert bare.attrs["faceexpr_history"] == []


def test_format_can_write_every_pose() -> None:
    assert MovementFormat.can_write(random_pose(ndim=3))
    assert MovementFormat.can_write(random_pose(cameras=["a", "b"]))
    assert not MovementFormat.can_write(movement_dataset())


def test_not_a_movement_file(tmp_path: Path) -> None:
    (tmp_path / "x.nc").write_bytes(b"CDF\x01 not really")
    assert not MovementFormat.sniff(tmp_path / "x.nc")
    with pytest.raises(FileFormatError):
        load_pose(tmp_path / "x.nc", format="movement")


# --- through the real movement package (nox -s movement) ------------------------------


def _movement_layout() -> tuple[Any, Layout]:
    """movement's pose validator and the layout it expects, read from its dim names."""
    pytest.importorskip("movement")
    from movement.validators.datasets import ValidPosesInputs

    layout: Layout = "plural" if "keypoints" in ValidPosesInputs.DIM_NAMES else "singular"
    return ValidPosesInputs, layout


@pytest.mark.movement
def test_movement_validates_and_builds_the_same_dataset() -> None:
    valid, layout = _movement_layout()
    from movement.io import load_poses

    pose = random_pose(fps=30.0)
    ours = to_movement(pose, individual="face", layout=layout)
    valid.validate(ours)
    kp, ind = LAYOUT_DIMS[layout]
    theirs = load_poses.from_numpy(
        position_array=ours["position"].values, confidence_array=ours["confidence"].values,
        individual_names=["face"], keypoint_names=LANDMARKS, fps=30.0,
        source_software="DeepLabCut")
    assert theirs["position"].dims == ours["position"].dims
    np.testing.assert_array_equal(theirs["position"].values, ours["position"].values)
    np.testing.assert_array_equal(theirs["confidence"].values, ours["confidence"].values)
    np.testing.assert_allclose(theirs["time"].values, ours["time"].values)
    for key in ("ds_type", "time_unit", "fps", "source_software"):
        assert theirs.attrs[key] == ours.attrs[key], key
    assert list(theirs[kp].values) == list(ours[kp].values)
    assert list(theirs[ind].values) == ["face"]


@pytest.mark.movement
def test_movement_loads_our_file(tmp_path: Path) -> None:
    """The way movement (its napari loader) opens a netCDF file: open, ds_type, validate."""
    valid, layout = _movement_layout()
    pose = random_pose(ndim=3, fps=None, first_frame=10)
    path = tmp_path / "face.nc"
    to_movement_file(pose, path, layout=layout)
    with xr.open_dataset(path) as ds:  # movement's default engine (netCDF4)
        assert ds.attrs["ds_type"] == "poses"
        valid.validate(ds)
        kp = LAYOUT_DIMS[layout][0]
        np.testing.assert_array_equal(
            ds["position"].isel({LAYOUT_DIMS[layout][1]: 0}).transpose("time", kp, "space"),
            pose["position"].values)
        np.testing.assert_array_equal(ds["time"].values, np.arange(10, 22))
    if layout == "singular":  # what save_pose(format="movement") writes
        save_pose(pose, tmp_path / "default.nc", format="movement")
        with xr.open_dataset(tmp_path / "default.nc") as ds:
            valid.validate(ds)


@pytest.mark.movement
def test_movement_from_numpy_to_faceexpr(tmp_path: Path) -> None:
    _movement_layout()
    from movement.io import load_poses

    rng = np.random.default_rng(7)
    position = rng.random((20, 3, 4, 2))  # time, space, keypoints, individuals
    position[3, :, 1, 0] = np.nan
    confidence = rng.random((20, 4, 2))
    ds = load_poses.from_numpy(position, confidence, individual_names=["Alice", "Bob"],
                               keypoint_names=["a", "b", "c", "d"], fps=25.0,
                               source_software="DeepLabCut")
    with pytest.raises(InvalidPoseError, match="Alice"):
        from_movement(ds)
    pose = from_movement(ds, individual="Bob")
    np.testing.assert_array_equal(pose["position"].values, position[..., 1].transpose(0, 2, 1))
    np.testing.assert_array_equal(pose["confidence"].values, confidence[..., 1])
    np.testing.assert_array_equal(pose["frame"].values, np.arange(20))
    np.testing.assert_allclose(pose["time"].values, np.arange(20) / 25.0)
    assert pose.attrs["fps"] == 25.0 and pose.attrs["source_software"] == "DeepLabCut"
    assert pose["space"].values.tolist() == ["x", "y", "z"]
    # no confidence given: movement fills NaN, faceexpr keeps it
    unknown = from_movement(load_poses.from_numpy(position[..., :1]))
    assert np.isnan(unknown["confidence"].values).all()
    assert np.isnan(unknown.attrs["fps"])
    # a file movement saved itself (its default netCDF engine), found by load_pose
    path = tmp_path / "movement.nc"
    ds.to_netcdf(path)
    back = load_pose(path, individual="Alice")
    np.testing.assert_array_equal(back["position"].values,
                                  position[..., 0].transpose(0, 2, 1))


@pytest.mark.movement
def test_movement_multiview_and_kinematics() -> None:
    valid, layout = _movement_layout()
    from movement.io import load_poses
    from movement.kinematics import compute_velocity

    rng = np.random.default_rng(2)
    arrays = [rng.random((8, 2, 3, 1)) for _ in range(2)]
    views = [load_poses.from_numpy(a, keypoint_names=["p", "q", "r"], fps=10.0)
             for a in arrays]
    # how movement joins views (load_multiview_dataset): concat along a new "view" dim
    ds = xr.concat(views, dim=xr.DataArray(["top", "side"], dims="view"))
    pose = from_movement(ds)
    assert list(pose["cameras"].values) == ["top", "side"]
    np.testing.assert_array_equal(pose["position"].sel(cameras="side").values,
                                  arrays[1][..., 0].transpose(0, 2, 1))
    # movement's own functions work on what to_movement makes
    ours = to_movement(random_pose(fps=30.0), layout=layout)
    valid.validate(ours)
    velocity = compute_velocity(ours["position"])
    assert velocity.shape == ours["position"].shape
