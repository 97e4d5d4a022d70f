"""faceexpr benchmarks: ``python -m benchmarks {startup,state-models,pipeline,triangulation,
dlib,study,all} [options]`` (``--help`` after a benchmark lists its options).

``startup`` times ``import faceexpr`` and ``faceexpr --help`` against a bare ``python -c
pass``, each in fresh processes. ``state-models`` sweeps frames T, dimensions D and states K
for every registered StateModel backend (third-party plugins included), all from the same
k-means start with the same priors and the same number of EM iterations, and prints
seconds per EM iteration, total fit and predict time, peak memory, final log-likelihood
and its difference to hmmlearn's, the adjusted Rand index to the true states and each
backend's ratio to hmmlearn, measured side by side. ``pipeline`` times every stage of
``faceexpr analyze`` on hours of synthetic face beside the seed study's pandas + hmmlearn
recipe. ``triangulation`` reports frames/s and 3D error of each Anipose method, ``dlib``
the frames/s of the 68-landmark estimator on 640x480 video. ``study`` runs a study of many
synthetic sessions serially and on a local dask cluster: wall time, speed-up, the client's
and every worker's peak memory (not part of ``all``: at full size it takes long).

Each benchmark first prints the machine (CPU, load, thread pools, versions), reports the
median (min, max) of ``--repeats`` runs where it repeats, and writes its tables as CSV
(and the header as JSON) into ``--out``. The timings are only as quiet as the machine.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from benchmarks import _machine

BENCHMARKS = ("startup", "state-models", "pipeline", "triangulation", "dlib")


def _common(repeats: int = 3) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--out", type=Path, default=Path("benchmarks/results"),
                        help="folder of the CSV tables")
    common.add_argument("--repeats", type=int, default=repeats,
                        help="runs of every measurement; the tables give median, min, max "
                             f"(default {repeats})")
    common.add_argument("--threads", type=int, default=None,
                        help="BLAS/OpenMP/numba threads of the measured work (default 1; "
                             "startup: the environment's own)")
    return common


def _parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description=__doc__.split("\n\n")[1])
    sub = parser.add_subparsers(dest="which", required=True)
    sub.add_parser("startup", parents=[common], help="import and --help times")
    sm = sub.add_parser("state-models", parents=[common], help="every StateModel backend")
    _state_model_options(sm)
    pipe = sub.add_parser("pipeline", parents=[common], help="faceexpr analyze by stage")
    _pipeline_options(pipe)
    tri = sub.add_parser("triangulation", parents=[common], help="Anipose methods")
    tri.add_argument("--triangulation-frames", type=int, default=1000)
    dl = sub.add_parser("dlib", parents=[common], help="dlib landmarks on video")
    dl.add_argument("--dlib-frames", type=int, default=100)
    # one run of the full study takes long: a single repeat unless asked
    st = sub.add_parser("study", parents=[_common(repeats=1)],
                        help="a study of many sessions, serially and on a dask cluster")
    _study_options(st)
    everything = sub.add_parser("all", parents=[common], help="every benchmark")
    _state_model_options(everything)
    _pipeline_options(everything)
    everything.add_argument("--triangulation-frames", type=int, default=1000)
    everything.add_argument("--dlib-frames", type=int, default=100)
    return parser


def _state_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--grid", choices=["small", "full"], default="small",
                   help="small: T 20k, 100k x D 60 x K 9; full: T 10k, 108k, 1M x D 10, 60 "
                        "x K 5, 9, 15 (--frames, --dims, --states override either)")
    p.add_argument("--frames", type=int, nargs="+", default=None)
    p.add_argument("--dims", type=int, nargs="+", default=None)
    p.add_argument("--states", type=int, nargs="+", default=None)
    p.add_argument("--covariance", choices=["full", "diag"], default="full")
    p.add_argument("--n-iter", type=int, default=10, help="EM iterations per fit")
    p.add_argument("--backends", nargs="+", default=None,
                   help="state-model backends (default: every available one)")
    p.add_argument("--max-seconds", type=float, default=600.0,
                   help="skip a backend's case whose time, estimated from its smaller "
                        "cases, is longer (a note says so)")


def _pipeline_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hours", type=float, default=1.0,
                   help="length of the synthetic recording (30 fps)")
    p.add_argument("--n-states", type=int, default=9)
    p.add_argument("--recipe-iters", type=int, nargs="+", default=[10, 100],
                   help="n_iter of the recipe's hmmlearn fits")
    p.add_argument("--analyze-option", action="append", default=[], metavar="ARG",
                   help="further argument of faceexpr analyze (repeatable), e.g. "
                        "--analyze-option=--no-figures or --analyze-option=--model "
                        "--analyze-option=hmmlearn")


def _study_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sessions", type=int, nargs="+", default=[20],
                   help="sessions of the study; several values: one study each (e.g. 20 40, "
                        "to see the client's memory as the study grows)")
    p.add_argument("--minutes", type=float, default=30.0,
                   help="length of every synthetic session (30 fps)")
    p.add_argument("--workers", type=int, default=2,
                   help="worker processes of the local dask cluster (1 thread each)")
    p.add_argument("--n-states", type=int, default=5)
    p.add_argument("--seed", type=int, default=0, help="seed of the first session")
    p.add_argument("--modes", nargs="+", choices=["serial", "cluster"],
                   default=["serial", "cluster"], help="which runs (default both)")
    p.add_argument("--max-seconds", type=float, default=None,
                   help="kill a run still going after this many seconds (an error)")


def _print(table: pd.DataFrame, digits: int = 3) -> None:
    print(table.round(digits).to_string(index=False))


def state_models_bench(args: argparse.Namespace) -> None:
    from benchmarks import state_models

    grid = state_models.FULL_GRID if args.grid == "full" else state_models.SMALL_GRID
    frames = args.frames or grid["frames"]
    dims = args.dims or grid["dims"]
    states = args.states or grid["states"]
    threads = args.threads or 1
    print(f"state models ({args.covariance} covariance, {args.n_iter} EM iterations, "
          f"T {frames} x D {dims} x K {states}, {args.repeats} repeats):", flush=True)
    table = state_models.run(frames, dims, states, args.covariance, args.n_iter,
                             args.backends, repeats=args.repeats, threads=threads,
                             max_seconds=args.max_seconds)
    table.to_csv(args.out / "state_models.csv", index=False)
    state_models.plot(table, args.out / "state_models.png")
    print(state_models.printable(table).to_string(index=False))
    print("s_per_iter: median (min, max) over the repeats of (fit - 1-iteration fit) / "
          "(iters - 1); ll_rel_diff: (log L - hmmlearn's) / |hmmlearn's|; priors: the shared "
          "priors the backend took ('own': its library's)")
    print(f"written to {args.out / 'state_models.csv'} and state_models.png")


def pipeline_bench(args: argparse.Namespace) -> None:
    from benchmarks import pipeline

    extra = "".join(f" {a}" for a in args.analyze_option)
    print(f"pipeline: faceexpr analyze FILE --n-states {args.n_states}{extra} --out DIR vs the "
          f"seed study's recipe, {args.hours:g} h of synthetic face, {args.repeats} repeats:",
          flush=True)
    stages, runs, raw, _ = pipeline.run(args.hours, args.repeats, args.n_states,
                                        args.threads or 1, tuple(args.recipe_iters),
                                        analyze_options=tuple(args.analyze_option))
    stages.to_csv(args.out / "pipeline_stages.csv", index=False)
    runs.to_csv(args.out / "pipeline_runs.csv", index=False)
    raw.to_csv(args.out / "pipeline_raw.csv", index=False)
    print("stages of faceexpr analyze (seconds; share of the total):")
    _print(stages)
    print("\nwhole runs (seconds; peak MiB of the process; faceexpr_command_over_this: the "
          "command's median over the row's):")
    _print(runs)
    print(f"written to {args.out / 'pipeline_stages.csv'}, pipeline_runs.csv, "
          "pipeline_raw.csv")


def startup_bench(args: argparse.Namespace) -> None:
    from benchmarks import startup

    print(f"startup ({args.repeats} fresh processes each, after one untimed round):",
          flush=True)
    table = startup.run(args.repeats, args.threads)
    table.to_csv(args.out / "startup.csv", index=False)
    _print(table)
    print(f"written to {args.out / 'startup.csv'}")


def triangulation_bench(args: argparse.Namespace) -> None:
    from benchmarks import triangulation

    table = triangulation.run(args.triangulation_frames)
    table.to_csv(args.out / "triangulation.csv", index=False)
    print("triangulation (21 landmarks, 3 cameras, 5% outliers):")
    _print(table)


def dlib_bench(args: argparse.Namespace) -> None:
    from benchmarks import dlib_speed

    table = dlib_speed.run(args.dlib_frames)
    table.to_csv(args.out / "dlib.csv", index=False)
    print("dlib 68-landmark estimator on 640x480 video:")
    _print(table)


def study_bench(args: argparse.Namespace) -> None:
    from benchmarks import study

    if min(args.sessions) < 1 or args.minutes <= 0 or args.workers < 1:
        raise SystemExit("study: --sessions, --minutes and --workers must be positive")
    print(f"study: {' and '.join(map(str, args.sessions))} sessions of {args.minutes:g} min "
          f"at 30 fps, Study(Pipeline(n_states={args.n_states})).run {' and '.join(args.modes)}"
          f" (LocalCluster: {args.workers} worker processes x 1 thread), {args.repeats} "
          "repeats, each run a fresh process:", flush=True)
    table, raw = study.run(args.sessions, args.minutes, args.out, repeats=args.repeats,
                           workers=args.workers, n_states=args.n_states,
                           threads=args.threads or 1, seed=args.seed, modes=args.modes,
                           timeout=args.max_seconds)
    table.to_csv(args.out / "study.csv", index=False)
    raw.to_csv(args.out / "study_raw.csv", index=False)
    print("\nStudy.run seconds: median (min, max); process_s: the whole process (start, "
          "imports, cluster); client_*: the client process alone (increase: during "
          "Study.run, its lazy imports included); worker_peak_mib: the largest worker's peak:")
    _print(table)
    print(f"written to {args.out / 'study.csv'} and study_raw.csv; the sessions are kept in "
          f"{args.out / 'study-data'}")


RUNNERS = {"startup": startup_bench, "state-models": state_models_bench,
           "pipeline": pipeline_bench, "triangulation": triangulation_bench,
           "dlib": dlib_bench, "study": study_bench}


def main(argv: Sequence[str] | None = None) -> None:
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv.insert(0, "all")  # no benchmark named: all of them
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    args.out.mkdir(parents=True, exist_ok=True)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 40)
    names = BENCHMARKS if args.which == "all" else (args.which,)
    for name in names:
        info = _machine.machine_info()
        threads = (f"{args.threads}" if args.threads else
                   "the environment's" if name == "startup" else "1 (threadpoolctl)")
        _machine.print_header(info, f"benchmark {name}", threads)
        RUNNERS[name](args)
        _machine.finish(info, args.out, name.replace("-", "_"))
        print()


if __name__ == "__main__":
    main()
