"""Choosing the number of states K on short, autocorrelated recordings.

:func:`select_n_states` fits one model per candidate K (with restarts) on all frames and
on the training part of every fold of a *blocked* cross-validation, and returns one table
with every criterion in the same per-frame units (a penalised log-likelihood per frame,
higher is better):

``cv``
    The held-out log-likelihood per frame, mean ± standard error over contiguous folds in
    time (default 5), choosing by the one-standard-error rule: the fewest states whose
    mean lies within one standard error of the best mean. Contiguous folds, not random
    frames: neighbouring frames are strongly dependent, so frames scattered through the
    training data would not be held out. The default.
``bic``, ``icl``, ``aic``
    Bayesian information criterion, integrated completed likelihood (BIC plus twice the
    posterior entropy of the states: it penalises states that overlap) and Akaike's
    criterion, each divided by ``-2 n`` so that they read as log-likelihoods per frame.
    They count every frame as independent, which autocorrelated frames are not: on
    short recordings they keep improving with K. ``n_effective_frames`` (from the
    features' autocorrelation) says how many independent frames the recording is worth.

A choice at the lowest or highest candidate is flagged (:attr:`Selection.at_edge`): the
best K may lie outside the range tried.

The fits are independent, so with ``n_jobs`` above 1 they run in that many worker
processes (spawned, each limited to one BLAS, OpenMP and numba thread so that the workers
do not oversubscribe the cores); the results are the same as one after another.
"""

from __future__ import annotations

import itertools
import math
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from faceexpr import _defaults
from faceexpr._typing import FloatArray
from faceexpr.data import as_sequences
from faceexpr.errors import FaceexprError, ParameterError
from faceexpr.interfaces import StateModel
from faceexpr.registry import state_model, state_model_class

Criterion = Literal["cv", "bic", "icl", "aic"]
CRITERIA: tuple[str, ...] = ("cv", "bic", "icl", "aic")
DEFAULT_FOLDS = 5
"""Contiguous cross-validation folds of :func:`select_n_states`."""


@dataclass
class Selection:
    """What :func:`select_n_states` found.

    Attributes
    ----------
    table
        One row per candidate: ``n_states``, ``log_likelihood`` (all frames, total),
        ``n_parameters``, ``n_frames``, ``n_effective_frames``, ``posterior_entropy``;
        ``bic``, ``icl``, ``aic`` (totals, lower is better); the per-frame scores
        ``bic_per_frame``, ``icl_per_frame``, ``aic_per_frame``,
        ``log_likelihood_per_frame`` and ``cv_mean``, ``cv_se`` (held-out log-likelihood
        per frame, mean and standard error over folds; NaN without folds),
        ``cv_se_vs_best`` (standard error of the difference from the best candidate over
        the same folds, which the one-standard-error rule uses) and ``chosen``.
    folds
        One row per candidate and fold: ``n_states``, ``fold``, ``n_frames`` held out,
        ``heldout_log_likelihood`` per frame.
    best
        The chosen number of states.
    criterion
        What chose it.
    candidates
        The numbers of states tried.
    models
        The model fitted on all frames for every candidate.
    """

    table: pd.DataFrame
    best: int
    criterion: str
    candidates: list[int] = field(default_factory=list)
    folds: pd.DataFrame = field(default_factory=pd.DataFrame)
    models: dict[int, StateModel] = field(default_factory=dict, repr=False)

    @property
    def model(self) -> StateModel:
        """The model with the chosen number of states."""
        return self.models[self.best]

    @property
    def at_edge(self) -> bool:
        """Whether the choice is the lowest (above 1) or the highest candidate: the best
        number of states may lie outside the range tried."""
        if len(self.candidates) < 2:
            return False
        return self.best == max(self.candidates) or (
            self.best == min(self.candidates) and self.best > 1)

    def edge_message(self) -> str | None:
        """A sentence saying the choice sits at the edge of the candidates (or None)."""
        if not self.at_edge:
            return None
        lo, hi = min(self.candidates), max(self.candidates)
        side = "highest" if self.best == hi else "lowest"
        low, high = (lo, 2 * hi) if self.best == hi else (1, hi)
        return (f"{self.criterion} chose K={self.best}, the {side} of the candidates "
                f"{lo}-{hi}: the best number of states may lie outside that range; widen "
                f"it (--candidates {low} {high}, candidates=range({low}, {high + 1})) and "
                "compare")

    def criteria_summary(self) -> dict[str, Any]:
        """What every criterion would choose (JSON-ready), beside the chosen K."""
        out: dict[str, Any] = {"chosen": self.best, "criterion": self.criterion,
                               "candidates": self.candidates}
        for name in CRITERIA:
            k = pick(self.table, name)
            if k is not None:
                out[f"{name}_would_choose"] = k
        return out


