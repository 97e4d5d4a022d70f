"""A pose estimator: run OpenFace's ``FeatureExtraction`` on videos."""

import shutil
import subprocess
import tempfile
from pathlib import Path

import faceexpr as fe


class OpenFaceCliEstimator(fe.PoseEstimator):
    """Track 68 face landmarks with OpenFace 2's ``FeatureExtraction``.

    Parameters
    ----------
    options
        Extra command-line options of ``FeatureExtraction``, e.g.
        ``["-wild"]``.
    """

    name = "openface-cli"
    program = "FeatureExtraction"

    def __init__(self, options=()):
        self.options = [str(o) for o in options]

    @classmethod
    def missing_dependencies(cls):
        # a program, not a Python module: fe.backends() shows if it is here
        return [] if shutil.which(cls.program) else [cls.program]

    def estimate(self, video):
        videos = [video] if isinstance(video, (str, Path)) else list(video)
        with tempfile.TemporaryDirectory() as out:
            files = []
            for v in videos:
                subprocess.run(
                    [self.program, "-f", str(v), "-out_dir", out, "-2Dfp",
                     *self.options],
                    check=True, capture_output=not self.progress)
                files.append(Path(out) / f"{Path(v).stem}.csv")
            if len(files) == 1:  # dims (time, landmarks, space)
                return fe.load_pose(files[0], format="openface")
            # one video per camera: a cameras dim, named from the file names
            return fe.io.load_cameras(files, format="openface")
