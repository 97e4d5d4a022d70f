"""A triangulator: linear (DLT) triangulation with NumPy."""

import numpy as np
from scipy.spatial.transform import Rotation

import faceexpr as fe


class NumpyDltTriangulator(fe.Triangulator):
    """Triangulate by DLT with the cameras of an Anipose calibration.toml.

    Lens distortion is ignored. Points with a confidence below
    ``min_confidence`` are not used; a point that fewer than two cameras
    see is NaN.
    """

    name = "numpy-dlt"

    def __init__(self, calibration, min_confidence=0.5):
        import tomllib  # Python >= 3.11

        with open(calibration, "rb") as fh:
            cams = [c for c in tomllib.load(fh).values() if "matrix" in c]
        self.projections = {  # camera name -> 3 x 4 projection matrix
            str(c["name"]): np.asarray(c["matrix"]) @ np.column_stack(
                [Rotation.from_rotvec(c["rotation"]).as_matrix(),
                 c["translation"]])
            for c in cams}
        self.min_confidence = min_confidence

    def triangulate(self, pose2d):
        pose2d = fe.validate_pose(pose2d, ndim=2, cameras=True)
        cams = [str(c) for c in pose2d["cameras"].values]
        p = np.stack([self.projections[c] for c in cams])  # (C, 3, 4)
        dims = ("time", "landmarks", "cameras")
        uv = pose2d["position"].transpose(*dims, "space").values
        ok = ((pose2d["confidence"].transpose(*dims).values
               >= self.min_confidence) & np.isfinite(uv).all(axis=-1))
        # per camera: u * P[2] - P[0] = 0 and v * P[2] - P[1] = 0
        rows = np.concatenate([uv[..., :1] * p[:, 2] - p[:, 0],
                               uv[..., 1:] * p[:, 2] - p[:, 1]], axis=-2)
        rows = np.where(np.concatenate([ok, ok], -1)[..., None], rows, 0.0)
        _, _, vt = np.linalg.svd(rows)  # least squares, every point at once
        seen = ok.sum(axis=-1) >= 2
        with np.errstate(divide="ignore", invalid="ignore"):
            xyz = vt[..., -1, :3] / vt[..., -1, 3:]
        return fe.make_pose(
            np.where(seen[..., None], xyz, np.nan),
            [str(n) for n in pose2d["landmarks"].values], seen.astype(float),
            fps=pose2d.attrs.get("fps"), source_software=self.name,
            units="mm", frame=pose2d["frame"].values)
