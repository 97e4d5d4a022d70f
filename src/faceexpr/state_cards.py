"""What every state is, in plain language: named face measures and FACS geometric proxies.

For each state, :func:`state_cards` gives a :class:`StateCard`: its share of the time, its
typical dwell (median length of its complete bouts), and named geometric measures of the
face (mouth opening and width, lip-corner height, brow height above the eyes, the gap
between the brows, eye opening) and of the head (pitch, yaw, roll, speed), each as the
state's mean against the mean of all frames with a state, in the data's units and in
standard deviations of all those frames::

    z = (state mean - overall mean) / overall SD

The SD is that of every frame with a state (between-state differences included), so
``|z| >= 1`` marks a state whose typical value lies a whole spread of the recording away
from the average frame.

Measures are computed frame by frame from the egocentric, aligned landmarks
(``position`` of :func:`faceexpr.preprocess.egocentric`): millimetres for 3D data; in 2D
the alignment removes the face's size, so lengths are pixels *at the scale of the
alignment template* (the first recording's mean face). Heights are measured along the
face's own *up* direction, from the scheme's ``down_up`` pair (chin to nasal bone) in the
mean face of all frames, made perpendicular to its ``left_right`` pair, so positive means
higher on the face in 2D images (whose y axis points down) and in 3D alike. Each landmark
scheme (:data:`GEOMETRY`: :data:`~faceexpr.schemes.FACE21`,
:data:`~faceexpr.schemes.IBUG68`) names the landmarks of every measure; a measure whose
landmarks the pose lacks is left out, and a scheme faceexpr does not know gets the head
measures only.

Where measures match the geometric signature of a FACS action unit (:data:`PROXY_RULES`,
e.g. AU12 lip-corner puller: lip corners up by ``z >= 1`` and the mouth wider by
``z >= 0.5``, each change at least :data:`MIN_CHANGE` of the face's size), the card names
it as a *geometric proxy*: a pattern of landmark motion that this action unit produces,
not FACS coding, which needs trained coders and the skin's appearance. When the pose
carries OpenFace action-unit intensities (``action_units``, ``au`` coordinate
``AUxx_r``), their state means are on the card too, compared in the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from faceexpr._typing import FloatArray, IntArray
from faceexpr.data import NO_STATE
from faceexpr.errors import InvalidPoseError, InvalidStatesError, ParameterError
from faceexpr.schemes import FACE21, IBUG68, KNOWN_SCHEMES, LandmarkScheme, guess_scheme

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "GEOMETRY",
    "MIN_CHANGE",
    "PROXY_RULES",
    "Z_SUPPORT",
    "Z_THRESHOLD",
    "FaceGeometry",
    "FacsProxy",
    "Measure",
    "MeasureValue",
    "ProxyRule",
    "StateCard",
    "cards_table",
    "face_directions",
    "front_view",
    "mean_face",
    "measure_series",
    "state_cards",
]

Z_THRESHOLD = 1.0
"""The absolute z a measure must reach for the main sign of a FACS geometric proxy."""
Z_SUPPORT = 0.5
"""The absolute z of the supporting sign of a proxy (AU12: the mouth also wider)."""
MIN_CHANGE = 0.02
"""Smallest change of a face measure a proxy counts, as a fraction of the face's size (the
root-mean-square distance of the mean face's landmarks from their centroid: about 1 mm
of a 50 mm face). A measure that hardly varies can reach a large z by a tiny change (in
2D, removing the face's size shrinks every length a little when the mouth opens)."""

Points = tuple[str, ...]


@dataclass(frozen=True)
class Measure:
    """One named geometric measure of a face and the landmarks it is computed from.

    Attributes
    ----------
    key
        Short identifier (a column-friendly name, e.g. ``"mouth_opening"``).
    label
        Words for it (``"mouth opening"``).
    kind
        ``"height"``: the mean height (along the face's up direction) of the first
        group of every part above the mean height of its second group; ``"distance"``:
        the distance between the centroids of the two groups of every part. Parts (e.g.
        the left and right side) are averaged.
    parts
        ``((group_a, group_b), ...)`` of landmark names.
    description
        One sentence: what is measured and which sign means what.
    """

    key: str
    label: str
    kind: Literal["height", "distance"]
    parts: tuple[tuple[Points, Points], ...]
    description: str

    @property
    def landmarks(self) -> set[str]:
        """Every landmark the measure needs."""
        return {n for a, b in self.parts for n in (*a, *b)}


@dataclass(frozen=True)
class FaceGeometry:
    """The measures of one landmark scheme and the landmark pairs that orient the face.

    ``up`` and ``left`` list ``(from, to)`` pairs in order of preference; the first whose
    landmarks the pose has gives the direction (in the mean face of all frames).
    """

    scheme: str
    measures: tuple[Measure, ...]
    up: tuple[tuple[str, str], ...]
    left: tuple[tuple[str, str], ...]


_FACE21 = FaceGeometry(
    scheme=FACE21.name,
    measures=(
        Measure("mouth_opening", "mouth opening", "height", ((("uplip",), ("lowlip",)),),
                "Height of the middle of the upper lip above the middle of the lower lip "
                "(outer lip line); larger: mouth more open."),
        Measure("mouth_width", "mouth width", "distance", ((("llip",), ("rlip",)),),
                "Distance between the mouth corners; larger: mouth wider."),
        Measure("lip_corner_height", "lip-corner height", "height",
                ((("llip", "rlip"), ("nose2",)),),
                "Mean height of the two mouth corners relative to the nose tip; larger: "
                "corners higher (as in a smile)."),
        Measure("brow_height", "brow height", "height",
                ((("leyebrow1", "leyebrow2", "leyebrow3"), ("lefteye1", "lefteye2")),
                 (("reyebrow1", "reyebrow2", "reyebrow3"), ("righteye1", "righteye2"))),
                "Mean height of each eyebrow above the corners of its eye, averaged over "
                "both sides; larger: brows raised."),
        Measure("brow_gap", "brow gap", "distance", ((("leyebrow1",), ("reyebrow1",)),),
                "Distance between the inner ends of the eyebrows; smaller: brows drawn "
                "together."),
    ),
    up=(("chin", "nose1"), ("lowlip", "nose1"), ("nose2", "nose1")),
    left=(("rear", "lear"), ("righteye2", "lefteye2"), ("rlip", "llip")),
)

_IBUG68 = FaceGeometry(
    scheme=IBUG68.name,
    measures=(
        Measure("mouth_opening", "mouth opening", "height",
                ((("mouth_inner_2",), ("mouth_inner_6",)),),
                "Height of the middle of the upper lip above the middle of the lower lip "
                "on the inner lip line (about 0 when the lips touch); larger: mouth more "
                "open."),
        Measure("mouth_width", "mouth width", "distance",
                ((("mouth_outer_6",), ("mouth_outer_0",)),),
                "Distance between the mouth corners; larger: mouth wider."),
        Measure("lip_corner_height", "lip-corner height", "height",
                ((("mouth_outer_0", "mouth_outer_6"), ("nose_bridge_3",)),),
                "Mean height of the two mouth corners relative to the nose tip; larger: "
                "corners higher (as in a smile)."),
        Measure("brow_height", "brow height", "height",
                ((tuple(f"lbrow_{i}" for i in range(5)), ("leye_0", "leye_3")),
                 (tuple(f"rbrow_{i}" for i in range(5)), ("reye_0", "reye_3"))),
                "Mean height of each eyebrow above the corners of its eye (not the lids, "
                "which close), averaged over both sides; larger: brows raised."),
        Measure("brow_gap", "brow gap", "distance", ((("lbrow_0",), ("rbrow_4",)),),
                "Distance between the inner ends of the eyebrows; smaller: brows drawn "
                "together."),
        Measure("eye_opening", "eye opening", "height",
                ((("leye_1", "leye_2"), ("leye_4", "leye_5")),
                 (("reye_1", "reye_2"), ("reye_4", "reye_5"))),
                "Height of the upper lid above the lower lid, averaged over both eyes; "
                "smaller: eyes closing."),
    ),
    up=(("jaw_8", "nose_bridge_0"), ("nose_base_2", "nose_bridge_0"),
        ("nose_bridge_3", "nose_bridge_0")),
    left=(("jaw_0", "jaw_16"), ("reye_0", "leye_3"), ("mouth_outer_0", "mouth_outer_6")),
)

GEOMETRY: dict[str, FaceGeometry] = {g.scheme: g for g in (_FACE21, _IBUG68)}
"""The measures of every landmark scheme faceexpr knows, by scheme name."""


@dataclass(frozen=True)
class ProxyRule:
    """When a state's measures show the geometric signature of a FACS action unit.

    Every ``(measure key, z)`` of ``conditions`` must hold (``z > 0``: the state's z at
    least ``z``; ``z < 0``: at most ``z``; for a face measure the change must also reach
    :data:`MIN_CHANGE` of the face's size), and none of ``unless``. A rule whose
    conditions name a measure the scheme lacks is never reported.
    """

    code: str
    name: str
    conditions: tuple[tuple[str, float], ...]
    unless: tuple[tuple[str, float], ...] = ()


PROXY_RULES: tuple[ProxyRule, ...] = (
    ProxyRule("AU1+2", "brow raiser", (("brow_height", Z_THRESHOLD),)),
    ProxyRule("AU4", "brow lowerer", (("brow_height", -Z_THRESHOLD),)),
    ProxyRule("AU5", "upper lid raiser", (("eye_opening", Z_THRESHOLD),)),
    ProxyRule("AU12", "lip-corner puller",
              (("lip_corner_height", Z_THRESHOLD), ("mouth_width", Z_SUPPORT))),
    # a dropping jaw pulls the corners down and in too: not a depressor or a pucker
    ProxyRule("AU15", "lip-corner depressor", (("lip_corner_height", -Z_THRESHOLD),),
              unless=(("mouth_opening", Z_THRESHOLD),)),
    ProxyRule("AU18", "lip pucker", (("mouth_width", -Z_THRESHOLD),),
              unless=(("mouth_opening", Z_THRESHOLD),)),
    ProxyRule("AU26", "jaw drop", (("mouth_opening", Z_THRESHOLD),)),
    ProxyRule("AU43/45", "eye closure", (("eye_opening", -Z_THRESHOLD),)),
)
"""FACS action units recognised by their geometric signature (thresholds in SD, z)."""


def _signed(value: float) -> str:
    """``value`` with its sign and two significant digits (at least one decimal)."""
    if not math.isfinite(value):
        return "n/a"
    rounded = float(f"{value:.2g}")  # 0.997 -> 1.0, not 1.00
    digits = 1 if rounded == 0 else max(1, 1 - math.floor(math.log10(abs(rounded))))
    return f"{value:+.{digits}f}"


def _with_units(text: str, units: str) -> str:
    if not units:
        return text
    return f"{text}{units}" if units == "°" else f"{text} {units}"


@dataclass(frozen=True)
class MeasureValue:
    """One measure in one state, against all frames.

    Attributes
    ----------
    key, label, units
        The measure (units ``""`` for unitless values such as action-unit intensities).
    kind
        ``"face"`` (landmark geometry), ``"head"`` (angles, speeds) or ``"action_unit"``
        (OpenFace intensities).
    state_mean, overall_mean, overall_sd
        Mean over the state's frames; mean and standard deviation over every frame with
        a state.
    difference
        ``state_mean - overall_mean``.
    z
        ``difference / overall_sd`` (NaN when the SD is 0 or unknown).
    """

    key: str
    label: str
    units: str
    kind: str
    state_mean: float
    overall_mean: float
    overall_sd: float
    difference: float
    z: float

    def words(self) -> str:
        """E.g. ``"mouth opening +6.2 mm, +2.8 SD"``."""
        return f"{self.label} {_with_units(_signed(self.difference), self.units)}, " \
               f"{_signed(self.z) if math.isfinite(self.z) else 'n/a'} SD"

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain Python values."""
        return {"key": self.key, "label": self.label, "units": self.units,
                "kind": self.kind, "state_mean": self.state_mean,
                "overall_mean": self.overall_mean, "overall_sd": self.overall_sd,
                "difference": self.difference, "z": self.z}


@dataclass(frozen=True)
class FacsProxy:
    """A FACS action unit whose geometric signature a state shows (not FACS coding).

    Attributes
    ----------
    code, name
        E.g. ``"AU12"``, ``"lip-corner puller"``.
    evidence
        The measures that meet the rule's conditions.
    """

    code: str
    name: str
    evidence: tuple[MeasureValue, ...]

    @property
    def label(self) -> str:
        """E.g. ``"AU12 lip-corner puller (geometric proxy)"``."""
        return f"{self.code} {self.name} (geometric proxy)"

    def words(self) -> str:
        """The label and its evidence."""
        return f"{self.label}: " + "; ".join(m.words() for m in self.evidence)

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain Python values."""
        return {"code": self.code, "name": self.name, "label": self.label,
                "evidence": [m.to_dict() for m in self.evidence]}


@dataclass(frozen=True)
class StateCard:
    """What one state is: its time, its dwell, how its face differs from the average.

    Attributes
    ----------
    state
        The state number.
    share
        Fraction of the frames with a state that are in this one.
    n_frames, n_bouts
        Frames in the state and its bouts (censored ones included).
    median_dwell_frames, median_dwell_s
        Median length of its complete bouts (not cut by a recording's start or end or by
        frames without a state), in frames and seconds (NaN without a frame rate or
        without a complete bout).
    measures
        Face and head measures (:class:`MeasureValue`), in the scheme's order.
    action_units
        OpenFace action-unit intensities (empty when the pose has none).
    proxies
        FACS action units whose geometric signature the measures show.
    """

    state: int
    share: float
    n_frames: int
    n_bouts: int
    median_dwell_frames: float
    median_dwell_s: float
    measures: tuple[MeasureValue, ...]
    action_units: tuple[MeasureValue, ...] = ()
    proxies: tuple[FacsProxy, ...] = ()

    def largest(self, n: int = 3) -> list[MeasureValue]:
        """The ``n`` measures with the largest ``|z|`` (face and head, not action units)."""
        known = [m for m in self.measures if math.isfinite(m.z)]
        return sorted(known, key=lambda m: -abs(m.z))[:n]

    def headline(self, n: int = 3) -> str:
        """The ``n`` largest measures in words, e.g. ``"mouth opening +6.2 mm, +2.8 SD;
        ..."``."""
        return "; ".join(m.words() for m in self.largest(n))

    def dwell_words(self) -> str:
        """The typical dwell in words."""
        if not math.isfinite(self.median_dwell_frames):
            return "typical bout unknown (no bout of known length)"
        frames = f"{self.median_dwell_frames:g} frames"
        if math.isfinite(self.median_dwell_s):
            return f"typical bout {self.median_dwell_s:.2g} s ({frames})"
        return f"typical bout {frames}"

    def measure(self, key: str) -> MeasureValue | None:
        """The measure ``key`` (face, head or action unit), or None when not measured."""
        return next((m for m in (*self.measures, *self.action_units) if m.key == key), None)

    def to_dict(self) -> dict[str, Any]:
        """The card as plain Python values (JSON-ready, NaN kept)."""
        return {"state": self.state, "share": self.share, "n_frames": self.n_frames,
                "n_bouts": self.n_bouts, "median_dwell_frames": self.median_dwell_frames,
                "median_dwell_s": self.median_dwell_s, "headline": self.headline(),
                "measures": [m.to_dict() for m in self.measures],
                "action_units": [m.to_dict() for m in self.action_units],
                "proxies": [p.to_dict() for p in self.proxies]}


# --------------------------------------------------------------------------- geometry


def _scheme_of(landmarks: Sequence[str],
               scheme: LandmarkScheme | str | None) -> LandmarkScheme | None:
    if isinstance(scheme, str):
        if scheme not in KNOWN_SCHEMES:
            raise ParameterError(f"unknown landmark scheme {scheme!r}; known: "
                             f"{sorted(KNOWN_SCHEMES)}")
        return KNOWN_SCHEMES[scheme]
    return scheme if scheme is not None else guess_scheme(landmarks)


def _unit(vector: FloatArray) -> FloatArray | None:
    size = float(np.linalg.norm(vector))
    return vector / size if np.isfinite(vector).all() and size > 0 else None


def face_directions(
    mean_face: npt.ArrayLike, landmarks: Sequence[str], scheme: LandmarkScheme | str | None = None,
) -> tuple[FloatArray | None, FloatArray | None]:
    """The face's left and up directions in the data's frame.

    Parameters
    ----------
    mean_face
        ``(landmarks, space)`` face, e.g. the mean egocentric face of all frames.
    landmarks
        Names of its rows.
    scheme
        Landmark scheme (default: guessed from ``landmarks``).

    Returns
    -------
    left, up : numpy.ndarray or None
        Unit vectors ``(space,)``: ``left`` from the first usable pair of
        :attr:`FaceGeometry.left` (else the scheme's ``left_right``), ``up`` from the
        first of :attr:`FaceGeometry.up` (else ``down_up``), made perpendicular to
        ``left``. ``None`` where no pair is usable. In a 2D image, whose y axis points
        down, ``up`` has a negative y.
    """
    face = np.asarray(mean_face, dtype=np.float64)
    names = [str(n) for n in landmarks]
    found = _scheme_of(names, scheme)
    geometry = GEOMETRY.get(found.name) if found is not None else None
    index = {n: i for i, n in enumerate(names)}

    def first(pairs: Sequence[tuple[str, str] | None]) -> FloatArray | None:
        for pair in pairs:
            if pair is None or pair[0] not in index or pair[1] not in index:
                continue
            vector = _unit(face[index[pair[1]]] - face[index[pair[0]]])
            if vector is not None:
                return vector
        return None

    left = first([*(geometry.left if geometry else ()),
                  found.left_right if found is not None else None])
    up = first([*(geometry.up if geometry else ()),
                found.down_up if found is not None else None])
    if up is not None and left is not None:
        up = _unit(up - left * float(up @ left))
    return left, up


def front_view(points: npt.ArrayLike, left: FloatArray | None,
               up: FloatArray | None) -> FloatArray:
    """Faces seen from the front: ``(..., landmarks, 2)`` of (left, up) coordinates.

    ``points`` is ``(..., landmarks, space)``; without a ``left`` direction the data's
    first axis made perpendicular to ``up`` stands in, without ``up`` the second axis
    (sign as in the data).
    """
    values = np.asarray(points, dtype=np.float64)
    d = values.shape[-1]
    axes = np.eye(d)
    if up is None:
        up = axes[1]
    if left is None:
        left = _unit(axes[0] - up * float(axes[0] @ up))
        left = axes[0] if left is None else left
    return np.stack([values @ left, values @ up], axis=-1)


def mean_face(egocentric: xr.Dataset | Sequence[xr.Dataset]) -> FloatArray:
    """The mean ``(landmarks, space)`` face of every frame of every session (NaN ignored)."""
    positions = [e["position"].transpose("time", "landmarks", "space").values
                 for e in _as_list(egocentric)]
    total = sum(np.nansum(p, axis=0, dtype=np.float64) for p in positions)
    count = sum(np.isfinite(p).sum(axis=0) for p in positions)
    with np.errstate(invalid="ignore", divide="ignore"):  # a landmark never seen: NaN
        return np.asarray(np.asarray(total) / np.asarray(count), dtype=np.float64)


def measure_series(position: npt.ArrayLike, landmarks: Sequence[str], measures: Sequence[Measure],
                   up: FloatArray | None) -> dict[str, FloatArray]:
    """Every measure frame by frame: ``key → (time,)`` values.

    Measures whose landmarks ``landmarks`` lack, and heights without an ``up``
    direction, are left out. ``position`` is ``(time, landmarks, space)``.
    """
    values = np.asarray(position)
    index = {str(n): i for i, n in enumerate(landmarks)}
    heights = None if up is None else values.astype(np.float64) @ up  # (time, landmarks)
    out: dict[str, FloatArray] = {}
    for m in measures:
        if not m.landmarks <= set(index) or (m.kind == "height" and heights is None):
            continue
        parts = []
        for a, b in m.parts:
            ia, ib = [index[n] for n in a], [index[n] for n in b]
            if m.kind == "height":
                assert heights is not None
                parts.append(heights[:, ia].mean(axis=1) - heights[:, ib].mean(axis=1))
            else:
                gap = (values[:, ia, :].astype(np.float64).mean(axis=1)
                       - values[:, ib, :].astype(np.float64).mean(axis=1))
                parts.append(np.linalg.norm(gap, axis=-1))
        out[m.key] = np.mean(parts, axis=0)
    return out


# --------------------------------------------------------------------------- states


def _as_list(obj: Any) -> list[Any]:
    return [obj] if hasattr(obj, "dims") or obj is None else list(obj)


def _labels(states: Sequence[xr.DataArray], n_states: int) -> list[IntArray]:
    out = []
    for i, s in enumerate(states):
        values = np.asarray(s.values)
        if values.ndim != 1 or (values.size and not np.all(values == np.round(values))):
            raise InvalidStatesError(f"session {i}: states must be whole numbers along time, "
                                     f"got dims {s.dims} of {values.dtype}")
        labels = values.astype(np.int64)
        bad = (labels < NO_STATE) | (labels >= n_states)
        if bad.any():
            raise InvalidStatesError(f"session {i}: state {int(labels[bad][0])} is not one of "
                                     f"0..{n_states - 1} (or {NO_STATE}, no state)")
        out.append(labels)
    return out


def _bout_stats(labels: Sequence[IntArray], n_states: int) -> tuple[IntArray, FloatArray]:
    """Bouts per state and the median length of its complete (uncensored) bouts.

    A bout is censored when it touches a session's first or last frame or a frame
    without a state, as in :func:`faceexpr.analysis.bouts`.
    """
    n_bouts = np.zeros(n_states, dtype=np.int64)
    complete: list[list[int]] = [[] for _ in range(n_states)]
    for lab in labels:
        if lab.size == 0:
            continue
        starts = np.concatenate([[0], np.flatnonzero(np.diff(lab) != 0) + 1])
        stops = np.concatenate([starts[1:], [lab.size]])
        values = lab[starts]
        gap = np.concatenate([[True], values == NO_STATE, [True]])
        censored = gap[:-2] | gap[2:]
        for start, stop, value, cut in zip(starts, stops, values, censored):
            if value == NO_STATE:
                continue
            n_bouts[value] += 1
            if not cut:
                complete[value].append(int(stop - start))
    median = np.array([float(np.median(c)) if c else math.nan for c in complete])
    return n_bouts, median


def _summaries(values: FloatArray, labels: IntArray, n_states: int,
               ) -> tuple[FloatArray, float, float]:
    """Per-state means, and the mean and SD of every frame with a state."""
    with_state = (labels != NO_STATE) & np.isfinite(values)
    known = values[with_state]
    if known.size == 0:
        return np.full(n_states, math.nan), math.nan, math.nan
    overall = float(known.mean())
    sd = float(known.std(ddof=1)) if known.size > 1 else math.nan
    sums = np.bincount(labels[with_state], weights=known, minlength=n_states)
    counts = np.bincount(labels[with_state], minlength=n_states)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), math.nan)
    return np.asarray(means, dtype=np.float64), overall, sd


