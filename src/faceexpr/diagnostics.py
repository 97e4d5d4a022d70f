"""What a reviewer would ask of a fitted result, as coded warnings with one sentence each.

:func:`diagnose` looks at a fit (the model, its features, states, egocentric poses, head
kinematics and, when K was chosen, the selection) and returns a list of
:class:`Diagnostic`: a short stable ``code``, a ``severity`` (``"warning"``: the states may
mislead; ``"note"``: worth knowing) and a sentence that says what was found, in numbers,
and what to do. ``Pipeline.run`` attaches them to the Result; the CLI prints them,
``report.html`` opens with them and ``summary.json`` holds them.

Codes: ``parameters-vs-frames``, ``single-bout-states``, ``rare-states``,
``edge-of-range``, ``restarts-disagree``, ``near-singular-covariance``, ``flat-face``,
``low-coverage``, ``already-egocentric``, ``censored-bouts``, ``no-frame-rate``,
``unstable-states`` (with a stability check).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from faceexpr.analysis import bouts
from faceexpr.data import drop_counts
from faceexpr.interfaces import StateModel
from faceexpr.model_selection import Selection

__all__ = ["CODES", "Diagnostic", "as_dicts", "diagnose", "table"]

CODES: tuple[str, ...] = (
    "parameters-vs-frames", "single-bout-states", "rare-states", "edge-of-range",
    "restarts-disagree", "near-singular-covariance", "flat-face", "low-coverage",
    "already-egocentric", "censored-bouts", "no-frame-rate", "unstable-states")

RARE_SHARE = 0.01
"""A state on fewer than this share of the frames with a state is rare."""
FRAMES_PER_PARAMETER = 5
"""Fewer frames with a state per free parameter than this is a warning: the fit has
room to model noise (the autocorrelation makes the frames worth even less)."""
FLAT_RATIO = 0.10
"""A 3D face whose depth extent is under this share of its width is flat."""
LOW_COVERAGE = 0.80
"""Fewer frames with a state than this share is low coverage."""
RESTART_GAP = 0.05
"""Restarts whose log-likelihoods differ by more than this per frame disagree."""
STABLE_SHARE = 0.9
"""A state that reappears in fewer refits than this share is unstable."""
CONDITION_LIMIT = 1e6
"""A covariance with a larger condition number is near-singular."""


def _drop_sentence(poses: Sequence[xr.Dataset]) -> str:
    """``"80 frames (other person 80)"`` from the poses' recorded drop reasons, or ``""``."""
    total: dict[str, int] = {}
    for pose in poses:
        for reason, count in (drop_counts(pose) or {}).items():
            if reason != "kept" and count:
                total[reason] = total.get(reason, 0) + count
    if not total:
        return ""
    parts = ", ".join(f"{reason.replace('-', ' ')} {count}" for reason, count in
                      sorted(total.items(), key=lambda kv: -kv[1]))
    return f"{sum(total.values())} frames ({parts})"


@dataclass(frozen=True)
class Diagnostic:
    """One finding about a result."""

    code: str
    severity: Literal["warning", "note"]
    message: str

    def to_dict(self) -> dict[str, str]:
        """The finding as a JSON-ready dict."""
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.severity} [{self.code}]: {self.message}"


def _face_extents(egocentric: Sequence[xr.Dataset]) -> tuple[float, float] | None:
    """Depth and width (mm or the data's units) of the mean egocentric face: its extent
    along its smallest and largest principal axes."""
    face = np.asarray(egocentric[0]["position"].mean("time", skipna=True).values,
                      dtype=np.float64)
    face = face[np.isfinite(face).all(axis=1)]
    if face.shape[0] < 3 or face.shape[1] != 3:
        return None
    centred = face - face.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    spans = np.ptp(centred @ axes.T, axis=0)
    return float(spans[-1]), float(spans[0])


