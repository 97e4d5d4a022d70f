"""The package's structure: a light ``import faceexpr``, one session-naming rule for the API
and the command line, recordings from files, registry-only loading, output folders, and
the command line's checks, help texts and plugin commands.

Small synthetic data (300 frames, 2 states) keeps every pipeline run to a second or two.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pytest
import xarray as xr

import faceexpr as fe
from faceexpr.backends.anipose import write_calibration_toml
from faceexpr.cli import main
from faceexpr.errors import FaceexprError, InvalidPoseError
from faceexpr.io import load_pose, save_pose, to_netcdf
from faceexpr.pipeline import Pipeline, Result
from faceexpr.recording import Recording, recordings_from_files, session_name
from faceexpr.registry import pose_estimator_class
from faceexpr.synthetic import SyntheticFace, simulate

HEAVY = ("matplotlib", "sklearn", "scipy.signal", "torch", "aniposelib", "cv2", "dlib")
WRAPPED = ("torch", "aniposelib", "cv2", "dlib", "deeplabcut", "hmmlearn", "pomegranate",
           "matplotlib", "sklearn", "numba", "jax", "dynamax")
"""Libraries the backends wrap: importing the plugins (the registry) must not import them."""


@pytest.fixture(scope="module")
def sim() -> SyntheticFace:
    return simulate(300, seed=5, n_cameras=2)


@pytest.fixture(scope="module")
def result(sim: SyntheticFace) -> Result:
    return Pipeline(n_states=2, progress=False).run(sim.pose3d)


def fast(**options: Any) -> Pipeline:
    return Pipeline(**{"n_states": 2, "progress": False, "model_options": {"n_init": 1},
                       **options})


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


# -- 8. import contract ---------------------------------------------------------------------
IMPORT_PROBE = """
import json, sys
import faceexpr as fe
after_import = sorted(sys.modules)
fe.backends()
after_registry = sorted(sys.modules)
assert callable(fe.backends)
fe.Pipeline
after_pipeline = sorted(sys.modules)
print(json.dumps([after_import, after_registry, after_pipeline]))
"""


def loaded(modules: Sequence[str], name: str) -> bool:
    return any(m == name or m.startswith(name + ".") for m in modules)


def test_import_faceexpr_is_light() -> None:
    run = subprocess.run([sys.executable, "-c", IMPORT_PROBE], capture_output=True,
                         text=True, check=False, timeout=120,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert run.returncode == 0, run.stderr
    after_import, after_registry, after_pipeline = json.loads(run.stdout.splitlines()[-1])
    assert "faceexpr" in after_import
    assert [m for m in HEAVY if loaded(after_import, m)] == []
    backends = [m for m in after_import if m.startswith("faceexpr.backends")]
    assert backends == ["faceexpr.backends"]  # the light package only, no backend
    for lazy in ("faceexpr.pipeline", "faceexpr.plot", "faceexpr.synthetic",
                 "faceexpr.recording"):
        assert lazy not in after_import, lazy
    # loading every plugin (the registry) imports the backends, not the libraries they wrap
    assert "faceexpr.backends.anipose" in after_registry
    assert "faceexpr.backends.deeplabcut" in after_registry
    assert [m for m in WRAPPED if loaded(after_registry, m)] == []
    # a lazy name imports its module at first use
    assert "faceexpr.pipeline" not in after_registry
    assert "faceexpr.pipeline" in after_pipeline


def test_lazy_names_resolve_to_their_modules() -> None:
    import faceexpr.pipeline
    import faceexpr.recording

    assert fe.Pipeline is faceexpr.pipeline.Pipeline
    assert fe.Result is faceexpr.pipeline.Result
    assert fe.recordings_from_files is faceexpr.recording.recordings_from_files
    assert fe.synthetic is sys.modules["faceexpr.synthetic"]
    assert {"Pipeline", "plot", "synthetic", "calibrate"} <= set(dir(fe))
    assert callable(fe.backends)  # the function, not the faceexpr.backends package


# -- 9. session naming ------------------------------------------------------------------------
def test_sessions_are_named_like_the_command_line_names_them(
        sim: SyntheticFace, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = [tmp_path / "a" / "rec.csv", tmp_path / "b" / "rec.csv", tmp_path / "mouse_01.csv"]
    for p in paths:
        p.parent.mkdir(exist_ok=True)
        save_pose(sim.pose3d, p)  # Anipose pose-3d CSV
    out = tmp_path / "out"
    assert main(["analyze", *map(str, paths), "--n-states", "2", "--n-init", "1",
                 "--no-figures", "--quiet", "--out", str(out)]) == 0
    capsys.readouterr()
    cli = list(dict.fromkeys(pd.read_csv(out / "states.csv")["session"]))
    assert cli == ["rec_0", "rec_1", "mouse_01_2"]  # duplicates made unique
    for name in cli:
        assert (out / "sessions" / name / f"{name}.nc").is_file()
    poses = [load_pose(p) for p in paths]
    assert [session_name(p, i) for i, p in enumerate(poses)] == ["rec", "rec", "mouse_01"]
    assert [r.name for r in recordings_from_files(paths)] == ["rec", "rec", "mouse_01"]
    assert fast().run(poses).sessions == cli


def test_a_dataset_made_in_memory_is_session0(result: Result, sim: SyntheticFace) -> None:
    assert sim.pose3d.attrs["source_files"] == []
    assert result.sessions == ["session0"]
    assert session_name(sim.pose3d, 3) == "session3"
    assert session_name(Path("x/y/take.h5"), 0) == "take"
    assert session_name(Recording("named", (Path("z.h5"),)), 0) == "named"


@pytest.mark.xfail(strict=True, reason=(
    "a pose read from a .nc file keeps the source_files it was saved with, so the API "
    "names it after that (or session0) while `faceexpr analyze file.nc` names it 'file'"))
def test_a_netcdf_file_gives_the_same_session_name_as_the_command_line(
        sim: SyntheticFace, tmp_path: Path) -> None:
    path = tmp_path / "take_2.nc"
    to_netcdf(sim.pose3d, path)
    assert recordings_from_files([path])[0].name == "take_2"
    assert session_name(load_pose(path), 0) == "take_2"


def test_unsafe_names_are_made_safe_and_saved_inside_the_folder(
        sim: SyntheticFace, tmp_path: Path) -> None:
    names = ["../../x", "/etc/passwd", "a\\b", "..", "ok-name_1.2"]
    run = fast().run([sim.pose3d] * len(names), names=names)
    assert len(set(run.sessions)) == len(names)
    for name in run.sessions:
        assert "/" not in name and "\\" not in name and not name.startswith(".")
        assert name and Path(name).name == name
    assert run.sessions[-1] == "ok-name_1.2"  # a safe name is kept as it is
    out = tmp_path / "deep" / "er" / "out"
    run.save(out, figures=False)
    inside = files_under(out)
    assert files_under(tmp_path) == {"deep", "deep/er", "deep/er/out"} | {
        f"deep/er/out/{f}" for f in inside}
    # one folder per session, under sessions/, nothing deeper
    assert all(f.count("/") == 0 or (f.startswith("sessions/") and f.count("/") <= 2)
               for f in inside)
    assert {f"sessions/{name}/{name}.nc" for name in run.sessions} <= inside
    assert set(pd.read_csv(out / "states.csv")["session"]) == set(run.sessions)


def test_a_session_named_like_an_output_file_does_not_replace_it(
        sim: SyntheticFace, tmp_path: Path) -> None:
    run = fast().run(sim.pose3d, names=["expressions"])
    out = run.save(tmp_path / "out", figures=False)
    variables = {}
    for path in out.rglob("*.nc"):
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            variables[path.relative_to(out).as_posix()] = set(ds.data_vars)
    assert "expression" in variables["expressions.nc"]  # the state means
    assert any("state" in v for v in variables.values())  # and the session's states


def test_figures_of_dotted_session_names_keep_the_whole_name(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for session in ("rec.day1", "rec.day2"):
        fig = plt.figure(figsize=(1, 1))
        fe.plot.save_figure(fig, tmp_path / f"timeline_{session}", ("png",))
        plt.close(fig)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["timeline_rec.day1.png",
                                                          "timeline_rec.day2.png"]


# -- 10. recordings from files ---------------------------------------------------------------
def test_recordings_from_files(sim: SyntheticFace, tmp_path: Path) -> None:
    names = ["s1_camA.h5", "s1_camB.h5", "s2_camB.h5", "s2_camA.h5"]
    files = [tmp_path / n for n in names]
    single = recordings_from_files(files)
    assert [r.name for r in single] == ["s1_camA", "s1_camB", "s2_camB", "s2_camA"]
    assert all(r.files == (f,) and r.cameras == () and r.calibration is None
               for r, f in zip(single, files))
    assert single[0].source == files[0]

    calibration = tmp_path / "calibration.toml"
    write_calibration_toml(sim.cameras, calibration)
    grouped = recordings_from_files(files, calibration=calibration)
    assert [r.name for r in grouped] == ["s1", "s2"]
    for r in grouped:
        assert r.cameras == ("A", "B")
        assert [p.name for p in r.files] == [f"{r.name}_camA.h5", f"{r.name}_camB.h5"]
        assert r.calibration == calibration
        assert r.source == list(r.files)
        assert r.project is None

    with pytest.raises(FaceexprError, match="calibration"):
        recordings_from_files(files, project=tmp_path / "config.toml")
    with pytest.raises(FaceexprError, match="no input files"):
        recordings_from_files([])
    with pytest.raises(InvalidPoseError):  # two files are camera A of s1
        recordings_from_files([tmp_path / "s1_camA.h5", tmp_path / "s1_camA.csv"],
                              calibration=calibration)


def test_recordings_take_the_camera_pattern_of_the_project(sim: SyntheticFace,
                                                          tmp_path: Path) -> None:
    calibration = tmp_path / "calibration.toml"
    write_calibration_toml(sim.cameras, calibration)
    project = tmp_path / "config.toml"
    project.write_text('[triangulation]\ncam_regex = "_view([0-9])"\n')
    files = [tmp_path / "s1_view2.h5", tmp_path / "s1_view1.h5"]
    (rec,) = recordings_from_files(files, calibration=calibration, project=project)
    assert rec.name == "s1" and rec.cameras == ("1", "2")
    assert rec.cam_regex == "_view([0-9])"
    assert rec.project is not None and rec.project.cam_regex == "_view([0-9])"
    # an explicit pattern wins over the project's
    (rec,) = recordings_from_files([tmp_path / "t_camA.h5", tmp_path / "t_camB.h5"],
                                   calibration=calibration, project=project,
                                   cam_regex=r"cam([A-Z])")
    assert rec.cameras == ("A", "B")


# -- 11. loading goes through the registry --------------------------------------------------
def counting_estimator(name: str) -> type[fe.PoseEstimator]:
    class CountingFileEstimator(fe.PoseEstimator):
        """Reads pose files like the file estimator, recording every object and call."""

        built: ClassVar[list[CountingFileEstimator]] = []

        def __init__(self, **options: Any) -> None:
            self.options = options
            self.calls: list[Any] = []
            type(self).built.append(self)

        def estimate(self, video: Any) -> xr.Dataset:
            self.calls.append(video)
            return fe.io.load_pose(video)

    CountingFileEstimator.name = name
    return CountingFileEstimator


class EstimatorPlugin:
    def __init__(self, cls: type[fe.PoseEstimator]) -> None:
        self.cls = cls

    @fe.hookimpl
    def faceexpr_pose_estimators(self) -> list[type[fe.PoseEstimator]]:
        return [self.cls]


def test_pipeline_reads_files_through_the_registered_estimator(sim: SyntheticFace,
                                                               tmp_path: Path) -> None:
    path = tmp_path / "take.csv"
    save_pose(sim.pose3d, path)
    cls: Any = counting_estimator("test-counting-file")
    name = fe.register(EstimatorPlugin(cls), name="test-counting-plugin")
    try:
        run = fast(estimator="test-counting-file").run(path)
        assert len(cls.built) == 1
        (used,) = cls.built
        assert used.calls == [path]
        assert used.progress is False  # the pipeline's setting
        assert run.sessions == ["take"]
        fast(estimator="test-counting-file", progress=True).load([path, path])
        assert cls.built[1].progress is True
        assert cls.built[1].calls == [path, path]  # one estimator for every input
        # the estimator's options name progress: they win
        Pipeline(estimator="test-counting-file", progress=False,
                 estimator_options={"progress": True, "extra": 1}).load(path)
        assert cls.built[2].progress is True
        assert cls.built[2].options == {"extra": 1}
        # Datasets pass through without an estimator
        Pipeline(estimator="test-counting-file").load(sim.pose3d)
        assert len(cls.built) == 3
    finally:
        fe.unregister(name)


def test_the_default_file_estimator_is_the_registered_one(sim: SyntheticFace,
                                                          tmp_path: Path) -> None:
    path = tmp_path / "take.csv"
    save_pose(sim.pose3d, path)
    builtin = pose_estimator_class("file")
    cls: Any = counting_estimator("file")
    name = fe.register(EstimatorPlugin(cls), name="test-file-override")
    try:
        (pose,) = Pipeline(progress=False).load(path)
        assert [o.calls for o in cls.built] == [[path]]
        assert cls.built[0].progress is False
        assert pose.sizes["space"] == 3
    finally:
        fe.unregister(name)
    assert pose_estimator_class("file") is builtin


# -- 12. output folder permissions ----------------------------------------------------------
@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o755), (0o077, 0o700),
                                             (0o002, 0o775)])
def test_result_folder_follows_the_umask(result: Result, tmp_path: Path, umask: int,
                                         mode: int) -> None:
    old = os.umask(umask)
    try:
        out = result.save(tmp_path / "out", figures=False)
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == mode
    assert (out / "states.csv").stat().st_mode & 0o777 == mode & 0o666
    assert files_under(tmp_path) == {"out"} | {f"out/{f}" for f in files_under(out)}


# -- 13. command line ------------------------------------------------------------------------
def test_demo_refuses_a_non_empty_folder_before_writing_anything(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "X"
    out.mkdir()
    (out / "sentinel.txt").write_text("keep me")
    (out / "synthetic2d.mp4").write_bytes(b"not really a video")
    before = {p: p.read_bytes() for p in out.iterdir()}

    def unchanged() -> None:
        assert {p: p.read_bytes() for p in out.iterdir()} == before
        assert files_under(tmp_path) == {"X", "X/sentinel.txt", "X/synthetic2d.mp4"}

    assert main(["demo", "--out", str(out), "--frames", "300", "--dims", "3"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # refused before simulating anything
    assert "exists and is not empty" in captured.err and "--overwrite" in captured.err
    unchanged()
    assert main(["demo", "--out", str(out), "--frames", "300", "--dims", "2",
                 "--video"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "not empty" in captured.err
    unchanged()
    assert main(["demo", "--frames", "300", "--video"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "--video needs --out" in captured.err
    unchanged()


def help_text(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as info:
        main([*args, "--help"])
    assert info.value.code == 0
    return capsys.readouterr().out


def option_help(text: str) -> dict[str, str]:
    """Each option of a help page → its help, on one line."""
    entries: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        match = re.match(r"^  (-[-\w]+|--[-\w]+)", line)
        if match:
            current = match.group(1)
            entries[current] = line
        elif current and line.startswith("      "):
            entries[current] += " " + line
        else:
            current = None
    return {k: " ".join(v.split()) for k, v in entries.items()}


@pytest.mark.parametrize(("command", "defaults"), [
    ("demo", {"--frames": "3000", "--n-states": "5", "--seed": "2", "--dims": "2"}),
    ("analyze", {"--format": "auto", "--estimator": "file", "--n-states": "9",
                 "--criterion": "icl", "--cv-folds": "5", "--dwell-time": "1.0",
                 "--stability": "0", "--model": "native", "--covariance": "full",
                 "--n-init": "3", "--confidence": "0.5", "--max-gap": "10",
                 "--out": "faceexpr-out", "--triangulator": "anipose"}),
])
def test_help_shows_defaults(command: str, defaults: dict[str, str],
                             capsys: pytest.CaptureFixture[str]) -> None:
    entries = option_help(help_text([command], capsys))
    assert "--overwrite" in entries
    for option, default in defaults.items():
        assert f"(default: {default}" in entries[option], entries[option]
    for text in entries.values():
        assert text.count("(default") <= 1, text  # one default, not two that disagree


def test_help_lists_the_plugin_commands(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text([], capsys)
    for command in ("analyze", "demo", "backends", "calibrate", "dlc"):
        assert re.search(rf"^\s+{command}\s", text, re.MULTILINE), command
    assert set(fe.registry.cli_commands()) >= {"calibrate", "dlc"}
    assert "--board" in help_text(["calibrate"], capsys)


def test_backends_command_prints_the_formats(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    for name in ("deeplabcut", "anipose", "openface", "netcdf"):
        assert re.search(rf"^\s*pose_format\s+{name}\s+yes\s", out, re.MULTILINE), name
    assert re.search(r"^\s*state_model\s+hmmlearn\s+yes", out, re.MULTILINE)
    assert re.search(r"^\s*state_model\s+native\s+yes", out, re.MULTILINE)
    assert "calibrate (faceexpr.backends.anipose" in out
    assert "dlc (faceexpr.backends.deeplabcut" in out
