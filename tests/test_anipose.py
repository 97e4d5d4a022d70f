"""The "anipose" triangulator (real aniposelib), Anipose config files and multi-camera loading."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import xarray as xr

import faceexpr as fe
from faceexpr.backends.anipose import AniposeTriangulator, write_calibration_toml
from faceexpr.backends.anipose.config import read_anipose_config
from faceexpr.backends.deeplabcut import to_dlc_file
from faceexpr.errors import FileFormatError, InvalidPoseError
from faceexpr.io.cameras import camera_name, load_cameras
from faceexpr.synthetic import SyntheticFace, simulate

pytest.importorskip("aniposelib")

N_FRAMES = 300
FACE_WIDTH_MM = 150.0  # ear to ear
# Face-friendly smoothing: Anipose's defaults (2, 3) blur quick expression changes.
FACE_OPTIM: dict[str, Any] = {"scale_smooth": 0.1, "n_deriv_smooth": 1}


@pytest.fixture(scope="module")
def sim() -> SyntheticFace:
    """3 cameras, 0.5 px noise, 1 % dropouts, 5 % wrong 2D points; noise-free 3D truth.

    ``noise_mm=0`` leaves the 2D views as they are (the same random draws) and makes
    ``pose3d`` the true landmark positions (NaN at the 3D dropouts).
    """
    return simulate(N_FRAMES, n_cameras=3, outliers=0.05, noise_mm=0.0, seed=11)


@pytest.fixture(scope="module")
def calib(sim: SyntheticFace, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sim.write_calibration(tmp_path_factory.mktemp("calib") / "calibration.toml")


@pytest.fixture(scope="module")
def results(sim: SyntheticFace, calib: Path) -> dict[str, xr.Dataset]:
    assert sim.pose2d is not None
    options = {"dlt": {}, "ransac": {}, "optim": FACE_OPTIM}
    return {
        method: AniposeTriangulator(calib, method=method, score_threshold=0.5,  # type: ignore[arg-type]
                                    **opts).triangulate(sim.pose2d)
        for method, opts in options.items()
    }


def errors(pose: xr.Dataset, truth: xr.Dataset) -> npt.NDArray[np.float64]:
    """3D distances to the truth where both are known."""
    e = np.linalg.norm(pose["position"].values - truth["position"].values, axis=-1)
    return np.asarray(e[np.isfinite(e)])


def length(pose: xr.Dataset, a: str, b: str) -> npt.NDArray[np.float64]:
    d = pose["position"].sel(landmarks=a).values - pose["position"].sel(landmarks=b).values
    n = np.linalg.norm(d, axis=-1)
    return np.asarray(n[np.isfinite(n)])


# -- accuracy ---------------------------------------------------------------------------


def test_ransac_and_optim_beat_dlt_on_wrong_2d_points(
    sim: SyntheticFace, results: dict[str, xr.Dataset]
) -> None:
    median = {m: float(np.median(errors(r, sim.pose3d))) for m, r in results.items()}
    p95 = {m: float(np.percentile(errors(r, sim.pose3d), 95)) for m, r in results.items()}
    for method in ("ransac", "optim"):
        assert median[method] < 0.01 * FACE_WIDTH_MM, median
        assert median[method] < median["dlt"], median
        assert p95[method] < 5.0, p95  # the wrong 2D points are left out...
    assert p95["dlt"] > 50.0, p95  # ...while the DLT averages them in
    # almost every point seen by >= 2 good cameras is triangulated
    for r in results.values():
        assert np.isfinite(r["position"].values).all(-1).mean() > 0.98


def test_dlt_is_exact_without_noise(tmp_path: Path) -> None:
    clean = simulate(40, n_cameras=3, noise_px=0.0, noise_mm=0.0, dropout=0.0, outliers=0.0,
                     seed=3)
    assert clean.pose2d is not None
    calib = clean.write_calibration(tmp_path / "calibration.toml")
    pose = AniposeTriangulator(calib, method="dlt").triangulate(clean.pose2d)
    err = errors(pose, clean.pose3d)
    assert err.size == 40 * 21
    assert err.max() < 1e-6
    assert float(np.nanmax(pose["reprojection_error"].values)) < 1e-6


def test_ransac_follows_aniposelib(sim: SyntheticFace, tmp_path: Path) -> None:
    """The vectorised RANSAC picks what aniposelib's triangulate_possible picks."""
    four = simulate(12, n_cameras=4, outliers=0.15, seed=5)
    assert four.pose2d is not None
    calib = four.write_calibration(tmp_path / "calibration.toml")
    tri = AniposeTriangulator(calib, method="ransac", score_threshold=0.5, min_cameras=3,
                              reproj_error_threshold=2.0)
    group = tri.camera_group_
    points = four.pose2d["position"].transpose("cameras", "time", "landmarks", "space").values
    scores = four.pose2d["confidence"].transpose("cameras", "time", "landmarks").values
    flat = np.where((scores >= 0.5)[..., None], points, np.nan).reshape(4, -1, 2)
    mine, used = tri._ransac(group, flat)
    ref, picked, _, _ = group.triangulate_possible(flat[:, :, None], min_cams=3, threshold=2.0)
    np.testing.assert_array_equal(np.isfinite(mine[:, 0]), np.isfinite(ref[:, 0]))
    np.testing.assert_allclose(mine, ref, atol=1e-6)
    np.testing.assert_array_equal(np.isfinite(used[..., 0]), picked[:, :, 0])


