"""Run one measurement in a fresh process, so its peak memory is its own."""

from __future__ import annotations

import multiprocessing as mp
import queue as queues
import resource
import sys
import time
from collections.abc import Callable
from typing import Any


def _child(func: Callable[..., dict[str, Any]], kwargs: dict[str, Any],
           queue: mp.Queue) -> None:  # type: ignore[type-arg]
    try:
        queue.put(("ok", func(**kwargs)))
    except BaseException as exc:  # report any failure to the parent as a table cell
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def run_isolated(func: Callable[..., dict[str, Any]], timeout: float | None = None,
                 **kwargs: Any) -> dict[str, Any]:
    """Call ``func(**kwargs)`` in a spawned process and return its result dict.

    ``func`` must be importable (module level) and should report ``peak_mb`` itself with
    :func:`peak_rss_mb`; a failure comes back as ``{"error": "..."}``, and so does a
    process that runs past ``timeout`` seconds (it is killed) or dies without an answer
    (e.g. killed for memory).
    """
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(func, kwargs, queue))
    start = time.perf_counter()
    proc.start()
    while True:
        try:
            status, value = queue.get(timeout=1.0)
            break
        except queues.Empty:
            if timeout is not None and time.perf_counter() - start > timeout:
                proc.kill()
                proc.join()
                return {"error": f"killed after {timeout:.0f} s"}
            if not proc.is_alive():
                # it may have put its answer just before exiting
                try:
                    status, value = queue.get(timeout=1.0)
                    break
                except queues.Empty:
                    return {"error": f"the process died (exit code {proc.exitcode})"}
    proc.join()
    return value if status == "ok" else {"error": value}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)
