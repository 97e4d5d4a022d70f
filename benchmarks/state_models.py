"""Fit and predict speed, memory and accuracy of every registered StateModel backend.

Every backend fits the same synthetic HMM data (known states) in one run, so the ratios
to hmmlearn are measured side by side. All start from the same k-means start with the same
priors (where the backend takes them) and run the same fixed number of EM iterations
(``tol=-inf``; a backend that refuses it gets the smallest positive tol and may stop
earlier: the ``iters`` column says). Each case runs in its own process: the peak memory
reported is what that fit added on top of the data, for any library (NumPy or torch
allocations alike), and a case that runs past its time is killed, not waited for.
"""

from __future__ import annotations

import inspect
import math
import os
import time
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from benchmarks._machine import spread, thread_environment
from benchmarks._runner import peak_rss_mb, run_isolated

SMALL_GRID = {"frames": [20000, 100000], "dims": [60], "states": [9]}
FULL_GRID = {"frames": [10_000, 108_000, 1_000_000], "dims": [10, 60], "states": [5, 9, 15]}
"""``--grid full``: 108,000 frames is an hour at 30 fps."""

SHARED_PRIORS = {"stickiness": 0.0, "transition_concentration": 1.0, "covariance_prior": 1e-2}
"""The priors of faceexpr's EM backends (their defaults; hmmlearn's own defaults,
``covars_prior=1e-2``, are the same MAP covariance), passed to every backend that takes them."""

REFERENCE = "hmmlearn"

COLUMNS = ["backend", "T", "D", "K", "covariance", "threads", "repeats", "iters",
           "s_per_iter", "s_per_iter_min", "s_per_iter_max", "fit_s", "fit_s_min", "fit_s_max",
           "predict_s", "predict_s_min", "predict_s_max", "peak_mib", "log_likelihood",
           "ll_rel_diff_vs_hmmlearn", "ARI", "s_per_iter_vs_hmmlearn", "priors", "tol",
           "wall_s", "note"]


def hmm_data(n: int, d: int, k: int, seed: int = 0) -> tuple[xr.DataArray, xr.DataArray]:
    """Features drawn from a sticky Gaussian HMM with known states."""
    from faceexpr.data import make_features
    from faceexpr.synthetic import sticky_chain

    rng = np.random.default_rng(seed)
    states = sticky_chain(rng, n, k, 30.0)
    means = rng.normal(0, 2, (k, d))
    x = means[states] + rng.normal(0, 1, (n, d))
    return make_features(x, [f"f{i}" for i in range(d)]), xr.DataArray(states, dims="time")


def state_model_backends() -> list[str]:
    """Names of the registered StateModel backends whose dependencies are installed,
    hmmlearn (the reference) first."""
    import faceexpr as fe

    table = fe.backends()
    names = table[(table.stage == "state_model") & table.available]["name"].tolist()
    return sorted(names, key=lambda name: (name != REFERENCE, name))


def accepted_options(backend: str, wanted: dict[str, Any]) -> dict[str, Any]:
    """The options of ``wanted`` that a backend's constructor takes (a plugin may take few)."""
    from faceexpr.registry import state_model_class

    params = inspect.signature(state_model_class(backend)).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(wanted)
    return {key: value for key, value in wanted.items() if key in params}


def _fixed_iterations(backend: str, k: int, options: dict[str, Any]) -> dict[str, Any]:
    """``tol=-inf`` (every iteration runs) where the backend takes it, else the smallest
    positive tol."""
    import faceexpr as fe

    if "tol" not in options:
        return options
    for tol in (-math.inf, 1e-300):
        try:
            fe.state_model(backend, n_states=k, **{**options, "tol": tol})
            return {**options, "tol": tol}
        except (ValueError, TypeError):
            continue
    return options


