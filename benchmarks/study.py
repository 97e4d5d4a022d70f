"""``python -m benchmarks study``: one study of many sessions, serially and on a dask cluster.

The study is ``--sessions`` synthetic sessions of ``--minutes`` each at 30 fps (the
21-landmark 3D face of :func:`faceexpr.synthetic.faces.simulate` with 5 expressions, seed
``--seed + i`` for session ``i``), written once as netCDF pose files with a manifest
(``session,subject,condition,files``) into ``--out/study-data``, where later runs find them.
Each run is a fresh process (``python -m benchmarks.study RESULT.json ...``) that calls
``faceexpr.study.Study(...).run(read_manifest(...))``:

- ``serial``: no cluster, the process does all the work;
- ``cluster``: on ``distributed.LocalCluster(n_workers=--workers, threads_per_worker=1,
  processes=True)`` that the process starts (``faceexpr.study.cluster.connect``).

Measured: the seconds of ``Study.run`` alone and of the whole process (interpreter start,
imports, cluster start and close included); the client process's own peak resident memory
(``getrusage(RUSAGE_SELF)``, its workers not included) and how much of it came during
``Study.run`` (the modules it imports lazily included: faceexpr imports little up front);
each worker's peak resident memory (``client.run`` of the same
``getrusage`` in every worker before the cluster closes). On Linux a process's peak starts
at the size of the process that forked it, so a worker's peak is at least the client's size
when the cluster started (after the imports, before any data). The client's memory at
several ``--sessions`` shows whether it stays bounded as the study grows.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas where the tables are built: the child process starts lean
    import pandas as pd

FPS = 30.0
N_EXPRESSIONS = 5
MODES = ("serial", "cluster")

__all__ = ["FPS", "MODES", "N_EXPRESSIONS", "prepare", "run", "summary_table"]


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux KiB, macOS bytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / (
        1024 if sys.platform == "darwin" else 1)


def _worker_peak_mib() -> float:
    """:func:`peak_rss_mib` of a dask worker (run there by ``client.run``)."""
    return peak_rss_mib()


# -- the data --------------------------------------------------------------------------------
def data_folder(out: Path, minutes: float, seed: int) -> Path:
    """The cache of sessions of ``minutes`` from ``seed`` on: one folder per length and seed,
    shared by every ``--sessions`` (40 sessions reuse the files of the first 20)."""
    frames = frames_per_session(minutes)
    return out / "study-data" / f"{frames}frames-{N_EXPRESSIONS}expr-seed{seed}"


def frames_per_session(minutes: float) -> int:
    """Frames of a session of ``minutes`` at :data:`FPS` (at least 1)."""
    return max(1, round(minutes * 60 * FPS))


def prepare(sessions: int, minutes: float, out: Path, seed: int = 0) -> tuple[Path, float]:
    """Write the study's pose files (those not already there) and its manifest.

    Returns
    -------
    manifest, seconds
        The manifest CSV and the seconds spent writing files this time (0 when all were
        cached). Every file is written under a temporary name and renamed when complete,
        so an interrupted run leaves no partial file in the cache.
    """
    from faceexpr.io import to_netcdf
    from faceexpr.synthetic.faces import simulate

    folder = data_folder(out, minutes, seed)
    folder.mkdir(parents=True, exist_ok=True)
    n = frames_per_session(minutes)
    start = time.perf_counter()
    wrote = False
    rows = []
    for i in range(sessions):
        path = folder / f"session{i:03d}.nc"
        if not path.is_file():
            to_netcdf(simulate(n, n_expressions=N_EXPRESSIONS, seed=seed + i).pose3d, path)
            wrote = True
        # two sessions per subject, one in each condition
        rows.append({"session": f"session{i:03d}", "subject": f"subject{i // 2:03d}",
                     "condition": ("baseline", "task")[i % 2], "files": path.name})
    seconds = time.perf_counter() - start if wrote else 0.0
    manifest = folder / f"manifest-{sessions}sessions.csv"
    fd, tmp = tempfile.mkstemp(prefix=f".{manifest.name}.", dir=folder)
    try:
        os.chmod(tmp, 0o644)  # mkstemp's is 0600; the cache is an ordinary folder
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=["session", "subject", "condition", "files"])
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, manifest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return manifest, seconds


# -- one run, in a fresh process ---------------------------------------------------------------
def child(result: Path, manifest: Path, out: Path, workers: int, n_states: int) -> int:
    """Run the study of ``manifest`` once (``workers`` 0: serially) and write what was
    measured to ``result`` as JSON."""
    start = time.perf_counter()
    import faceexpr as fe
    from faceexpr.study import Study, read_manifest
    from faceexpr.study.cluster import connect

    imported = time.perf_counter()
    with connect(workers=workers or None) as client:
        connected = time.perf_counter()
        sessions = read_manifest(manifest)
        before = peak_rss_mib()
        began = time.perf_counter()
        study = Study(fe.Pipeline(n_states=n_states, progress=False), client=client)
        outcome = study.run(sessions, out=out)
        study_s = time.perf_counter() - began
        client_peak = peak_rss_mib()
        worker_peaks: dict[str, float] = ({} if client is None
                                          else dict(client.run(_worker_peak_mib)))
    closed = time.perf_counter()
    got = {"sessions": len(sessions), "import_s": imported - start,
           "connect_s": connected - imported, "study_s": study_s,
           "close_s": closed - began - study_s, "client_before_mib": before,
           "client_peak_mib": client_peak,
           "worker_peak_mib": [worker_peaks[w] for w in sorted(worker_peaks)],
           "log_likelihood": float(outcome.log_likelihood), "n_iter": int(outcome.n_iter)}
    result.write_text(json.dumps(got))
    return 0


def _run_once(manifest: Path, work: Path, workers: int, n_states: int, threads: int,
              timeout: float | None) -> dict[str, Any]:
    """One run in a fresh process: the child's measurements and the process's seconds."""
    from benchmarks._machine import child_environment, run_timed

    result = work / "result.json"
    out = work / "study"
    cmd = [sys.executable, "-m", "benchmarks.study", str(result), str(manifest), str(out),
           str(workers), str(n_states)]
    try:
        timed = run_timed(cmd, env=child_environment(threads), timeout=timeout)
        if timed.returncode != 0 or not result.is_file():
            raise RuntimeError(f"the study run ({'serial' if not workers else workers} "
                               f"workers) exited with {timed.returncode}: "
                               f"{timed.stderr[-3000:]}")
        got: dict[str, Any] = json.loads(result.read_text())
    finally:
        result.unlink(missing_ok=True)
        shutil.rmtree(out, ignore_errors=True)  # the study's outputs: not what is measured
    got["process_s"] = timed.seconds
    return got


def run(sessions: Sequence[int], minutes: float, out: Path, repeats: int = 1,
        workers: int = 2, n_states: int = 5, threads: int = 1, seed: int = 0,
        modes: Sequence[str] = MODES, timeout: float | None = None
        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Measure every ``sessions`` count in every mode; the summary table and every run's raw
    numbers.

    The modes take turns within each repeat, so a change in the machine's load reaches
    them alike.
    """
    import pandas as pd

    raw: list[dict[str, Any]] = []
    for n in sessions:
        manifest, write_s = prepare(n, minutes, out, seed)
        size = sum(p.stat().st_size for p in manifest.parent.glob("session*.nc")
                   if int(p.stem.removeprefix("session")) < n) / 2**20
        print(f"{n} sessions of {minutes:g} min ({frames_per_session(minutes)} frames each), "
              f"{size:.1f} MiB of netCDF in {manifest.parent}"
              + (f", written in {write_s:.1f} s" if write_s else " (cached)"), flush=True)
        for i in range(repeats):
            for mode in modes:
                n_workers = 0 if mode == "serial" else workers
                work = Path(tempfile.mkdtemp(prefix="study-run-", dir=out))
                try:
                    got = _run_once(manifest, work, n_workers, n_states, threads, timeout)
                finally:
                    shutil.rmtree(work, ignore_errors=True)
                peaks = got.pop("worker_peak_mib")
                raw.append({"sessions": n, "minutes": minutes, "mode": mode,
                            "workers": n_workers, "repeat": i, **got,
                            "worker_peak_mib": max(peaks) if peaks else float("nan"),
                            "worker_peaks_mib": ";".join(f"{p:.1f}" for p in peaks)})
                print(f"  {mode} repeat {i + 1}/{repeats}: Study.run {got['study_s']:.1f} s "
                      f"(process {got['process_s']:.1f} s), client peak "
                      f"{got['client_peak_mib']:.0f} MiB"
                      + (f", workers {raw[-1]['worker_peaks_mib']} MiB" if peaks else ""),
                      flush=True)
    table = pd.DataFrame(raw)
    return summary_table(table), table


