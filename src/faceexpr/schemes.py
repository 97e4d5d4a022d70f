"""Landmark schemes: names of landmarks and the chains that draw a face skeleton.

A scheme's skeleton has the same form as Anipose's ``labeling.scheme``: a list of chains,
each a list of landmark names joined in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise


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
