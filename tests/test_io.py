"""Tests of faceexpr.io: pose file readers and writers."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from faceexpr.backends.anipose import from_anipose_csv, to_anipose_csv
from faceexpr.backends.anipose.format import _PlainCsv
from faceexpr.backends.deeplabcut import from_dlc_file, to_dlc_file
from faceexpr.data import make_pose, with_history
from faceexpr.errors import FileFormatError, InvalidPoseError
from faceexpr.io import from_netcdf, load_pose, save_pose, to_netcdf
from faceexpr.io._common import scan_csv

LANDMARKS = ["nose1", "chin", "brow left", "mouth_corner"]


def random_pose(ndim: int = 2, n_frames: int = 20, seed: int = 0, first_frame: int = 0,
                cameras: list[str] | None = None) -> xr.Dataset:
    """A pose of random positions with some NaN, confidence NaN where position is NaN."""
    rng = np.random.default_rng(seed)
    shape: tuple[int, ...] = (n_frames, len(LANDMARKS), ndim)
    if cameras is not None:
        shape = (n_frames, len(cameras), len(LANDMARKS), ndim)
    position = rng.normal(100.0, 30.0, size=shape)
    position[rng.random(shape[:-1]) < 0.15] = np.nan
    confidence = np.where(np.isfinite(position).all(-1), rng.random(shape[:-1]), np.nan)
    return make_pose(position, LANDMARKS, confidence, cameras=cameras,
                     frame=np.arange(first_frame, first_frame + n_frames))


def assert_same_pose(actual: xr.Dataset, expected: xr.Dataset) -> None:
    np.testing.assert_array_equal(actual["position"].values, expected["position"].values)
    np.testing.assert_array_equal(actual["confidence"].values, expected["confidence"].values)
    assert list(actual["landmarks"].values) == list(expected["landmarks"].values)
    np.testing.assert_array_equal(actual["frame"].values, expected["frame"].values)
    assert list(actual["space"].values) == list(expected["space"].values)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def multi_animal_frame(individuals: list[str]) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    columns = pd.MultiIndex.from_product(
        [["DLC_resnet50"], individuals, ["nose", "chin"], ["x", "y", "likelihood"]],
        names=["scorer", "individuals", "bodyparts", "coords"],
    )
    return pd.DataFrame(rng.random((6, len(columns))), columns=columns)


# --- DeepLabCut -----------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".h5", ".csv"])
def test_dlc_round_trip(tmp_path: Path, suffix: str) -> None:
    pose = random_pose(first_frame=7)
    path = tmp_path / f"pose{suffix}"
    to_dlc_file(pose, path)
    back = from_dlc_file(path, fps=25.0)
    assert_same_pose(back, pose)
    assert np.isnan(back["position"].values).any()
    assert back.attrs["source_software"] == "DeepLabCut"
    assert back.attrs["source_files"] == [str(path)]
    assert back.attrs["units"] == "pixels"
    assert back.attrs["fps"] == 25.0
    np.testing.assert_allclose(back["time"].values, np.arange(7, 27) / 25.0)


def test_dlc_h5_layout_is_deeplabcuts(tmp_path: Path) -> None:
    path = tmp_path / "pose.h5"
    to_dlc_file(random_pose(), path, scorer="me")
    df = pd.read_hdf(path, key="df_with_missing")
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns.names) == ["scorer", "bodyparts", "coords"]
    first = [tuple(c) for c in df.columns[:3]]
    assert first == [("me", "nose1", c) for c in ("x", "y", "likelihood")]
    assert all(pd.api.types.is_float_dtype(t) for t in df.dtypes)


def test_dlc_h5_float32_rangeindex_any_key(tmp_path: Path) -> None:
    # What analyze_videos writes, stored under a key other than df_with_missing.
    columns = pd.MultiIndex.from_product(
        [["DLC_net"], ["a", "b"], ["x", "y", "likelihood"]],
        names=["scorer", "bodyparts", "coords"],
    )
    values = np.arange(30, dtype=np.float32).reshape(5, 6)
    pd.DataFrame(values, columns=columns).to_hdf(tmp_path / "v.h5", key="tracks", mode="w")
    ds = from_dlc_file(tmp_path / "v.h5")
    assert ds["position"].dtype == np.float64
    np.testing.assert_array_equal(ds["position"].values[:, 1, 0], values[:, 3])
    np.testing.assert_array_equal(ds["confidence"].values[:, 0], values[:, 2])
    np.testing.assert_array_equal(ds["frame"].values, np.arange(5))


def test_dlc_multi_animal_h5(tmp_path: Path) -> None:
    df = multi_animal_frame(["mouse1", "mouse2"])
    path = tmp_path / "ma.h5"
    df.to_hdf(path, key="df_with_missing", mode="w")
    ds = from_dlc_file(path, individual="mouse2")
    expected = df.xs("mouse2", level="individuals", axis=1).to_numpy().reshape(6, 2, 3)
    np.testing.assert_array_equal(ds["position"].values, expected[..., :2])
    np.testing.assert_array_equal(ds["confidence"].values, expected[..., 2])
    assert list(ds["landmarks"].values) == ["nose", "chin"]
    with pytest.raises(FileFormatError, match=r"ma\.h5.*several individuals.*mouse1.*mouse2"):
        from_dlc_file(path)
    with pytest.raises(FileFormatError, match=r"ma\.h5.*no individual 'cat'"):
        from_dlc_file(path, individual="cat")


def test_dlc_multi_animal_single_individual_csv(tmp_path: Path) -> None:
    df = multi_animal_frame(["only"])
    path = tmp_path / "ma.csv"
    df.to_csv(path)
    ds = from_dlc_file(path)
    np.testing.assert_allclose(ds["position"].values[:, 0, 0], df.iloc[:, 0].to_numpy())


def test_dlc_single_animal_rejects_individual(tmp_path: Path) -> None:
    path = tmp_path / "pose.csv"
    to_dlc_file(random_pose(), path)
    with pytest.raises(FileFormatError, match=r"pose\.csv.*single-animal"):
        from_dlc_file(path, individual="mouse1")


def test_dlc_labelled_data_csv(tmp_path: Path) -> None:
    # Labelled frames: three index columns of image path parts, no likelihood.
    path = write(tmp_path / "CollectedData_me.csv",
                 "scorer,,,me,me,me,me\n"
                 "bodyparts,,,nose,nose,chin,chin\n"
                 "coords,,,x,y,x,y\n"
                 "labeled-data,vid,img000.png,1.5,2.5,,\n"
                 "labeled-data,vid,img001.png,3,4,5,6\n")
    ds = from_dlc_file(path)
    np.testing.assert_array_equal(ds["position"].values[1], [[3, 4], [5, 6]])
    np.testing.assert_array_equal(ds["confidence"].values, [[1, np.nan], [1, 1]])
    np.testing.assert_array_equal(ds["frame"].values, [0, 1])


# --- Anipose --------------------------------------------------------------------------


def test_anipose_round_trip(tmp_path: Path) -> None:
    pose = random_pose(ndim=3, first_frame=100)
    rng = np.random.default_rng(3)
    pose["reprojection_error"] = (("time", "landmarks"), rng.random((20, 4)))
    pose["n_cameras"] = (("time", "landmarks"), rng.integers(2, 4, (20, 4)).astype(float))
    pose["anipose_M"] = (("time", "axis_row", "axis_col"), rng.random((20, 3, 3)))
    pose["anipose_center"] = (("time", "axis_row"), rng.random((20, 3)))
    path = tmp_path / "pose-3d.csv"
    to_anipose_csv(pose, path)
    header = path.read_text().splitlines()[0].split(",")
    assert header[:6] == [f"nose1_{s}" for s in ("x", "y", "z", "error", "ncams", "score")]
    assert header[-1] == "fnum" and "M_22" in header and "center_2" in header
    back = from_anipose_csv(path, fps=100.0)
    assert_same_pose(back, pose)
    for name in ("reprojection_error", "n_cameras", "anipose_M", "anipose_center"):
        np.testing.assert_array_equal(back[name].values, pose[name].values)
        assert back[name].dims == pose[name].dims
    assert back.attrs["source_software"] == "Anipose"
    assert back.attrs["units"] == "mm"
    assert back["time"].values[0] == pytest.approx(1.0)


def test_anipose_defaults_without_extra_variables(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    to_anipose_csv(random_pose(ndim=3), path)
    df = pd.read_csv(path)
    assert (df["chin_ncams"] == 0).all() and df["chin_error"].isna().all()
    back = from_anipose_csv(path)
    assert "anipose_M" not in back and "anipose_center" not in back


def test_anipose_hand_written(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv",
                 "nose_x,nose_y,nose_z,nose_error,nose_ncams,nose_score,fnum\n"
                 "1,2,3,0.5,2,0.9,10\n"
                 ",,,,0,0.1,11\n")
    ds = from_anipose_csv(path)
    np.testing.assert_array_equal(ds["position"].values[0, 0], [1, 2, 3])
    np.testing.assert_array_equal(ds["confidence"].values[:, 0], [0.9, np.nan])
    np.testing.assert_array_equal(ds["n_cameras"].values[:, 0], [2, 0])
    np.testing.assert_array_equal(ds["frame"].values, [10, 11])


def test_writers_check_dimensionality(tmp_path: Path) -> None:
    with pytest.raises(InvalidPoseError):
        to_dlc_file(random_pose(ndim=3), tmp_path / "p.h5")
    with pytest.raises(InvalidPoseError):
        to_anipose_csv(random_pose(ndim=2), tmp_path / "p.csv")
    with pytest.raises(InvalidPoseError):
        to_dlc_file(random_pose(cameras=["a", "b"]), tmp_path / "p.csv")
    assert list(tmp_path.iterdir()) == []


# --- netCDF ---------------------------------------------------------------------------


def test_netcdf_round_trip_pose_with_cameras_and_history(tmp_path: Path) -> None:
    pose = random_pose(cameras=["cam A", "camB"], first_frame=3)
    pose = with_history(with_history(pose, "load", path="x.csv"), "filter", window=5)
    pose.attrs.update(flag=True, nothing=None, params={"a": [1, 2.5], "b": "c"},
                      tricky="faceexpr.json:not json", count=np.int64(4))
    pose["position"].attrs["note"] = ["a", "b"]
    path = tmp_path / "pose.nc"
    to_netcdf(pose, path)
    back = from_netcdf(path)
    xr.testing.assert_identical(back, pose)
    assert back.attrs["faceexpr_history"] == pose.attrs["faceexpr_history"]
    assert back.attrs["source_files"] == []
    assert back["landmarks"].dtype.kind == "U" and back["cameras"].dtype.kind == "U"
    assert isinstance(back.attrs["flag"], bool) and back.attrs["nothing"] is None
    assert pose.attrs["faceexpr_history"][0].startswith("{")  # input left unchanged
    assert pose["position"].attrs["note"] == ["a", "b"]


def test_netcdf_round_trip_results(tmp_path: Path) -> None:
    results = xr.Dataset(
        {"states": ("time", np.array([0, 1, -1, 2])),
         "feature_matrix": (("time", "features"), np.arange(8.0).reshape(4, 2)),
         "names": ("state", np.array(["calm", "smile", "frown"]))},
        coords={"time": np.arange(4.0), "features": ["f1", "f2"]},
        attrs={"n_states": 3, "converged": False},
    )
    to_netcdf(results, tmp_path / "r.nc")
    xr.testing.assert_identical(from_netcdf(tmp_path / "r.nc"), results)


def test_netcdf_failed_write_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing"):
        to_netcdf(random_pose(), tmp_path / "missing" / "pose.nc")
    assert list(tmp_path.iterdir()) == []
    bad = random_pose()
    bad["objects"] = ("time", np.array([{"a": 1}] * 20, dtype=object))
    with pytest.raises(Exception):  # noqa: B017 - whatever xarray raises
        to_netcdf(bad, tmp_path / "pose.nc")
    assert list(tmp_path.iterdir()) == []
    # An existing file survives a failed overwrite.
    to_netcdf(random_pose(seed=5), tmp_path / "pose.nc")
    with pytest.raises(Exception):  # noqa: B017
        to_netcdf(bad, tmp_path / "pose.nc")
    assert [p.name for p in tmp_path.iterdir()] == ["pose.nc"]
    xr.testing.assert_identical(from_netcdf(tmp_path / "pose.nc"), random_pose(seed=5))


def test_netcdf_rejects_unstorable_attribute(tmp_path: Path) -> None:
    pose = random_pose()
    pose.attrs["thing"] = object()
    with pytest.raises(TypeError, match="attribute 'thing'"):
        to_netcdf(pose, tmp_path / "p.nc")
    assert list(tmp_path.iterdir()) == []


# --- dispatch -------------------------------------------------------------------------


def test_load_pose_dispatch(tmp_path: Path) -> None:
    pose2d, pose3d = random_pose(), random_pose(ndim=3, seed=2)
    to_dlc_file(pose2d, tmp_path / "a.h5")
    to_dlc_file(pose2d, tmp_path / "a.csv")
    to_anipose_csv(pose3d, tmp_path / "b.csv")
    to_netcdf(pose3d, tmp_path / "c.nc")
    assert load_pose(tmp_path / "a.h5").attrs["source_software"] == "DeepLabCut"
    assert load_pose(tmp_path / "a.csv", fps=30).attrs["fps"] == 30.0
    assert load_pose(tmp_path / "b.csv").attrs["source_software"] == "Anipose"
    assert_same_pose(load_pose(tmp_path / "c.nc"), pose3d)
    (tmp_path / "b.txt").write_text((tmp_path / "b.csv").read_text())
    assert_same_pose(load_pose(tmp_path / "b.txt", format="AniPose"), pose3d)
    assert_same_pose(load_pose(tmp_path / "a.csv", format="DLC"), pose2d)
    with pytest.warns(DeprecationWarning, match="format="):
        assert_same_pose(load_pose(tmp_path / "a.csv", source_software="dlc"), pose2d)


def test_load_pose_unknown_formats(tmp_path: Path) -> None:
    path = write(tmp_path / "other.csv", "frame,a,b\n0,1,2\n")
    # every format tried is named with why it refused
    with pytest.raises(FileFormatError, match=r"other\.csv: no registered pose format") as err:
        load_pose(path)
    for why in ("deeplabcut: expected a CSV whose header rows start with scorer",
                "anipose: expected a CSV header with <landmark>_x", "openface: expected",
                "netcdf: reads .nc, not .csv"):
        assert why in str(err.value)
    with pytest.raises(FileFormatError, match=r"x\.json.*anipose: reads \.csv, not \.json"):
        load_pose(write(tmp_path / "x.json", "{}"))
    with pytest.raises(FileFormatError, match="unknown format 'openpose'; registered: "):
        load_pose(path, format="openpose")
    to_netcdf(xr.Dataset({"states": ("time", [0, 1])}), tmp_path / "r.nc")
    with pytest.raises(FileFormatError, match=r"r\.nc: .*netcdf: expected a netCDF-4 file "
                                              r"with a 'landmarks' dimension"):
        load_pose(tmp_path / "r.nc")
    with pytest.raises(FileFormatError, match=r"r\.nc: not a pose"):
        load_pose(tmp_path / "r.nc", format="netcdf")


def test_save_pose_by_suffix(tmp_path: Path) -> None:
    pose2d, pose3d = random_pose(), random_pose(ndim=3)
    save_pose(pose3d, tmp_path / "p3.csv")
    assert load_pose(tmp_path / "p3.csv").attrs["source_software"] == "Anipose"
    save_pose(pose2d, tmp_path / "p2.csv")
    assert load_pose(tmp_path / "p2.csv").attrs["source_software"] == "DeepLabCut"
    save_pose(pose2d, tmp_path / "p2.h5")
    assert_same_pose(load_pose(tmp_path / "p2.h5"), pose2d)
    save_pose(pose3d, tmp_path / "p3.nc")
    xr.testing.assert_identical(load_pose(tmp_path / "p3.nc"), pose3d)
    with pytest.raises(FileFormatError, match=r"p\.txt"):
        save_pose(pose2d, tmp_path / "p.txt")


# --- bad files ------------------------------------------------------------------------

DLC_HEADER = "scorer,me,me,me,me,me,me\nbodyparts,nose,nose,nose,chin,chin,chin\n"


@pytest.mark.parametrize("reader", [from_dlc_file, from_anipose_csv, from_netcdf, load_pose])
def test_missing_file(tmp_path: Path, reader: object) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.csv"):
        reader(tmp_path / "nope.csv")  # type: ignore[operator]


@pytest.mark.parametrize("name", ["empty.csv", "empty.h5", "empty.nc"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    with pytest.raises(FileFormatError, match=re.escape(name) + ".*empty"):
        load_pose(write(tmp_path / name, ""))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("frame,nose_x,nose_y\n0,1,2\n", r"not a DeepLabCut CSV"),
        ("scorer,me,me\ncoords,x,y\n0,1,2\n", r"not a DeepLabCut CSV"),
        (DLC_HEADER + "coords,x,y,likelihood,x,y,z\n0,1,2,0.5,1,2,3\n",
         r"body part 'chin' has no 'likelihood' column"),
        (DLC_HEADER + "coords,x,likelihood,z,x,y,likelihood\n0,1,2,0.5,1,2,3\n",
         r"body part 'nose' has no 'y' column"),
        (DLC_HEADER + "coords,x,y,likelihood,x,y,likelihood\n0,1,2,0.5,1,2,0.3\n"
         "1,1,abc,0.5,1,2,0.3\n",
         r"body part 'nose', coordinate 'y', row 2 \(line 5\): cannot read 'abc' as a number"),
        (DLC_HEADER + "coords,x,y,likelihood,x,y,likelihood\n", r"no rows"),
    ],
)
def test_bad_dlc_csv(tmp_path: Path, text: str, match: str) -> None:
    path = write(tmp_path / "pose.csv", text)
    with pytest.raises(FileFormatError, match=r"pose\.csv: .*" + match):
        from_dlc_file(path)


def test_bad_dlc_h5(tmp_path: Path) -> None:
    text = write(tmp_path / "text.h5", "not hdf5 at all\n")
    with pytest.raises(FileFormatError, match=r"text\.h5: cannot read as a pandas HDF5"):
        from_dlc_file(text)
    flat = tmp_path / "flat.h5"
    pd.DataFrame({"x": [1.0], "y": [2.0]}).to_hdf(flat, key="df_with_missing")
    with pytest.raises(FileFormatError, match=r"flat\.h5: not a DeepLabCut table"):
        from_dlc_file(flat)
    series = tmp_path / "series.h5"
    pd.Series([1.0, 2.0]).to_hdf(series, key="s")
    with pytest.raises(FileFormatError, match=r"series\.h5: .*Series"):
        from_dlc_file(series)
    two = tmp_path / "two.h5"
    pd.DataFrame({"x": [1.0]}).to_hdf(two, key="one")
    pd.DataFrame({"x": [1.0]}).to_hdf(two, key="other")
    with pytest.raises(FileFormatError, match=r"two\.h5: .*found tables: one, other"):
        from_dlc_file(two)
    empty = tmp_path / "rows.h5"
    to_dlc_file(random_pose(n_frames=0), empty)
    with pytest.raises(FileFormatError, match=r"rows\.h5: .*no rows"):
        from_dlc_file(empty)


ANIPOSE_HEADER = "nose_x,nose_y,nose_z,nose_error,nose_ncams,nose_score,fnum\n"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("nose_x,nose_y,nose_error,nose_score\n1,2,3,4\n",
         r"landmark 'nose' has no column 'nose_z'"),
        ("nose_x,nose_y,nose_z,nose_error\n1,2,3,4\n",
         r"landmark 'nose' has no column 'nose_score'"),
        ("a,b\n1,2\n", r"no '<landmark>_x' columns"),
        (ANIPOSE_HEADER, r"no rows"),
        (ANIPOSE_HEADER + "1,2,3,0.1,2,0.9,0\n1,abc,3,0.1,2,0.9,1\n",
         r"column 'nose_y', row 2 \(line 3\): cannot read 'abc' as a number"),
        (ANIPOSE_HEADER + "1,2,3,0.1,2,0.9,0.5\n", r"column 'fnum', row 1"),
        ("nose_x,nose_y,nose_z,nose_score,M_00\n1,2,3,0.9,1\n", r"'M_00' but lacks"),
    ],
)
def test_bad_anipose_csv(tmp_path: Path, text: str, match: str) -> None:
    path = write(tmp_path / "pose-3d.csv", text)
    with pytest.raises(FileFormatError, match=r"pose-3d\.csv: .*" + match):
        from_anipose_csv(path)


ROWS = ["1,2,3,0.5,2,0.9,10", ",,,,0,0.1,11", "4.25,-1e-3,0.1,,3,1,12",
        "0.30000000000000004,7,8,1.5,2,0.5,13"]


def csv_cells(path: Path) -> tuple[list[str], np.ndarray]:
    """Header and cells read by the csv module and float(): the exact decimal reading."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.reader(f) if r and (len(r) > 1 or r[0].strip())]
    return rows[0], np.array([[float(c) if c else np.nan for c in r] for r in rows[1:]])


