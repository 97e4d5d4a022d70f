"""Speed and accuracy of each triangulation method on synthetic faces seen by 3 cameras."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

METHODS: dict[str, dict[str, Any]] = {
    "dlt": {"method": "dlt"},
    "ransac": {"method": "ransac"},
    "optim (Anipose defaults)": {"method": "optim"},
    "optim (light smoothing)": {"method": "optim", "scale_smooth": 0.1, "n_deriv_smooth": 1},
}
"""Triangulator options compared; optim's default smoothing (Anipose's) blurs expressions."""


def run(frames: int = 1000, n_cameras: int = 3, outliers: float = 0.05,
        methods: dict[str, dict[str, Any]] | None = None, seed: int = 0) -> pd.DataFrame:
    """Triangulate the same 2D views with every method; one row per method."""
    import faceexpr as fe
    from faceexpr.synthetic import simulate

    sim = simulate(frames, n_cameras=n_cameras, outliers=outliers, noise_mm=0.0, seed=seed)
    assert sim.pose2d is not None
    truth = sim.pose3d["position"].transpose("time", "landmarks", "space").values
    width = float(np.ptp(np.nanmedian(truth, axis=0)[:, 0]))  # ear to ear
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        calibration = sim.write_calibration(Path(tmp) / "calibration.toml")
        for label, options in (methods or METHODS).items():
            tri = fe.triangulator("anipose", calibration=calibration, **options)
            tri.triangulate(sim.pose2d.isel(time=slice(0, 5)))  # compile (numba, JAX) first
            start = time.perf_counter()
            pose3d = tri.triangulate(sim.pose2d)
            seconds = time.perf_counter() - start
            got = pose3d["position"].transpose("time", "landmarks", "space").values
            error = np.linalg.norm(got - truth, axis=-1)
            rows.append({"method": label, "frames": frames, "landmarks": got.shape[1],
                         "cameras": n_cameras, "seconds": seconds,
                         "frames_per_s": frames / seconds,
                         "median_error_mm": float(np.nanmedian(error)),
                         "median_error_pct_face_width": 100 * float(np.nanmedian(error)) / width,
                         "p95_error_mm": float(np.nanpercentile(error, 95))})
    return pd.DataFrame(rows)