_UNIT_WORDS = {"mm": "mm", "millimeters": "mm", "millimetres": "mm", "pixels": "px",
               "pixel": "px", "px": "px", "cm": "cm", "m": "m"}


def _length_units(ego: xr.Dataset) -> str:
    units = str(ego.attrs.get("units", "") or "")
    return _UNIT_WORDS.get(units.lower(), units)


def _series(egos: Sequence[xr.Dataset], kins: Sequence[xr.Dataset | None],
            scheme: LandmarkScheme | str | None, measures: Sequence[Measure] | None,
            ) -> tuple[list[tuple[str, str, str, str, list[FloatArray]]], float]:
    """``(key, label, units, kind, per-session values)`` of every measure that applies,
    and the size of the mean face (RMS distance of its landmarks from their centroid)."""
    names = [str(n) for n in egos[0]["landmarks"].values]
    for i, e in enumerate(egos[1:], 1):
        if [str(n) for n in e["landmarks"].values] != names:
            raise InvalidPoseError(f"session {i} has other landmarks than session 0; state "
                                   "cards need one landmark set")
    found = _scheme_of(names, scheme)
    if measures is None:
        geometry = GEOMETRY.get(found.name) if found is not None else None
        measures = geometry.measures if geometry is not None else ()
    positions = [e["position"].transpose("time", "landmarks", "space").values for e in egos]
    face = mean_face(egos)
    _, up = face_directions(face, names, found)
    seen = face[np.isfinite(face).all(axis=-1)]
    size = float(np.sqrt(((seen - seen.mean(axis=0)) ** 2).sum(axis=-1).mean())) \
        if len(seen) else math.nan
    units = _length_units(egos[0])
    per_session = [measure_series(p, names, measures, up) for p in positions]
    out = [(m.key, m.label, units, "face", [s[m.key] for s in per_session])
           for m in measures if m.key in per_session[0]]

    angles: dict[str, list[FloatArray]] = {}
    if all("head_angles" in e for e in egos):
        angle_names = [str(a) for a in egos[0]["head_angles"]["angle"].values]
        if all([str(a) for a in e["head_angles"]["angle"].values] == angle_names
               for e in egos):
            for j, a in enumerate(angle_names):
                angles[a] = [np.asarray(e["head_angles"].transpose("time", "angle")
                                        .values[:, j], dtype=np.float64) for e in egos]
    out += [(f"head_{a}", f"head {a.replace('_', ' ')}", "°", "head", v)
            for a, v in angles.items()]
    if kins and all(k is not None for k in kins):
        present = [k for k in kins if k is not None]
        time_unit = str(present[0].attrs.get("time_unit", "s") or "s")
        speed_units = f"{_length_units(present[0])}/{time_unit}".lstrip("/")
        if all("head_speed" in k for k in present):
            out.append(("head_speed", "head speed", speed_units, "head",
                        [np.asarray(k["head_speed"].values, dtype=np.float64)
                         for k in present]))
    return out, size