def pick(table: pd.DataFrame, criterion: str) -> int | None:
    """The number of states ``criterion`` chooses from a selection table (None when the
    table lacks its scores).

    ``cv`` applies the one-standard-error rule: the fewest states whose ``cv_mean`` lies
    within one standard error of the best mean. The standard error is that of the
    difference from the best over the same folds (``cv_se_vs_best``) where the table has
    it: the folds are shared by every K, and what varies from fold to fold (how hard its
    frames are) cancels in the difference. Without it, the best mean's ``cv_se``. The
    other criteria take the highest per-frame score (the lowest criterion).
    """
    ks = table["n_states"].to_numpy()
    if criterion == "cv":
        mean = table["cv_mean"].to_numpy(np.float64)
        if not np.isfinite(mean).any():
            return None
        top = int(np.nanargmax(mean))
        if "cv_se_vs_best" in table:
            se = np.nan_to_num(table["cv_se_vs_best"].to_numpy(np.float64), nan=0.0)
        else:
            se = np.full(len(mean), np.nan_to_num(float(table["cv_se"].iloc[top]), nan=0.0))
        within = np.flatnonzero(np.isfinite(mean) & (mean >= mean[top] - se))
        return int(ks[within[np.argmin(ks[within])]])
    column = f"{criterion}_per_frame"
    if column not in table or not table[column].notna().any():
        return None
    return int(ks[int(np.nanargmax(table[column].to_numpy(np.float64)))])


def autocorrelation_time(x: FloatArray, max_lag: int | None = None) -> float:
    """Integrated autocorrelation time (frames) of one series: ``1 + 2 Σ ρ_k`` summed
    while the autocorrelation stays positive (NaN frames are left out of the sums).

    A series of independent frames has 1; a series that keeps its value for about ``m``
    frames, about ``m``. ``n / τ`` is the number of effectively independent frames.
    """
    v = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(v)
    n = int(ok.sum())
    if n < 3:
        return 1.0
    centred = np.where(ok, v - v[ok].mean(), 0.0)
    var = float((centred**2).sum()) / n
    if var <= 0:
        return 1.0
    size = 1 << int(2 * len(v) - 1).bit_length()
    spec = np.fft.rfft(centred, size)
    acov = np.fft.irfft(spec * np.conj(spec), size)[: len(v)]
    weights = np.fft.irfft(np.abs(np.fft.rfft(ok.astype(np.float64), size)) ** 2,
                           size)[: len(v)]
    limit = len(v) - 1 if max_lag is None else min(max_lag, len(v) - 1)
    tau = 1.0
    for lag in range(1, limit + 1):
        if weights[lag] < 1.5:
            break
        rho = acov[lag] / weights[lag] / var
        if rho <= 0:
            break
        tau += 2 * rho
    return float(min(tau, n))


def effective_frames(features: xr.DataArray | Sequence[xr.DataArray]) -> float:
    """Frames worth of independent data: every sequence's finite frames divided by the
    median integrated autocorrelation time of its features (see
    :func:`autocorrelation_time`), summed over sequences."""
    total = 0.0
    for seq in as_sequences(features):
        v = np.asarray(seq.values, dtype=np.float64)
        finite = np.isfinite(v).all(axis=1)
        if finite.sum() < 3:
            total += float(finite.sum())
            continue
        taus = [autocorrelation_time(np.where(finite, v[:, j], np.nan))
                for j in range(v.shape[1])]
        total += float(finite.sum()) / float(np.median(taus))
    return total


