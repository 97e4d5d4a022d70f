"""Studies on a real dask LocalCluster (worker processes): the same model as in one
process, a worker killed mid-run, failing sessions, resumed runs, the CLI."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

import faceexpr as fe
from faceexpr.cli import main
from faceexpr.errors import FaceexprError
from faceexpr.study import Study, read_manifest
from faceexpr.study.cluster import connect
from faceexpr.synthetic.faces import simulate

pytest.importorskip("distributed")

N_SESSIONS = 4
N_FRAMES = 500


def _pipeline(**kw: object) -> fe.Pipeline:
    return fe.Pipeline(n_states=4, n_init=1, progress=False, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four sessions of two subjects in two conditions: 500 frames each, 4 expressions,
    drift, dropout, flat-ish depth; one has a gap of 40 missing frames."""
    folder = tmp_path_factory.mktemp("study")
    rows = ["session,subject,condition,files"]
    for i in range(N_SESSIONS):
        sim = simulate(N_FRAMES, n_expressions=4, drift_mm=0.2, depth_scale=0.3,
                       dropout=0.02, seed=10 + i)
        pose = sim.pose3d
        if i == 2:
            pose["position"][200:240] = np.nan
        pose.to_netcdf(folder / f"s{i}.nc")
        np.save(folder / f"s{i}_truth.npy", np.asarray(sim.states))
        rows.append(f"s{i},{'PQ'[i % 2]},{['rest', 'task'][i // 2]},s{i}.nc")
    (folder / "study.csv").write_text("\n".join(rows) + "\n")
    return folder


