"""Choosing the number of states K: information criteria and held-out likelihood.

:func:`select_n_states` fits one model per candidate K (with restarts) and returns a table
of log-likelihood, number of parameters, BIC, AIC and the log-likelihood of held-out
frames, and the K the chosen criterion prefers. ``Pipeline(n_states="auto")`` and
``faceexpr analyze --n-states auto`` use it.

The fits are independent, so with ``n_jobs`` above 1 they run in that many worker
processes (spawned, each limited to one BLAS, OpenMP and numba thread so that the workers
do not oversubscribe the cores); the results are the same as one after another.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from faceexpr.data import as_sequences
from faceexpr.errors import FaceexprError, ParameterError
from faceexpr.interfaces import StateModel
from faceexpr.registry import state_model, state_model_class

Criterion = Literal["bic", "aic", "heldout"]
CRITERIA: tuple[str, ...] = ("bic", "aic", "heldout")


@dataclass
class Selection:
    """What :func:`select_n_states` found.

    Attributes
    ----------
    table
        One row per candidate: ``n_states``, ``log_likelihood``, ``n_parameters``,
        ``n_frames``, ``bic``, ``aic``, ``heldout_log_likelihood`` (per held-out frame;
        NaN without a held-out part).
    best
        The chosen number of states.
    criterion
        What chose it.
    models
        The model fitted on all frames for every candidate.
    """

    table: pd.DataFrame
    best: int
    criterion: str
    models: dict[int, StateModel] = field(default_factory=dict, repr=False)

    @property
    def model(self) -> StateModel:
        """The model with the chosen number of states."""
        return self.models[self.best]


def split_heldout(features: Sequence[xr.DataArray], fraction: float
                  ) -> tuple[list[xr.DataArray], list[xr.DataArray]]:
    """Split every sequence into a training start and a held-out end (``fraction`` of it).

    A contiguous end block, not random frames: neighbouring frames of an HMM are strongly
    dependent, so frames scattered through the training data would not be held out.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"heldout_fraction must be between 0 and 1, got {fraction}")
    train, test = [], []
    for seq in features:
        cut = round(seq.sizes["time"] * (1 - fraction))
        if cut < 2 or seq.sizes["time"] - cut < 2:
            raise FaceexprError(f"a sequence of {seq.sizes['time']} frames is too short to "
                                f"hold out {fraction:.0%} of it")
        train.append(seq.isel(time=slice(0, cut)))
        test.append(seq.isel(time=slice(cut, None)))
    return train, test


def _finite_frames(features: Sequence[xr.DataArray]) -> int:
    return int(sum(np.isfinite(np.asarray(s.values)).all(axis=1).sum() for s in features))


PARALLEL_FRAMES = 20_000
"""``n_jobs=None`` fits in parallel from this many frames on (below it, starting the worker
processes costs more than the fits)."""

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                     "NUMBA_NUM_THREADS")


@dataclass(frozen=True)
class _Fit:
    """One fit of the selection: candidate ``k`` on all frames or on the training part."""

    k: int
    part: Literal["all", "train"]


def _limit_threads() -> None:
    """Worker start: one thread for BLAS, OpenMP and numba (the workers share the cores)."""
    for name in _THREAD_VARIABLES:
        os.environ[name] = "1"
    from threadpoolctl import threadpool_limits

    global _LIMITS  # keep the limit for the worker's life
    _LIMITS = threadpool_limits(1)


_LIMITS: object = None


def _run_fit(backend: str, fit: _Fit, options: dict[str, Any],
             train: list[xr.DataArray], score_on: list[xr.DataArray]
             ) -> tuple[_Fit, StateModel, float]:
    """Fit one model and score it (on all frames, or per held-out frame)."""
    model = state_model(backend, n_states=fit.k, **options).fit(train)
    score = model.score(score_on)
    if fit.part == "train":
        score /= _finite_frames(score_on)
    return fit, model, score


def check_n_jobs(n_jobs: object) -> int | None:
    """``n_jobs`` as an int (or None), checked: a ParameterError unless a positive whole
    number of processes or None."""
    if n_jobs is None:
        return None
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
        raise ParameterError(f"n_jobs must be a positive number of processes or None "
                             f"(--jobs), got {n_jobs!r}")
    return int(n_jobs)


def _resolve_jobs(n_jobs: int | None, n_fits: int, n_frames: int) -> int:
    jobs = check_n_jobs(n_jobs)
    if jobs is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else (os.cpu_count() or 1)
        jobs = cores if n_frames >= PARALLEL_FRAMES else 1
    return min(jobs, n_fits)


