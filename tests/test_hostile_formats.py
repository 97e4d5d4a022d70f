"""Broken and hostile input files: each is built with the real writer, then corrupted.

Every reader must refuse such a file with a :class:`~faceexpr.errors.FaceexprError`
whose message names the file and the frame, landmark, camera or key at fault (or warn,
naming them, where the data stay usable), run no code from it, and never let a raw
library error through.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import faceexpr as fe
from faceexpr.backends.anipose import read_anipose_config, to_anipose_csv
from faceexpr.backends.anipose.triangulator import load_calibration
from faceexpr.backends.deeplabcut import to_dlc_file
from faceexpr.backends.deeplabcut.project import read_project_config
from faceexpr.backends.openface import to_openface_csv
from faceexpr.cli import main
from faceexpr.data import make_pose, validate_pose
from faceexpr.errors import (
    DeepLabCutProjectError,
    FaceexprError,
    FileFormatError,
    InvalidPoseError,
    MissingFileError,
)
from faceexpr.io import load_pose, to_netcdf
from faceexpr.synthetic import SyntheticFace, simulate

SRC = Path(fe.__file__).parent


@pytest.fixture(scope="module")
def sim() -> SyntheticFace:
    return simulate(60, seed=0, n_cameras=2)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _raises(path: Path, *needles: str, error: type[Exception] = FileFormatError) -> str:
    """Read ``path``; assert the error type and that the message names each needle."""
    with pytest.raises(error) as info:
        load_pose(path)
    message = str(info.value)
    assert str(path) in message, message
    for needle in needles:
        assert needle in message, (needle, message)
    assert "\n" not in message
    return message


# -- DeepLabCut CSV ----------------------------------------------------------------------


@pytest.fixture
def dlc_csv(sim: SyntheticFace, tmp_path: Path) -> Path:
    return _dlc(sim, tmp_path / "video_camA.csv")


def test_dlc_csv_cut_in_the_middle_of_a_row(dlc_csv: Path) -> None:
    data = dlc_csv.read_text()
    dlc_csv.write_text(data[:data.rstrip().rfind(",") - 3])  # within the last row
    _raises(dlc_csv, "line 63", "frame 59", "ends in the middle of a row")


def test_dlc_csv_row_that_lost_cells(dlc_csv: Path) -> None:
    lines = _lines(dlc_csv)
    lines[10] = ",".join(lines[10].split(",")[:-2])
    _write(dlc_csv, lines)
    _raises(dlc_csv, "line 11 (frame 7) has 62 fields but the header has 64")


def test_dlc_csv_duplicate_body_part(dlc_csv: Path) -> None:
    lines = _lines(dlc_csv)
    lines[1] = lines[1].replace("lefteye2", "lefteye1")  # pandas would rename x.1
    _write(dlc_csv, lines)
    _raises(dlc_csv, "body part 'lefteye1' has two 'x' columns")


@pytest.mark.parametrize(("row", "frame", "problem"), [(30, 28, "repeats frame 28"),
                                                       (6, 1, "comes after frame 2")])
def test_dlc_csv_frames_that_repeat_or_go_back(dlc_csv: Path, row: int, frame: int,
                                               problem: str) -> None:
    lines = _lines(dlc_csv)
    cells = lines[row].split(",")
    cells[0] = str(frame)
    lines[row] = ",".join(cells)
    _write(dlc_csv, lines)
    _raises(dlc_csv, f"frame {frame} (line {row + 1})", problem)


def test_dlc_csv_frame_index_cell_that_is_not_a_number(dlc_csv: Path) -> None:
    lines = _lines(dlc_csv)
    lines[20] = "oops" + lines[20][lines[20].index(","):]
    _write(dlc_csv, lines)
    _raises(dlc_csv, "row 18 (line 21)", "'oops' is not a whole number")


def test_dlc_csv_likelihood_out_of_range_warns(dlc_csv: Path) -> None:
    lines = _lines(dlc_csv)
    cells = lines[20].split(",")
    cells[3] = "1.5"  # lefteye1's likelihood at frame 17
    lines[20] = ",".join(cells)
    _write(dlc_csv, lines)
    with pytest.warns(UserWarning, match=re.escape(
            f"{dlc_csv}: body part 'lefteye1', likelihood, frame 17 (line 21): confidence "
            "1.5 is outside [0, 1]")):
        pose = load_pose(dlc_csv)
    assert pose["confidence"].sel(landmarks="lefteye1").values[17] == 1.5  # kept as read


def test_dlc_csv_infinite_likelihood_is_an_error(dlc_csv: Path) -> None:
    lines = _lines(dlc_csv)
    cells = lines[20].split(",")
    cells[6] = "inf"  # lefteye2's likelihood
    lines[20] = ",".join(cells)
    _write(dlc_csv, lines)
    _raises(dlc_csv, "body part 'lefteye2', likelihood, frame 17 (line 21)", "inf")


def test_dlc_csv_position_without_likelihood_warns(dlc_csv: Path) -> None:
    lines = _lines(dlc_csv)
    cells = lines[9].split(",")
    cells[3] = ""
    lines[9] = ",".join(cells)
    _write(dlc_csv, lines)
    with pytest.warns(UserWarning, match=r"1 point\(s\) have a position but no confidence "
                      r"\(first: body part 'lefteye1', likelihood, frame 6 \(line 10\)\)"):
        load_pose(dlc_csv)


def test_dlc_csv_bad_cell_names_frame_and_line(dlc_csv: Path) -> None:
    lines = _lines(dlc_csv)
    cells = lines[20].split(",")
    cells[2] = "abc"
    lines[20] = ",".join(cells)
    _write(dlc_csv, lines)
    _raises(dlc_csv, "body part 'lefteye1', coordinate 'y', row 18 (line 21): cannot read "
            "'abc' as a number (frame 17)")


def test_dlc_csv_header_only_and_one_frame(dlc_csv: Path) -> None:
    lines = _lines(dlc_csv)
    _write(dlc_csv, lines[:3])
    _raises(dlc_csv, "has a header but no rows of data")
    _write(dlc_csv, lines[:4])
    assert load_pose(dlc_csv).sizes["time"] == 1


def test_dlc_csv_first_frame_without_detections_is_kept(sim: SyntheticFace,
                                                        tmp_path: Path) -> None:
    # pandas takes a header's next row with only its index filled for index names
    pose = sim.view(0).copy(deep=True)
    pose["position"][0] = np.nan
    pose["confidence"][0] = np.nan
    to_dlc_file(pose, tmp_path / "v.csv")
    read = load_pose(tmp_path / "v.csv")
    assert read.sizes["time"] == 60
    np.testing.assert_array_equal(read["frame"].values, np.arange(60))
    assert np.isnan(read["position"].values[0]).all()


def test_dlc_csv_named_index_row_is_not_a_frame(sim: SyntheticFace, tmp_path: Path) -> None:
    lines = [*_lines(_dlc(sim, tmp_path / "v.csv"))]
    lines.insert(3, "frame" + "," * 63)  # pandas writes a named index's name as a row
    path = _write(tmp_path / "v.csv", lines)
    np.testing.assert_array_equal(load_pose(path)["frame"].values, np.arange(60))


def _dlc(sim: SyntheticFace, path: Path) -> Path:
    to_dlc_file(sim.view(0), path)
    return path


# -- DeepLabCut HDF5 ---------------------------------------------------------------------


@pytest.fixture
def dlc_h5(sim: SyntheticFace, tmp_path: Path) -> Path:
    return _dlc(sim, tmp_path / "video_camA.h5")


def test_dlc_h5_repeated_frame(dlc_h5: Path) -> None:
    df = pd.read_hdf(dlc_h5)
    assert isinstance(df, pd.DataFrame)
    df.index = pd.Index([*range(30), 29, *range(31, 60)])
    df.to_hdf(dlc_h5, key="df_with_missing", mode="w", format="table")
    _raises(dlc_h5, "frame 29 repeats frame 29")


def test_dlc_h5_name_that_is_not_text(dlc_h5: Path) -> None:
    # PyTables crashed the interpreter (segmentation fault) on such an attribute name
    with h5py.File(dlc_h5, "a") as f:
        f["df_with_missing/table"].attrs[b"values_b\xbbock_0_dtype"] = b"float64"
    _raises(dlc_h5, "refused", "is not text")


def test_hdf5_data_stored_in_another_file(dlc_h5: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(60, dtype=np.float64).tobytes())
    with h5py.File(dlc_h5, "a") as f:
        f.create_dataset("leak", shape=(60,), dtype="f8", external=[(str(secret), 0, 480)])
    _raises(dlc_h5, "refused", "/leak is stored in other files")
    with h5py.File(dlc_h5, "a") as f:
        del f["leak"]
        f["elsewhere"] = h5py.ExternalLink(str(secret), "/x")
    _raises(dlc_h5, "refused", "/elsewhere links to another file")


def test_hdf5_that_declares_more_than_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "bomb.nc"
    with h5py.File(path, "w") as f:  # 100 GB of nothing in a file of a few kB
        f.create_dataset("position", shape=(10**10, 2), dtype="f8", chunks=(10**6, 2),
                         compression="gzip")
    assert path.stat().st_size < 100_000
    with pytest.raises(FileFormatError, match=r"bomb\.nc: refused: its datasets .* declare"):
        fe.io.from_netcdf(path)


# -- Anipose pose-3d CSV -----------------------------------------------------------------


@pytest.fixture
def anipose_csv(sim: SyntheticFace, tmp_path: Path) -> Path:
    path = tmp_path / "session.csv"
    to_anipose_csv(sim.pose3d, path)
    return path


def _set(path: Path, line: int, column: str, value: str) -> Path:
    lines = _lines(path)
    header = lines[0].split(",")
    cells = lines[line - 1].split(",")
    cells[header.index(column)] = value
    lines[line - 1] = ",".join(cells)
    return _write(path, lines)


def test_anipose_duplicate_landmark(anipose_csv: Path) -> None:
    lines = _lines(anipose_csv)
    lines[0] = lines[0].replace("lefteye2_", "lefteye1_")
    _write(anipose_csv, lines)
    _raises(anipose_csv, "landmark 'lefteye1' appears twice",
            "column 'lefteye1_x' is in the header twice (columns 1 and 7)")


@pytest.mark.parametrize(("value", "problem"), [("16", "frame 16 (line 19) repeats frame "
                                                 "16 (line 18)"),
                                                ("3", "frame 3 (line 19) comes after frame "
                                                 "16 (line 18)")])
def test_anipose_fnum_that_repeats_or_goes_back(anipose_csv: Path, value: str,
                                                problem: str) -> None:
    _set(anipose_csv, 19, "fnum", value)
    _raises(anipose_csv, "column 'fnum'", problem)


def test_anipose_fnum_that_is_not_whole(anipose_csv: Path) -> None:
    _set(anipose_csv, 19, "fnum", "17.5")
    _raises(anipose_csv, "column 'fnum', row 18 (line 19): frame numbers must be whole")


def test_anipose_bad_value_names_the_frame(anipose_csv: Path) -> None:
    _set(anipose_csv, 19, "nose1_y", "1.2.3")
    _raises(anipose_csv, "column 'nose1_y', row 18 (line 19): cannot read '1.2.3' as a "
            "number (frame 17)")


def test_anipose_score_out_of_range_warns(anipose_csv: Path) -> None:
    _set(anipose_csv, 19, "chin_score", "-0.5")
    with pytest.warns(UserWarning, match=re.escape(
            "column 'chin_score', frame 17 (line 19): confidence -0.5 is outside [0, 1]")):
        load_pose(anipose_csv)


def test_anipose_score_nan_with_a_position_warns(anipose_csv: Path) -> None:
    _set(anipose_csv, 19, "chin_score", "")
    with pytest.warns(UserWarning, match=r"first: column 'chin_score', frame 17 \(line 19\)"):
        pose = load_pose(anipose_csv)
    assert np.isnan(pose["confidence"].sel(landmarks="chin").values[17])


def test_anipose_rows_with_an_extra_cell(anipose_csv: Path) -> None:
    # pandas would take the first column of every row as the index: all shifted by one
    lines = _lines(anipose_csv)
    _write(anipose_csv, [lines[0], *("0," + line for line in lines[1:])])
    _raises(anipose_csv, "line 2 has 128 fields but the header has 127")


def test_missing_empty_folder_and_header_only_files(anipose_csv: Path,
                                                    tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(MissingFileError) as info:
        load_pose(missing)
    assert str(info.value) == f"{missing}: no such file"
    assert isinstance(info.value, FileNotFoundError)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    _raises(empty, "the file is empty")
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    _raises(folder, "is a folder")
    header = _lines(anipose_csv)[0]
    anipose_csv.write_text(header + "\n")
    _raises(anipose_csv, "has a header but no rows of data")
    anipose_csv.write_text(header + "\n\n\n")
    _raises(anipose_csv, "has a header but no rows of data")


def test_cli_missing_file_is_one_line(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.csv"
    out = tmp_path / "out"
    assert main(["analyze", str(missing), "--out", str(out), "--quiet"]) == 1
    assert capsys.readouterr().err == f"faceexpr: error: {missing}: no such file\n"
    assert not out.exists()


# -- OpenFace CSV ------------------------------------------------------------------------


@pytest.fixture
def openface_csv(sim: SyntheticFace, tmp_path: Path) -> Path:
    pose = sim.view(0).copy()
    pose.attrs["source_software"] = "OpenFace"
    path = tmp_path / "face.csv"
    to_openface_csv(pose, path)
    return path


def test_openface_duplicate_column(openface_csv: Path) -> None:
    lines = _lines(openface_csv)
    lines[0] = lines[0].replace("x_1,", "x_0,", 1)
    _write(openface_csv, lines)
    _raises(openface_csv, "column 'x_0' is in the header twice")


def test_openface_confidence_out_of_range_warns(openface_csv: Path) -> None:
    lines = _lines(openface_csv)
    cells = lines[18].split(", ")
    cells[3] = "7"
    lines[18] = ", ".join(cells)
    _write(openface_csv, lines)
    with pytest.warns(UserWarning, match=re.escape(
            "column 'confidence', frame 18 (line 19): confidence 7.0 is outside [0, 1]")):
        load_pose(openface_csv)


def test_openface_cut_and_far_frames(openface_csv: Path) -> None:
    data = openface_csv.read_text()
    openface_csv.write_text(data[:len(data) - 40])
    _raises(openface_csv, "line 61 (frame 60)", "ends in the middle of a row")
    lines = _lines(openface_csv)[:3]
    lines[2] = "10000000000000" + lines[2][lines[2].index(","):]
    _write(openface_csv, lines)
    _raises(openface_csv, "face_id 0 has 2 rows but its frames run from 1 to 10000000000000")


def test_openface_absurd_landmark_column(openface_csv: Path) -> None:
    lines = _lines(openface_csv)
    lines[0] = lines[0].replace("x_20,", "x_1000000000,")
    _write(openface_csv, lines)
    _raises(openface_csv, "landmark column 'x_1000000000'")


# -- faceexpr's netCDF and movement's ----------------------------------------------------


def _nc(sim: SyntheticFace, path: Path, **attrs: object) -> Path:
    pose = sim.pose3d.copy()
    to_netcdf(pose, path)
    if attrs:
        with h5py.File(path, "a") as f:
            for key, value in attrs.items():
                f.attrs[key] = value
    return path


@pytest.mark.parametrize("fps", [-3.0, 0.0, np.inf, "30", 10**400 if False else 1e999])
def test_netcdf_bad_fps(sim: SyntheticFace, tmp_path: Path, fps: object) -> None:
    path = _nc(sim, tmp_path / "pose.nc", fps=fps)
    _raises(path, "the fps attribute is", "expected a frame rate in frames per second")


def test_netcdf_unknown_fps_is_nan(sim: SyntheticFace, tmp_path: Path) -> None:
    path = _nc(sim, tmp_path / "pose.nc", fps=np.nan)
    assert fe.data.get_fps(load_pose(path)) is None


def test_movement_bad_fps(sim: SyntheticFace, tmp_path: Path) -> None:
    path = tmp_path / "mv.nc"
    fe.io.save_pose(sim.pose3d, path, format="movement")
    with h5py.File(path, "a") as f:
        f.attrs["fps"] = -3.0
    _raises(path, "the movement Dataset's fps attribute is -3.0")


def test_movement_frame_that_is_not_whole(sim: SyntheticFace, tmp_path: Path) -> None:
    path = tmp_path / "mv.nc"
    fe.io.save_pose(sim.pose3d, path, format="movement")
    ds = fe.io.from_netcdf(path)
    ds = ds.assign_coords(frame=("time", np.arange(60) + 0.5))
    ds.to_netcdf(tmp_path / "mv2.nc", engine="h5netcdf")
    _raises(tmp_path / "mv2.nc", "frame coordinate must hold whole numbers, got 0.5")


def _edit_nc(sim: SyntheticFace, path: Path, edit: object) -> Path:
    ds = sim.pose3d.copy(deep=True)
    ds = edit(ds)  # type: ignore[operator]
    to_netcdf(ds, path)
    return path


@pytest.mark.parametrize(("edit", "needles"), [
    (lambda ds: ds.assign_coords(frame=("time", np.r_[0:30, 29:59])),
     ["frame 29 follows frame 29 (time index 30)"]),
    (lambda ds: ds.isel(time=slice(None, None, -1)).assign_coords(
        time=np.arange(60.0)), ["frame 58 follows frame 59"]),
    (lambda ds: ds.assign(position=ds["position"].where(
        (ds.frame != 7) | (ds.landmarks != "chin"), np.inf)),
     ["position is infinite at frame 7, landmark 'chin'"]),
    (lambda ds: ds.assign(confidence=ds["confidence"].astype(str)),
     ["confidence must hold floats"]),
    (lambda ds: ds.assign(position=ds["position"].transpose("space", ...)),
     ["position has dims ('space', 'time', 'landmarks')"]),
    (lambda ds: ds.assign_coords(landmarks=["nose1"] * 21), ["not unique", "nose1"]),
])
def test_netcdf_pose_with_bad_values(sim: SyntheticFace, tmp_path: Path, edit: object,
                                     needles: list[str]) -> None:
    _raises(_edit_nc(sim, tmp_path / "pose.nc", edit), *needles)


def test_netcdf_confidence_out_of_range_warns(sim: SyntheticFace, tmp_path: Path) -> None:
    path = _edit_nc(sim, tmp_path / "pose.nc", lambda ds: ds.assign(
        confidence=ds["confidence"].where(ds.frame != 3, 5.0)))
    with pytest.warns(UserWarning, match=r"pose\.nc: confidence 5\.0 at frame 3, landmark "
                      r"'lefteye1' \(21 value\(s\)\) is outside \[0, 1\]"):
        load_pose(path)


@pytest.mark.parametrize(("value", "problem"), [
    ("faceexpr.json:[1, 2", "attribute 'source_files' of the file is not valid JSON"),
    ("faceexpr.json:" + "[" * 100_000, "attribute 'source_files' of the file is not valid"),
    ("faceexpr.json:" + "[" * 80 + "]" * 80, "nests JSON deeper than 64 levels"),
])
def test_netcdf_hostile_json_attribute(sim: SyntheticFace, tmp_path: Path, value: str,
                                       problem: str) -> None:
    path = _nc(sim, tmp_path / "pose.nc", source_files=value)
    _raises(path, problem)


@pytest.mark.parametrize(("key", "value"), [("faceexpr_history", 3.0),
                                            ("source_files", "faceexpr.json:[1, 2]"),
                                            ("units", 7)])
def test_netcdf_attribute_of_the_wrong_kind(sim: SyntheticFace, tmp_path: Path, key: str,
                                            value: object) -> None:
    # found by fuzzing the command line: the stages iterated a number and crashed
    path = _nc(sim, tmp_path / "pose.nc", **{key: value})
    _raises(path, f"the {key} attribute must be a")


@pytest.mark.parametrize("version", [np.inf, 1.5, "one"])
def test_netcdf_odd_schema_version(sim: SyntheticFace, tmp_path: Path,
                                   version: object) -> None:
    path = _nc(sim, tmp_path / "pose.nc", schema_version=version)
    _raises(path, "written with faceexpr data schema version")


class _Payload:
    """Unpickling it touches a marker file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(self.marker),))  # type: ignore[return-value]


