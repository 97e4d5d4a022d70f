"""``faceexpr dlc init``: set up a DeepLabCut project for face landmarks."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import ClassVar

from faceexpr.backends.deeplabcut.project import create_face_project, next_steps
from faceexpr.interfaces import Command


class DlcCommand(Command):
    """``faceexpr dlc init NAME VIDEOS...``."""

    name: ClassVar[str] = "dlc"
    help: ClassVar[str] = "set up a DeepLabCut project for face landmarks"

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="dlc_command", required=True)
        init = sub.add_parser(
            "init", help="create a DeepLabCut project with the face landmarks and skeleton, "
                         "and extract frames to label",
            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        init.add_argument("name", help="project name")
        init.add_argument("videos", nargs="+", type=Path, help="videos of faces")
        init.add_argument("--working-directory", type=Path, default=Path("."),
                          help="folder in which the project folder is created")
        init.add_argument("--experimenter", default="faceexpr",
                          help="experimenter name in the project")
        init.add_argument("--frames", type=int, default=20, help="frames per video to label")
        init.add_argument("--copy-videos", action="store_true",
                          help="copy the videos into the project instead of linking them")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        config = create_face_project(args.name, args.videos, args.working_directory,
                                     experimenter=args.experimenter, n_frames=args.frames,
                                     copy_videos=args.copy_videos)
        print(next_steps(config))
        return 0