def _fits_in_workers(backend: str, fits: list[_Fit], options: dict[str, Any],
                     data: dict[str, tuple[list[xr.DataArray], list[xr.DataArray]]],
                     n_jobs: int) -> Iterator[tuple[_Fit, StateModel, float]]:
    """The fits in ``n_jobs`` spawned processes, in the order they finish."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn, not fork: a forked copy of numba's or OpenBLAS's thread pools can deadlock
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(n_jobs, mp_context=context, initializer=_limit_threads) as pool:
        futures = [pool.submit(_run_fit, backend, f, options, *data[f.part]) for f in fits]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def select_n_states(
    features: xr.DataArray | Sequence[xr.DataArray],
    candidates: Iterable[int] = range(2, 13),
    backend: str = "native",
    criterion: Criterion = "bic",
    heldout_fraction: float | None = 0.2,
    random_state: int | None = 0,
    progress: bool = False,
    n_jobs: int | None = None,
    **model_options: Any,
) -> Selection:
    """Fit a model for every candidate number of states and pick one.

    Parameters
    ----------
    features
        One feature matrix ``(time, features)`` or several (one per recording).
    candidates
        Numbers of states to try.
    backend
        Registered StateModel backend.
    criterion
        ``"bic"`` (lowest Bayesian information criterion, the default), ``"aic"``, or
        ``"heldout"`` (highest log-likelihood per frame of the held-out ends of the
        sequences, from models fitted on the rest).
    heldout_fraction
        End fraction of every sequence held out for ``heldout_log_likelihood``; ``None``
        skips those extra fits (not allowed with ``criterion="heldout"``).
    random_state
        Seed of every fit.
    progress
        Show one progress bar over every fit: candidates × (all frames, training part) ×
        restarts.
    n_jobs
        Worker processes for the fits (each on one thread). ``None``: one per core from
        :data:`PARALLEL_FRAMES` frames on, else 1. The table and models are the same for
        every ``n_jobs``.
    **model_options
        Passed to every model (e.g. ``n_init`` restarts, ``covariance_type``).

    Returns
    -------
    Selection
        The table, the chosen K and the fitted models.

    Examples
    --------
    >>> from faceexpr.synthetic.faces import simulate
    >>> import faceexpr as fe
    >>> pipe = fe.Pipeline(progress=False)
    >>> ego = pipe.clean(simulate(600, seed=0).pose3d)
    >>> feats = pipe.features([ego], [fe.features.head_kinematics(ego)])
    >>> select_n_states(feats, [2, 3], heldout_fraction=None).table.columns.tolist()[:4]
    ['n_states', 'log_likelihood', 'n_parameters', 'n_frames']
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    if criterion == "heldout" and not heldout_fraction:
        raise ValueError("criterion='heldout' needs a heldout_fraction")
    ks = sorted({int(k) for k in candidates})
    if not ks or ks[0] < 1:
        raise ValueError(f"candidates must be positive numbers of states, got {ks}")
    seqs = as_sequences(features)
    n_frames = _finite_frames(seqs)
    train, test = split_heldout(seqs, heldout_fraction) if heldout_fraction else ([], [])
    fits = [_Fit(k, part) for k in ks for part in (("all", "train") if test else ("all",))]
    jobs = _resolve_jobs(n_jobs, len(fits), n_frames)
    options = {"random_state": random_state, **model_options}
    # the workers' models must not draw bars of their own over the selection's bar
    if "progress" in state_model_class(backend).accepted_options():
        options.setdefault("progress", False)
    if jobs > 1 and "n_threads" in state_model_class(backend).accepted_options():
        options.setdefault("n_threads", 1)
    restarts = int(options.get("n_init", 1))
    data = {"all": (list(seqs), list(seqs)), "train": (train, test)}
    done: dict[_Fit, tuple[StateModel, float]] = {}
    with tqdm(total=len(fits) * restarts, disable=not progress, leave=False, unit="fit",
              desc=f"choosing K: {len(ks)} candidates x {len(fits) // len(ks)} fits x "
                   f"{restarts} restart(s)") as bar:
        results: Iterable[tuple[_Fit, StateModel, float]]
        if jobs > 1:
            results = _fits_in_workers(backend, fits, options, data, jobs)
        else:
            results = (_run_fit(backend, f, options, *data[f.part]) for f in fits)
        for fit, model, score in results:
            done[fit] = (model, score)
            bar.set_postfix_str(f"K={fit.k} {fit.part}", refresh=False)
            bar.update(restarts)
    rows, models = [], {}
    for k in ks:
        model, ll = done[_Fit(k, "all")]
        p = model.n_parameters()
        heldout = done[_Fit(k, "train")][1] if test else math.nan
        rows.append({"n_states": k, "log_likelihood": ll, "n_parameters": p,
                     "n_frames": n_frames, "bic": -2 * ll + p * math.log(n_frames),
                     "aic": -2 * ll + 2 * p, "heldout_log_likelihood": heldout})
        models[k] = model
    table = pd.DataFrame(rows)
    column = "heldout_log_likelihood" if criterion == "heldout" else criterion
    values = table[column].to_numpy()
    pick = int(np.nanargmax(values) if criterion == "heldout" else np.nanargmin(values))
    best = ks[pick]
    table["chosen"] = table["n_states"] == best
    return Selection(table=table, best=best, criterion=criterion, models=models)