def _still_head(kinematics: Sequence[xr.Dataset]) -> bool:
    """Whether the head never moves in any recording: its position (the reference
    landmark) is constant, as in poses that are already egocentric. (Aligning such poses
    again still finds tiny rotations of noise, so the angles do not decide.)"""
    for kin in kinematics:
        if "head_position" not in kin:
            return False
        v = np.asarray(kin["head_position"].values, dtype=np.float64)
        v = v[np.isfinite(v).all(axis=-1)]
        if v.size == 0 or float(np.ptp(v, axis=0).max()) > 1e-6:
            return False
    return True


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def diagnose(
    model: StateModel,
    features: Sequence[xr.DataArray],
    states: Sequence[xr.DataArray],
    egocentric: Sequence[xr.Dataset],
    kinematics: Sequence[xr.Dataset],
    selection: Selection | None = None,
    n_effective_frames: float | None = None,
    fps: float | None = None,
    stability: Any = None,
) -> list[Diagnostic]:
    """Every finding about one fit, warnings first.

    Parameters
    ----------
    model
        The fitted state model.
    features, states
        Its feature matrices and the states of every recording (-1: no state).
    egocentric, kinematics
        The egocentric poses and head kinematics of every recording.
    selection
        How K was chosen, if it was.
    n_effective_frames
        Independent frames the features are worth (from their autocorrelation).
    fps
        Frame rate, or None when unknown.
    stability
        The :class:`~faceexpr.state_stability.Stability` of the states, if computed.
    """
    out: list[Diagnostic] = []
    k = model.n_states
    labels = [np.asarray(s.values) for s in states]
    n_frames = int(sum(lab.size for lab in labels))
    n_with = int(sum((lab >= 0).sum() for lab in labels))
    p = model.n_parameters()
    d = len(model.feature_names_ or [])
    eff = "" if n_effective_frames is None else (
        f", worth about {n_effective_frames:.0f} independent frames given their "
        "autocorrelation")
    if p * FRAMES_PER_PARAMETER > n_with:
        order = int(model.options.get("ar_order", 0) or 0)
        kind = f", autoregressive order {order}" if order else ""
        out.append(Diagnostic("parameters-vs-frames", "warning", (
            f"the model has {p} free parameters ({k} states, {d} features, "
            f"{model.options.get('covariance_type', 'full')} covariances{kind}) for "
            f"{n_with} frames{eff}, fewer than {FRAMES_PER_PARAMETER} frames per "
            "parameter: it can fit noise; use fewer states, fewer features (--pca), "
            "one covariance shared by the states (--covariance tied) or diagonal "
            "covariances")))
    runs = bouts(list(states))
    censored = runs["censored"].to_numpy(bool)
    n_bouts = np.bincount(runs["state"].to_numpy(np.int64), minlength=k)[:k]
    single = [int(s) for s in np.flatnonzero(n_bouts == 1)]
    if single:
        out.append(Diagnostic("single-bout-states", "warning", (
            f"{_count(len(single), 'state')} of {k} ({', '.join(map(str, single))}) "
            f"{'occurs' if len(single) == 1 else 'occur'} in a single bout: a state seen "
            "once is one stretch of the recording, not a recurring expression; use fewer "
            "states or a longer recording")))
    every = np.concatenate(labels)
    counts = np.bincount(every[every >= 0].astype(np.int64), minlength=k)[:k]
    rare = [int(s) for s in np.flatnonzero(counts < RARE_SHARE * max(n_with, 1))]
    if rare:
        out.append(Diagnostic("rare-states", "warning", (
            f"{_count(len(rare), 'state')} ({', '.join(map(str, rare))}) cover under "
            f"{RARE_SHARE:.0%} of the frames with a state; their means and dwell times "
            "rest on very few frames")))
    if selection is not None:
        message = selection.edge_message()
        if message:
            out.append(Diagnostic("edge-of-range", "warning", message))
    restarts = getattr(model, "restart_log_likelihoods_", None)
    if restarts is not None and len(restarts) > 1 and n_with:
        ll = np.asarray([r for r in restarts if np.isfinite(r)], dtype=np.float64)
        if ll.size > 1 and (ll.max() - ll.min()) / n_with > RESTART_GAP:
            out.append(Diagnostic("restarts-disagree", "warning", (
                f"the {len(restarts)} restarts reached different optima (log-likelihood "
                f"per frame {ll.min() / n_with:.3f} to {ll.max() / n_with:.3f}; the best "
                "is kept): another start may give other states; use more restarts "
                "(--n-init) and check stability (--stability)")))
    covars = getattr(model, "covars_", None)
    if covars is not None:
        eig = np.linalg.eigvalsh(np.asarray(covars, dtype=np.float64))
        cond = eig[:, -1] / np.maximum(eig[:, 0], 1e-300)
        bad = [int(s) for s in np.flatnonzero(cond > CONDITION_LIMIT)]
        if bad:
            out.append(Diagnostic("near-singular-covariance", "warning", (
                f"the covariance of {_count(len(bad), 'state')} ({', '.join(map(str, bad))}) "
                f"is near-singular (condition number up to {cond.max():.2g}): the state "
                "sits on too few distinct frames; its likelihood is unreliable")))
    if stability is not None:
        share = stability.per_state["reappearance"]
        weak = [int(s) for s in share.index[share < STABLE_SHARE]]
        if weak:
            out.append(Diagnostic("unstable-states", "warning", (
                f"{_count(len(weak), 'state')} of {k} ({', '.join(map(str, weak))}) "
                f"reappear in fewer than {STABLE_SHARE:.0%} of the "
                f"{int(share.size and stability.per_state['n_refits'].max())} refits on "
                f"resampled data (lowest {share.min():.0%}): they depend on the exact "
                "frames and seed; use fewer states")))
    extents = _face_extents(egocentric) if egocentric else None
    units = str(egocentric[0].attrs.get("units", "") or "") if egocentric else ""
    if extents is not None and extents[1] > 0 and extents[0] < FLAT_RATIO * extents[1]:
        out.append(Diagnostic("flat-face", "warning", (
            f"the 3D face is nearly flat: {extents[0]:.1f} {units} deep against "
            f"{extents[1]:.1f} {units} wide ({extents[0] / extents[1]:.0%}, under "
            f"{FLAT_RATIO:.0%}): out-of-plane rotation (pitch, yaw) cannot be told from "
            "expression; check the triangulation (camera spread, calibration)").replace(
                "  ", " ")))
    if n_frames and n_with < LOW_COVERAGE * n_frames:
        why = _drop_sentence(egocentric)
        out.append(Diagnostic("low-coverage", "warning", (
            f"only {n_with} of {n_frames} frames ({n_with / n_frames:.0%}) have a state: "
            + (f"the tracker dropped {why}; the tables describe the tracked part" if why
               else "the others lack a tracked landmark; the tables describe the tracked "
               "part (lower --confidence or raise --max-gap to fill more)"))))
    if kinematics and _still_head(kinematics):
        out.append(Diagnostic("already-egocentric", "warning", (
            "the head never moves (its position is constant): the input is "
            "already egocentric, e.g. faceexpr's own .nc output; head kinematics per "
            "state are all zero; analyse the original tracked poses for them")))
    n_cens = int(censored.sum())
    if n_cens:
        out.append(Diagnostic("censored-bouts", "note", (
            f"{n_cens} of {censored.size} bouts are cut by the start or end of a recording "
            "or by frames without a state; their length is unknown, so dwell-time "
            "statistics leave them out")))
    if fps is None:
        out.append(Diagnostic("no-frame-rate", "note", (
            "the recording has no frame rate: times are in frames, the seconds and "
            "bouts-per-minute columns are empty, and the expected dwell time of the "
            "transition prior assumed 30 frames/s; give --fps (fps=...)")))
    out.sort(key=lambda x: x.severity != "warning")
    return out


def table(diagnostics: Sequence[Diagnostic]) -> pd.DataFrame:
    """The diagnostics as a table (code, severity, message)."""
    return pd.DataFrame([x.to_dict() for x in diagnostics],
                        columns=["code", "severity", "message"])


def as_dicts(diagnostics: Sequence[Diagnostic]) -> list[dict[str, Any]]:
    """The diagnostics as JSON-ready dicts."""
    return [x.to_dict() for x in diagnostics]

