"""Bad options, bad outputs and faults during a run: one line, exit 1, nothing lost or left.

Every case fails *before* the fit where it can be known then, creates nothing, and names
what is wrong; faults during saving (signals, a full disk) leave no half-written result.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import faceexpr as fe
from faceexpr._files import TEMPORARY_PREFIX
from faceexpr.cli import main
from faceexpr.errors import FaceexprError
from faceexpr.io import save_pose
from faceexpr.synthetic import simulate


@pytest.fixture(scope="module")
def pose() -> xr.Dataset:
    return simulate(200, seed=0).pose3d


def _nc(pose: xr.Dataset, path: Path) -> Path:
    save_pose(pose, path)
    return path


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str], *expected: str) -> str:
    """Run the command; it must exit 1 with one line on stderr holding ``expected``."""
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("faceexpr: error: ") and "\n" not in err, err
    for text in expected:
        assert text in err, err
    return err


def _nothing_left(folder: Path, *allowed: str) -> None:
    assert sorted(p.name for p in folder.iterdir()) == sorted(allowed)


# -- options checked before any work ----------------------------------------------------
@pytest.mark.parametrize(("option", "expected"), [
    (["--fps", "0"], "--fps"), (["--fps", "-30"], "--fps"), (["--fps", "nan"], "--fps"),
    (["--fps", "inf"], "--fps"), (["--pca", "-3"], "--pca"), (["--pca", "2.5"], "--pca"),
    (["--confidence", "1.5"], "--confidence"), (["--max-gap", "-1"], "--max-gap"),
    (["--n-init", "0"], "--n-init"),
    (["--n-states", "auto", "--candidates", "5", "2"], "--candidates 5 2"),
])
def test_bad_option_values_are_refused_first(option: list[str], expected: str,
                                             pose: xr.Dataset, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    f = _nc(pose, tmp_path / "face.nc")
    _fails(["analyze", str(f), "--out", str(tmp_path / "out"), "--quiet", *option], capsys,
           expected)
    _nothing_left(tmp_path, "face.nc")


def test_too_many_states_for_the_frames(pose: xr.Dataset, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    f = _nc(pose.isel(time=slice(0, 40)), tmp_path / "short.nc")
    err = _fails(["analyze", str(f), "--n-states", "30", "--out", str(tmp_path / "out"),
                  "--quiet"], capsys, "30 states", "40", "at most 10 states fit")
    assert "--covariance diag" in err
    _nothing_left(tmp_path, "short.nc")
    # the API says the same, before fitting
    with pytest.raises(FaceexprError, match="at most 10 states fit"):
        fe.Pipeline(n_states=30, progress=False).run(pose.isel(time=slice(0, 40)))
    with pytest.raises(FaceexprError, match="n_states must be"):
        fe.Pipeline(n_states=0, progress=False).run(pose)
    with pytest.raises(FaceexprError, match="pca must be"):
        fe.Pipeline(pca=-3, progress=False).run(pose)


# -- messages that say what is wrong and where ------------------------------------------
def _all_nan_reference(p: xr.Dataset) -> xr.Dataset:
    q = p.copy(deep=True)
    q["position"].loc[{"landmarks": "nose1"}] = np.nan
    return q


def _all_nan(p: xr.Dataset) -> xr.Dataset:
    q = p.copy(deep=True)
    q["position"][:] = np.nan
    return q


def _constant(p: xr.Dataset) -> xr.Dataset:
    q = p.copy(deep=True)
    q["position"][:] = q["position"].isel(time=0)
    return q


@pytest.mark.parametrize(("make", "expected"), [
    (_all_nan_reference, ["reference landmark 'nose1' is missing in every frame",
                          "--reference"]),
    (_all_nan, ["no landmark has a position in any frame"]),
    (_constant, ["nothing to model", "no landmark moves"]),
    (lambda p: p.isel(time=slice(0, 1)), ["nothing to model", "1 frame"]),
    (lambda p: p.isel(time=slice(0, 2)), ["need at least", "have 2"]),
    (lambda p: p.isel(time=slice(0, 6)), ["need at least", "have 6"]),
], ids=["nan-reference", "all-nan", "constant", "1-frame", "2-frames", "6-frames"])
def test_unusable_recordings_say_why(make: object, expected: list[str], pose: xr.Dataset,
                                     tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    f = _nc(make(pose), tmp_path / "bad.nc")  # type: ignore[operator]
    err = _fails(["analyze", str(f), "--out", str(tmp_path / "out"), "--quiet"], capsys,
                 *expected)
    assert "features have no columns" not in err and "n_components" not in err
    _nothing_left(tmp_path, "bad.nc")


def test_multi_animal_deeplabcut_file_with_individual(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    sim = simulate(300, seed=3, n_cameras=1)
    single = sim.write_dlc(tmp_path / "one.csv")
    df = pd.read_csv(single, header=[0, 1, 2], index_col=0)
    parts = []
    for who, shift in (("alice", 0.0), ("bob", 400.0)):
        part = df.copy()
        part.loc[:, (slice(None), slice(None), ["x"])] += shift
        part.columns = pd.MultiIndex.from_tuples(
            [(s, who, b, c) for s, b, c in part.columns],
            names=["scorer", "individuals", "bodyparts", "coords"])
        parts.append(part)
    multi = tmp_path / "two.csv"
    pd.concat(parts, axis=1).to_csv(multi)
    _fails(["analyze", str(multi), "--out", str(tmp_path / "out"), "--quiet",
            "--n-states", "3"], capsys, "several individuals", "alice")
    assert main(["analyze", str(multi), "--individual", "bob", "--n-states", "3", "--out",
                 str(tmp_path / "out"), "--quiet", "--no-figures"]) == 0
    first = pd.read_csv(tmp_path / "out" / "states.csv")
    assert len(first) == 300


# -- where the result goes --------------------------------------------------------------
def test_output_locations_refused_before_any_work(pose: xr.Dataset, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    f = _nc(pose, tmp_path / "face.nc")
    monkeypatch.chdir(tmp_path)
    for out in (".", "..", "/"):
        _fails(["analyze", "face.nc", "--out", out, "--overwrite", "--quiet"], capsys,
               "working folder")
    _fails(["analyze", "face.nc", "--out", "x" * 256, "--quiet"], capsys, "256 bytes")
    _fails(["analyze", "face.nc", "--out", "face.nc/out", "--quiet"], capsys,
           "face.nc is a file")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    _fails(["analyze", "face.nc", "--out", "taken", "--quiet"], capsys, "--overwrite")
    bad_video = tmp_path / "broken.mp4"
    bad_video.write_bytes(np.random.default_rng(0).bytes(4096))
    _fails(["analyze", "face.nc", "--video", str(bad_video), "--out", "v", "--quiet"],
           capsys, "broken.mp4")
    _nothing_left(tmp_path, "face.nc", "taken", "broken.mp4")
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"
    assert f.exists()


def test_a_name_near_the_limit_is_written(pose: xr.Dataset, tmp_path: Path) -> None:
    result = fe.Pipeline(n_states=2, progress=False).run(pose, names=["s" * 250])
    out = result.save(tmp_path / ("o" * 255), figures=False)
    assert (out / "states.csv").is_file()
    (session,) = (out / "sessions").iterdir()
    assert len(session.name.encode()) <= 100  # shortened, with a hash of the full name
    _nothing_left(tmp_path, "o" * 255)


def test_parents_created_for_a_failed_save_are_removed(pose: xr.Dataset,
                                                       tmp_path: Path) -> None:
    result = fe.Pipeline(n_states=2, progress=False).run(pose, names=["s"])
    with pytest.raises(ValueError, match="unknown session"):
        result.save(tmp_path / "np1" / "np2" / "x", videos={"nobody": tmp_path / "v.mp4"})
    _nothing_left(tmp_path)
    (tmp_path / "np1").mkdir()  # a folder that was there before stays
    with pytest.raises(ValueError, match="unknown session"):
        result.save(tmp_path / "np1" / "np2" / "x", videos={"nobody": tmp_path / "v.mp4"})
    _nothing_left(tmp_path, "np1")
    _nothing_left(tmp_path / "np1")


# -- session names never collide --------------------------------------------------------
def test_session_names_get_their_own_folders(pose: xr.Dataset, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    names = ["expressions", "s1.a", "s1.b", "by_state", "S1.A"]
    files = []
    for i, name in enumerate(names):
        folder = tmp_path / f"in{i}"
        folder.mkdir()
        files.append(_nc(pose.isel(time=slice(10 * i, 10 * i + 150)), folder / f"{name}.nc"))
    out = tmp_path / "out"
    assert main(["analyze", *map(str, files), "--n-states", "2", "--n-init", "1",
                 "--out", str(out), "--quiet"]) == 0
    sessions = sorted(p.name for p in (out / "sessions").iterdir())
    assert len(sessions) == len(names)
    assert len({s.casefold() for s in sessions}) == len(names)  # even on macOS
    assert fe.io.from_netcdf(out / "expressions.nc")["expression"].sizes["states"] == 2
    report = (out / "report.html").read_text()
    timelines = {s: (out / "sessions" / s / "timeline.png").read_bytes() for s in sessions}
    assert len(set(timelines.values())) == len(names)  # five different figures
    for s in sessions:
        assert f"sessions/{s}/timeline.png" in report
        session = fe.io.from_netcdf(out / "sessions" / s / f"{s}.nc")
        assert session.sizes["time"] == 150
    assert (out / "kinematics_by_state.png").is_file()


# -- faults during saving ---------------------------------------------------------------
SAVE_SCRIPT = """
import os, signal, sys
import faceexpr.report as report
from faceexpr._files import TEMPORARY_PREFIX
from faceexpr.cli import main