# -- outputs ----------------------------------------------------------------------------


def test_output_variables(sim: SyntheticFace, results: dict[str, xr.Dataset]) -> None:
    assert sim.pose2d is not None
    for method, pose in results.items():
        fe.validate_pose(pose, ndim=3, cameras=False)
        assert pose["position"].dims == ("time", "landmarks", "space")
        for var in ("reprojection_error", "n_cameras"):
            assert pose[var].dims == ("time", "landmarks")
        np.testing.assert_array_equal(pose["frame"].values, sim.pose2d["frame"].values)
        np.testing.assert_array_equal(pose["time"].values, sim.pose2d["time"].values)
        assert pose.attrs["fps"] == 30.0 and pose.attrs["units"] == "mm"
        record = json.loads(pose.attrs["faceexpr_history"][-1])
        assert record["step"] == "triangulate.anipose" and record["method"] == method
        known = np.isfinite(pose["position"].values).all(-1)
        n_cams = pose["n_cameras"].values
        assert set(np.unique(n_cams)) <= {0.0, 1.0, 2.0, 3.0}
        assert (n_cams[known] >= 2).all()
        assert np.isnan(pose["confidence"].values[~known]).all()
        conf = pose["confidence"].values[known]
        assert ((conf >= 0.5) & (conf <= 1.0)).all()
        assert np.median(pose["reprojection_error"].values[known]) < 1.0  # pixels
    # RANSAC and optim leave wrong 2D points out: fewer cameras than the DLT uses
    assert results["ransac"]["n_cameras"].sum() < results["dlt"]["n_cameras"].sum()


def test_points_seen_by_too_few_cameras_are_nan(sim: SyntheticFace, calib: Path) -> None:
    assert sim.pose2d is not None
    pose2d = sim.pose2d.copy(deep=True)
    # chin: good in camera A only in the first 10 frames
    conf = pose2d["confidence"].values
    conf[:10, 1:, pose2d.indexes["landmarks"].get_loc("chin")] = 0.1
    pose2d["confidence"].values = conf
    for method in ("dlt", "ransac"):
        pose = AniposeTriangulator(calib, method=method,
                                   score_threshold=0.5).triangulate(pose2d)
        chin = pose.sel(landmarks="chin").isel(time=slice(0, 10))
        assert np.isnan(chin["position"].values).all()
        assert (chin["n_cameras"].values <= 1).all()
    three = AniposeTriangulator(calib, method="dlt", score_threshold=0.5, min_cameras=3)
    pose = three.triangulate(sim.pose2d)
    known = np.isfinite(pose["position"].values).all(-1)
    assert (pose["n_cameras"].values[known] == 3).all()


# -- cameras ----------------------------------------------------------------------------


def test_camera_missing_from_calibration(sim: SyntheticFace, tmp_path: Path) -> None:
    assert sim.pose2d is not None
    two = write_calibration_toml(sim.cameras[:2], tmp_path / "calibration.toml")
    tri = AniposeTriangulator(two, method="dlt")
    with pytest.raises(InvalidPoseError, match=r"no camera\(s\) \['C'\].*\['A', 'B'\]"):
        tri.triangulate(sim.pose2d)


def test_extra_calibrated_cameras_are_dropped(sim: SyntheticFace, calib: Path) -> None:
    assert sim.pose2d is not None
    tri = AniposeTriangulator(calib, method="dlt", score_threshold=0.5)
    ca = tri.triangulate(sim.pose2d.sel(cameras=["C", "A"]))
    ac = tri.triangulate(sim.pose2d.sel(cameras=["A", "C"]))
    np.testing.assert_allclose(ca["position"].values, ac["position"].values, atol=1e-8)
    assert np.median(errors(ac, sim.pose3d)) < 1.5


