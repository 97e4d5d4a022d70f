"""Start-up cost: ``import faceexpr`` and ``faceexpr --help`` load no heavy library.

Each probe runs in a fresh interpreter, so what the other tests imported does not count.
The times themselves are measured by ``python -m benchmarks startup``, not asserted here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = ("scipy.signal", "matplotlib", "sklearn", "cv2", "torch", "jax", "numba")
"""Libraries that take from a few tenths of a second to seconds to import."""

IMPORT_PROBE = ("import faceexpr, sys; print(sorted(m for m in ('scipy.signal','matplotlib',"
                "'sklearn','cv2','torch','jax','numba') if m in sys.modules))")

HELP_PROBE = """
import contextlib, io, json, sys
from faceexpr.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        main(["--help"])
        code = 0
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "help": out.getvalue(), "modules": sorted(sys.modules)}))
"""


def _python(code: str) -> str:
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False, timeout=120,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert run.returncode == 0, run.stderr
    return run.stdout.strip().splitlines()[-1]


def test_import_faceexpr_loads_no_heavy_library() -> None:
    assert _python(IMPORT_PROBE) == "[]"


def test_import_faceexpr_loads_neither_pandas_nor_xarray() -> None:
    # a quarter second each: the modules import them inside the functions that need them
    loaded = _python("import faceexpr, sys; print(sorted(m for m in ('pandas', 'xarray') "
                     "if m in sys.modules))")
    assert loaded == "[]"


def test_help_loads_no_heavy_library() -> None:
    probe = json.loads(_python(HELP_PROBE))
    assert probe["code"] == 0
    # every plugin is loaded for its commands (calibrate from Anipose, dlc from DeepLabCut)
    for command in ("analyze", "demo", "backends", "calibrate", "dlc"):
        assert command in probe["help"], command
    assert [m for m in HEAVY if m in probe["modules"]] == []


def test_help_loads_neither_pandas_nor_xarray() -> None:
    # registering every plugin (the native engine's included) must not pull them in
    probe = json.loads(_python(HELP_PROBE))
    assert [m for m in ("pandas", "xarray") if m in probe["modules"]] == []