real = report.write_report

def stop_halfway(*args, **kwargs):
    os.kill(os.getpid(), signal.{signal})  # the figures and tables are written by now
    return real(*args, **kwargs)

report.write_report = stop_halfway
import faceexpr.pipeline
faceexpr.pipeline.write_report = stop_halfway
sys.exit(main(["analyze", sys.argv[1], "--n-states", "2", "--n-init", "1", "--out",
               sys.argv[2], "--quiet", "--overwrite"]))
"""


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_signal_during_save_leaves_nothing_half_written(signame: str, pose: xr.Dataset,
                                                          tmp_path: Path) -> None:
    f = _nc(pose, tmp_path / "face.nc")
    out = tmp_path / "res"
    # an earlier result in the way stays as it was
    assert main(["analyze", str(f), "--n-states", "2", "--n-init", "1", "--out", str(out),
                 "--quiet", "--no-figures"]) == 0
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    script = tmp_path / "stop.py"
    script.write_text(textwrap.dedent(SAVE_SCRIPT).replace("{signal}", signame))
    run = subprocess.run([sys.executable, str(script), str(f), str(out)],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "MPLBACKEND": "Agg"})
    expected = 130 if signame == "SIGINT" else 128 + getattr(signal, signame)
    assert run.returncode == expected, run.stderr
    assert "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    _nothing_left(tmp_path, "face.nc", "res", "stop.py")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before


@contextmanager
def _tmpfs(mount: Path, options: str) -> Iterator[Path]:
    """A small file system (tmpfs) at ``mount``, where the machine lets us mount one (root
    on Linux); the test is skipped elsewhere."""
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a small file system here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB file system."""
    with _tmpfs(tmp_path / "disk", "size=2m") as mount:
        yield mount


