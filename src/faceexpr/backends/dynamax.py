"""(being written)"""

from __future__ import annotations

from faceexpr.hookspecs import hookimpl
from faceexpr.interfaces import StateModel


@hookimpl
def faceexpr_state_models() -> list[type[StateModel]]:
    return []