def test_netcdf_pickles_are_never_loaded(sim: SyntheticFace, tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    payload = pickle.dumps(_Payload(marker))
    pickle.loads(payload)  # the payload is real
    assert marker.exists()
    marker.unlink()
    path = tmp_path / "pose.nc"
    to_netcdf(sim.pose3d.assign(evil=("blob", np.frombuffer(payload, np.uint8))), path)
    with h5py.File(path, "a") as f:
        f.attrs["note"] = np.void(payload)
        f["position"].attrs["note"] = np.void(payload)
    pose = load_pose(path)
    assert not marker.exists()
    assert isinstance(validate_pose(pose), xr.Dataset)
    assert bytes(pose.attrs["note"]) == payload  # kept as bytes, never unpickled


def test_netcdf_random_bytes_and_truncation(sim: SyntheticFace, tmp_path: Path) -> None:
    path = _nc(sim, tmp_path / "pose.nc")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _raises(path)
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4)
    _raises(path)


# -- make_pose and validate_pose ---------------------------------------------------------


@pytest.mark.parametrize("fps", [-1.0, 0.0, np.inf, True, "30"])
def test_make_pose_refuses_a_bad_frame_rate(fps: object) -> None:
    with pytest.raises(InvalidPoseError, match="expected a frame rate in frames per second"):
        make_pose(np.zeros((3, 1, 2)), ["a"], fps=fps)  # type: ignore[arg-type]