def sticky_priors(dwell_frames: float, n_states: int) -> dict[str, float]:
    """Transition priors worth one expected bout per state: ``stickiness`` and
    ``transition_concentration`` whose pseudo-counts are ``d - 1`` stays and one leave
    (spread over the other states) for a mean dwell of ``d`` frames.

    Alone, such a prior gives a self-transition of ``1 - 1/d`` (mean dwell ``d``); it
    weighs as much as one observed bout of every state, so long recordings override it
    while short ones are kept from flickering between states.
    """
    if not (math.isfinite(dwell_frames) and dwell_frames >= 1):
        raise ParameterError(f"the expected dwell time must be at least one frame, got "
                             f"{dwell_frames!r} frames")
    if n_states < 2:
        return {"stickiness": 0.0, "transition_concentration": 1.0}
    leave = 1.0 / (n_states - 1)  # one leave, spread over the K - 1 other states
    return {"stickiness": max(dwell_frames - 1.0 - leave, 0.0),
            "transition_concentration": 1.0 + leave}


def fold_bounds(n: int, n_folds: int) -> list[tuple[int, int]]:
    """``n_folds`` contiguous, nearly equal ``(start, stop)`` blocks of ``n`` frames."""
    edges = np.linspace(0, n, n_folds + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def blocked_folds(features: Sequence[xr.DataArray], n_folds: int
                  ) -> list[tuple[list[xr.DataArray], list[xr.DataArray]]]:
    """Training and held-out sequences of every fold of a blocked cross-validation.

    Fold ``f`` holds out the ``f``-th contiguous block of every sequence; the training
    part is what lies before and after it, as separate sequences (no transition is
    learned across the gap).
    """
    if n_folds < 2:
        raise ParameterError(f"cv_folds must be at least 2, got {n_folds!r}")
    out = []
    for f in range(n_folds):
        train, test = [], []
        for seq in features:
            n = seq.sizes["time"]
            if n < 2 * n_folds:
                raise FaceexprError(f"a sequence of {n} frames is too short for {n_folds} "
                                    "cross-validation folds; use fewer (cv_folds)")
            a, b = fold_bounds(n, n_folds)[f]
            test.append(seq.isel(time=slice(a, b)))
            train += [seq.isel(time=slice(c, d)) for c, d in ((0, a), (b, n)) if d - c >= 2]
        out.append((train, test))
    return out


def _finite_frames(features: Sequence[xr.DataArray]) -> int:
    return int(sum(np.isfinite(np.asarray(s.values)).all(axis=1).sum() for s in features))


PARALLEL_FRAMES = 20_000
"""``n_jobs=None`` fits in parallel from this many frames on (below it, starting the worker
processes costs more than the fits)."""

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                     "NUMBA_NUM_THREADS")


@dataclass(frozen=True)
class _Fit:
    """One fit of the selection: candidate ``k`` on all frames (``fold`` None) or on the
    training part of one cross-validation fold."""

    k: int
    fold: int | None = None


def _limit_threads() -> None:
    """Worker start: one thread for BLAS, OpenMP and numba (the workers share the cores)."""
    for name in _THREAD_VARIABLES:
        os.environ[name] = "1"
    from threadpoolctl import threadpool_limits

    global _LIMITS  # keep the limit for the worker's life
    _LIMITS = threadpool_limits(1)


_LIMITS: object = None


def criteria(log_likelihood: float, n_parameters: int, n_frames: int,
             entropy: float) -> dict[str, float]:
    """BIC, ICL (BIC plus twice the posterior entropy) and AIC as totals (lower is
    better), and the log-likelihood and the three per frame (higher is better), in the
    table's column order."""
    ll, p, n = log_likelihood, n_parameters, n_frames
    bic = -2 * ll + p * math.log(n)
    icl = bic + 2 * entropy
    aic = -2 * ll + 2 * p
    return {"bic": bic, "icl": icl, "aic": aic, "log_likelihood_per_frame": ll / n,
            "bic_per_frame": bic / (-2 * n), "icl_per_frame": icl / (-2 * n),
            "aic_per_frame": aic / (-2 * n)}