def _action_units(egos: Sequence[xr.Dataset]) -> list[tuple[str, list[FloatArray]]]:
    """OpenFace intensities ``AUxx_r`` of every session (NaN where a session has none)."""
    names: list[str] = []
    for e in egos:
        if "action_units" in e and "au" in e["action_units"].dims:
            names += [str(a) for a in e["au"].values
                      if str(a).endswith("_r") and str(a) not in names]
    out = []
    for name in sorted(names):
        series = []
        for e in egos:
            if "action_units" in e and name in [str(a) for a in e["au"].values]:
                series.append(np.asarray(e["action_units"].sel(au=name).values,
                                         dtype=np.float64))
            else:
                series.append(np.full(e.sizes["time"], math.nan))
        out.append((name, series))
    return out


def _proxies(values: Mapping[str, MeasureValue], face_size: float) -> tuple[FacsProxy, ...]:
    def holds(key: str, z: float) -> bool:
        m = values.get(key)
        if m is None or not math.isfinite(m.z) or not (m.z >= z if z > 0 else m.z <= z):
            return False
        return m.kind != "face" or not abs(m.difference) < MIN_CHANGE * face_size

    found = []
    for rule in PROXY_RULES:
        if all(holds(k, z) for k, z in rule.conditions) and not any(
                holds(k, z) for k, z in rule.unless):
            found.append(FacsProxy(rule.code, rule.name,
                                   tuple(values[k] for k, _ in rule.conditions)))
    return tuple(found)