def test_make_pose_nan_frame_rate_is_unknown() -> None:
    assert fe.data.get_fps(make_pose(np.zeros((3, 1, 2)), ["a"], fps=np.nan)) is None


@pytest.mark.parametrize(("kwargs", "problem"), [
    ({"frame": [0, 1.5, 2]}, "frame numbers must be whole numbers, got 1.5"),
    ({"frame": [0, np.nan, 2]}, "frame numbers must be whole numbers"),
    ({"frame": [0, 2, 1]}, "frame 1 follows frame 2"),
    ({"confidence": [["a"], ["b"], ["c"]]}, "confidence must hold numbers"),
])
def test_make_pose_refuses_bad_arrays(kwargs: dict[str, object], problem: str) -> None:
    with pytest.raises(InvalidPoseError, match=re.escape(problem)):
        make_pose(np.zeros((3, 1, 2)), ["a"], **kwargs)  # type: ignore[arg-type]


def test_validate_pose_refuses_an_fps_attribute_set_later() -> None:
    pose = make_pose(np.zeros((3, 1, 2)), ["a"], fps=30.0)
    pose.attrs["fps"] = -30.0
    with pytest.raises(InvalidPoseError, match=r"the fps attribute is -30\.0"):
        validate_pose(pose)


# -- Anipose calibration.toml and config.toml --------------------------------------------