def posterior_entropy(model: StateModel, features: Sequence[xr.DataArray]) -> float:
    """Total entropy (nats) of the state posteriors over all frames with a state."""
    total = 0.0
    for f in features:
        p = np.asarray(model.predict_proba(f).values, dtype=np.float64)
        p = p[np.isfinite(p).all(axis=1)]
        with np.errstate(divide="ignore", invalid="ignore"):
            total -= float(np.where(p > 0, p * np.log(p), 0.0).sum())
    return total


def _run_fit(backend: str, fit: _Fit, options: dict[str, Any],
             train: list[xr.DataArray], score_on: list[xr.DataArray]
             ) -> tuple[_Fit, StateModel, float, float]:
    """Fit one model and score it: on all frames (total log-likelihood and posterior
    entropy), or per held-out frame of its fold."""
    model = state_model(backend, n_states=fit.k, **options).fit(train)
    score = model.score(score_on)
    if fit.fold is not None:
        return fit, model, score / _finite_frames(score_on), math.nan
    return fit, model, score, posterior_entropy(model, score_on)


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


def _fits_in_workers(backend: str, fits: list[_Fit], options: Mapping[int, dict[str, Any]],
                     data: Mapping[int | None, tuple[list[xr.DataArray], list[xr.DataArray]]],
                     n_jobs: int) -> Iterator[tuple[_Fit, StateModel, float, float]]:
    """The fits in ``n_jobs`` spawned processes, in the order they finish."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn, not fork: a forked copy of numba's or OpenBLAS's thread pools can deadlock
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(n_jobs, mp_context=context, initializer=_limit_threads) as pool:
        futures = [pool.submit(_run_fit, backend, f, options[f.k], *data[f.fold])
                   for f in fits]
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
    criterion: Criterion | Literal["heldout"] = _defaults.CRITERION,
    cv_folds: int | None = DEFAULT_FOLDS,
    random_state: int | None = 0,
    progress: bool = False,
    n_jobs: int | None = None,
    dwell_frames: float | None = None,
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
        ``"icl"`` (the default, as in the pipeline), ``"bic"``, ``"aic"`` or ``"cv"``
        (blocked cross-validation with the one-standard-error rule; see the module's
        description). ``"heldout"`` is the former name of ``"cv"``.
    cv_folds
        Contiguous folds of every sequence for the held-out log-likelihood; ``None``
        skips those fits (not allowed with ``criterion="cv"``).
    random_state
        Seed of every fit.
    progress
        Show one progress bar over every fit: candidates × (all frames + folds) ×
        restarts.
    n_jobs
        Worker processes for the fits (each on one thread). ``None``: one per core from
        :data:`PARALLEL_FRAMES` frames on, else 1. The table and models are the same for
        every ``n_jobs``.
    dwell_frames
        Expected dwell time in frames: every candidate gets the sticky transition prior
        of :func:`sticky_priors` for its K (unless ``model_options`` set ``stickiness``
        or ``transition_concentration``, or the backend takes no priors).
    **model_options
        Passed to every model (e.g. ``n_init`` restarts, ``covariance_type``,
        ``ar_order``). They are the backend's own otherwise (the native engine's
        ``ar_order`` is 0 there); :meth:`Pipeline.model_options_for
        <faceexpr.pipeline.Pipeline.model_options_for>` gives the pipeline's.

    Returns
    -------
    Selection
        The table, the per-fold scores, the chosen K and the fitted models.

    Examples
    --------
    >>> from faceexpr.synthetic.faces import simulate
    >>> import faceexpr as fe
    >>> pipe = fe.Pipeline(progress=False)
    >>> ego = pipe.clean(simulate(600, seed=0).pose3d)
    >>> feats = pipe.features([ego], [fe.features.head_kinematics(ego)])
    >>> select_n_states(feats, [2, 3], criterion="bic", cv_folds=None).best
    3
    """
    if criterion == "heldout":
        criterion = "cv"
    if criterion not in CRITERIA:
        raise ParameterError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    if criterion == "cv" and not cv_folds:
        raise ParameterError("criterion='cv' needs cv_folds (2 or more)")
    ks = sorted({int(k) for k in candidates})
    if not ks or ks[0] < 1:
        raise ParameterError(f"candidates must be positive numbers of states, got {ks}")
    seqs = as_sequences(features)
    n_frames = _finite_frames(seqs)
    folds = blocked_folds(seqs, int(cv_folds)) if cv_folds else []
    fits = [_Fit(k, f) for k in ks for f in (None, *range(len(folds)))]
    jobs = _resolve_jobs(n_jobs, len(fits), n_frames)
    accepted = state_model_class(backend).accepted_options()
    base = {"random_state": random_state, **model_options}
    # the workers' models must not draw bars of their own over the selection's bar
    if "progress" in accepted:
        base.setdefault("progress", False)
    if jobs > 1 and "n_threads" in accepted:
        base.setdefault("n_threads", 1)
    options = {k: dict(base) for k in ks}
    if dwell_frames is not None and "stickiness" in accepted and not (
            {"stickiness", "transition_concentration"} & set(model_options)):
        for k in ks:
            options[k].update(sticky_priors(dwell_frames, k))
    restarts = int(base.get("n_init", 1))
    data: dict[int | None, tuple[list[xr.DataArray], list[xr.DataArray]]] = {
        None: (list(seqs), list(seqs)), **dict(enumerate(folds))}
    done: dict[_Fit, tuple[StateModel, float, float]] = {}
    with tqdm(total=len(fits) * restarts, disable=not progress, leave=False, unit="fit",
              desc=f"choosing K: {len(ks)} candidates x {len(fits) // len(ks)} fits x "
                   f"{restarts} restart(s)") as bar:
        results: Iterable[tuple[_Fit, StateModel, float, float]]
        if jobs > 1:
            results = _fits_in_workers(backend, fits, options, data, jobs)
        else:
            results = (_run_fit(backend, f, options[f.k], *data[f.fold]) for f in fits)
        for fit, model, score, entropy in results:
            done[fit] = (model, score, entropy)
            bar.set_postfix_str(f"K={fit.k} " + ("all" if fit.fold is None
                                                 else f"fold {fit.fold + 1}"), refresh=False)
            bar.update(restarts)
    n_eff = effective_frames(seqs)
    rows, fold_rows, models = [], [], {}
    for k in ks:
        model, ll, entropy = done[_Fit(k)]
        p = model.n_parameters()
        scores = [done[_Fit(k, f)][1] for f in range(len(folds))]
        for f, score in enumerate(scores):
            fold_rows.append({"n_states": k, "fold": f + 1,
                              "n_frames": _finite_frames(folds[f][1]),
                              "heldout_log_likelihood": score})
        cv = np.asarray(scores, dtype=np.float64)
        rows.append({
            "n_states": k, "log_likelihood": ll, "n_parameters": p, "n_frames": n_frames,
            "n_effective_frames": n_eff, "posterior_entropy": entropy,
            **criteria(ll, p, n_frames, entropy),
            "cv_mean": float(cv.mean()) if len(cv) else math.nan,
            "cv_se": float(cv.std(ddof=1) / math.sqrt(len(cv))) if len(cv) > 1 else math.nan,
        })
        models[k] = model
    table = pd.DataFrame(rows)
    if folds:
        by_fold = np.array([[done[_Fit(k, f)][1] for f in range(len(folds))] for k in ks])
        top = int(np.nanargmax(by_fold.mean(axis=1)))
        diff = by_fold - by_fold[top]
        table["cv_se_vs_best"] = diff.std(axis=1, ddof=1) / math.sqrt(len(folds))
    else:
        table["cv_se_vs_best"] = math.nan
    best = pick(table, criterion)
    if best is None:
        raise FaceexprError(f"no candidate could be scored by {criterion}")
    table["chosen"] = table["n_states"] == best
    selection = Selection(table=table, best=best, criterion=criterion, candidates=ks,
                          folds=pd.DataFrame(fold_rows), models=models)
    message = selection.edge_message()
    if message:
        warnings.warn(message, EdgeOfRangeWarning, stacklevel=2)
    return selection


class EdgeOfRangeWarning(UserWarning):
    """The number of states chosen is the lowest or highest candidate."""
