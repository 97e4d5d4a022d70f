"""A command: ``faceexpr pose-info FILES...`` describes pose files."""

from pathlib import Path

import faceexpr as fe


class PoseInfoCommand(fe.Command):
    """Print the frames, landmarks, cameras, frame rate and units of poses."""

    name = "pose-info"
    help = "describe pose files of any registered format"

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("files", nargs="+", type=Path, help="pose files")
        parser.add_argument("--format", default="auto", help="their format")

    @classmethod
    def run(cls, args):
        for path in args.files:
            # a FaceexprError (e.g. an unknown format) prints as one line
            pose = fe.load_pose(path, format=args.format)
            print(f"{path.name}: {pose.sizes['time']} frames, "
                  f"{pose.sizes['landmarks']} landmarks, "
                  f"{pose.sizes['space']}D, "
                  f"{pose.sizes.get('cameras', 1)} camera(s), "
                  f"{pose.attrs.get('fps')} fps, {pose.attrs.get('units')}")
        return 0
