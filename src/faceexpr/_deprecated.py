"""Old module paths that still work, with a DeprecationWarning, after a move."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any


def moved_module(old: str, new: str) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``old`` that serves every name from ``new``.

    The new module is imported by name at first use, so the shim adds no import edge
    from the core to a backend package.
    """

    def __getattr__(name: str) -> Any:
        module = importlib.import_module(new)
        if name.startswith("__") or not hasattr(module, name):
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        warnings.warn(f"{old} is deprecated; use {new}", DeprecationWarning, stacklevel=2)
        return getattr(module, name)

    return __getattr__
