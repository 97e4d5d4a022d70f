"""Smoke tests of ``python -m benchmarks``: every benchmark at toy size, for real (fresh
processes, the real backends, the real ``faceexpr analyze``), checking its header, its CSV
columns and that its numbers are finite and consistent. The times themselves are not
asserted: they belong to the machine.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the benchmarks package lives beside src/, not installed
    sys.path.insert(0, str(ROOT))

from benchmarks.__main__ import main  # noqa: E402
from benchmarks.pipeline import STAGES  # noqa: E402


def _finite(table: pd.DataFrame, columns: list[str]) -> None:
    values = table[columns].to_numpy(dtype=float)
    assert np.isfinite(values).all(), table[columns]


def _header(out: Path, name: str, printed: str) -> None:
    """The header was printed, and written with the load after the run."""
    for part in ("CPU: ", "load average before: ", "load average after: ", "thread pool ",
                 "versions: python ", "numpy ", "faceexpr ", "hmmlearn ", "dynamax "):
        assert part in printed, part
    info = json.loads((out / f"{name}_machine.json").read_text())
    assert info["cpu_count"] >= 1 and len(info["load_after"]) == 3
    assert any(pool["user_api"] == "blas" for pool in info["thread_pools"])


def test_startup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["startup", "--repeats", "1", "--out", str(tmp_path)])
    _header(tmp_path, "startup", capsys.readouterr().out)
    table = pd.read_csv(tmp_path / "startup.csv").set_index("command")
    assert list(table.index) == ["python -c pass", 'python -c "import faceexpr"',
                                 "faceexpr --help"]
    _finite(table, ["median_s", "min_s", "max_s", "minus_bare_s", "peak_mib"])
    assert (table["min_s"] <= table["median_s"]).all()
    assert (table["median_s"] <= table["max_s"]).all()
    assert table.loc["python -c pass", "minus_bare_s"] == 0.0
    # faceexpr loads numpy at least: more time and memory than a bare interpreter
    assert table.loc['python -c "import faceexpr"', "minus_bare_s"] > 0
    assert (table["peak_mib"] > 1).all()
    assert table.loc["faceexpr --help", "peak_mib"] > table.loc["python -c pass", "peak_mib"]


def test_state_models(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # T=60,000 is estimated from T=600 as beyond the budget: skipped, not run
    main(["state-models", "--frames", "600", "60000", "--dims", "3", "--states", "2",
          "--n-iter", "4", "--repeats", "1", "--backends", "hmmlearn", "native",
          "--max-seconds", "0.01", "--out", str(tmp_path)])
    _header(tmp_path, "state_models", capsys.readouterr().out)
    everything = pd.read_csv(tmp_path / "state_models.csv")
    skipped = everything[everything["T"] == 60000]
    assert len(skipped) == 2 and skipped["fit_s"].isna().all()
    assert skipped["note"].str.startswith("skipped: estimated").all(), skipped["note"]
    table = everything[everything["T"] == 600].set_index("backend")
    assert sorted(table.index) == ["hmmlearn", "native"]
    assert table["note"].isna().all(), table["note"]
    numbers = ["s_per_iter", "s_per_iter_min", "s_per_iter_max", "fit_s", "predict_s",
               "peak_mib", "log_likelihood", "ll_rel_diff_vs_hmmlearn", "ARI",
               "s_per_iter_vs_hmmlearn"]
    _finite(table, numbers)
    # the same fixed number of EM iterations for both
    assert (table["iters"] == 4).all()
    assert table.loc["hmmlearn", "s_per_iter_vs_hmmlearn"] == 1.0
    assert table.loc["hmmlearn", "ll_rel_diff_vs_hmmlearn"] == 0.0
    # same start, same priors, same iterations: the same maximum, to rounding
    assert abs(table.loc["native", "ll_rel_diff_vs_hmmlearn"]) < 1e-8
    assert (table["ARI"] > 0.9).all()  # well separated states are found
    assert (table["fit_s"] > 0).all() and (table["peak_mib"] >= 0).all()


def test_pipeline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # figures are the slowest stage and add nothing to the plumbing tested here
    main(["pipeline", "--hours", "0.05", "--repeats", "1", "--recipe-iters", "10",
          "--analyze-option=--no-figures", "--out", str(tmp_path)])
    _header(tmp_path, "pipeline", capsys.readouterr().out)
    stages = pd.read_csv(tmp_path / "pipeline_stages.csv").set_index("stage")
    assert list(stages.index[:len(STAGES)]) == list(STAGES)
    _finite(stages, ["median_s", "min_s", "max_s", "share"])
    for stage in ("import", "read", "clean", "egocentric", "features", "fit", "predict",
                  "tables"):
        assert stages.loc[stage, "median_s"] > 0, stage
    assert stages.loc["figures", "median_s"] == 0.0  # --no-figures: never called
    # every second of the command is in exactly one stage
    total = stages["median_s"].iloc[len(STAGES)]
    assert math.isclose(stages["median_s"].iloc[:len(STAGES)].sum(), total, rel_tol=1e-9)
    assert stages["median_s"].iloc[-1] >= total  # the process also starts Python

    runs = pd.read_csv(tmp_path / "pipeline_runs.csv").set_index("run")
    _finite(runs, ["median_s", "min_s", "max_s", "peak_mib", "faceexpr_command_over_this"])
    fit = runs.loc["recipe: GaussianHMM fit n_iter=10"]
    assert 1 <= fit["iterations"] <= 10
    assert 0 < fit["frames_used"] <= int(0.05 * 108_000)
    assert runs.loc["faceexpr analyze (the command)", "faceexpr_command_over_this"] == 1.0
    # faceexpr holds the poses, features and model; more than a bare interpreter
    assert runs.loc["faceexpr analyze (the command)", "peak_mib"] > 50
    raw = pd.read_csv(tmp_path / "pipeline_raw.csv")
    assert sorted(set(raw["run"])) == ["command", "library", "recipe n_iter=10"]
    assert (raw.loc[raw["run"] == "recipe n_iter=10", "columns"] == 63).all()