def measure(backend: str, n: int, d: int, k: int, covariance: str, n_iter: int,
            seed: int, repeats: int = 1, threads: int = 1) -> dict[str, Any]:
    """Fit one backend on one data set ``repeats`` times; runs inside a fresh process."""
    # before numba or JAX is imported (faceexpr imports neither until a fit needs it)
    os.environ.update(thread_environment(threads))
    from threadpoolctl import threadpool_limits

    import faceexpr as fe
    from faceexpr.analysis import state_agreement

    began = time.perf_counter()
    feats, truth = hmm_data(n, d, k, seed)
    wanted = {"covariance_type": covariance, "n_iter": n_iter, "tol": -math.inf, "n_init": 1,
              "random_state": seed, "n_threads": threads, **SHARED_PRIORS}
    options = _fixed_iterations(backend, k, accepted_options(backend, wanted))
    priors = ",".join(p for p in SHARED_PRIORS if p in options) or "own"
    with threadpool_limits(limits=threads):
        # warm up on a few frames: imports, JIT compilation and thread pools are not timed
        fe.state_model(backend, n_states=k, **options).fit(feats.isel(time=slice(0, 50 * k)))
        base_mb = peak_rss_mb()
        # a 1-iteration fit measures the start (k-means etc.), so that the EM iterations of
        # the full fit can be timed on their own; the first one, untimed, also compiles for
        # this shape where a backend compiles per shape (dynamax), predict included
        if "n_iter" in options:
            fe.state_model(backend, n_states=k, **{**options, "n_iter": 1}).fit(
                feats).predict(feats)
        warmup_s = time.perf_counter() - began
        one, fit, predict, per_iter = [], [], [], []
        for _ in range(repeats):
            one_s = 0.0
            if "n_iter" in options:
                start = time.perf_counter()
                fe.state_model(backend, n_states=k, **{**options, "n_iter": 1}).fit(feats)
                one_s = time.perf_counter() - start
            model = fe.state_model(backend, n_states=k, **options)
            start = time.perf_counter()
            model.fit(feats)
            fit_s = time.perf_counter() - start
            start = time.perf_counter()
            pred = model.predict(feats)
            predict.append(time.perf_counter() - start)
            iters = int(getattr(model, "n_iter_", n_iter) or n_iter)
            one.append(one_s)
            fit.append(fit_s)
            per_iter.append((fit_s - one_s) / (iters - 1) if iters > 1 else math.nan)
        ll = model.score(feats)
    s_iter, s_fit, s_pred = spread(per_iter), spread(fit), spread(predict)
    return {"iters": iters, "s_per_iter": s_iter["median"], "s_per_iter_min": s_iter["min"],
            "s_per_iter_max": s_iter["max"], "fit_s": s_fit["median"],
            "fit_s_min": s_fit["min"], "fit_s_max": s_fit["max"],
            "one_iter_fit_s": spread(one)["median"], "predict_s": s_pred["median"],
            "predict_s_min": s_pred["min"], "predict_s_max": s_pred["max"],
            "peak_mib": peak_rss_mb() - base_mb, "log_likelihood": ll,
            "ARI": state_agreement(truth, pred), "priors": priors,
            "tol": options.get("tol", math.nan), "warmup_s": warmup_s,
            "measured_s": time.perf_counter() - began - warmup_s}


def work(n: int, d: int, k: int, covariance: str) -> float:
    """Arithmetic of one EM iteration, up to a constant: emissions and covariance updates
    (``T K D²`` full, ``T K D`` diagonal) and forward–backward (``T K²``)."""
    return float(n) * k * ((d * d if covariance == "full" else d) + k)


def estimate_seconds(done: list[dict[str, Any]], case_work: float) -> float | None:
    """Seconds a case of ``case_work`` should take, scaled from this backend's measured case
    of the nearest smaller work (else the smallest); None before any case ran."""
    ok = [r for r in done if "measured_s" in r]
    if not ok:
        return None
    smaller = [r for r in ok if r["work"] <= case_work]
    ref = max(smaller, key=lambda r: r["work"]) if smaller else min(ok, key=lambda r: r["work"])
    return float(ref["warmup_s"] + ref["measured_s"] * case_work / ref["work"])


def run(frames: list[int], dims: list[int], states: list[int], covariance: str = "full",
        n_iter: int = 10, backends: list[str] | None = None, seed: int = 0,
        repeats: int = 3, threads: int = 1, max_seconds: float = 600.0) -> pd.DataFrame:
    """Sweep T × D × K for every backend; one row per (backend, T, D, K).

    A case whose time, estimated from the backend's smaller cases, exceeds ``max_seconds``
    is skipped with a note; one that runs past twice that (plus two minutes) is killed.
    """
    names = backends or state_model_backends()
    rows = []
    done: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    # smallest first, so every large case has a smaller one to be estimated from
    cases = sorted(((n, d, k) for n in frames for d in dims for k in states),
                   key=lambda c: work(c[0], c[1], c[2], covariance))
    for n, d, k in cases:
        case_work = work(n, d, k, covariance)
        for name in names:
            row: dict[str, Any] = {"backend": name, "T": n, "D": d, "K": k,
                                   "covariance": covariance, "threads": threads,
                                   "repeats": repeats}
            killed = [r for r in done[name] if r.get("killed") and r["work"] <= case_work]
            estimate = estimate_seconds(done[name], case_work)
            if killed:
                result: dict[str, Any] = {"note": "skipped: a smaller case ran out of time"}
            elif estimate is not None and estimate > max_seconds:
                result = {"note": f"skipped: estimated {estimate:.0f} s > --max-seconds "
                                  f"{max_seconds:.0f}"}
            else:
                start = time.perf_counter()
                result = run_isolated(measure, timeout=2 * max_seconds + 120, backend=name,
                                      n=n, d=d, k=k, covariance=covariance, n_iter=n_iter,
                                      seed=seed, repeats=repeats, threads=threads)
                result["wall_s"] = time.perf_counter() - start
                if "error" in result:
                    error = result.pop("error")
                    result["note"] = error
                    result["killed"] = error.startswith("killed")
                done[name].append({**result, "work": case_work})
            rows.append({**row, **result})
            print(f"  {name:<12} T={n:<8} D={d:<3} K={k:<3} "
                  + (f"{result['s_per_iter']:.3f} s/iteration, fit {result['fit_s']:.2f} s"
                     if "fit_s" in result else result.get("note", "")), flush=True)
    table = pd.DataFrame(rows).drop(columns=["killed", "warmup_s", "measured_s"],
                                    errors="ignore")
    table = with_ratios(table).sort_values(["T", "D", "K"], kind="stable")
    return table.reindex(columns=[*COLUMNS, *(c for c in table if c not in COLUMNS)])


