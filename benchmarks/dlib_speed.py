"""Speed of the dlib pose estimator on a 640×480 video of a moving real face.

Each configuration tracks the video ``repeats`` times; the table gives the median speed.

The face (scikit-image's astronaut photograph) moves by known affines (translation,
rotation ±10°, scale ±10 %), so the table also gives the error of the tracked nose tip.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

CONFIGS: dict[str, dict[str, Any]] = {
    "defaults (re-centre every 10th frame)": {},
    "re-centre every frame": {"detect_every": 1},
    "re-centre every 30th frame": {"detect_every": 30},
    "defaults, upsample 0": {"upsample": 0},
    "no quality check, no cut detection": {"quality": False, "cuts": False},
}
"""Estimator options compared (the face is about 90 px wide)."""


def _video(path: Path, frames: int, size: tuple[int, int]) -> tuple[Any, list[Any]]:
    """Write the moving-face video; return the still frame (BGR) and the affines."""
    import cv2
    from skimage import data

    width, height = size
    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)  # 512×512, face near (222, 125)
    still = np.full((height, width, 3), 100, dtype=np.uint8)
    h, w = min(height, face.shape[0]), min(width, face.shape[1])
    x0, y0 = (width - w) // 2, (height - h) // 2
    still[y0:y0 + h, x0:x0 + w] = face[:h, :w]
    centre = (x0 + 222.0, y0 + 125.0)
    t = np.arange(frames) / max(frames, 1)
    mats = []
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (width, height))
    for i in range(frames):
        m = cv2.getRotationMatrix2D(centre, float(10 * np.sin(2 * np.pi * t[i] + 1)),
                                    float(1 + 0.1 * np.sin(3 * np.pi * t[i])))
        m[:, 2] += (30 * np.sin(2 * np.pi * t[i]), 20 * np.sin(4 * np.pi * t[i] + 0.5))
        mats.append(m)
        writer.write(cv2.warpAffine(still, m, (width, height), borderMode=cv2.BORDER_REFLECT))
    writer.release()
    return still, mats


def run(frames: int = 100, size: tuple[int, int] = (640, 480),
        configs: dict[str, dict[str, Any]] | None = None, repeats: int = 3) -> pd.DataFrame:
    """Track the face with every configuration; one row per configuration.

    Columns: ``frames_per_s`` (median of ``repeats`` runs, model loading excluded),
    ``coverage`` (frames with landmarks), ``detected_fraction`` (frames whose box a
    detection placed), the median and maximum error of the nose tip (iBUG 30) against the
    known motion, and ``vs_every_frame_px``: the mean distance of all 68 landmarks from
    those of the first configuration that re-centres on every frame (the most detections).
    """
    import json

    import cv2

    from faceexpr.backends.dlib.estimator import (
        DlibEstimator,
        _detector,
        _predictor,
        default_model_path,
    )
    from faceexpr.schemes import IBUG68

    nose = IBUG68.landmarks.index("nose_bridge_3")
    rows: list[dict[str, Any]] = []
    positions: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "face.mp4"
        still, mats = _video(path, frames, size)
        rgb = np.ascontiguousarray(cv2.cvtColor(still, cv2.COLOR_BGR2RGB))
        rects, _, _ = _detector().run(rgb, 1, 0.0)
        truth = np.full((frames, 2), np.nan)
        if len(rects):
            shape = _predictor(str(default_model_path()))(rgb, rects[0])
            point = np.array([shape.part(nose).x, shape.part(nose).y, 1.0])
            truth = np.array([m @ point for m in mats])
        DlibEstimator(progress=False, max_frames=2).estimate(path)  # models loaded once
        chosen = configs or CONFIGS
        seconds: dict[str, list[float]] = {label: [] for label in chosen}
        poses: dict[str, Any] = {}
        for _ in range(max(1, repeats)):  # round robin: a slow spell hits every config
            for label, options in chosen.items():
                est = DlibEstimator(progress=False, **options)
                start = time.perf_counter()
                poses[label] = est.estimate(path)
                seconds[label].append(time.perf_counter() - start)
        for label in chosen:
            pose = poses[label]
            record = json.loads(pose.attrs["faceexpr_history"][-1])
            position = pose["position"].values
            positions[label] = position
            error = np.linalg.norm(position[:, nose] - truth, axis=1)
            rows.append({"configuration": label, "width": size[0], "height": size[1],
                         "frames": frames,
                         "frames_per_s": frames / float(np.median(seconds[label])),
                         "coverage": 1.0 - record["missing_fraction"],
                         "detected_fraction": record["detected_fraction"],
                         "nose_median_error_px": float(np.nanmedian(error)),
                         "nose_max_error_px": float(np.nanmax(error))})
    reference = next((positions[label] for label, o in (configs or CONFIGS).items()
                      if o.get("detect_every") == 1), None)
    for row in rows:
        row["vs_every_frame_px"] = (np.nan if reference is None else float(np.nanmean(
            np.linalg.norm(positions[row["configuration"]] - reference, axis=-1))))
    return pd.DataFrame(rows)