@pytest.fixture
def calibration(sim: SyntheticFace, tmp_path: Path) -> Path:
    return Path(sim.write_calibration(tmp_path / "calibration.toml"))


def _replace_line(path: Path, key: str, value: str, camera: int = 0) -> Path:
    lines = _lines(path)
    start = lines.index(f"[cam_{camera}]")
    for i in range(start, len(lines)):
        if lines[i].startswith(f"{key} = "):
            lines[i] = f"{key} = {value}"
            break
    return _write(path, lines)


@pytest.mark.parametrize(("key", "value", "problem"), [
    ("matrix", "[1, 2, 3]", "matrix must be 3 rows of 3 finite numbers"),
    ("matrix", "[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, nan]]",
     "matrix must be 3 rows of 3 finite"),
    ("matrix", "[[0, 0, 320], [0, 0, 240], [0, 0, 1]]", "with fx, fy > 0"),
    ("distortions", "[0.1, 0.2]", "distortions must be 4 or 5 or 8 or 12 or 14 finite"),
    ("rotation", "[0.1, 0.2]", "rotation must be 3 (a rotation vector) finite numbers"),
    ("translation", "[0.0, 0.0, inf]", "translation must be 3 finite numbers"),
    ("size", "[640]", "size must be the image's [width, height]"),
    ("size", "[-640, 480]", "two whole numbers > 0"),
    ("name", "[1]", "name must be a string"),
])
def test_calibration_bad_camera(calibration: Path, key: str, value: str,
                                problem: str) -> None:
    _replace_line(calibration, key, value, camera=1)
    with pytest.raises(FileFormatError) as info:
        load_calibration(calibration)
    message = str(info.value)
    assert message.startswith(f"{calibration}: [cam_1]"), message
    assert problem in message
    if key != "name":
        assert "(camera 'B')" in message or "(camera '" in message


