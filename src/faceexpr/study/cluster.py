"""Where a study's work runs: a dask cluster, or this process.

:func:`connect` gives a ``distributed.Client``: of a ``LocalCluster`` of worker processes
started here (``workers=N``), of an existing scheduler (``scheduler="tcp://host:port"``,
any dask deployment: SLURM through dask-jobqueue, Kubernetes), or the caller's own;
``None`` when none is asked for, and the study then runs its tasks one after another in
this process, through the same code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faceexpr.errors import FaceexprError, MissingDependencyError

__all__ = ["CONNECT_TIMEOUT", "WORKER_ENV", "connect"]

CONNECT_TIMEOUT = "10s"
"""How long to keep trying a scheduler that does not answer."""

WORKER_ENV: dict[str, str] = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                              "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
"""One thread per worker process for every pool: N worker processes on N cores would
otherwise each start N BLAS, OpenMP and numba threads and oversubscribe the machine."""


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise MissingDependencyError(
            "a study on a dask cluster needs dask.distributed: pip install "
            "'faceexpr[study]'") from None
    return distributed


@contextmanager
def connect(workers: int | None = None, scheduler: str | None = None,
            client: Any = None) -> Iterator[Any]:
    """A ``distributed.Client`` for a study, closed on exit if it was made here.

    Parameters
    ----------
    workers
        Start a ``LocalCluster`` of this many worker processes, one thread each
        (:data:`WORKER_ENV`), without a dashboard.
    scheduler
        Connect to this scheduler instead (``tcp://host:port``).
    client
        Use this client (not closed on exit).

    Yields
    ------
    distributed.Client or None
        None when none of the three is given (the study runs in this process).
    """
    given = [n for n, v in (("workers", workers), ("scheduler", scheduler),
                            ("client", client)) if v is not None]
    if len(given) > 1:
        raise FaceexprError(f"give one of workers, scheduler and client, not {given}")
    if client is not None:
        yield client
        return
    if workers is None and scheduler is None:
        yield None
        return
    distributed = _distributed()
    if scheduler is not None:
        try:
            made = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            raise FaceexprError(f"cannot reach the dask scheduler at {scheduler}: "
                                f"{exc}") from None
        try:
            yield made
        finally:
            made.close()
        return
    if isinstance(workers, bool) or int(workers or 0) < 1:
        raise FaceexprError(f"workers must be an integer >= 1, got {workers!r}")
    cluster = distributed.LocalCluster(n_workers=int(workers or 1), threads_per_worker=1,
                                       processes=True, dashboard_address=None,
                                       env=WORKER_ENV, silence_logs=40)
    made = distributed.Client(cluster)
    try:
        yield made
    finally:
        made.close()
        cluster.close()
