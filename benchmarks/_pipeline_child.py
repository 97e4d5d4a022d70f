"""The fresh processes of ``python -m benchmarks pipeline`` (one per repeat).

``python -m benchmarks._pipeline_child stages RESULT.json analyze FILE --n-states 9 --out DIR``
runs the ``faceexpr`` command's own ``main`` with every stage timed;
``python -m benchmarks._pipeline_child recipe RESULT.json FILE N_STATES N_ITER THREADS`` runs
the seed study's recipe. Each writes its measurements to ``RESULT.json``.
"""

from __future__ import annotations

import functools
import json
import resource
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Only the standard library above: what this process imports before the timers start
# would be missing from the measured import stage.


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux KiB, macOS bytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / (
        1024 if sys.platform == "darwin" else 1)


_MODEL_STAGES = ("fit", "predict")


class StageTimer:
    """Seconds spent in each stage, each call counted once: a timed function called inside
    another counts to its own stage, not to the caller's as well."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self._stack: list[list[Any]] = []  # [stage, seconds spent in nested stages]

    def wrap(self, stage: str, func: Callable[..., Any]) -> Callable[..., Any]:
        """``func`` timed as part of ``stage``."""
        @functools.wraps(func)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if stage in _MODEL_STAGES and any(s in _MODEL_STAGES for s, _ in self._stack):
                return func(*args, **kwargs)  # a model method calling another is its stage
            self._stack.append([stage, 0.0])
            start = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                _, nested = self._stack.pop()
                self.seconds[stage] += elapsed - nested
                self.calls[stage] += 1
                if self._stack:
                    self._stack[-1][1] += elapsed
        return timed


def instrument(timer: StageTimer, model: str = "native") -> None:
    """Wrap the functions ``faceexpr analyze`` runs for each stage in ``timer``.

    read: ``Pipeline.load``; clean: ``Pipeline.clean`` (masking, gap filling, smoothing)
    without egocentric: ``egocentric``; features: ``head_kinematics``, ``Pipeline.features``;
    fit, predict: the state model's ``fit``, ``predict`` and ``predict_proba``; tables:
    ``Result._write`` (CSV, netCDF, the model, the summary); figures: ``write_figures``;
    report: ``write_report``.

    Raises
    ------
    RuntimeError
        When faceexpr no longer has one of them (the benchmark needs updating).
    """
    import faceexpr.pipeline as fp
    from faceexpr.registry import state_model_class

    cls = state_model_class(model)
    targets: list[tuple[Any, str, str]] = [
        (fp.Pipeline, "load", "read"), (fp.Pipeline, "clean", "clean"),
        (fp, "egocentric", "egocentric"), (fp, "head_kinematics", "features"),
        (fp.Pipeline, "features", "features"), (fp.Pipeline, "check_enough_frames", "features"),
        (cls, "fit", "fit"), (cls, "predict", "predict"), (cls, "predict_proba", "predict"),
        (fp.Result, "_write", "tables"), (fp, "write_figures", "figures"),
        (fp, "write_report", "report"),
    ]
    for owner, name, stage in targets:
        func = getattr(owner, name, None)
        if not callable(func):
            raise RuntimeError(f"{getattr(owner, '__name__', owner)}.{name} is gone from "
                               "faceexpr: update benchmarks.pipeline.instrument")
        setattr(owner, name, timer.wrap(stage, func))


def stages(result: Path, argv: list[str]) -> int:
    """Run ``faceexpr argv`` in this process with :func:`instrument`'s timers; write the
    seconds of every stage."""
    start = time.perf_counter()
    import faceexpr.cli
    import faceexpr.pipeline  # imported by the command itself: timed as import

    timer = StageTimer()
    model = "native"  # the command's default state model
    for i, arg in enumerate(argv):
        if arg == "--model" and i + 1 < len(argv):
            model = argv[i + 1]
        elif arg.startswith("--model="):
            model = arg.split("=", 1)[1]
    instrument(timer, model)
    imported = time.perf_counter()
    rc = faceexpr.cli.main(argv)
    done = time.perf_counter()
    out: dict[str, Any] = {"import": imported - start, **timer.seconds,
                           "other": (done - imported) - sum(timer.seconds.values()),
                           "main_s": done - imported, "library_s": done - start,
                           "calls": timer.calls, "rc": rc, "peak_mib_self": peak_rss_mb()}
    result.write_text(json.dumps(out))
    return rc


def recipe(result: Path, file: str, n_states: int, n_iter: int, threads: int) -> int:
    """The seed study's recipe: pandas reads the Anipose CSV, the 21 landmarks' x, y, z minus
    the nose landmark's (63 columns), hmmlearn's full-covariance GaussianHMM fits them.

    hmmlearn takes no missing values, so frames with any missing coordinate are dropped.
    """
    from threadpoolctl import threadpool_limits

    start = time.perf_counter()
    import numpy as np
    import pandas as pd
    from hmmlearn.hmm import GaussianHMM

    from faceexpr.schemes import FACE21

    imported = time.perf_counter()
    table = pd.read_csv(file)
    read = time.perf_counter()
    landmarks = list(FACE21.landmarks)
    nose = FACE21.reference  # nose1, the nasal bone
    parts = [table[[f"{lm}_{c}" for lm in landmarks]].to_numpy(float)
             - table[[f"{nose}_{c}"]].to_numpy(float) for c in "xyz"]
    x = np.hstack(parts)
    x = x[np.isfinite(x).all(axis=1)]
    prepared = time.perf_counter()
    hmm = GaussianHMM(n_components=n_states, covariance_type="full", n_iter=n_iter,
                      random_state=0)
    with threadpool_limits(limits=threads):
        hmm.fit(x)
    fitted = time.perf_counter()
    out = {"import_s": imported - start, "read_s": read - imported,
           "prepare_s": prepared - read, "fit_s": fitted - prepared,
           "iterations": int(hmm.monitor_.iter), "converged": bool(hmm.monitor_.converged),
           "frames_used": len(x), "frames": len(table), "columns": x.shape[1],
           "log_likelihood": float(hmm.monitor_.history[-1]), "peak_mib_self": peak_rss_mb()}
    result.write_text(json.dumps(out))
    return 0


def main(argv: list[str]) -> int:
    kind, result, *rest = argv
    if kind == "stages":
        return stages(Path(result), rest)
    file, n_states, n_iter, threads = rest
    return recipe(Path(result), file, int(n_states), int(n_iter), int(threads))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
