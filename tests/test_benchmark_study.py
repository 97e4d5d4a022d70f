"""Smoke test of ``python -m benchmarks study``: a toy study (2 sessions of 6 s), run for
real in fresh processes, serially and on a real ``distributed.LocalCluster``; checks the
header, the table's rows and columns, that its numbers are finite and positive, that the
data is cached between runs, and that both runs fit the same model. The times themselves
are not asserted: they belong to the machine.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the benchmarks package lives beside src/, not installed
    sys.path.insert(0, str(ROOT))

from benchmarks.__main__ import main  # noqa: E402
from benchmarks.study import data_folder, prepare  # noqa: E402

COLUMNS = ["sessions", "minutes", "mode", "workers", "repeats", "median_s", "min_s", "max_s",
           "process_s", "client_peak_mib", "client_increase_mib", "worker_peak_mib",
           "log_likelihood", "n_iter", "speedup_vs_serial", "ll_rel_diff_vs_serial"]


def test_prepare_writes_once_and_keeps_the_files(tmp_path: Path) -> None:
    manifest, seconds = prepare(3, 0.05, tmp_path, seed=4)
    assert seconds > 0 and manifest.parent == data_folder(tmp_path, 0.05, 4)
    table = pd.read_csv(manifest)
    assert list(table.columns) == ["session", "subject", "condition", "files"]
    assert list(table["files"]) == ["session000.nc", "session001.nc", "session002.nc"]
    assert list(table["condition"]) == ["baseline", "task", "baseline"]
    stamps = {p.name: p.stat().st_mtime_ns for p in manifest.parent.glob("*.nc")}
    # more sessions of the same length and seed: only the new file is written
    more, again = prepare(4, 0.05, tmp_path, seed=4)
    assert len(pd.read_csv(more)) == 4 and again > 0
    assert all(p.stat().st_mtime_ns == stamps[p.name]
               for p in more.parent.glob("*.nc") if p.name in stamps)
    assert prepare(2, 0.05, tmp_path, seed=4)[1] == 0.0  # all cached


def test_study(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["study", "--sessions", "2", "--minutes", "0.1", "--n-states", "3",
          "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    for part in ("CPU: ", "load average before: ", "load average after: ",
                 "versions: python ", "serial repeat 1/1", "cluster repeat 1/1"):
        assert part in printed, part
    info = json.loads((tmp_path / "study_machine.json").read_text())
    assert len(info["load_after"]) == 3

    table = pd.read_csv(tmp_path / "study.csv")
    assert list(table.columns) == COLUMNS
    assert list(table["mode"]) == ["serial", "cluster"]
    assert list(table["sessions"]) == [2, 2] and list(table["workers"]) == [0, 2]
    assert (table["repeats"] == 1).all()  # the study's default
    numbers = ["median_s", "min_s", "max_s", "process_s", "client_peak_mib",
               "log_likelihood", "speedup_vs_serial", "ll_rel_diff_vs_serial"]
    assert np.isfinite(table[numbers].to_numpy(float)).all(), table
    assert (table[["median_s", "process_s", "client_peak_mib", "speedup_vs_serial"]] > 0
            ).all().all()
    assert (table["process_s"] > table["median_s"]).all()  # the process also starts Python
    assert (table["client_increase_mib"] >= 0).all() and (table["n_iter"] >= 1).all()
    # the client imports numpy, xarray and faceexpr at least
    assert (table["client_peak_mib"] > 50).all()
    serial, cluster = table.iloc[0], table.iloc[1]
    assert serial["speedup_vs_serial"] == 1.0 and np.isnan(serial["worker_peak_mib"])
    assert cluster["worker_peak_mib"] > 50
    # the same sessions and model: the same fit, whether on the cluster or not
    assert abs(cluster["ll_rel_diff_vs_serial"]) < 1e-6

    raw = pd.read_csv(tmp_path / "study_raw.csv")
    assert len(raw) == 2 and (raw["sessions"] == 2).all()
    peaks = str(raw.loc[raw["mode"] == "cluster", "worker_peaks_mib"].iloc[0]).split(";")
    assert len(peaks) == 2 and all(float(p) > 0 for p in peaks)
    # the sessions stay for the next run; the runs' own outputs do not
    assert len(list(data_folder(tmp_path, 0.1, 0).glob("session*.nc"))) == 2
    assert not list(tmp_path.glob("study-run-*"))
