"""Fit time of every registered, available StateModel backend on synthetic HMM data.

Each backend fits the same data in the same process, so the ratios to hmmlearn are
measured side by side. ``python -m benchmarks --frames 5000 20000 --dims 60 --states 9``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import xarray as xr

import faceexpr as fe
from faceexpr.analysis import state_agreement
from faceexpr.data import make_features
from faceexpr.synthetic import sticky_chain


def hmm_data(n: int, d: int, k: int, seed: int = 0) -> tuple[xr.DataArray, xr.DataArray]:
    """Features drawn from a sticky Gaussian HMM with known states."""
    rng = np.random.default_rng(seed)
    states = sticky_chain(rng, n, k, 30.0)
    means = rng.normal(0, 2, (k, d))
    x = means[states] + rng.normal(0, 1, (n, d))
    return make_features(x, [f"f{i}" for i in range(d)]), xr.DataArray(states, dims="time")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--frames", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--dims", type=int, nargs="+", default=[60])
    parser.add_argument("--states", type=int, nargs="+", default=[9])
    parser.add_argument("--n-iter", type=int, default=20)
    args = parser.parse_args()
    table = fe.backends()
    names = table[(table.stage == "state_model") & table.available]["name"].tolist()
    rows = []
    for n in args.frames:
        for d in args.dims:
            for k in args.states:
                feats, truth = hmm_data(n, d, k)
                for name in names:
                    model = fe.state_model(name, n_states=k, n_iter=args.n_iter, tol=1e-9)
                    start = time.perf_counter()
                    model.fit(feats)
                    fit_s = time.perf_counter() - start
                    start = time.perf_counter()
                    pred = model.predict(feats)
                    rows.append({"backend": name, "T": n, "D": d, "K": k, "fit_s": fit_s,
                                 "iters": getattr(model, "n_iter_", np.nan),
                                 "predict_s": time.perf_counter() - start,
                                 "log_likelihood": model.score(feats),
                                 "ARI": state_agreement(truth, pred)})
    df = pd.DataFrame(rows)
    df["s_per_iter"] = df["fit_s"] / df["iters"]
    base = df[df.backend == "hmmlearn"].set_index(["T", "D", "K"])["fit_s"]
    df["fit_ratio_to_hmmlearn"] = [r.fit_s / base.loc[(r.T, r.D, r.K)] for r in df.itertuples()]
    print(df.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
