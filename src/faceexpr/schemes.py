"""Landmark schemes: names of landmarks and the chains that draw a face skeleton.

A scheme's skeleton has the same form as Anipose's ``labeling.scheme``: a list of chains,
each a list of landmark names joined in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

from faceexpr.data import validate_pose, with_history

if TYPE_CHECKING:
    import xarray as xr


@dataclass(frozen=True)
class LandmarkScheme:
    """Names of the landmarks of a face model and how to draw them.

    Parameters
    ----------
    name
        Short identifier of the scheme.
    landmarks
        Landmark names in their canonical order.
    skeleton
        Chains of landmark names; consecutive names in a chain are joined by a line.
    reference
        The landmark that moves with the head only: the default egocentric origin.
    left_right, down_up
        Landmark pairs ``(from, to)`` pointing to the face's left and upwards; figures use
        them to draw 3D faces upright and seen from the front.
    """

    name: str
    landmarks: tuple[str, ...]
    skeleton: tuple[tuple[str, ...], ...]
    reference: str
    left_right: tuple[str, str] | None = None
    down_up: tuple[str, str] | None = None

    def edges(self) -> list[tuple[str, str]]:
        """Return the skeleton as a list of landmark pairs."""
        return [pair for chain in self.skeleton for pair in pairwise(chain)]


FACE21 = LandmarkScheme(
    name="face21",
    landmarks=(
        "lefteye1", "lefteye2", "righteye1", "righteye2",
        "leyebrow1", "leyebrow2", "leyebrow3", "reyebrow1", "reyebrow2", "reyebrow3",
        "lear", "rear", "nose1", "nose2", "nose3", "nose4",
        "uplip", "lowlip", "llip", "rlip", "chin",
    ),
    skeleton=(
        ("lefteye1", "lefteye2"),
        ("righteye1", "righteye2"),
        ("nose1", "nose3", "nose2", "nose4", "nose1", "nose2"),
        ("leyebrow1", "leyebrow2", "leyebrow3"),
        ("reyebrow1", "reyebrow2", "reyebrow3"),
        ("uplip", "llip", "lowlip", "rlip", "uplip"),
        ("lear", "chin", "rear"),
    ),
    reference="nose1",
    left_right=("rear", "lear"),
    down_up=("chin", "nose1"),
)
"""The 21-landmark face of the seed study; ``nose1`` (nasal bone) is the reference."""


SchemeLike = LandmarkScheme | Sequence[Sequence[str]] | None
"""A scheme, its skeleton as chains of landmark names (Anipose's ``labeling.scheme``), or
``None`` for no skeleton."""


def skeleton_chains(scheme: SchemeLike) -> list[list[str]]:
    """Return the skeleton of ``scheme`` as chains of landmark names."""
    if scheme is None:
        return []
    if isinstance(scheme, LandmarkScheme):
        return [list(chain) for chain in scheme.skeleton]
    for i, chain in enumerate(scheme):
        if isinstance(chain, str):
            raise ValueError(
                f"skeleton chain {i} is the string {chain!r}; give each chain as a list of "
                "landmark names, e.g. [['lefteye1', 'lefteye2'], ['nose1', 'nose2']]"
            )
    return [[str(n) for n in chain] for chain in scheme]


def skeleton_edges(scheme: SchemeLike, landmarks: Sequence[str]) -> list[tuple[int, int]]:
    """Return the skeleton as pairs of indices into ``landmarks``.

    Edges that name a landmark not in ``landmarks`` are left out, so one scheme can draw
    data that tracked only some of its landmarks.
    """
    index = {str(name): i for i, name in enumerate(landmarks)}
    return [(index[a], index[b]) for chain in skeleton_chains(scheme)
            for a, b in pairwise(chain) if a in index and b in index]


KNOWN_SCHEMES: dict[str, LandmarkScheme] = {FACE21.name: FACE21}
"""Schemes that :func:`guess_scheme` can recognise, by name; backends add theirs here."""


def guess_scheme(landmarks: Sequence[str]) -> LandmarkScheme | None:
    """Return the known scheme that names most of ``landmarks`` (at least half), or None."""
    names = {str(n) for n in landmarks}
    best, best_overlap = None, 0
    for scheme in KNOWN_SCHEMES.values():
        overlap = len(names & set(scheme.landmarks))
        if overlap > best_overlap:
            best, best_overlap = scheme, overlap
    return best if names and best_overlap >= len(names) / 2 else None


def _numbered(prefix: str, n: int) -> tuple[str, ...]:
    return tuple(f"{prefix}_{i}" for i in range(n))


_JAW = _numbered("jaw", 17)
_RBROW = _numbered("rbrow", 5)
_LBROW = _numbered("lbrow", 5)
_NOSE_BRIDGE = _numbered("nose_bridge", 4)
_NOSE_BASE = _numbered("nose_base", 5)
_REYE = _numbered("reye", 6)
_LEYE = _numbered("leye", 6)
_MOUTH_OUTER = _numbered("mouth_outer", 12)
_MOUTH_INNER = _numbered("mouth_inner", 8)

IBUG68 = LandmarkScheme(
    name="ibug68",
    landmarks=(_JAW + _RBROW + _LBROW + _NOSE_BRIDGE + _NOSE_BASE + _REYE + _LEYE
               + _MOUTH_OUTER + _MOUTH_INNER),
    skeleton=(
        _JAW,
        _RBROW,
        _LBROW,
        (*_NOSE_BRIDGE, _NOSE_BASE[2]),
        _NOSE_BASE,
        (*_REYE, _REYE[0]),
        (*_LEYE, _LEYE[0]),
        (*_MOUTH_OUTER, _MOUTH_OUTER[0]),
        (*_MOUTH_INNER, _MOUTH_INNER[0]),
    ),
    reference="nose_bridge_0",
    left_right=("jaw_0", "jaw_16"),
    down_up=("jaw_8", "nose_bridge_0"),
)
"""The 68 landmarks of the iBUG 300-W annotation (dlib's ``shape_predictor_68``).

The names are in iBUG order, so ``IBUG68.landmarks[i]`` is iBUG point ``i`` counted from
0 (the iBUG documents count from 1). ``r``/``l`` are the *subject's* right and left, as in
:data:`FACE21`; in an unmirrored camera image the subject's right is on the image's left.
(The iBUG annotation, and so the predictor, actually follows the image side: in a
mirrored "selfie" video the ``r``/``l`` names are swapped.)

``jaw_0`` … ``jaw_16`` (iBUG 0–16)
    Face outline from the subject's right (near the ear, at eye level) over the chin
    (``jaw_8``) to the left.
``rbrow_0`` … ``rbrow_4`` (17–21)
    Right eyebrow, outer end → inner end.
``lbrow_0`` … ``lbrow_4`` (22–26)
    Left eyebrow, inner end → outer end.
``nose_bridge_0`` … ``nose_bridge_3`` (27–30)
    Nose bridge from between the eyes (``nose_bridge_0``, the
    :attr:`~LandmarkScheme.reference`) down to the tip of the nose (``nose_bridge_3``).
``nose_base_0`` … ``nose_base_4`` (31–35)
    Lower edge of the nose from the right wing (ala) over the columella
    (``nose_base_2``, below the tip) to the left wing.
``reye_0`` … ``reye_5`` (36–41)
    Right eye: outer corner, upper lid (2), inner corner, lower lid (2).
``leye_0`` … ``leye_5`` (42–47)
    Left eye: inner corner, upper lid (2), outer corner, lower lid (2).
``mouth_outer_0`` … ``mouth_outer_11`` (48–59)
    Outer lip line from the right mouth corner over the upper lip (``mouth_outer_3`` its
    middle) to the left corner (``mouth_outer_6``) and back along the lower lip
    (``mouth_outer_9`` its middle).
``mouth_inner_0`` … ``mouth_inner_7`` (60–67)
    Inner lip line: right corner, upper lip (``mouth_inner_2`` middle), left corner
    (``mouth_inner_4``), lower lip (``mouth_inner_6`` middle).

``nose_base`` is what other tools (face_recognition) call ``nose_tip``; the tip itself
is ``nose_bridge_3``. The reference ``nose_bridge_0`` sits on the nasal bone between the
eyes and moves with the head only.
"""

KNOWN_SCHEMES[IBUG68.name] = IBUG68

IBUG68_TO_FACE21: dict[str, str] = {
    "lefteye1": "leye_0", "lefteye2": "leye_3",
    "righteye1": "reye_3", "righteye2": "reye_0",
    "leyebrow1": "lbrow_0", "leyebrow2": "lbrow_2", "leyebrow3": "lbrow_4",
    "reyebrow1": "rbrow_4", "reyebrow2": "rbrow_2", "reyebrow3": "rbrow_0",
    "nose1": "nose_bridge_0", "nose2": "nose_bridge_3",
    "nose3": "nose_base_4", "nose4": "nose_base_0",
    "uplip": "mouth_outer_3", "lowlip": "mouth_outer_9",
    "llip": "mouth_outer_6", "rlip": "mouth_outer_0",
    "chin": "jaw_8",
}
"""For each :data:`FACE21` landmark, its closest :data:`IBUG68` landmark (keys are FACE21
names, values iBUG68 names).

Eye corners (``*eye1`` inner, ``*eye2`` outer), eyebrows (inner, middle, outer end), the
nasal bone (``nose1``, the reference of both schemes), the nose tip (``nose2``), the
nostril wings (``nose3`` left, ``nose4`` right), the middle of the upper and lower lip,
the mouth corners and the chin. The ears (``lear``, ``rear``) have no iBUG counterpart
(the outline points ``jaw_0``/``jaw_16`` lie on the cheek in front of them) and are left
out: poses converted by :func:`to_face21` have the other 19 FACE21 landmarks.
"""


def to_face21(pose68: xr.Dataset) -> xr.Dataset:
    """Return an :data:`IBUG68` pose as a :data:`FACE21` pose (19 landmarks, no ears).

    Selects the iBUG landmarks of :data:`IBUG68_TO_FACE21` and renames them to their
    FACE21 names, in FACE21 order, so the seed study's 21-landmark analyses (reference
    ``nose1``, FACE21 figures) run on dlib's output. Other variables and attributes are
    kept; a record is added to the history.

    Raises
    ------
    InvalidPoseError
        When the pose lacks an iBUG landmark of the mapping.
    """

    names = [n for n in FACE21.landmarks if n in IBUG68_TO_FACE21]
    validate_pose(pose68, landmarks=[IBUG68_TO_FACE21[n] for n in names])
    out = pose68.sel(landmarks=[IBUG68_TO_FACE21[n] for n in names])
    out = out.assign_coords(landmarks=names)
    out.attrs = dict(pose68.attrs)
    out = with_history(out, "schemes.to_face21", mapping={n: IBUG68_TO_FACE21[n]
                                                          for n in names})
    return validate_pose(out)
