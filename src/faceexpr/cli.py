"""The ``faceexpr`` command: ``analyze``, ``apply``, ``demo``, ``backends`` and the plugins'
commands (``calibrate`` from Anipose, ``dlc`` from DeepLabCut).

This module only parses arguments and prints; the work is done by
:class:`~faceexpr.pipeline.Pipeline`, :func:`~faceexpr.recording.recordings_from_files`
and the registered plugins.

Errors in the input print one line (``faceexpr: error: ...``) and exit with status 1;
wrong usage exits with status 2 (argparse).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from faceexpr._files import Terminated, signals_interrupt
from faceexpr.errors import FaceexprError, one_line
from faceexpr.io.cameras import compile_cam_regex
from faceexpr.io.video import check_video, require_cv2
from faceexpr.recording import recordings_from_files, unique_names
from faceexpr.registry import backends, cli_commands, state_model_class


def _options(pairs: Sequence[str]) -> dict[str, Any]:
    """Parse ``key=value`` pairs; values are read as JSON when they can be."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise FaceexprError(f"option {pair!r} is not of the form key=value")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _check_number(option: str, value: float | None, *, low: float = 0.0,
                  low_ok: bool = True, high: float | None = None) -> None:
    """Refuse an option value that is NaN, infinite or out of range, naming the option."""
    if value is None:
        return
    if not math.isfinite(value) or value < low or (value == low and not low_ok) or (
            high is not None and value > high):
        bound = f">= {low:g}" if low_ok else f"> {low:g}"
        if high is not None:
            bound = f"between {low:g} and {high:g}"
        raise FaceexprError(f"{option} must be a finite number {bound}, got {value:g}")


def _check_analyze_options(args: argparse.Namespace) -> None:
    """The options only the command has; the pipeline's own are checked by
    :meth:`~faceexpr.pipeline.Pipeline.check`."""
    _check_number("--fps", args.fps, low_ok=False)
    _check_number("--n-init", args.n_init, low=1)
    low, high = args.candidates
    if low < 1 or high < low:
        raise FaceexprError(f"--candidates {low} {high}: give MIN MAX with 1 <= MIN <= MAX "
                            "(the smallest and largest number of states to try)")


def _model_options(args: argparse.Namespace) -> dict[str, Any]:
    """The state model's options: ``--covariance`` and ``--n-init`` where the backend takes
    them (a plugin may not), then every ``--model-option``."""
    cls = state_model_class(args.model)
    accepted = cls.accepted_options()
    options: dict[str, Any] = {}
    for name, value, default in (("covariance_type", args.covariance, "full"),):
        if name in accepted:
            options[name] = value
        elif value != default:
            flag = "--covariance" if name == "covariance_type" else "--n-init"
            raise FaceexprError(f"the state model '{args.model}' has no option {name} "
                                f"({flag}); it takes: "
                                f"{cls.describe_options()}")
    return {**options, **_options(args.model_option)}