def state_cards(
    egocentric: xr.Dataset | Sequence[xr.Dataset],
    kinematics: xr.Dataset | Sequence[xr.Dataset | None] | None,
    states: xr.DataArray | Sequence[xr.DataArray],
    n_states: int,
    fps: float | None = None,
    scheme: LandmarkScheme | str | None = None,
    measures: Sequence[Measure] | None = None,
) -> list[StateCard]:
    """One :class:`StateCard` per state: share, typical dwell, measures, FACS proxies.

    Parameters
    ----------
    egocentric
        Egocentric aligned poses (:func:`faceexpr.preprocess.egocentric`), one per
        session; their ``head_angles`` give the head measures and an ``action_units``
        variable (OpenFace) the action-unit means.
    kinematics
        :func:`faceexpr.features.head_kinematics` of every session (its ``head_speed``),
        or None.
    states
        State sequences ``(time,)``, one per session (``-1``: no state).
    n_states
        Number of states K.
    fps
        Frame rate for the dwell in seconds (None: frames only).
    scheme
        Landmark scheme (object or name); default guessed from the landmark names.
    measures
        Face measures to use instead of the scheme's (:data:`GEOMETRY`), e.g. for a
        scheme faceexpr does not know.

    Returns
    -------
    list of StateCard
        In state order.

    Raises
    ------
    InvalidStatesError
        When the sessions and states do not pair up, or a label is outside 0..K-1.
    """
    egos = _as_list(egocentric)
    seqs = _as_list(states)
    kins: list[xr.Dataset | None] = ([None] * len(egos) if kinematics is None
                                     else _as_list(kinematics))
    if not n_states >= 1:
        raise InvalidStatesError(f"n_states must be >= 1, got {n_states}")
    if not egos or len(seqs) != len(egos) or len(kins) != len(egos):
        raise InvalidStatesError(f"got {len(egos)} egocentric pose(s), {len(seqs)} state "
                                 f"sequence(s) and {len(kins)} kinematics; one each per "
                                 "session")
    labels = _labels(seqs, n_states)
    for i, (e, lab) in enumerate(zip(egos, labels)):
        if e.sizes.get("time") != lab.size:
            raise InvalidStatesError(f"session {i}: the pose has {e.sizes.get('time')} frames "
                                     f"but the states have {lab.size}")
    all_labels = np.concatenate(labels)
    counts = np.bincount(all_labels[all_labels != NO_STATE], minlength=n_states)
    total = int(counts.sum())
    n_bouts, median = _bout_stats(labels, n_states)
    rate = fps if fps is not None and math.isfinite(fps) and fps > 0 else None

    def summarised(rows: Sequence[tuple[str, str, str, str, list[FloatArray]]],
                   ) -> list[list[MeasureValue]]:
        per_state: list[list[MeasureValue]] = [[] for _ in range(n_states)]
        for key, label, units, kind, series in rows:
            means, overall, sd = _summaries(np.concatenate(series), all_labels, n_states)
            for k in range(n_states):
                diff = float(means[k] - overall)
                z = diff / sd if math.isfinite(sd) and sd > 0 else math.nan
                per_state[k].append(MeasureValue(key, label, units, kind, float(means[k]),
                                                 overall, sd, diff, z))
        return per_state

    rows, face_size = _series(egos, kins, scheme, measures)
    geometric = summarised(rows)
    aus = summarised([(name, name.removesuffix("_r"), "", "action_unit", series)
                      for name, series in _action_units(egos)])
    cards = []
    for k in range(n_states):
        values = {m.key: m for m in geometric[k]}
        cards.append(StateCard(
            state=k, share=float(counts[k] / total) if total else math.nan,
            n_frames=int(counts[k]), n_bouts=int(n_bouts[k]),
            median_dwell_frames=float(median[k]),
            median_dwell_s=float(median[k] / rate) if rate else math.nan,
            measures=tuple(geometric[k]), action_units=tuple(aus[k]),
            proxies=_proxies(values, face_size)))
    return cards


