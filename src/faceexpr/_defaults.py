"""The defaults of an analysis, shared by :class:`faceexpr.Pipeline` and ``faceexpr
analyze`` (one set: the API and the CLI give the same states for the same file and seed).

A module of plain values, so that the CLI can show them without importing the pipeline.
"""

from __future__ import annotations

N_STATES = 9
CANDIDATES: tuple[int, ...] = tuple(range(2, 13))
CRITERION = "cv"
CV_FOLDS = 5
N_INIT = 3
DWELL_TIME_S = 1.0
CONFIDENCE_THRESHOLD = 0.5
MAX_GAP = 10
PCA = 10
RANDOM_STATE = 0
STABILITY = 0
STATE_MODEL = "native"