def with_ratios(table: pd.DataFrame, reference: str = REFERENCE) -> pd.DataFrame:
    """Add each backend's fit time per iteration relative to ``reference`` on the same case,
    and its final log-likelihood's relative difference to the reference's."""
    keys = ["T", "D", "K", "covariance"]
    for column in ("s_per_iter", "log_likelihood"):
        if column not in table:
            table[column] = np.nan
    ref = table[table["backend"] == reference].set_index(keys)
    at = [tuple(getattr(row, k) for k in keys) for row in table.itertuples()]
    base_iter = [ref["s_per_iter"].get(key, np.nan) for key in at]
    base_ll = [ref["log_likelihood"].get(key, np.nan) for key in at]
    return table.assign(**{
        f"s_per_iter_vs_{reference}": table["s_per_iter"].to_numpy(float) / np.asarray(
            base_iter, float),
        f"ll_rel_diff_vs_{reference}": (table["log_likelihood"].to_numpy(float)
                                        - np.asarray(base_ll, float))
        / np.abs(np.asarray(base_ll, float)),
    })


def printable(table: pd.DataFrame) -> pd.DataFrame:
    """The table as printed: the columns that matter, rounded."""
    cols = ["backend", "T", "D", "K", "iters", "s_per_iter", "s_per_iter_min",
            "s_per_iter_max", "fit_s", "predict_s", "peak_mib", "log_likelihood",
            "ll_rel_diff_vs_hmmlearn", "ARI", "s_per_iter_vs_hmmlearn", "priors", "note"]
    out = table.reindex(columns=cols).copy()
    for c in ("s_per_iter", "s_per_iter_min", "s_per_iter_max", "fit_s", "predict_s"):
        out[c] = out[c].map(lambda v: f"{v:.4g}" if v == v else "")
    out["peak_mib"] = out["peak_mib"].round(0)
    out["log_likelihood"] = out["log_likelihood"].map(lambda v: f"{v:.6g}" if v == v else "")
    out["ll_rel_diff_vs_hmmlearn"] = out["ll_rel_diff_vs_hmmlearn"].map(
        lambda v: f"{v:+.1e}" if v == v else "")
    out["ARI"] = out["ARI"].round(3)
    out["s_per_iter_vs_hmmlearn"] = out["s_per_iter_vs_hmmlearn"].round(3)
    for c in ("note", "priors"):
        out[c] = [v if isinstance(v, str) else "" for v in out[c]]
    out["note"] = out["note"].str.slice(0, 60)
    out["priors"] = out["priors"].map(lambda v: "shared" if v == ",".join(SHARED_PRIORS) else v)
    return out.rename(columns={"s_per_iter_vs_hmmlearn": "iter_vs_hmmlearn",
                               "ll_rel_diff_vs_hmmlearn": "ll_rel_diff"})


def plot(table: pd.DataFrame, path: Any) -> None:
    """Seconds per EM iteration against T, one line per backend and (D, K)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    ok = table.dropna(subset=["s_per_iter"]) if "s_per_iter" in table else table.iloc[:0]
    for (name, d, k), group in ok.groupby(["backend", "D", "K"]):
        ax.plot(group["T"], group["s_per_iter"], marker="o", label=f"{name} D={d} K={k}")
    ax.set(xscale="log", yscale="log", xlabel="frames T", ylabel="seconds per EM iteration")
    if len(ok):
        ax.legend(fontsize=8)
    fig.savefig(path, dpi=100)