def cards_table(cards: Sequence[StateCard]) -> pd.DataFrame:
    """The cards as one tidy table (``state_cards.csv``): one row per state and quantity.

    Columns: ``state``, ``share``, ``n_frames``, ``n_bouts``, ``median_dwell_frames``,
    ``median_dwell_s``, ``kind`` (``face``, ``head``, ``action_unit`` or ``facs_proxy``),
    ``quantity`` (measure key, action unit, or the proxy's code and name), ``units``,
    ``state_mean``, ``overall_mean``, ``overall_sd``, ``difference``, ``z`` and ``rank``
    (1 to 3 for the card's three largest measures, else empty). A proxy's row has
    ``units`` ``"geometric proxy"`` and the z of its weakest condition.
    """
    rows: list[dict[str, Any]] = []
    for card in cards:
        base = {"state": card.state, "share": card.share, "n_frames": card.n_frames,
                "n_bouts": card.n_bouts, "median_dwell_frames": card.median_dwell_frames,
                "median_dwell_s": card.median_dwell_s}
        ranks = {m.key: r for r, m in enumerate(card.largest(), 1)}
        for m in (*card.measures, *card.action_units):
            rows.append({**base, "kind": m.kind, "quantity": m.key, "units": m.units,
                         "state_mean": m.state_mean, "overall_mean": m.overall_mean,
                         "overall_sd": m.overall_sd, "difference": m.difference, "z": m.z,
                         "rank": ranks.get(m.key) if m.kind != "action_unit" else None})
        for p in card.proxies:
            weakest = min(p.evidence, key=lambda m: abs(m.z))
            rows.append({**base, "kind": "facs_proxy", "quantity": f"{p.code} {p.name}",
                         "units": "geometric proxy", "state_mean": math.nan,
                         "overall_mean": math.nan, "overall_sd": math.nan,
                         "difference": math.nan, "z": weakest.z, "rank": None})
    columns = ["state", "share", "n_frames", "n_bouts", "median_dwell_frames",
               "median_dwell_s", "kind", "quantity", "units", "state_mean", "overall_mean",
               "overall_sd", "difference", "z", "rank"]
    table = pd.DataFrame(rows, columns=columns)
    table["rank"] = table["rank"].astype("Int64")
    return table