def test_calibration_other_failures(calibration: Path, tmp_path: Path) -> None:
    good = calibration.read_text()
    calibration.write_text("stray = 3\n" + good)
    with pytest.raises(FileFormatError, match="'stray' is not a camera table"):
        load_calibration(calibration)
    calibration.write_text("a = " + "[" * 3000 + "]" * 3000 + "\n")
    with pytest.raises(FileFormatError, match="nested too deeply"):
        load_calibration(calibration)
    calibration.write_bytes(b"\xff\xfe[cam_0]\n")
    with pytest.raises(FileFormatError, match="not a UTF-8 text file"):
        load_calibration(calibration)
    with pytest.raises(MissingFileError, match=r"nope\.toml: no such file"):
        load_calibration(tmp_path / "nope.toml")
    calibration.write_text(good)
    assert len(load_calibration(calibration).cameras) == 2


@pytest.mark.parametrize(("text", "problem"), [
    ("[triangulation]\nscore_threshold = nan\n", "score_threshold must be a finite number"),
    ("[triangulation]\nscore_threshold = 1.5\n", "score_threshold must be <= 1.0"),
    ("[triangulation]\nreproj_error_threshold = 0\n", "reproj_error_threshold must be > 0"),
    ("[triangulation]\nscale_smooth = -inf\n", "scale_smooth must be a finite number"),
    ("[calibration]\nboard_size = [0, 5]\n", "board_size must be two integers"),
    ("[calibration]\nboard_square_side_length = -2\n", "must be > 0.0"),
    ("a = " + "{b = " * 400 + "1" + "}" * 400 + "\n", "not valid TOML"),
])
def test_anipose_config_bad_values(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(FileFormatError) as info:
        read_anipose_config(path)
    assert str(path) in str(info.value) and problem in str(info.value), str(info.value)


def test_anipose_config_missing_or_folder(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match=r"config\.toml: no such file"):
        read_anipose_config(tmp_path / "config.toml")
    (tmp_path / "folder").mkdir()
    with pytest.raises(FileFormatError, match="is a folder"):
        read_anipose_config(tmp_path / "folder")


# -- DeepLabCut config.yaml --------------------------------------------------------------


@pytest.mark.parametrize(("text", "problem"), [
    ('Task: x\nscorer: y\nbodyparts: !!python/object/apply:pathlib.Path.touch ["{m}"]\n',
     "could not determine a constructor"),
    ("Task: x\nscorer: y\nbodyparts: " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
    ("Task: x\nscorer: y\nbodyparts: nose\n", "bodyparts must be a list of body-part names"),
    ("Task: x\nscorer: y\nbodyparts: [a]\nTrainingFraction: [1.5]\n",
     "TrainingFraction must be a list of fractions between 0 and 1"),
    ("Task: [x]\nscorer: y\nbodyparts: [a]\n", "Task must be a name"),
])
def test_dlc_config_yaml(tmp_path: Path, text: str, problem: str) -> None:
    pytest.importorskip("yaml")
    marker = tmp_path / "code-ran"
    path = tmp_path / "config.yaml"
    path.write_text(text.replace("{m}", str(marker)))
    with pytest.raises(DeepLabCutProjectError) as info:
        read_project_config(path)
    assert str(path) in str(info.value) and problem in str(info.value), str(info.value)
    assert "\n" not in str(info.value)
    assert not marker.exists()


# -- nothing in the package loads untrusted data unsafely --------------------------------


@pytest.mark.parametrize(("pattern", "why"), [
    (r"\byaml\.(load|unsafe_load|full_load)\(|yaml\.(Unsafe|Full)?Loader\b",
     "YAML is read with yaml.safe_load only"),
    (r"allow_pickle\s*=\s*True", "np.load must not unpickle"),
    (r"\bpickle\.loads?\(|\bpd\.read_pickle\(|\bjoblib\.load\(", "no unpickling of files"),
    (r"(?<![.\w])(eval|exec)\(", "no code from files"),  # a model's .eval() is fine
])
def test_no_unsafe_loading_in_the_package(pattern: str, why: str) -> None:
    found = [f"{p.relative_to(SRC)}:{n}" for p in sorted(SRC.rglob("*.py"))
             for n, line in enumerate(p.read_text().splitlines(), start=1)
             if re.search(pattern, line) and not line.lstrip().startswith("#")]
    assert not found, f"{why}: {found}"


def test_every_np_and_torch_load_is_safe() -> None:
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text()
        for call in re.finditer(r"\bnp\.load\(([^)]*)\)", text):
            assert "allow_pickle=False" in call.group(1), (path, call.group(0))
        for call in re.finditer(r"\btorch\.load\(([^)]*)\)", text):
            assert "weights_only=True" in call.group(1), (path, call.group(0))


def test_errors_are_faceexpr_errors() -> None:
    assert issubclass(MissingFileError, FaceexprError)
    assert issubclass(FileFormatError, FaceexprError)
