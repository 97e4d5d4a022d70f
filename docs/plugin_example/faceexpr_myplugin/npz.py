"""A pose format: the arrays of a pose in a NumPy ``.npz`` file."""

import zipfile

import numpy as np

import faceexpr as fe


class NpzFormat(fe.PoseFormat):
    """A pose's arrays (position, confidence, landmarks...) in a ``.npz``."""

    name = "npz"
    suffixes = (".npz",)
    description = "pose arrays in a NumPy .npz file"
    signature = "a zip file holding position.npy and landmarks.npy"

    @classmethod
    def sniff(cls, path):
        # read as little as possible; never raise for another kind of file
        try:
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
        except (OSError, zipfile.BadZipFile):
            return False
        return {"position.npy", "landmarks.npy"} <= names

    @classmethod
    def read(cls, path, **options):
        with np.load(path, allow_pickle=False) as z:  # never unpickle
            try:
                return fe.make_pose(
                    z["position"], [str(n) for n in z["landmarks"]],
                    z["confidence"], fps=options.get("fps", float(z["fps"])),
                    source_software="npz", source_files=[str(path)],
                    units=str(z["units"]))
            except KeyError as exc:
                raise fe.FileFormatError(f"{path}: no array {exc}") from exc

    @classmethod
    def can_write(cls, pose):
        return "cameras" not in pose.dims

    @classmethod
    def write(cls, pose, path):
        if not cls.can_write(pose):
            raise fe.InvalidPoseError("the npz format holds one camera")
        with open(path, "wb") as fh:  # a handle: numpy adds no suffix
            np.savez(fh, position=pose["position"].values,
                     confidence=pose["confidence"].values,
                     landmarks=pose["landmarks"].values.astype(str),
                     fps=float(pose.attrs.get("fps", np.nan)),
                     units=str(pose.attrs.get("units", "unknown")))