# -- face-anchored frame and constraints ------------------------------------------------


def test_axes_and_reference_point(sim: SyntheticFace, calib: Path,
                                  results: dict[str, xr.Dataset]) -> None:
    assert sim.pose2d is not None
    tri = AniposeTriangulator(calib, method="ransac", score_threshold=0.5,
                              axes=[["x", "nose1", "lefteye1"], ["z", "chin", "nose1"]],
                              reference_point="nose1")
    pose = tri.triangulate(sim.pose2d)
    pos = pose["position"]
    np.testing.assert_allclose(pos.sel(landmarks="nose1").median("time").values, 0.0,
                               atol=1e-9)
    x_dir = (pos.sel(landmarks="lefteye1") - pos.sel(landmarks="nose1")).median("time").values
    assert x_dir @ [1.0, 0.0, 0.0] / np.linalg.norm(x_dir) > 0.999
    # chin -> nose1 lies in the x-z plane (made orthogonal to x), towards +z
    z_dir = (pos.sel(landmarks="nose1") - pos.sel(landmarks="chin")).median("time").values
    assert z_dir[2] > 0 and abs(z_dir[1]) < 0.05 * np.linalg.norm(z_dir)
    m = pose["anipose_M"].values[0]
    np.testing.assert_allclose(m @ m.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(m) == pytest.approx(1.0)
    # the same points as without the axes, rotated and shifted
    raw = results["ransac"]["position"].values
    np.testing.assert_allclose(pos.values, raw @ m.T - pose["anipose_center"].values[0],
                               atol=1e-8)


def test_constraints_keep_lengths_constant(sim: SyntheticFace, calib: Path) -> None:
    assert sim.pose2d is not None
    short = sim.pose2d.isel(time=slice(0, 40))
    pairs = [["nose1", "nose2"], ["lefteye1", "righteye1"]]
    free = AniposeTriangulator(calib, method="optim", score_threshold=0.5, **FACE_OPTIM)
    tied = AniposeTriangulator(calib, method="optim", score_threshold=0.5, constraints=pairs,
                               scale_length=10.0, **FACE_OPTIM)
    a, b = free.triangulate(short), tied.triangulate(short)
    for lm1, lm2 in pairs:
        spread_free = np.std(length(a, lm1, lm2))
        spread_tied = np.std(length(b, lm1, lm2))
        assert spread_tied < 0.5 * spread_free, (lm1, lm2, spread_free, spread_tied)
        true = float(np.median(length(sim.pose3d, lm1, lm2)))
        assert np.median(length(b, lm1, lm2)) == pytest.approx(true, abs=0.5)


def test_bad_options_and_names(sim: SyntheticFace, calib: Path) -> None:
    assert sim.pose2d is not None
    with pytest.raises(ValueError, match="method"):
        AniposeTriangulator(calib, method="magic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_cameras"):
        AniposeTriangulator(calib, min_cameras=1)
    with pytest.raises(ValueError, match="axes"):
        AniposeTriangulator(calib, axes=[["x", "nose1", "lefteye1"], ["x", "chin", "nose1"]])
    tri = AniposeTriangulator(calib, reference_point="forehead")
    with pytest.raises(InvalidPoseError, match="forehead"):
        tri.triangulate(sim.pose2d)
    with pytest.raises(InvalidPoseError, match="2D"):
        tri.triangulate(sim.pose3d)


def test_calibration_file_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        AniposeTriangulator(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('[cam_0]\nname = "A\nsize = [640, 480]\n')
    with pytest.raises(FileFormatError, match=r"bad\.toml.*line"):
        AniposeTriangulator(bad)
    incomplete = tmp_path / "incomplete.toml"
    incomplete.write_text('[cam_0]\nname = "A"\n')
    with pytest.raises(FileFormatError, match=r"incomplete\.toml"):
        AniposeTriangulator(incomplete)


def test_registered_and_used_by_the_pipeline(sim: SyntheticFace, calib: Path) -> None:
    assert sim.pose2d is not None
    assert isinstance(fe.triangulator("anipose", calibration=calib), AniposeTriangulator)
    table = fe.backends()
    row = table[(table["stage"] == "triangulator") & (table["name"] == "anipose")]
    assert len(row) == 1 and bool(row["available"].iloc[0])
    pipe = fe.Pipeline(triangulator="anipose", progress=False,
                       triangulator_options={"calibration": str(calib), "score_threshold": 0.5})
    ego = pipe.clean(sim.pose2d)
    assert ego.sizes["space"] == 3 and "cameras" not in ego.dims


# -- config.toml ------------------------------------------------------------------------

CONFIG = """\
project = "face"
model_folder = "/data/dlc-face"
nesting = 1
video_extension = "mp4"

[calibration]
board_type = "charuco"
board_size = [7, 5]
board_marker_bits = 4
board_marker_dict_number = 50
board_marker_length = 18.75
board_square_side_length = 25
animal_calibration = false
fisheye = false

[labeling]
scheme = [["lefteye1", "lefteye2"], ["nose1", "nose2", "chin"]]

[filter]
enabled = true
medfilt = 13

[triangulation]
triangulate = true
cam_regex = '_cam([A-Z])$'
ransac = true
optim = true
optim_chunking = true
optim_chunking_size = 150
constraints = [["nose1", "nose2"], ["lefteye1", "righteye1"]]
scale_smooth = 0.5
scale_length = 3
reproj_error_threshold = 3
score_threshold = 0.6
n_deriv_smooth = 2
axes = [["x", "nose1", "lefteye1"], ["z", "chin", "nose1"]]
reference_point = "nose1"
my_setting = 7
"""


def test_config_round_trip(tmp_path: Path, calib: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    cfg = read_anipose_config(path)
    t = cfg.triangulation
    assert t.ransac and t.optim and t.triangulate
    assert cfg.cam_regex == "_cam([A-Z])$"
    assert t.constraints == (("nose1", "nose2"), ("lefteye1", "righteye1"))
    assert t.axes == (("x", "nose1", "lefteye1"), ("z", "chin", "nose1"))
    assert t.score_threshold == 0.6 and t.n_deriv_smooth == 2 and t.scale_length == 3.0
    assert t.extra == {"my_setting": 7}
    assert cfg.scheme_chains == (("lefteye1", "lefteye2"), ("nose1", "nose2", "chin"))
    c = cfg.calibration
    assert c.board_type == "charuco" and c.board_size == (7, 5)
    assert c.board_square_side_length == 25.0 and c.fisheye is False
    assert cfg.other["filter"] == {"enabled": True, "medfilt": 13}
    assert cfg.other["project"] == "face"
    assert cfg.board().kind == "charuco"
    assert dict(c)["board_marker_length"] == 18.75 and "board_marker_separation_length" not in c

    options = cfg.triangulator_options(calibration=calib)
    assert options["method"] == "optim" and options["optim_init"] == "ransac"
    assert options["chunk_size"] == 150 and options["scale_smooth"] == 0.5
    assert options["reference_point"] == "nose1"
    tri = AniposeTriangulator(**options)
    assert tri.method == "optim" and tri.constraints == [("nose1", "nose2"),
                                                         ("lefteye1", "righteye1")]
    assert camera_name("session1_camB.h5", cfg.cam_regex) == "B"


def test_config_defaults_are_the_triangulators(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[triangulation]\nransac = true\n")
    options = read_anipose_config(path).triangulator_options()
    assert options["method"] == "ransac" and "axes" not in options
    defaults = inspect.signature(AniposeTriangulator).parameters
    for key in ("score_threshold", "reproj_error_threshold", "scale_smooth", "scale_length",
                "scale_length_weak", "n_deriv_smooth", "reproj_loss", "optim_init"):
        assert options[key] == defaults[key].default, key
    path.write_text("")
    assert read_anipose_config(path).triangulator_options()["method"] == "dlt"


@pytest.mark.parametrize(("text", "message"), [
    ("[triangulation]\noptim = tru\n", r"config\.toml: not valid TOML: line 2"),
    ('[triangulation]\nscore_threshold = "high"\n',
     r"\[triangulation\] score_threshold must be a number, got a string 'high'"),
    ("[triangulation]\noptim = 1\n", r"\[triangulation\] optim must be true or false"),
    ("[triangulation]\nconstraints = [[\"a\", \"b\", \"c\"]]\n",
     r"\[triangulation\] constraints must be an array of \[landmark, landmark\] pairs"),
    ('[triangulation]\naxes = [["w", "a", "b"], ["x", "c", "d"]]\n',
     r"\[triangulation\] axes must be two \[axis, from_landmark, to_landmark\]"),
    ("[calibration]\nboard_size = [7]\n", r"\[calibration\] board_size must be two integers"),
    ("[labeling]\nscheme = [\"a\", \"b\"]\n", r"\[labeling\] scheme must be an array of chains"),
    ("triangulation = 3\n", r"triangulation must be a table"),
])
def test_config_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(FileFormatError, match=message):
        read_anipose_config(path)


def test_config_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_anipose_config(tmp_path / "config.toml")


# -- load_cameras -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def dlc_files(sim: SyntheticFace, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("dlc")
    # in an order other than the cameras', to check the sorting
    return [sim.write_dlc(folder / f"face_cam{c}.h5", camera=c) for c in ("C", "A", "B")]


def test_load_cameras_equals_the_views(sim: SyntheticFace, dlc_files: list[Path]) -> None:
    assert sim.pose2d is not None
    pose = load_cameras(dlc_files, fps=30.0)
    assert list(pose["cameras"].values) == ["A", "B", "C"]
    assert pose["position"].dims == sim.pose2d["position"].dims
    for var in ("position", "confidence"):
        np.testing.assert_allclose(pose[var].values, sim.pose2d[var].values, rtol=1e-6)
    np.testing.assert_array_equal(pose["time"].values, sim.pose2d["time"].values)
    assert list(pose["landmarks"].values) == list(sim.pose2d["landmarks"].values)
    assert sorted(Path(f).name for f in pose.attrs["source_files"]) == [
        "face_camA.h5", "face_camB.h5", "face_camC.h5"]
    named = load_cameras(dlc_files, names=["Z", "X", "Y"], fps=30.0)
    assert list(named["cameras"].values) == ["X", "Y", "Z"]


def test_load_cameras_errors(sim: SyntheticFace, dlc_files: list[Path],
                             tmp_path: Path) -> None:
    nameless = sim.write_dlc(tmp_path / "face.h5", camera="A")
    with pytest.raises(InvalidPoseError, match=r"face\.h5.*cam_regex"):
        load_cameras([*dlc_files[:2], nameless])
    twice = sim.write_dlc(tmp_path / "other_camA.h5", camera="A")
    with pytest.raises(InvalidPoseError, match=r"camera 'A'"):
        load_cameras([*dlc_files, twice])
    short = tmp_path / "short_camC.h5"
    to_dlc_file(sim.view("C").isel(time=slice(0, 250)), short)
    files = [*dlc_files[1:], short]
    with pytest.raises(InvalidPoseError, match=r"short_camC\.h5: 250.*trim=True"):
        load_cameras(files)
    assert load_cameras(files, trim=True).sizes["time"] == 250
    fewer = tmp_path / "fewer_camC.h5"
    to_dlc_file(sim.view("C").drop_sel(landmarks=["chin", "lear"]), fewer)
    with pytest.raises(InvalidPoseError, match=r"fewer_camC\.h5.*lacks \['lear', 'chin'\]"):
        load_cameras([*dlc_files[1:], fewer])


# -- 2D views -> 3D -> states, from the command line -------------------------------------


def test_analyze_triangulates_camera_files_into_states(tmp_path: Path) -> None:
    from faceexpr.analysis import state_agreement
    from faceexpr.cli import main
    from faceexpr.synthetic import simulate

    sims = {name: simulate(1500, n_expressions=4, n_cameras=3, seed=seed)
            for name, seed in (("s1", 21), ("s2", 22))}
    files = [sim.write_dlc(tmp_path / f"{name}_cam{c}.h5", camera=c)
             for name, sim in sims.items() for c in ("A", "B", "C")]
    calibration = sims["s1"].write_calibration(tmp_path / "calibration.toml")
    out = tmp_path / "out"
    assert main(["analyze", *map(str, files), "--calibration", str(calibration),
                 "--n-states", "4", "--fps", "30", "--out", str(out), "--quiet",
                 "--no-figures"]) == 0
    table = pd.read_csv(out / "states.csv")
    assert sorted(table["session"].unique()) == ["s1", "s2"]
    for name, sim in sims.items():
        states = xr.DataArray(table[table["session"] == name]["state"].to_numpy(), dims="time")
        assert state_agreement(sim.states, states) > 0.9
    ds = fe.io.from_netcdf(out / "sessions" / "s1" / "s1.nc")
    assert ds.sizes["space"] == 3 and "cameras" not in ds.dims


def test_analyze_triangulation_options_need_a_calibration(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from faceexpr.cli import main

    assert main(["analyze", str(tmp_path / "x_camA.h5"), "--triangulation", "dlt",
                 "--out", str(tmp_path / "o")]) == 1
    assert "need --calibration" in capsys.readouterr().err