def _n_states(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of states or 'auto', got "
                                         f"{text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"the number of states must be >= 1, got {value}")
    return value


class _DEFAULTS(argparse.HelpFormatter):
    """Show an option's default at the end of its help, where it has a meaningful one."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if ("default" in text or default is None or default is False or default == []
                or default is argparse.SUPPRESS or not action.option_strings):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, list) else default
        return f"{text} (default: {shown})"


def _parser() -> argparse.ArgumentParser:
    from faceexpr import _defaults as d

    parser = argparse.ArgumentParser(
        prog="faceexpr", description="Facial-expression states from face landmarks.")
    sub = parser.add_subparsers(dest="command", required=True)

    an = sub.add_parser("analyze", help="find expression states in pose files",
                        formatter_class=_DEFAULTS)
    an.add_argument("files", nargs="*", type=Path,
                    help="pose files of any registered format (DeepLabCut .h5/.csv, Anipose "
                         "pose-3d .csv, OpenFace .csv, faceexpr or movement .nc; "
                         "'faceexpr backends' lists them), or videos with --estimator; "
                         "several are fitted as one model")
    an.add_argument("--manifest", type=Path, default=None, metavar="CSV",
                    help="a study: one row per session (session, subject, condition, files "
                         "or video, calibration, fps), analysed as one model with group "
                         "tables")
    an.add_argument("--workers", type=int, default=None, metavar="N",
                    help="run the study's sessions on a local dask cluster of N worker "
                         "processes")
    an.add_argument("--scheduler", default=None, metavar="ADDRESS",
                    help="run the study on an existing dask cluster (tcp://host:port)")
    an.add_argument("--keep-going", action="store_true",
                    help="in a study, leave out a session that fails (reported) instead of "
                         "stopping")
    an.add_argument("--resume", action="store_true",
                    help="in a study, reuse the sessions an earlier run into --out prepared "
                         "with the same files and settings")
    an.add_argument("--format", default="auto",
                    help="format of the pose files, or 'auto' to recognise each by content")
    an.add_argument("--estimator", default="file",
                    help="pose estimator: 'file' reads pose files; e.g. deeplabcut or dlib "
                         "track videos")
    an.add_argument("--estimator-option", action="append", default=[], metavar="KEY=VALUE",
                    help="pose-estimator option (repeatable), e.g. config=project/config.yaml")
    an.add_argument("--target", nargs="+", metavar="PHOTO", default=None,
                    help="with --estimator dlib: whom to follow, one or more reference photos "
                         "of the person alone, or 'most-frequent' (the person seen most); "
                         "frames without them are left out")
    an.add_argument("--n-states", type=_n_states, default=d.N_STATES,
                    help="number of states, or 'auto': the best of --candidates by "
                         "--criterion")
    an.add_argument("--candidates", type=int, nargs=2,
                    default=[min(d.CANDIDATES), max(d.CANDIDATES)], metavar=("MIN", "MAX"),
                    help="numbers of states tried by --n-states auto")
    an.add_argument("--criterion", choices=["cv", "bic", "icl", "aic", "heldout"],
                    default=d.CRITERION,
                    help="how --n-states auto chooses: icl (BIC plus the posterior entropy), "
                         "bic, aic or cv (blocked cross-validation, "
                         "one-standard-error rule); heldout is cv")
    an.add_argument("--cv-folds", type=int, default=d.CV_FOLDS,
                    help="contiguous cross-validation folds of --n-states auto")
    an.add_argument("--dwell-time", type=float, default=d.DWELL_TIME_S,
                    metavar="SECONDS",
                    help="expected time in one expression: the sticky transition prior "
                         "(0: none)")
    an.add_argument("--stability", type=int, default=d.STABILITY, metavar="N",
                    help="refit on N block-bootstrap resamples (and the halves and two "
                         "seeds) and report how often every state reappears (0: skip)")
    an.add_argument("--jobs", type=int, default=None, metavar="N",
                    help="worker processes for --n-states auto's fits (default: one per "
                         "core on recordings of 20,000 frames or more, else 1)")
    an.add_argument("--model", default="native",
                    help="state model backend ('faceexpr backends' lists them)")
    an.add_argument("--covariance", choices=["full", "diag", "tied"], default="full",
                    help="covariance of each state's Gaussian (tied: one for all states; "
                         "native only)")
    an.add_argument("--ar-order", type=int, default=d.AR_ORDER, metavar="P",
                    help="autoregressive order of the state model (native, dynamax): 1 "
                         "models the slow drift within an expression; 0: the Gaussian HMM")
    an.add_argument("--covariance-prior", type=float, default=d.COVARIANCE_PRIOR,
                    metavar="FRACTION",
                    help="covariance prior as a fraction of the features' mean variance")
    an.add_argument("--n-init", type=int, default=d.N_INIT,
                    help="restarts, best kept")
    an.add_argument("--reference", default="auto",
                    help="egocentric reference landmark ('auto': the landmark scheme's, "
                         "nose1 for the 21-landmark face)")
    an.add_argument("--no-align", action="store_true", help="do not remove head rotation")
    an.add_argument("--standardize", action="store_true",
                    help="z-score every column instead of keeping the coordinates' own "
                         "units (the default)")
    an.add_argument("--no-standardize", action="store_true", help=argparse.SUPPRESS)
    an.add_argument("--confidence", type=float, default=d.CONFIDENCE_THRESHOLD,
                    help="confidence threshold below which points are missing")
    an.add_argument("--max-gap", type=int, default=d.MAX_GAP,
                    help="longest gap filled (frames)")
    an.add_argument("--smooth", choices=["median", "savgol"], default=None,
                    help="smooth the landmarks over time (default: off)")
    an.add_argument("--pca", type=float, default=d.PCA,
                    help="principal components to model (0: off; <1: variance fraction)")
    an.add_argument("--fps", type=float, default=None, help="frame rate, if the files lack it")
    an.add_argument("--individual", default=None,
                    help="the individual to read from multi-animal DeepLabCut files")
    an.add_argument("--seed", type=int, default=d.RANDOM_STATE,
                    help="seed of the state model and PCA")
    an.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE",
                    help="extra state-model option (repeatable)")
    an.add_argument("--out", type=Path, default=Path("faceexpr-out"), help="output folder")
    an.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    an.add_argument("--video", type=Path, nargs="+", default=[], metavar="VIDEO",
                    help="video of each input file, in the same order: write a labelled "
                         "copy with the landmarks and states")
    an.add_argument("--no-labelled-video", action="store_true",
                    help="with --estimator on videos: do not write the labelled copy of each "
                         "tracked video (written by default, H.264, played by report.html)")
    an.add_argument("--calibration", type=Path, default=None,
                    help="Anipose calibration.toml: the files are 2D views of synchronised "
                         "cameras (one file per camera, named by --cam-regex), triangulated "
                         "to 3D; files that differ only in the camera are one recording")
    an.add_argument("--cam-regex", default=None,
                    help="regex whose first group is the camera in a file name (default: "
                         "the --anipose-config's, else cam([A-Z]))")
    an.add_argument("--triangulator", default="anipose",
                    help="registered triangulator used with --calibration")
    an.add_argument("--triangulation", choices=["dlt", "ransac", "optim"], default=None,
                    help="triangulation method (default ransac, or the Anipose config's)")
    an.add_argument("--anipose-config", type=Path, default=None,
                    help="an Anipose project's config.toml: its [triangulation] options, "
                         "cam_regex and [labeling] scheme")
    an.add_argument("--triangulation-option", action="append", default=[],
                    metavar="KEY=VALUE", help="extra triangulator option (repeatable)")
    an.add_argument("--no-figures", action="store_true", help="tables only, no figures")
    an.add_argument("--svg", action="store_true", help="also write figures as SVG")
    an.add_argument("--quiet", action="store_true", help="no progress bars")

    ap = sub.add_parser(
        "apply", help="label new pose files with the states of a saved result",
        description="Label new recordings with the states of a result written by "
                    "'faceexpr analyze', without refitting: the same cleaning, alignment "
                    "template, standardisation, PCA and state model; the same tables, "
                    "figures and report as analyze.",
        formatter_class=_DEFAULTS)
    ap.add_argument("results", type=Path, metavar="RESULTS_DIR",
                    help="a folder written by 'faceexpr analyze' (or Result.save)")
    ap.add_argument("files", nargs="+", type=Path,
                    help="pose files (or, with the fit's --estimator, videos) to label")
    ap.add_argument("--out", type=Path, required=True, help="output folder")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    ap.add_argument("--format", default=None,
                    help="format of the pose files (default: the fit's, usually 'auto')")
    ap.add_argument("--fps", type=float, default=None, help="frame rate, if the files lack it")
    ap.add_argument("--estimator", default=None,
                    help="pose estimator (default: the fit's; 'file' reads pose files)")
    ap.add_argument("--estimator-option", action="append", default=[], metavar="KEY=VALUE",
                    help="pose-estimator option (repeatable); replaces the fit's options")
    ap.add_argument("--no-labelled-video", action="store_true",
                    help="with a video estimator: do not write the labelled videos")
    ap.add_argument("--no-figures", action="store_true", help="tables only, no figures")
    ap.add_argument("--svg", action="store_true", help="also write figures as SVG")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")

    demo = sub.add_parser(
        "demo", help="run the pipeline on synthetic faces with known states",
        description="Simulate a face switching between known expressions, run the whole "
                    "pipeline on its 3D landmarks and on one camera's 2D view, and print how "
                    "well the states were recovered (adjusted Rand index).",
        formatter_class=_DEFAULTS)
    demo.add_argument("--frames", type=int, default=3000, help="frames to simulate (30 fps)")
    demo.add_argument("--n-states", type=int, default=5,
                      help="expressions simulated and states fitted")
    demo.add_argument("--dims", type=int, nargs="+", choices=[2, 3], default=[2, 3],
                      help="run on the 3D landmarks, the 2D camera view, or both")
    demo.add_argument("--seed", type=int, default=2, help="seed of the simulation")
    demo.add_argument("--out", type=Path, default=None,
                      help="also write the results of each run into OUT/2d, OUT/3d")
    demo.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    demo.add_argument("--video", action="store_true",
                      help="with --out: render the 2D camera's video and write it labelled "
                           "(needs OpenCV: pip install \"faceexpr[video]\")")

    for name, command in cli_commands().items():
        command.add_arguments(sub.add_parser(name, help=command.help,
                                             formatter_class=_DEFAULTS))
    sub.add_parser("backends", help="list registered formats, backends and commands, and "
                                    "whether they are usable here")
    return parser


def _print_coverage(result: Any) -> None:
    """One line per session whose pose estimator recorded why frames were dropped."""
    for row in result.coverage().to_dict(orient="records"):
        why = {k[len("dropped_"):].replace("-", " "): v for k, v in row.items()
               if k.startswith("dropped_") and v}
        if not why and row["shots"] == 1:
            continue
        reasons = ", ".join(f"{k} {v}" for k, v in why.items()) or "none dropped"
        print(f"{row['session']}: landmarks on {row['with_landmarks']} of {row['frames']} "
              f"frames ({reasons}); {row['shots']} shot(s)")


def _analyze(args: argparse.Namespace) -> int:
    from faceexpr.pipeline import Pipeline, check_output_folder, estimated_size

    _check_analyze_options(args)
    # 0 turns PCA off; a whole number is a count (anything else Pipeline.check refuses)
    pca: float | None = None if args.pca == 0 else args.pca
    if pca is not None and pca >= 1 and float(pca).is_integer():
        pca = int(pca)
    model_options = _model_options(args)
    if args.cam_regex is not None:
        compile_cam_regex(args.cam_regex, what="--cam-regex")
    if args.estimator == "file":
        if args.estimator_option:
            raise FaceexprError("--estimator-option needs --estimator (e.g. deeplabcut)")
        reader_options: dict[str, Any] = {"format": args.format}
        if args.fps:
            reader_options["fps"] = args.fps
        if args.individual is not None:
            reader_options["individual"] = args.individual
    else:
        if args.individual is not None:
            raise FaceexprError("--individual selects an animal of a DeepLabCut file; give "
                                "it without --estimator")
        reader_options = _options(args.estimator_option)
    if args.target is not None:
        if args.estimator != "dlib":
            raise FaceexprError("--target chooses whom the dlib estimator follows: give it "
                                "with --estimator dlib")
        reader_options["target"] = (args.target[0] if args.target == ["most-frequent"]
                                    else [str(p) for p in args.target])
    if args.calibration is None and (args.anipose_config or args.triangulation
                                     or args.triangulation_option):
        raise FaceexprError("--anipose-config, --triangulation and --triangulation-option "
                            "need --calibration (the cameras' calibration.toml)")
    tri_options: dict[str, Any] = _options(args.triangulation_option)
    if args.triangulation:
        tri_options["method"] = args.triangulation
    low, high = args.candidates
    pipe = Pipeline(n_states=args.n_states, candidates=tuple(range(low, high + 1)),
                    criterion=args.criterion, cv_folds=args.cv_folds, n_init=args.n_init,
                    dwell_time=args.dwell_time or None, stability=args.stability,
                    state_model=args.model, model_options=model_options,
                    estimator=args.estimator, estimator_options=reader_options,
                    confidence_threshold=args.confidence,
                    max_gap=args.max_gap, smoothing=args.smooth, reference=args.reference,
                    align=not args.no_align, standardize=args.standardize,
                    ar_order=args.ar_order, covariance_prior=args.covariance_prior,
                    pca=pca, random_state=args.seed,
                    progress=not args.quiet, n_jobs=args.jobs,
                    triangulator=args.triangulator if args.calibration is not None else None,
                    triangulator_options=tri_options)
    pipe.check()
    if args.manifest is not None or args.workers is not None or args.scheduler is not None:
        return _study(args, pipe)
    if not args.files:
        raise FaceexprError("give the pose files or videos to analyse, or a study --manifest")
    if args.keep_going or args.resume:
        raise FaceexprError("--keep-going and --resume are for studies: give --manifest, "
                            "--workers or --scheduler")
    inputs = [*args.files, *args.video, *(f for f in (args.calibration, args.anipose_config)
                                          if f is not None)]
    # before the fit, not after it
    check_output_folder(args.out, args.overwrite, inputs,
                        size=estimated_size([*args.files, *args.video],
                                            figures=not args.no_figures))
    recordings = recordings_from_files(args.files, calibration=args.calibration,
                                       project=args.anipose_config, cam_regex=args.cam_regex,
                                       triangulator=args.triangulator)
    if args.video and args.calibration is not None:
        raise FaceexprError("--video labels 2D analyses; it cannot be combined with "
                            "--calibration")
    if args.video and len(args.video) != len(args.files):
        raise FaceexprError(f"--video needs one video per input file: got {len(args.video)} "
                            f"video(s) for {len(args.files)} file(s)")
    for video in args.video:
        if not video.is_file():
            raise FaceexprError(f"{video}: video not found")
        check_video(video)  # a corrupt video fails now, not after the fit
    result = pipe.run(recordings)
    videos = dict(zip(result.sessions, args.video))
    if (not videos and args.estimator != "file" and not args.no_labelled_video
            and all(isinstance(r.source, Path) for r in recordings)):
        videos = {s: r.source for s, r in zip(result.sessions, recordings)}  # the tracked
    formats = ("png", "svg") if args.svg else ("png",)
    project = recordings[0].project
    scheme: Any = [list(c) for c in project.skeleton] if project and project.skeleton else "auto"
    result.save(args.out, overwrite=args.overwrite, figures=not args.no_figures,
                formats=formats, videos=videos, scheme=scheme)
    _print_result(result)
    print(f"results written to {args.out}")
    return 0


def _study(args: argparse.Namespace, pipe: Any) -> int:
    """``analyze --manifest`` / ``--workers`` / ``--scheduler``: a study."""
    from faceexpr.study import Study, StudySession, read_manifest
    from faceexpr.study.cluster import connect

    if args.manifest is not None and args.files:
        raise FaceexprError("give the sessions as a --manifest or as files, not both")
    if args.video or (args.calibration is not None and args.manifest is not None):
        raise FaceexprError("in a study, each session's videos and calibration are columns "
                            "of the --manifest (files/video, calibration)")
    if args.workers is not None and args.scheduler is not None:
        raise FaceexprError("give --workers (a local cluster) or --scheduler (an existing "
                            "one), not both")
    _check_number("--workers", args.workers, low_ok=False)
    if args.manifest is not None:
        sessions = read_manifest(args.manifest)
    elif args.files:
        recordings = recordings_from_files(args.files, calibration=args.calibration,
                                           project=args.anipose_config,
                                           cam_regex=args.cam_regex,
                                           triangulator=args.triangulator)
        # files of the same name in other folders are other sessions
        names = unique_names([r.name for r in recordings])
        sessions = [StudySession(n, "", "", r, None, {}, j + 1)
                    for j, (n, r) in enumerate(zip(names, recordings))]
    else:
        raise FaceexprError("give the study's sessions: --manifest CSV or pose files")
    with connect(workers=args.workers, scheduler=args.scheduler) as client:
        result = Study(pipe, client=client, keep_going=args.keep_going,
                       resume=args.resume).run(sessions, args.out, overwrite=args.overwrite)
    where = "this process" if args.workers is None and args.scheduler is None else (
        f"{args.workers} local worker{'s' if args.workers != 1 else ''}" if args.workers
        else args.scheduler)
    print(f"study: {len(result.sessions)} of {len(sessions)} sessions analysed on {where}"
          + (f" ({len(result.reused)} reused)" if result.reused else "")
          + f"; {result.model.n_states} states ({result.model.name}), log-likelihood "
          f"{result.log_likelihood:.6g} after {result.n_iter} EM iterations")
    for name, why in result.failed.items():
        print(f"left out {name}: {why}")
    for note in result.notes:
        print(note)
    freq = result.tables["group_frequencies"]
    for grouping in ("condition", "subject"):
        part = freq[freq["grouping"] == grouping]
        if len(part):
            table = part.pivot(index="group", columns="state", values="fraction_mean")
            print(f"fraction of time in each state, mean over the sessions of each {grouping}:")
            print(table.round(3).to_string())
    print(f"results written to {args.out}")
    return 0


def _print_result(result: Any) -> None:
    """What analyze and apply print: coverage, the selection, frames and states, the
    stability and the diagnostics."""
    _print_coverage(result)
    freq = result.frequencies
    if result.selection is not None:
        table = result.selection.set_index("n_states")
        columns = ["n_parameters", "cv_mean", "cv_se", "bic_per_frame", "icl_per_frame",
                   "aic_per_frame"]
        print("model selection (log-likelihood per frame; higher is better):")
        print(table[[c for c in columns if c in table]].round(3).to_string())
        assert result.model_selection is not None
        would = result.model_selection.criteria_summary()
        others = ", ".join(f"{c} {would[f'{c}_would_choose']}" for c in ("cv", "bic", "icl",
                                                                          "aic")
                           if f"{c}_would_choose" in would)
        print(f"{result.model_selection.criterion} chooses {result.n_states} states "
              f"({others})")
    effective = "" if result.n_effective_frames is None else (
        f" (about {result.n_effective_frames:.0f} independent, from the autocorrelation)")
    print(f"{len(result.sessions)} recording(s), {int(freq['n_frames'].sum())} frames with a "
          f"state{effective}, {result.n_states} states ({result.model.name})")
    print(freq[["n_frames", "relative", "n_bouts"]].round(3).to_string())
    if result.stability is not None:
        stab = result.stability
        print(f"stability over {len(stab.refits)} refits: median ARI {stab.ari:.3f}; "
              "reappearance per state: " + ", ".join(
                  f"{s} {r:.0%}" for s, r in stab.per_state["reappearance"].items()))
    for diagnostic in result.diagnostics:
        print(diagnostic)


def _apply(args: argparse.Namespace) -> int:
    from faceexpr._model_file import FITTED_ARRAYS, FITTED_JSON
    from faceexpr.pipeline import Result, check_output_folder, estimated_size

    _check_number("--fps", args.fps, low_ok=False)
    fitted = Result.load(args.results)  # a damaged folder fails before anything is read
    estimator = args.estimator or fitted.pipeline.estimator
    options: dict[str, Any] = (dict(fitted.pipeline.estimator_options)
                               if args.estimator is None else {})
    if estimator == "file":
        if args.estimator_option:
            raise FaceexprError("--estimator-option is for a pose estimator that tracks "
                                "videos (--estimator); the file reader takes --format, --fps")
        if args.format is not None:
            options["format"] = args.format
        if args.fps:
            options["fps"] = args.fps
    else:
        if args.format is not None or args.fps:
            raise FaceexprError(f"--format and --fps are for pose files; the estimator "
                                f"'{estimator}' takes --estimator-option")
        if args.estimator_option:
            options = _options(args.estimator_option)
    model_files = [args.results / name for name in (FITTED_JSON, FITTED_ARRAYS, "model.npz")]
    check_output_folder(args.out, args.overwrite, [*args.files, *model_files],
                        size=estimated_size(args.files, figures=not args.no_figures))
    recordings = recordings_from_files(args.files)
    result = fitted.apply(recordings, progress=not args.quiet, estimator=estimator,
                          estimator_options=options)
    videos: dict[str, Path] = {}
    if estimator != "file" and not args.no_labelled_video:
        videos = {s: r.source for s, r in zip(result.sessions, recordings)  # the tracked
                  if isinstance(r.source, Path)}
    result.save(args.out, overwrite=args.overwrite, figures=not args.no_figures,
                formats=("png", "svg") if args.svg else ("png",), videos=videos)
    _print_result(result)
    print(f"states of the model in {args.results} (not refitted); results written to "
          f"{args.out}")
    return 0


_IMPORTED = time.perf_counter()


def _seconds_running() -> float:
    """Wall seconds since this process started (Linux), else since this module loaded."""
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            # field 22 (after the parenthesised command name): start time in clock ticks
            start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as fh:
            uptime = float(fh.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _IMPORTED


def _demo(args: argparse.Namespace) -> int:
    from faceexpr.analysis import state_agreement
    from faceexpr.pipeline import Pipeline, check_output_folder
    from faceexpr.synthetic import simulate

    # everything that can refuse is checked before anything is computed or written
    if args.video:
        if args.out is None:
            raise FaceexprError("--video needs --out (the folder the video is written to)")

        require_cv2()
    _check_number("--frames", args.frames, low=2)
    if args.out is not None:
        check_output_folder(args.out, args.overwrite)
        for dims in args.dims:
            check_output_folder(args.out / f"{dims}d", args.overwrite)
    print(f"synthetic face: {args.frames} frames, {args.n_states} expressions, seed {args.seed}")
    print(f"{'data':<28}{'frames':>8}{'features':>10}{'ARI':>8}{'seconds':>9}")
    for dims in args.dims:
        start = time.perf_counter()
        sim = simulate(args.frames, n_expressions=args.n_states, seed=args.seed,
                       n_cameras=1 if dims == 2 else 0)
        pose = sim.pose3d if dims == 3 else sim.view(0)
        label = "3D landmarks (mm)" if dims == 3 else "2D landmarks, 1 camera (px)"
        result = Pipeline(n_states=args.n_states,
                          progress=False).run(pose, names=[f"synthetic{dims}d"])
        ari = state_agreement(sim.states, result.states[0])
        seconds = time.perf_counter() - start
        print(f"{label:<28}{args.frames:>8}{result.features[0].sizes['features']:>10}"
              f"{ari:>8.3f}{seconds:>9.1f}")
        if args.out is not None:
            videos = {}
            if args.video and dims == 2:
                from faceexpr.synthetic.video import render_face_video

                args.out.mkdir(parents=True, exist_ok=True)
                video = render_face_video(pose, args.out / "synthetic2d.mp4")
                videos = {result.sessions[0]: video}
            result.save(args.out / f"{dims}d", overwrite=args.overwrite, videos=videos)
    print("ARI: adjusted Rand index between true and recovered states (1 = perfect)")
    print("seconds: simulation, pipeline and fit of each row (the first also loads the "
          "libraries);")
    print(f"{_seconds_running():.1f} s since the command started (Python and faceexpr's "
          "imports included)")
    if args.out is not None:
        print(f"results written to {args.out}")
    return 0


def _backends(args: argparse.Namespace) -> int:
    table = backends()
    table["available"] = np.where(table["available"], "yes", "no")
    print(table[["stage", "name", "available", "install", "module"]].to_string(index=False))
    commands = cli_commands()
    if commands:
        print("\nplugin commands: " + ", ".join(
            f"{name} ({cls.__module__})" for name, cls in commands.items()))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``faceexpr`` command; returns the exit status."""

    args = _parser().parse_args(argv)
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "analyze": _analyze, "apply": _apply, "demo": _demo, "backends": _backends}
    try:
        # SIGTERM and SIGHUP unwind like Ctrl-C, so the clean-up of half-written results runs
        with warnings.catch_warnings(), signals_interrupt():
            warnings.simplefilter("ignore", RuntimeWarning)  # numerical chatter of EM
            warnings.showwarning = _show_warning
            run = commands.get(args.command) or cli_commands()[args.command].run
            return run(args)
    except (FaceexprError, OSError, ValueError) as exc:
        print(f"faceexpr: error: {one_line(exc)}", file=sys.stderr)
        return 1
    except Terminated as exc:
        print(f"faceexpr: terminated ({exc})", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("faceexpr: interrupted", file=sys.stderr)
        return 130


def _show_warning(message: Warning | str, category: type[Warning], filename: str,
                  lineno: int, file: Any = None, line: str | None = None) -> None:
    """A warning as one line on stderr, like the errors (no source line, no path)."""
    print(f"faceexpr: warning: {' '.join(str(message).split())}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
