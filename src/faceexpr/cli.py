"""The ``faceexpr`` command: ``analyze``, ``demo`` and ``backends``.

Errors in the input print one line (``faceexpr: error: ...``) and exit with status 1;
wrong usage exits with status 2 (argparse).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from faceexpr.errors import FaceexprError


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faceexpr", description="Facial-expression states from face landmarks.")
    sub = parser.add_subparsers(dest="command", required=True)

    an = sub.add_parser("analyze", help="find expression states in pose files")
    an.add_argument("files", nargs="+", type=Path,
                    help="DeepLabCut .h5/.csv, Anipose pose-3d .csv or faceexpr .nc files "
                         "(or videos, with --estimator); several are fitted as one model")
    an.add_argument("--estimator", default="file",
                    help="pose estimator for videos, e.g. deeplabcut (default: the files "
                         "are landmark files)")
    an.add_argument("--estimator-option", action="append", default=[], metavar="KEY=VALUE",
                    help="pose-estimator option (repeatable), e.g. config=project/config.yaml")
    an.add_argument("--n-states", type=_n_states, default=9,
                    help="number of states (default 9), or 'auto': the best of --candidates "
                         "by --criterion")
    an.add_argument("--candidates", type=int, nargs=2, default=[2, 12], metavar=("MIN", "MAX"),
                    help="numbers of states tried by --n-states auto (default 2 12)")
    an.add_argument("--criterion", choices=["bic", "aic", "heldout"], default="bic",
                    help="how --n-states auto chooses (default bic)")
    an.add_argument("--model", default="hmmlearn", help="state model backend")
    an.add_argument("--covariance", choices=["full", "diag"], default="full")
    an.add_argument("--n-init", type=int, default=3, help="restarts, best kept (default 3)")
    an.add_argument("--reference", default="auto",
                    help="egocentric reference landmark (default: the landmark scheme's, "
                         "nose1 for the 21-landmark face)")
    an.add_argument("--no-align", action="store_true", help="do not remove head rotation")
    an.add_argument("--confidence", type=float, default=0.5,
                    help="confidence threshold below which points are missing")
    an.add_argument("--max-gap", type=int, default=10, help="longest gap filled (frames)")
    an.add_argument("--smooth", choices=["median", "savgol"], default=None)
    an.add_argument("--pca", type=float, default=10,
                    help="principal components to model (0: off; <1: variance fraction)")
    an.add_argument("--fps", type=float, default=None, help="frame rate, if the files lack it")
    an.add_argument("--seed", type=int, default=0)
    an.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE",
                    help="extra state-model option (repeatable)")
    an.add_argument("--out", type=Path, default=Path("faceexpr-out"), help="output folder")
    an.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    an.add_argument("--video", type=Path, nargs="+", default=[], metavar="VIDEO",
                    help="video of each input file, in the same order: write a labelled "
                         "copy with the landmarks and states")
    an.add_argument("--calibration", type=Path, default=None,
                    help="Anipose calibration.toml: the files are 2D views of synchronised "
                         "cameras (one file per camera, named by --cam-regex), triangulated "
                         "to 3D; files that differ only in the camera are one recording")
    an.add_argument("--cam-regex", default=r"cam([A-Z])",
                    help=r"regex whose first group is the camera in a file name "
                         r"(default cam([A-Z]))")
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

    demo = sub.add_parser("demo", help="run the pipeline on synthetic faces with known states")
    demo.add_argument("--frames", type=int, default=3000)
    demo.add_argument("--n-states", type=int, default=5)
    demo.add_argument("--dims", type=int, nargs="+", choices=[2, 3], default=[2, 3])
    demo.add_argument("--seed", type=int, default=2)
    demo.add_argument("--out", type=Path, default=None,
                      help="also write the results of each run into OUT/2d, OUT/3d")
    demo.add_argument("--overwrite", action="store_true")
    demo.add_argument("--video", action="store_true",
                      help="with --out: render the 2D camera's video and write it labelled")

    cal = sub.add_parser("calibrate", help="calibrate synchronised cameras from board videos")
    cal.add_argument("videos", nargs="+", type=Path,
                     help="videos (or folders of images) of a calibration board, one or more "
                          "per camera, the camera named in the file name (--cam-regex)")
    cal.add_argument("--board", choices=["charuco", "checkerboard"], default="charuco")
    cal.add_argument("--board-size", type=int, nargs=2, metavar=("W", "H"), default=None,
                     help="squares (ChArUco) or inner corners (checkerboard) across, down")
    cal.add_argument("--square", type=float, default=None,
                     help="square side length; its unit is the calibration's (e.g. mm)")
    cal.add_argument("--marker", type=float, default=None, help="ArUco marker side (ChArUco)")
    cal.add_argument("--marker-bits", type=int, default=4)
    cal.add_argument("--dict-size", type=int, default=50)
    cal.add_argument("--anipose-config", type=Path, default=None,
                     help="read the board from an Anipose config.toml's [calibration]")
    cal.add_argument("--cam-regex", default=r"cam([A-Z])",
                     help=r"regex whose first group is the camera name (default cam([A-Z]))")
    cal.add_argument("--skip", type=int, default=20, help="use every N-th video frame")
    cal.add_argument("--fisheye", action="store_true")
    cal.add_argument("--out", type=Path, default=Path("calibration.toml"))
    cal.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    cal.add_argument("--quiet", action="store_true", help="no progress output")

    dlc = sub.add_parser("dlc", help="set up a DeepLabCut project for face landmarks")
    dlc_sub = dlc.add_subparsers(dest="dlc_command", required=True)
    init = dlc_sub.add_parser("init", help="create a DeepLabCut project with the face "
                                           "landmarks and skeleton, and extract frames to label")
    init.add_argument("name", help="project name")
    init.add_argument("videos", nargs="+", type=Path)
    init.add_argument("--working-directory", type=Path, default=Path("."))
    init.add_argument("--experimenter", default="faceexpr")
    init.add_argument("--frames", type=int, default=20, help="frames per video to label")
    init.add_argument("--copy-videos", action="store_true")

    sub.add_parser("backends", help="list registered backends and whether they are usable")
    return parser


def _analyze(args: argparse.Namespace) -> int:
    from faceexpr.pipeline import Pipeline, check_output_folder

    pca: float | None = args.pca if args.pca > 0 else None
    if pca is not None and pca >= 1:
        pca = int(pca)
    model_options = {"covariance_type": args.covariance, "n_init": args.n_init,
                     **_options(args.model_option)}
    reader_options: dict[str, Any] = {"fps": args.fps} if args.fps else {}
    if args.estimator != "file":
        reader_options = _options(args.estimator_option)
    elif args.estimator_option:
        raise FaceexprError("--estimator-option needs --estimator (e.g. deeplabcut)")
    check_output_folder(args.out, args.overwrite)  # before the fit, not after it
    inputs, names, tri_options, scheme = _recordings(args, reader_options)
    if args.video and tri_options:
        raise FaceexprError("--video labels 2D analyses; it cannot be combined with "
                            "--calibration")
    if args.video and len(args.video) != len(args.files):
        raise FaceexprError(f"--video needs one video per input file: got {len(args.video)} "
                            f"video(s) for {len(args.files)} file(s)")
    for video in args.video:
        if not video.is_file():
            raise FaceexprError(f"{video}: video not found")
    low, high = args.candidates
    pipe = Pipeline(n_states=args.n_states, candidates=tuple(range(low, high + 1)),
                    criterion=args.criterion, state_model=args.model, model_options=model_options,
                    estimator=args.estimator, estimator_options=reader_options,
                    confidence_threshold=args.confidence,
                    max_gap=args.max_gap, smoothing=args.smooth, reference=args.reference,
                    align=not args.no_align, pca=pca, random_state=args.seed,
                    progress=not args.quiet,
                    triangulator="anipose" if tri_options else None,
                    triangulator_options=tri_options)
    result = pipe.run(inputs, names)
    videos = dict(zip(result.sessions, args.video))
    formats = ("png", "svg") if args.svg else ("png",)
    result.save(args.out, overwrite=args.overwrite, figures=not args.no_figures,
                formats=formats, videos=videos, scheme=scheme)
    freq = result.frequencies
    if result.selection is not None:
        table = result.selection.set_index("n_states")
        print(table[["log_likelihood", "n_parameters", "bic", "aic",
                     "heldout_log_likelihood"]].round(1).to_string())
        print(f"{args.criterion} chooses {result.n_states} states")
    print(f"{len(result.sessions)} recording(s), {int(freq['n_frames'].sum())} frames with a "
          f"state, {result.n_states} states ({result.model.name})")
    print(freq[["n_frames", "relative", "n_bouts"]].round(3).to_string())
    print(f"results written to {args.out}")
    return 0


def _recordings(args: argparse.Namespace, reader_options: dict[str, Any]
                ) -> tuple[list[Any], list[str] | None, dict[str, Any], Any]:
    """Inputs, session names, triangulator options and skeleton scheme of ``analyze``."""
    if args.calibration is None:
        if args.anipose_config or args.triangulation or args.triangulation_option:
            raise FaceexprError("--anipose-config, --triangulation and --triangulation-option "
                                "need --calibration (the cameras' calibration.toml)")
        return [str(f) for f in args.files], None, {}, "auto"
    from faceexpr.io.cameras import group_recordings, load_cameras

    options: dict[str, Any] = {}
    cam_regex: str = args.cam_regex
    scheme: Any = "auto"
    if args.anipose_config is not None:
        from faceexpr.io.anipose_config import read_anipose_config

        config = read_anipose_config(args.anipose_config)
        options = config.triangulator_options()
        cam_regex = config.cam_regex if args.cam_regex == r"cam([A-Z])" else args.cam_regex
        if config.scheme_chains:
            scheme = [list(chain) for chain in config.scheme_chains]
    options["calibration"] = str(args.calibration)
    if args.triangulation:
        options["method"] = args.triangulation
    options.update(_options(args.triangulation_option))
    groups = group_recordings(args.files, cam_regex)
    if args.estimator != "file":
        # one estimate() per recording: its videos come back with a cameras dim
        from faceexpr.registry import pose_estimator

        estimator = pose_estimator(args.estimator, **reader_options)
        inputs = [estimator.estimate(files) for files in groups.values()]
    else:
        inputs = [load_cameras(files, cam_regex, **reader_options) for files in groups.values()]
    return inputs, list(groups), options, scheme


def _demo(args: argparse.Namespace) -> int:
    from faceexpr.analysis import state_agreement
    from faceexpr.pipeline import Pipeline
    from faceexpr.synthetic import simulate

    if args.video:
        from faceexpr.io.video import require_cv2

        require_cv2()  # before anything is written
    print(f"synthetic face: {args.frames} frames, {args.n_states} expressions, seed {args.seed}")
    print(f"{'data':<28}{'frames':>8}{'features':>10}{'ARI':>8}{'seconds':>9}")
    for dims in args.dims:
        start = time.perf_counter()
        sim = simulate(args.frames, n_expressions=args.n_states, seed=args.seed,
                       n_cameras=1 if dims == 2 else 0)
        pose = sim.pose3d if dims == 3 else sim.view(0)
        label = "3D landmarks (mm)" if dims == 3 else "2D landmarks, 1 camera (px)"
        result = Pipeline(n_states=args.n_states, model_options={"n_init": 3},
                          progress=False).run(pose, names=[f"synthetic{dims}d"])
        ari = state_agreement(sim.states, result.states[0])
        seconds = time.perf_counter() - start
        print(f"{label:<28}{args.frames:>8}{result.features[0].sizes['features']:>10}"
              f"{ari:>8.3f}{seconds:>9.1f}")
        if args.out is not None:
            folder = args.out / f"{dims}d"
            videos = {}
            if args.video and dims == 2:
                from faceexpr.synthetic_video import render_face_video

                args.out.mkdir(parents=True, exist_ok=True)
                video = render_face_video(pose, args.out / "synthetic2d.mp4")
                videos = {result.sessions[0]: video}
            result.save(folder, overwrite=args.overwrite, videos=videos)
    print("ARI: adjusted Rand index between true and recovered states (1 = perfect)")
    if args.out is not None:
        print(f"results written to {args.out}")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from faceexpr.calibration import Board, calibrate

    if args.out.exists() and not args.overwrite:
        raise FaceexprError(f"{args.out} exists (pass --overwrite to replace it)")
    if args.anipose_config is not None:
        from faceexpr.io.anipose_config import read_anipose_config

        board = read_anipose_config(args.anipose_config).board()
    else:
        if args.board_size is None or args.square is None:
            raise FaceexprError("give --board-size W H and --square (and --marker for a "
                                "ChArUco board), or --anipose-config")
        if args.board == "charuco":
            if args.marker is None:
                raise FaceexprError("a ChArUco board needs --marker (the marker side)")
            width, height = args.board_size
            board = Board.charuco(width, height, args.square, args.marker,
                                  marker_bits=args.marker_bits, dict_size=args.dict_size)
        else:
            board = Board.checkerboard(args.board_size[0], args.board_size[1], args.square)
    if all(v.is_dir() for v in args.videos):
        from faceexpr.io.cameras import camera_name

        inputs: Any = {camera_name(v, args.cam_regex): v for v in args.videos}
    else:
        inputs = [str(v) for v in args.videos]
    result = calibrate(inputs, board, args.out, cam_regex=args.cam_regex, fisheye=args.fisheye,
                       progress=not args.quiet, video_skip=args.skip)
    print(f"cameras {', '.join(result.camera_names)}: board found in "
          + ", ".join(f"{n}/{t}" for n, t in zip(result.n_detections.values(),
                                                  result.n_frames.values()))
          + f" frames; reprojection error {result.error:.3f} px")
    print(f"calibration written to {result.path}")
    return 0


def _dlc(args: argparse.Namespace) -> int:
    from faceexpr.dlc_project import create_face_project, next_steps

    config = create_face_project(args.name, args.videos, args.working_directory,
                                 experimenter=args.experimenter, n_frames=args.frames,
                                 copy_videos=args.copy_videos)
    print(next_steps(config))
    return 0


def _backends(args: argparse.Namespace) -> int:
    from faceexpr.registry import backends

    table = backends()
    table["available"] = np.where(table["available"], "yes", "no")
    print(table[["stage", "name", "available", "install", "module"]].to_string(index=False))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``faceexpr`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    commands = {"analyze": _analyze, "demo": _demo, "calibrate": _calibrate, "dlc": _dlc,
                "backends": _backends}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # numerical chatter of EM
            return commands[args.command](args)
    except (FaceexprError, OSError, ValueError) as exc:
        print(f"faceexpr: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("faceexpr: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
