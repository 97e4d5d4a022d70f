"""Landmark schemes: names of landmarks and the chains that draw a face skeleton.

A scheme's skeleton has the same form as Anipose's ``labeling.scheme``: a list of chains,
each a list of landmark names joined in order.
"""

from __future__ import annotations

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
    """

    name: str
    landmarks: tuple[str, ...]
    skeleton: tuple[tuple[str, ...], ...]
    reference: str

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
)
"""The 21-landmark face of the seed study; ``nose1`` (nasal bone) is the reference."""