@pytest.fixture(scope="module")
def serial(study: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("serial") / "out"
    return Study(_pipeline()).run(read_manifest(study / "study.csv"), out)


def _truth(study: Path, i: int) -> np.ndarray:
    return np.load(study / f"s{i}_truth.npy")


def test_serial_study_recovers_the_states_and_matches_the_pipeline(study: Path, serial) -> None:  # type: ignore[no-untyped-def]
    files = [study / f"s{i}.nc" for i in range(N_SESSIONS)]
    pipe = _pipeline().run(files)
    for i in range(N_SESSIONS):
        got = serial.states(f"s{i}")["state"].to_numpy()
        ok = got >= 0
        assert adjusted_rand_score(_truth(study, i)[ok], got[ok]) > 0.9
        theirs = np.asarray(pipe.states[i].values)
        both = ok & (theirs >= 0)
        assert adjusted_rand_score(theirs[both], got[both]) > 0.98
    # the same model up to how the start's sample and the PCA's signs were found
    assert serial.log_likelihood == pytest.approx(pipe.model.log_likelihood_, rel=1e-3)


def test_cluster_gives_the_serial_model(study: Path, serial, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with connect(workers=2) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        got = Study(_pipeline(), client=client).run(study / "study.csv", tmp_path / "out")
    assert got.log_likelihood == pytest.approx(serial.log_likelihood, rel=1e-8, abs=1e-8)
    assert got.n_iter == serial.n_iter
    for i in range(N_SESSIONS):
        np.testing.assert_array_equal(got.states(f"s{i}")["state"],
                                      serial.states(f"s{i}")["state"])
    pd.testing.assert_frame_equal(got.tables["group_frequencies"],
                                  serial.tables["group_frequencies"])
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["ran_on"] == "a dask cluster of 2 workers"


def test_a_worker_killed_mid_run_does_not_change_the_result(study: Path, serial,  # type: ignore[no-untyped-def]
                                                            tmp_path: Path) -> None:
    out = tmp_path / "out"
    with connect(workers=2) as client:
        pids = list(client.run(os.getpid).values())
        box: dict[str, object] = {}

        def run() -> None:
            try:
                box["result"] = Study(_pipeline(), client=client).run(study / "study.csv", out)
            except BaseException as exc:  # reported below
                box["error"] = exc

        thread = threading.Thread(target=run)
        thread.start()

        def wait_for(done: object) -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not done():  # type: ignore[operator]
                time.sleep(0.02)

        # one worker dies while the sessions are being prepared, the other once every
        # session's features are written (EM holds their frames in the workers' memory)
        wait_for(lambda: any((out / "sessions").glob("*/prepared.json")))
        assert thread.is_alive()
        os.kill(pids[0], signal.SIGKILL)
        wait_for(lambda: all((out / "sessions" / f"s{i}" / "features.zarr").is_dir()
                             for i in range(N_SESSIONS)))
        os.kill(pids[1], signal.SIGKILL)
        thread.join(timeout=300)
    assert "error" not in box, box.get("error")
    got = box["result"]
    assert got.log_likelihood == pytest.approx(serial.log_likelihood, rel=1e-8)  # type: ignore[attr-defined]
    for i in range(N_SESSIONS):
        np.testing.assert_array_equal(got.states(f"s{i}")["state"],  # type: ignore[attr-defined]
                                      serial.states(f"s{i}")["state"])
    # nothing half-written left behind
    assert not [p for p in out.rglob("*") if p.name.startswith(".") or "tmp" in p.name]


def _with_bad_session(study: Path, folder: Path) -> Path:
    (folder / "broken.nc").write_bytes(b"CDF\x01" + os.urandom(200))
    rows = (study / "study.csv").read_text().splitlines()
    rows = [r.replace(",s", f",{study}/s") if i else r for i, r in enumerate(rows)]
    rows.append(f"bad,P,task,{folder / 'broken.nc'}")
    (folder / "study.csv").write_text("\n".join(rows) + "\n")
    return folder / "study.csv"


def test_a_failing_session_stops_the_study_or_is_left_out(study: Path, tmp_path: Path) -> None:
    manifest = _with_bad_session(study, tmp_path)
    with pytest.raises(FaceexprError, match="session bad: preparing failed: .*broken.nc.*"
                       r"4 prepared session\(s\) are kept .* resume=True"):
        Study(_pipeline()).run(manifest, tmp_path / "stop")
    # they are reused, and the failing one left out
    again = Study(_pipeline(), resume=True, keep_going=True).run(manifest, tmp_path / "stop")
    assert again.reused == [f"s{i}" for i in range(N_SESSIONS)] and set(again.failed) == {"bad"}
    got = Study(_pipeline(), keep_going=True).run(manifest, tmp_path / "skip")
    assert got.sessions == [f"s{i}" for i in range(N_SESSIONS)]
    assert set(got.failed) == {"bad"} and "broken.nc" in got.failed["bad"]
    table = pd.read_csv(tmp_path / "skip" / "study.csv")
    assert table.set_index("session").loc["bad", "status"] == "failed"
    summary = json.loads((tmp_path / "skip" / "summary.json").read_text())
    assert [f["session"] for f in summary["failed"]] == ["bad"]
    assert summary["failed"][0]["line"] == N_SESSIONS + 2
    assert "failed and were left out" in (tmp_path / "skip" / "report.html").read_text()


def test_resume_reuses_finished_sessions_and_redoes_changed_ones(study: Path, serial,  # type: ignore[no-untyped-def]
                                                                tmp_path: Path) -> None:
    sessions = read_manifest(study / "study.csv")
    first = Study(_pipeline()).run(sessions, tmp_path / "out")
    again = Study(_pipeline(), resume=True).run(sessions, tmp_path / "out")
    assert again.reused == [f"s{i}" for i in range(N_SESSIONS)]
    assert again.log_likelihood == first.log_likelihood == serial.log_likelihood
    # other settings: nothing is reused
    other = Study(_pipeline(max_gap=3), resume=True).run(sessions, tmp_path / "out")
    assert other.reused == []
    # without resume an existing folder is refused
    with pytest.raises(FaceexprError, match="exists"):
        Study(_pipeline()).run(sessions, tmp_path / "out")


def test_group_tables_follow_the_manifest(serial) -> None:  # type: ignore[no-untyped-def]
    freq = serial.tables["group_frequencies"]
    by_condition = freq[freq["grouping"] == "condition"]
    assert set(by_condition["group"]) == {"rest", "task"}
    assert (by_condition["n_sessions"] == 2).all()
    # every session's fractions sum to 1, so every group's mean fractions do too
    sums = by_condition.groupby("group")["fraction_mean"].sum()
    np.testing.assert_allclose(sums, 1.0, atol=1e-9)
    html = (serial.out / "report.html").read_text()
    assert "<h2>Groups</h2>" in html


def test_a_backend_without_statistics_is_fitted_in_one_process(study: Path,
                                                               tmp_path: Path) -> None:
    got = Study(_pipeline(state_model="hmmlearn")).run(study / "study.csv", tmp_path / "o")
    assert any("no sufficient statistics" in n for n in got.notes)
    for i in range(N_SESSIONS):
        s = got.states(f"s{i}")["state"].to_numpy()
        assert adjusted_rand_score(_truth(study, i)[s >= 0], s[s >= 0]) > 0.8


def test_auto_chooses_by_icl_as_the_pipeline_does_and_refuses_cv(study: Path,
                                                                 tmp_path: Path) -> None:
    auto = fe.Pipeline(n_states="auto", candidates=(2, 3, 4, 5, 6), n_init=1, progress=False)
    got = Study(auto).run(study / "study.csv", tmp_path / "o")
    pooled = auto.run([study / f"s{i}.nc" for i in range(N_SESSIONS)])
    assert got.model.n_states == pooled.n_states
    assert list(got.selection.index) == [2, 3, 4, 5, 6]
    np.testing.assert_allclose(got.selection["log_likelihood"],
                               pooled.model_selection.table["log_likelihood"], rtol=1e-3)
    with pytest.raises(FaceexprError, match="icl, bic or aic"):
        Study(fe.Pipeline(n_states="auto", criterion="cv")).run(study / "study.csv",
                                                                tmp_path / "cv")


def test_cli_study_on_workers(study: Path, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    rc = main(["analyze", "--manifest", str(study / "study.csv"), "--n-states", "4",
               "--n-init", "1", "--workers", "2", "--quiet", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "study: 4 of 4 sessions analysed on 2 local workers" in text
    for name in ("study.csv", "group_frequencies.csv", "group_dwell_times.csv",
                 "group_transitions.csv", "model.npz", "summary.json", "report.html"):
        assert (out / name).is_file(), name
    assert (out / "sessions" / "s0" / "states.csv").is_file()
    assert main(["analyze", "--keep-going", str(study / "s0.nc"), "--out",
                 str(tmp_path / "x")]) == 1
    assert "--keep-going and --resume are for studies" in capsys.readouterr().err


def test_cli_study_on_an_existing_scheduler(study: Path, serial, tmp_path: Path,  # type: ignore[no-untyped-def]
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        rc = main(["analyze", "--manifest", str(study / "study.csv"), "--n-states", "4",
                   "--n-init", "1", "--scheduler", address, "--quiet", "--out",
                   str(tmp_path / "o")])
    assert rc == 0
    assert f"sessions analysed on {address}" in capsys.readouterr().out
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["ran_on"] == "a dask cluster of 1 worker"
    assert summary["log_likelihood"] == pytest.approx(serial.log_likelihood, rel=1e-8)
    # a scheduler that is not there: one line, no output folder
    rc = main(["analyze", "--manifest", str(study / "study.csv"), "--scheduler",
               "tcp://127.0.0.1:9", "--quiet", "--out", str(tmp_path / "none")])
    assert rc == 1
    assert "cannot reach the dask scheduler at tcp://127.0.0.1:9" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


def test_cli_files_as_a_study_keep_sessions_of_the_same_name_apart(
        study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for i, folder in enumerate(("monday", "friday")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "face.nc").write_bytes((study / f"s{i}.nc").read_bytes())
    rc = main(["analyze", str(tmp_path / "monday" / "face.nc"),
               str(tmp_path / "friday" / "face.nc"), "--workers", "1", "--n-states", "4",
               "--n-init", "1", "--quiet", "--out", str(tmp_path / "o")])
    assert rc == 0
    assert "study: 2 of 2 sessions analysed on 1 local worker;" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "o" / "sessions").iterdir()) == [
        "face_0", "face_1"]
