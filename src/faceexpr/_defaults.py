"""The defaults of an analysis, shared by :class:`faceexpr.Pipeline` and ``faceexpr
analyze`` (one set: the API and the CLI give the same states for the same file and seed).

A module of plain values, so that the CLI can show them without importing the pipeline.
"""

from __future__ import annotations

from typing import Final

N_STATES = 9
CANDIDATES: tuple[int, ...] = tuple(range(2, 13))
CRITERION: Final = "icl"
CV_FOLDS = 5
N_INIT = 3
DWELL_TIME_S = 1.0
CONFIDENCE_THRESHOLD = 0.5
MAX_GAP = 10
PCA = 3
STANDARDIZE = False
AR_ORDER = 1
COVARIANCE_PRIOR = 0.05
RANDOM_STATE = 0
STABILITY = 0
STATE_MODEL = "native"
KMEANS_FRAMES = 20_000
"""At most this many frames, evenly spaced in time, are clustered by k-means for EM's
start (a study's too): 10 k-means runs on all of an hour at 30 fps (108,000 frames) took
10 s on two cores."""