NETCDF_SCRIPT = """
import sys
import numpy as np, xarray as xr
from faceexpr.io import to_netcdf
ds = xr.Dataset({"a": (("t", "x"), np.random.default_rng(0).random((20000, 50)))})
try:
    to_netcdf(ds, sys.argv[1])
except OSError as exc:
    print(exc)
    sys.exit(1)
"""


def test_a_full_disk_is_one_error_and_leaves_nothing(small_disk: Path, pose: xr.Dataset,
                                                     tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    # HDF5 itself crashes the process when the disk fills under it; faceexpr must not
    script = tmp_path / "write.py"
    script.write_text(NETCDF_SCRIPT)
    run = subprocess.run([sys.executable, str(script), str(small_disk / "big.nc")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, (run.returncode, run.stderr)
    assert "no space left on device" in run.stdout and "big.nc" in run.stdout
    _nothing_left(small_disk)
    # the command refuses before the fit when the estimate does not fit
    f = _nc(simulate(3000, seed=0).pose3d, tmp_path / "long.nc")
    _fails(["analyze", str(f), "--out", str(small_disk / "out"), "--quiet"], capsys,
           "not enough space")
    _nothing_left(small_disk)
    # writing that runs out of space part-way says so, naming the file, and leaves no
    # partial file (the estimate above keeps whole saves from getting this far)
    result = fe.Pipeline(n_states=2, progress=False).run(simulate(3000, seed=0).pose3d)
    (small_disk / "filler").write_bytes(b"\0" * (2 * 1024 * 1024 - 300 * 1024))
    partial = small_disk / "partial"
    partial.mkdir()
    with pytest.raises(OSError, match="no space left on device") as error:
        result._write(partial)
    assert error.value.filename and str(partial) in error.value.filename
    assert not [p for p in partial.rglob("*") if p.name.endswith(".part")]


def test_a_read_only_parent_is_named_before_any_work(pose: xr.Dataset, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    f = _nc(pose, tmp_path / "face.nc")
    # a read-only file system: permission bits alone do not stop root
    with _tmpfs(tmp_path / "locked", "ro,size=1m") as locked:
        err = _fails(["analyze", str(f), "--out", str(locked / "a" / "out"), "--quiet"],
                     capsys, f"the folder {locked} is not writable")
        assert TEMPORARY_PREFIX not in err