@pytest.mark.parametrize(("variant", "plain"), [
    ("lf", True), ("crlf", True), ("bom", True), ("no final newline", True),
    ("blank line", False), ("quoted header", False), ("non-ascii", False), ("lone cr", False)])
def test_anipose_shortcut_finds_what_scan_csv_finds(tmp_path: Path, variant: str,
                                                      plain: bool) -> None:
    header, rows, end = ANIPOSE_HEADER.strip(), list(ROWS), "\n"
    if variant == "crlf":
        end = "\r\n"
    elif variant == "blank line":
        rows.insert(2, "   ")
    elif variant == "quoted header":
        header = ",".join(f'"{n}"' for n in header.split(","))
    elif variant == "non-ascii":
        header = header.replace("nose", "nöse")
    text = end.join([header, *rows]) + ("" if variant == "no final newline" else end)
    if variant == "lone cr":
        text = text.replace("\n", "\r")
    path = tmp_path / "pose-3d.csv"
    path.write_bytes(("\ufeff" if variant == "bom" else "").encode() + text.encode())
    expected = scan_csv(path, path, 1)
    fast = _PlainCsv.open(path)
    layout = fast.layout(pd.read_csv(path, encoding="utf-8-sig")) if fast else None
    if plain:
        assert layout is not None
        assert layout.header == expected.header and layout.header_end == expected.header_end
        np.testing.assert_array_equal(layout.lines, expected.lines)
    else:
        assert layout is None  # left to scan_csv
    # the same numbers as the csv module and float() read, whichever way was taken
    names, cells = csv_cells(path)
    ds = from_anipose_csv(path)
    lm = names[0][:-2]
    for suffix, got in (("_x", ds["position"].values[:, 0, 0]),
                        ("_z", ds["position"].values[:, 0, 2]),
                        ("_ncams", ds["n_cameras"].values[:, 0]),
                        ("_error", ds["reprojection_error"].values[:, 0])):
        np.testing.assert_array_equal(got, cells[:, names.index(lm + suffix)])
    np.testing.assert_array_equal(ds["frame"].values, [10, 11, 12, 13])


@pytest.mark.parametrize("rows", [
    [ROWS[0], ROWS[1][:-3], ROWS[2] + ",5", ROWS[3]],  # one cell lost, one gained: same count
    [ROWS[0] + ",9", ROWS[1][:-3], ROWS[2], ROWS[3]],  # an extra first cell: pandas' index
    [ROWS[0], ROWS[1], ROWS[2], ROWS[3][:-6]],  # the file cut in the last row
    [ROWS[0], ROWS[1], ",".join(ROWS[2].split(",")[1:]), ROWS[3]],
])
def test_anipose_ragged_rows_named_as_scan_csv_names_them(tmp_path: Path,
                                                          rows: list[str]) -> None:
    path = write(tmp_path / "pose-3d.csv", ANIPOSE_HEADER + "\n".join(rows) + "\n")
    with pytest.raises(FileFormatError) as want:
        scan_csv(path, path, 1)
    with pytest.raises(FileFormatError) as got:
        from_anipose_csv(path)
    assert str(got.value) == str(want.value)
    assert "fields but the header has 7" in str(got.value)


def test_bad_netcdf(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match=r"junk\.nc: cannot read as a netCDF"):
        from_netcdf(write(tmp_path / "junk.nc", "CDF? no\n"))
