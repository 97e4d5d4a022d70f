"""The whole ``faceexpr analyze`` on an hour of synthetic face, stage by stage, beside the
seed study's recipe (pandas + hmmlearn) on the same file.

A synthetic Anipose recording (:func:`faceexpr.synthetic.faces.simulate`, 30 fps) is
written once; then every repeat runs, each in a fresh process:

- the command's own entry point, ``faceexpr.cli.main(["analyze", FILE, "--n-states", "9",
  "--out", DIR])``, with the functions it calls for each stage wrapped in timers
  (:func:`instrument`; the pipeline has no timing hooks of its own), so the stages are
  what the command really does and add up to its run;
- the ``faceexpr analyze`` command itself, timed from outside;
- the recipe: ``pandas.read_csv``, the 21 landmarks' x, y, z minus the nose landmark's
  (63 columns), ``hmmlearn.hmm.GaussianHMM(n_components=9, covariance_type="full")`` fitted
  with hmmlearn's default ``n_iter=10`` and with ``n_iter=100`` (about to convergence).

The peak memory of each run is that process's own ``ru_maxrss`` (``os.wait4``).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks._machine import child_environment, run_timed, spread
from benchmarks._pipeline_child import StageTimer, instrument
from benchmarks.startup import faceexpr_command

FRAMES_PER_HOUR = 108_000
"""30 fps."""

STAGES = ("import", "read", "clean", "egocentric", "features", "fit", "predict", "tables",
          "figures", "report", "other")
"""The stages in the order the command runs them; ``import`` is loading faceexpr's pipeline
modules, ``other`` the rest of the command (checks, argument parsing, renames)."""

__all__ = ["STAGES", "StageTimer", "instrument", "run", "runs_table", "stage_table",
           "write_recording"]

def write_recording(hours: float, folder: Path, seed: int = 0) -> tuple[Path, int, float]:
    """Write ``hours`` of synthetic face as an Anipose pose-3d CSV; its path, frames and the
    seconds it took."""
    from faceexpr.synthetic.faces import simulate

    n = int(hours * FRAMES_PER_HOUR)
    start = time.perf_counter()
    path = simulate(n, seed=seed).write_anipose_csv(folder / f"synthetic-{n}frames.csv")
    return path, n, time.perf_counter() - start


def _child(kind: str, args: list[str], result: Path, threads: int) -> tuple[dict[str, Any],
                                                                            float, float]:
    """Run a :mod:`benchmarks._pipeline_child` process; its JSON, wall seconds, peak MiB."""
    cmd = [sys.executable, "-m", "benchmarks._pipeline_child", kind, str(result), *args]
    timed = run_timed(cmd, env=child_environment(threads))
    if timed.returncode != 0 or not result.is_file():
        raise RuntimeError(f"{kind} exited with {timed.returncode}: {timed.stderr[-2000:]}")
    return json.loads(result.read_text()), timed.seconds, timed.peak_mib


def run(hours: float = 1.0, repeats: int = 3, n_states: int = 9, threads: int = 1,
        recipe_iters: tuple[int, ...] = (10, 100), work: Path | None = None,
        analyze_options: tuple[str, ...] = (),
        ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Measure; returns the stage table, the runs table, every repeat's raw numbers and
    what the recording was.

    ``analyze_options`` are further arguments of ``faceexpr analyze`` (e.g. ``--model
    hmmlearn`` or ``--no-figures``), given to both faceexpr runs.
    """
    folder = Path(tempfile.mkdtemp(prefix="faceexpr-bench-", dir=work))
    try:
        path, n, write_s = write_recording(hours, folder)
        data = {"frames": n, "hours": hours, "file_mib": path.stat().st_size / 2**20,
                "write_s": write_s}
        print(f"synthetic recording: {n} frames ({hours:g} h at 30 fps), "
              f"{data['file_mib']:.1f} MiB, written in {write_s:.1f} s", flush=True)
        raw: list[dict[str, Any]] = []
        analyze = ["analyze", str(path), "--n-states", str(n_states), *analyze_options]
        for i in range(repeats):
            out = folder / f"library{i}"
            stages, wall, peak = _child("stages", [*analyze, "--out", str(out)],
                                        folder / f"stages{i}.json", threads)
            shutil.rmtree(out, ignore_errors=True)
            raw.append({"repeat": i, "run": "library", "wall_s": wall, "peak_mib": peak,
                        **{f"{s}_s": stages.get(s, 0.0) for s in STAGES},
                        "main_s": stages["main_s"]})
            out = folder / f"command{i}"
            timed = run_timed([*faceexpr_command(), *analyze, "--out", str(out)],
                              env=child_environment(threads))
            if timed.returncode != 0:
                raise RuntimeError(f"faceexpr analyze exited with {timed.returncode}: "
                                   f"{timed.stderr[-2000:]}")
            shutil.rmtree(out, ignore_errors=True)
            raw.append({"repeat": i, "run": "command", "wall_s": timed.seconds,
                        "peak_mib": timed.peak_mib})
            for n_iter in recipe_iters:
                rec, wall, peak = _child("recipe", [str(path), str(n_states), str(n_iter),
                                                    str(threads)],
                                         folder / f"recipe{i}-{n_iter}.json", threads)
                raw.append({"repeat": i, "run": f"recipe n_iter={n_iter}", "wall_s": wall,
                            "peak_mib": peak, **rec})
            print(f"  repeat {i + 1}/{repeats}: command {timed.seconds:.1f} s, library "
                  f"{raw[-2 - len(recipe_iters)]['wall_s']:.1f} s, recipe fit "
                  + ", ".join(f"{r['fit_s']:.1f} s" for r in raw[-len(recipe_iters):]),
                  flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    table = pd.DataFrame(raw)
    return stage_table(table), runs_table(table, recipe_iters), table, data


def stage_table(raw: pd.DataFrame) -> pd.DataFrame:
    """Median, min and max seconds of every stage of the library run, and its share."""
    lib = raw[raw["run"] == "library"]
    rows = [{"stage": s, **spread(lib[f"{s}_s"].tolist())} for s in STAGES]
    rows.append({"stage": "total (import + command's main)",
                 **spread((lib["import_s"] + lib["main_s"]).tolist())})
    rows.append({"stage": "process (interpreter start to exit)",
                 **spread(lib["wall_s"].tolist())})
    table = pd.DataFrame(rows).rename(columns={"median": "median_s", "min": "min_s",
                                               "max": "max_s"})
    total = table["median_s"].iloc[len(STAGES)]
    return table.assign(share=table["median_s"] / total)


def runs_table(raw: pd.DataFrame, recipe_iters: tuple[int, ...]) -> pd.DataFrame:
    """One row per whole run: faceexpr's command and library runs, the recipe's read and
    fits, with the ratio of faceexpr's whole command to each."""
    def row(label: str, part: pd.DataFrame, column: str, **extra: Any) -> dict[str, Any]:
        s = spread(part[column].tolist())
        return {"run": label, "median_s": s["median"], "min_s": s["min"], "max_s": s["max"],
                "peak_mib": float(part["peak_mib"].median()), **extra}

    command = raw[raw["run"] == "command"]
    rows = [row("faceexpr analyze (the command)", command, "wall_s"),
            row("faceexpr analyze (library, stage timers; process)",
                raw[raw["run"] == "library"], "wall_s")]
    for i, n_iter in enumerate(recipe_iters):
        rec = raw[raw["run"] == f"recipe n_iter={n_iter}"]
        extra = {"iterations": float(rec["iterations"].median()),
                 "converged": bool(rec["converged"].all()),
                 "frames_used": int(rec["frames_used"].iloc[0])}
        if i == 0:
            read = rec.assign(read_prepare_s=rec["read_s"] + rec["prepare_s"])
            rows.append(row("recipe: pandas read_csv + 63 columns", read, "read_prepare_s"))
        rows.append(row(f"recipe: GaussianHMM fit n_iter={n_iter}", rec, "fit_s", **extra))
        rows.append(row(f"recipe: whole process n_iter={n_iter}", rec, "wall_s"))
    table = pd.DataFrame(rows)
    whole = table["median_s"].iloc[0]
    return table.assign(faceexpr_command_over_this=whole / table["median_s"])
