"""faceexpr benchmarks: ``python -m benchmarks [state-models|triangulation|all] [options]``.

``state-models`` sweeps frames T, dimensions D and states K for every registered
StateModel backend (third-party plugins included) and prints fit seconds per EM
iteration, total fit and predict time, peak memory, final log-likelihood and the adjusted
Rand index to the true states, with each backend's ratio to hmmlearn measured side by side.
``triangulation`` reports frames/s and 3D error of each Anipose method, ``dlib`` the
frames/s of the 68-landmark estimator on 640x480 video. Tables are also
written as CSV (and a plot) into ``--out``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from benchmarks import dlib_speed, state_models, triangulation


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("which", nargs="?", default="all",
                        choices=["all", "state-models", "triangulation", "dlib"])
    parser.add_argument("--frames", type=int, nargs="+", default=[20000, 100000])
    parser.add_argument("--dims", type=int, nargs="+", default=[60])
    parser.add_argument("--states", type=int, nargs="+", default=[9])
    parser.add_argument("--covariance", choices=["full", "diag"], default="full")
    parser.add_argument("--n-iter", type=int, default=10, help="EM iterations per fit")
    parser.add_argument("--backends", nargs="+", default=None,
                        help="state-model backends (default: every available one)")
    parser.add_argument("--triangulation-frames", type=int, default=1000)
    parser.add_argument("--dlib-frames", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    pd.set_option("display.width", 200)
    if args.which in ("all", "state-models"):
        print(f"state models ({args.covariance} covariance, {args.n_iter} EM iterations):")
        table = state_models.run(args.frames, args.dims, args.states, args.covariance,
                                 args.n_iter, args.backends)
        table.to_csv(args.out / "state_models.csv", index=False)
        state_models.plot(table, args.out / "state_models.png")
        print(table.drop(columns=["covariance"]).round(3).to_string(index=False))
        print(f"written to {args.out / 'state_models.csv'} and state_models.png\n")
    if args.which in ("all", "triangulation"):
        table = triangulation.run(args.triangulation_frames)
        table.to_csv(args.out / "triangulation.csv", index=False)
        print("triangulation (21 landmarks, 3 cameras, 5% outliers):")
        print(table.round(3).to_string(index=False))
    if args.which in ("all", "dlib"):
        table = dlib_speed.run(args.dlib_frames)
        table.to_csv(args.out / "dlib.csv", index=False)
        print("\ndlib 68-landmark estimator on 640x480 video:")
        print(table.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
