"""What every benchmark prints first: the machine, its load, thread settings and versions.

Also the small helpers the benchmarks share: statistics over repeats and timing a command
in a fresh subprocess with its own peak memory.
"""

from __future__ import annotations

import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("numpy", "scipy", "pandas", "xarray", "scikit-learn", "threadpoolctl", "faceexpr",
            "numba", "hmmlearn", "pomegranate", "torch", "jax", "jaxlib", "dynamax")
"""Distributions whose versions the header lists."""

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMBA_NUM_THREADS", "XLA_FLAGS")

REPO = Path(__file__).resolve().parents[1]
"""The checkout holding the ``benchmarks`` package (put on a child's ``PYTHONPATH``)."""


def cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``, else :func:`platform.processor`)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def load_average() -> tuple[float, float, float]:
    """1, 5 and 15 minute load averages (NaN where the system has none)."""
    try:
        return os.getloadavg()
    except OSError:
        nan = float("nan")
        return nan, nan, nan


def versions() -> dict[str, str]:
    """Python's and every :data:`PACKAGES` distribution's version ("-" if not installed)."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "-"
    return out


def thread_pools() -> list[dict[str, Any]]:
    """:func:`threadpoolctl.threadpool_info` of this process once NumPy's BLAS and
    scikit-learn's OpenMP are loaded, reduced to what tells the pools apart."""
    import numpy  # noqa: F401  (loads the BLAS)
    import sklearn.cluster  # noqa: F401  (loads scikit-learn's OpenMP runtime)
    from threadpoolctl import threadpool_info

    keys = ("user_api", "internal_api", "num_threads", "version", "threading_layer")
    return [{k: pool[k] for k in keys if k in pool} | {"library": Path(pool["filepath"]).name}
            for pool in threadpool_info()]


def machine_info() -> dict[str, Any]:
    """Everything the header prints, as a JSON-able dict."""
    return {
        "cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "usable_cpus": usable_cpus(),
        "platform": platform.platform(), "load_before": list(load_average()),
        "thread_variables": {v: os.environ.get(v, "") for v in THREAD_VARIABLES},
        "thread_pools": thread_pools(), "versions": versions(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


def print_header(info: Mapping[str, Any], title: str, threads: str) -> None:
    """Print the machine header of one benchmark."""
    print(f"== {title} ==")
    print(f"CPU: {info['cpu_model']} x {info['cpu_count']} ({info['usable_cpus']} usable); "
          f"{info['platform']}")
    print("load average before: " + " ".join(f"{v:.2f}" for v in info["load_before"]))
    env = ", ".join(f"{k}={v}" for k, v in info["thread_variables"].items() if v) or "none set"
    print(f"threads used by the measurements: {threads}; environment: {env}")
    for pool in info["thread_pools"]:
        print(f"  thread pool {pool.get('user_api')}/{pool.get('internal_api')} "
              f"{pool.get('version') or ''} {pool['library']}: {pool.get('num_threads')} "
              f"threads" + (f" ({pool['threading_layer']})" if pool.get("threading_layer")
                           else ""))
    print("versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
    print(flush=True)


def finish(info: dict[str, Any], out: Path, name: str) -> None:
    """Print the load average after the benchmark and write the header as JSON beside its
    tables (``<name>_machine.json``)."""
    info["load_after"] = list(load_average())
    info["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %z")
    print("load average after: " + " ".join(f"{v:.2f}" for v in info["load_after"]))
    (out / f"{name}_machine.json").write_text(json.dumps(info, indent=2, default=str))


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max of repeated measurements (NaN when there are none)."""
    finite = [float(v) for v in values if v == v]
    if not finite:
        nan = float("nan")
        return {"median": nan, "min": nan, "max": nan}
    return {"median": statistics.median(finite), "min": min(finite), "max": max(finite)}


def thread_environment(threads: int | None) -> dict[str, str]:
    """Variables that cap a fresh process's BLAS, OpenMP, numba and XLA threads."""
    if threads is None:
        return {}
    n = str(threads)
    env = {"OMP_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n, "MKL_NUM_THREADS": n,
           "NUMBA_NUM_THREADS": n}
    if threads == 1:
        # XLA's CPU backend has no thread-count variable; this turns its Eigen pool off
        env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false"
    return env


def child_environment(threads: int | None, extra: Mapping[str, str] | None = None
                      ) -> dict[str, str]:
    """This process's environment with the ``benchmarks`` package importable, threads capped
    and no display needed."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.setdefault("MPLBACKEND", "Agg")
    env.update(thread_environment(threads))
    env.update(extra or {})
    return env


# The child that spawns and waits for the measured command. On Linux a process's
# ru_maxrss starts at the RSS of the process it was forked from (and survives exec), so a
# command started straight from this (large) Python would report at least our own size;
# started from this small interpreter it reports its own peak.
_LAUNCHER = """
import json, os, resource, sys, time
start = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status = os.waitpid(pid, 0)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(sys.argv[1], "w") as fh:
    json.dump({"seconds": seconds, "maxrss": peak,
               "returncode": os.waitstatus_to_exitcode(status)}, fh)
"""


@dataclass
class Timed:
    """One command run in a fresh process."""

    seconds: float
    """Wall time from its start to its exit."""
    peak_mib: float
    """Its peak resident memory (``getrusage(RUSAGE_CHILDREN).ru_maxrss`` of the small
    process that started it); about 10 MiB at the least, that process's own size."""
    returncode: int
    stdout: str
    stderr: str


def run_timed(command: Sequence[str], env: Mapping[str, str] | None = None,
              cwd: Path | None = None, timeout: float | None = None) -> Timed:
    """Run ``command`` in a fresh process, timed, with its own peak memory.

    A small launcher process starts it and times it (so the launcher's own start-up is not
    counted); a command still running after ``timeout`` seconds is killed with its children.
    """
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        with open(Path(tmp) / "out", "w+b") as out, open(Path(tmp) / "err", "w+b") as err:
            proc = subprocess.Popen([sys.executable, "-S", "-c", _LAUNCHER, str(result),
                                     *command], stdout=out, stderr=err,
                                    stdin=subprocess.DEVNULL, cwd=cwd, start_new_session=True,
                                    env=None if env is None else dict(env))
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            out.seek(0)
            err.seek(0)
            stdout = out.read().decode(errors="replace")
            stderr = err.read().decode(errors="replace")
        if not result.is_file():
            return Timed(math.nan, math.nan, proc.returncode or -9, stdout,
                         stderr + f"\nkilled after {timeout} s" if timeout else stderr)
        got = json.loads(result.read_text())
    scale = 1024 * (1024 if sys.platform == "darwin" else 1)  # Linux KiB, macOS bytes
    return Timed(got["seconds"], got["maxrss"] / scale, got["returncode"], stdout, stderr)
