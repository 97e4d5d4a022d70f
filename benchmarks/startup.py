"""Start-up time: ``import faceexpr`` and ``faceexpr --help`` against a bare interpreter.

Every run is a fresh subprocess; the commands take turns within each repeat, so a change
in the machine's load reaches them all alike.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd

from benchmarks._machine import child_environment, run_timed, spread


def faceexpr_command() -> list[str]:
    """The ``faceexpr`` console script of this interpreter's environment (else the same
    entry point through ``python -c``)."""
    script = Path(sys.executable).with_name("faceexpr")
    if script.is_file():
        return [str(script)]
    found = shutil.which("faceexpr")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from faceexpr.cli import main; sys.exit(main())"]


def commands() -> dict[str, list[str]]:
    """What is timed, by label; ``python -c pass`` is the bare interpreter."""
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        'python -c "import faceexpr"': [sys.executable, "-c", "import faceexpr"],
        "faceexpr --help": [*faceexpr_command(), "--help"],
    }


def run(repeats: int = 3, threads: int | None = 1) -> pd.DataFrame:
    """One row per command: median, min and max wall seconds over ``repeats`` fresh
    processes, the median's difference to the bare interpreter and the peak memory."""
    cmds = commands()
    env = child_environment(threads)
    seconds: dict[str, list[float]] = {label: [] for label in cmds}
    peaks: dict[str, list[float]] = {label: [] for label in cmds}
    # one untimed round: the first start after an install pays for the disk cache and .pyc
    for cmd in cmds.values():
        run_timed(cmd, env=env)
    for _ in range(repeats):
        for label, cmd in cmds.items():
            timed = run_timed(cmd, env=env)
            if timed.returncode != 0:
                raise RuntimeError(f"{label} exited with {timed.returncode}: {timed.stderr}")
            seconds[label].append(timed.seconds)
            peaks[label].append(timed.peak_mib)
    bare = spread(seconds["python -c pass"])["median"]
    rows = []
    for label in cmds:
        s = spread(seconds[label])
        rows.append({"command": label, "repeats": repeats, "median_s": s["median"],
                     "min_s": s["min"], "max_s": s["max"], "minus_bare_s": s["median"] - bare,
                     "peak_mib": spread(peaks[label])["median"]})
    return pd.DataFrame(rows)