def summary_table(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per sessions count and mode: median (min, max) seconds of ``Study.run``, the
    process's median seconds, the speed-up over the serial run, memory and the fit."""
    import pandas as pd

    from benchmarks._machine import spread

    rows: list[dict[str, Any]] = []
    for (n, mode), part in raw.groupby(["sessions", "mode"], sort=False):
        s = spread(part["study_s"].tolist())
        rows.append({
            "sessions": n, "minutes": part["minutes"].iloc[0], "mode": mode,
            "workers": int(part["workers"].iloc[0]), "repeats": len(part),
            "median_s": s["median"], "min_s": s["min"], "max_s": s["max"],
            "process_s": float(part["process_s"].median()),
            "client_peak_mib": float(part["client_peak_mib"].median()),
            "client_increase_mib": float((part["client_peak_mib"]
                                          - part["client_before_mib"]).median()),
            "worker_peak_mib": float(part["worker_peak_mib"].median()),
            "log_likelihood": float(part["log_likelihood"].median()),
            "n_iter": int(part["n_iter"].median()),
        })
    table = pd.DataFrame(rows)
    serial = table[table["mode"] == "serial"].set_index("sessions")
    table["speedup_vs_serial"] = [
        serial.loc[n, "median_s"] / t if n in serial.index else float("nan")
        for n, t in zip(table["sessions"], table["median_s"], strict=True)]
    table["ll_rel_diff_vs_serial"] = [
        (ll - serial.loc[n, "log_likelihood"]) / abs(serial.loc[n, "log_likelihood"])
        if n in serial.index else float("nan")
        for n, ll in zip(table["sessions"], table["log_likelihood"], strict=True)]
    return table


def main(argv: list[str]) -> int:
    result, manifest, out, workers, n_states = argv
    return child(Path(result), Path(manifest), Path(out), int(workers), int(n_states))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
