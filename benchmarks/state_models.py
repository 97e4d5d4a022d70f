"""Fit and predict speed, memory and accuracy of every registered StateModel backend.

Every backend fits the same synthetic HMM data (known states) in one run, so the ratios
to hmmlearn are measured side by side. Each case runs in its own process: the peak
memory reported is what that fit added on top of the data, for any library (NumPy or
torch allocations alike).
"""

from __future__ import annotations

import inspect
import math
import time
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from benchmarks._runner import peak_rss_mb, run_isolated


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
    """Names of the registered StateModel backends whose dependencies are installed."""
    import faceexpr as fe

    table = fe.backends()
    return table[(table.stage == "state_model") & table.available]["name"].tolist()


def accepted_options(backend: str, wanted: dict[str, Any]) -> dict[str, Any]:
    """The options of ``wanted`` that a backend's constructor takes (a plugin may take few)."""
    from faceexpr.registry import state_model_class

    params = inspect.signature(state_model_class(backend)).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(wanted)
    return {key: value for key, value in wanted.items() if key in params}


def measure(backend: str, n: int, d: int, k: int, covariance: str, n_iter: int,
            seed: int) -> dict[str, Any]:
    """Fit one backend on one data set; runs inside a fresh process."""
    import faceexpr as fe
    from faceexpr.analysis import state_agreement

    feats, truth = hmm_data(n, d, k, seed)
    wanted = {"covariance_type": covariance, "n_iter": n_iter, "tol": 1e-9, "n_init": 1,
              "random_state": seed}
    options = accepted_options(backend, wanted)
    # warm up on a few frames: imports, JIT compilation and thread pools are not timed
    fe.state_model(backend, n_states=k, **options).fit(feats.isel(time=slice(0, 50 * k)))
    base_mb = peak_rss_mb()
    # a 1-iteration fit measures the start (k-means etc.), so that the EM iterations of the
    # full fit can be timed on their own
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
    predict_s = time.perf_counter() - start
    iters = int(getattr(model, "n_iter_", n_iter) or n_iter)
    per_iter = (fit_s - one_s) / (iters - 1) if iters > 1 else math.nan
    return {"fit_s": fit_s, "one_iter_fit_s": one_s, "iters": iters, "s_per_iter": per_iter,
            "predict_s": predict_s, "peak_mb": peak_rss_mb() - base_mb,
            "log_likelihood": model.score(feats), "ARI": state_agreement(truth, pred)}


def run(frames: list[int], dims: list[int], states: list[int], covariance: str = "full",
        n_iter: int = 10, backends: list[str] | None = None, seed: int = 0) -> pd.DataFrame:
    """Sweep T × D × K for every backend; one row per (backend, T, D, K)."""
    names = backends or state_model_backends()
    rows = []
    for n in frames:
        for d in dims:
            for k in states:
                for name in names:
                    result = run_isolated(measure, backend=name, n=n, d=d, k=k,
                                          covariance=covariance, n_iter=n_iter, seed=seed)
                    rows.append({"backend": name, "T": n, "D": d, "K": k,
                                 "covariance": covariance, **result})
                    print(f"  {name:<12} T={n:<7} D={d:<4} K={k:<3} "
                          + (f"{result['fit_s']:.2f} s" if "fit_s" in result
                             else result.get("error", "")), flush=True)
    table = pd.DataFrame(rows)
    return with_ratios(table)


def with_ratios(table: pd.DataFrame, reference: str = "hmmlearn") -> pd.DataFrame:
    """Add each backend's fit time per iteration relative to ``reference`` on the same case."""
    if "s_per_iter" not in table or reference not in set(table["backend"]):
        return table
    keys = ["T", "D", "K", "covariance"]
    base = table[table["backend"] == reference].set_index(keys)["s_per_iter"]
    ratio = [row.s_per_iter / base.get(tuple(getattr(row, k) for k in keys), np.nan)
             for row in table.itertuples()]
    return table.assign(**{f"s_per_iter_vs_{reference}": ratio})


def plot(table: pd.DataFrame, path: Any) -> None:
    """Seconds per EM iteration against T, one line per backend and (D, K)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    ok = table.dropna(subset=["s_per_iter"]) if "s_per_iter" in table else table.iloc[:0]
    for (name, d, k), group in ok.groupby(["backend", "D", "K"]):
        ax.plot(group["T"], group["s_per_iter"], marker="o", label=f"{name} D={d} K={k}")
    ax.set(xscale="log", yscale="log", xlabel="frames T", ylabel="seconds per EM iteration")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=100)
