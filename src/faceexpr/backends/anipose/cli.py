"""``faceexpr calibrate``: calibrate synchronised cameras from videos of a board."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, ClassVar

from faceexpr._files import check_output, make_parents
from faceexpr.backends.anipose.calibration import Board, calibrate
from faceexpr.backends.anipose.config import read_anipose_config
from faceexpr.errors import FaceexprError
from faceexpr.interfaces import Command
from faceexpr.io.cameras import DEFAULT_CAM_REGEX, camera_name


class CalibrateCommand(Command):
    """``faceexpr calibrate VIDEOS... --board-size W H --square S [--marker M]``."""

    name: ClassVar[str] = "calibrate"
    help: ClassVar[str] = "calibrate synchronised cameras from board videos (Anipose)"

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "videos", nargs="+", type=Path,
            help="videos (or folders of images) of a calibration board, one or more per "
                 "camera, the camera named in the file name (--cam-regex)")
        parser.add_argument("--board", choices=["charuco", "checkerboard"],
                            default="charuco", help="board type")
        parser.add_argument("--board-size", type=int, nargs=2, metavar=("W", "H"),
                            default=None,
                            help="squares (ChArUco) or inner corners (checkerboard) across, "
                                 "down")
        parser.add_argument("--square", type=float, default=None,
                            help="square side length; its unit is the calibration's (e.g. mm)")
        parser.add_argument("--marker", type=float, default=None,
                            help="ArUco marker side (ChArUco)")
        parser.add_argument("--marker-bits", type=int, default=4,
                            help="bits per ArUco marker side (ChArUco)")
        parser.add_argument("--dict-size", type=int, default=50,
                            help="size of the ArUco dictionary (ChArUco)")
        parser.add_argument("--anipose-config", type=Path, default=None,
                            help="read the board from an Anipose config.toml's [calibration]")
        parser.add_argument("--cam-regex", default=DEFAULT_CAM_REGEX,
                            help="regex whose first group is the camera name")
        parser.add_argument("--skip", type=int, default=20, help="use every N-th video frame")
        parser.add_argument("--fisheye", action="store_true", help="fisheye lens model")
        parser.add_argument("--out", type=Path, default=Path("calibration.toml"),
                            help="calibration file to write")
        parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
        parser.add_argument("--quiet", action="store_true", help="no progress output")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        # where the calibration goes is checked before the (long) calibration
        inputs = [*args.videos, *([args.anipose_config] if args.anipose_config else [])]
        location = check_output(args.out, overwrite=args.overwrite, inputs=inputs, kind="file")
        if args.anipose_config is not None:
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
            views: Any = {camera_name(v, args.cam_regex): v for v in args.videos}
        else:
            views = [str(v) for v in args.videos]
        with make_parents(location):
            result = calibrate(views, board, args.out, cam_regex=args.cam_regex,
                               fisheye=args.fisheye, progress=not args.quiet,
                               video_skip=args.skip)
        print(f"cameras {', '.join(result.camera_names)}: board found in "
              + ", ".join(f"{n}/{t}" for n, t in zip(result.n_detections.values(),
                                                      result.n_frames.values()))
              + f" frames; reprojection error {result.error:.3f} px")
        print(f"calibration written to {result.path}")
        return 0
