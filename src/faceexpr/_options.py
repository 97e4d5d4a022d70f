"""Keyword options of a backend's constructor: what it takes, and whether a value fits.

:func:`constructor_options` reads the options from the signature and its type hints;
:class:`BackendOption` says whether a value fits one (:meth:`BackendOption.accepts`) and
describes it for messages. :meth:`faceexpr.interfaces.Backend.check_options` uses both, so
every backend's options are checked the same way, third-party plugins' included.
"""

from __future__ import annotations

import collections.abc
import inspect
import numbers
import os
import reprlib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

__all__ = ["BackendOption", "constructor_options", "matches", "short_repr", "type_text"]


@dataclass(frozen=True)
class BackendOption:
    """One keyword option of a backend's constructor, as
    :meth:`~faceexpr.interfaces.Backend.accepted_options` finds it.

    Attributes
    ----------
    name
        The keyword.
    annotation
        The resolved type hint (``typing.Any`` where the constructor has none).
    default
        The default value; :attr:`inspect.Parameter.empty` when the option is required.
    """

    name: str
    annotation: Any = Any
    default: Any = inspect.Parameter.empty

    @property
    def required(self) -> bool:
        """Whether the constructor has no default for this option."""
        return self.default is inspect.Parameter.empty

    def accepts(self, value: object) -> bool:
        """Whether ``value`` is of the annotated type (loosely for containers)."""
        return matches(value, self.annotation)

    def expected(self) -> str:
        """What the option takes, as a phrase (``'full' or 'diag'``, ``int or None``)."""
        return type_text(self.annotation, " or ")

    def describe(self) -> str:
        """The option, its type and its default: ``n_iter (int, default 100)``."""
        default = "required" if self.required else f"default {self.default!r}"
        return f"{self.name} ({type_text(self.annotation, ' | ')}, {default})"


def short_repr(value: object) -> str:
    """``repr(value)``, shortened: a message stays one readable line."""
    return _REPR.repr(value)


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60


def constructor_options(cls: type) -> tuple[dict[str, BackendOption], bool]:
    """The keyword parameters of ``cls.__init__`` and whether it takes ``**kwargs``."""
    init = inspect.getattr_static(cls, "__init__")  # the function, found along the MRO
    if init is object.__init__:
        return {}, False
    params = list(inspect.signature(init).parameters.values())[1:]  # not self
    hints = _type_hints(inspect.unwrap(init))
    options: dict[str, BackendOption] = {}
    var_keyword = False
    for p in params:
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            var_keyword = True
        elif p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            options[p.name] = BackendOption(p.name, hints.get(p.name, Any), p.default)
    return options, var_keyword


def _type_hints(function: Any) -> dict[str, Any]:
    """The resolved annotations of ``function``; one that cannot be resolved (a name only
    imported for type checkers) is left out, so it accepts anything."""
    try:
        return typing.get_type_hints(function)
    except Exception:  # any hint that fails to resolve: resolve them one by one
        pass
    hints: dict[str, Any] = {}
    for name, annotation in getattr(function, "__annotations__", {}).items():
        def one() -> None: ...
        one.__annotations__ = {name: annotation}
        try:
            hints[name] = typing.get_type_hints(one, globalns=function.__globals__)[name]
        except Exception:  # unresolvable: the option accepts any value
            continue
    return hints


_CALLABLE: Any = collections.abc.Callable
_SEQUENCES: tuple[type, ...] = (list, tuple, range, np.ndarray)
"""What a ``Sequence``/``list``/``tuple`` option takes (JSON gives lists for tuples)."""


def matches(value: object, hint: Any) -> bool:
    """Whether ``value`` fits the type hint ``hint``; containers are checked loosely (the
    container, not its items), and hints this does not understand accept anything."""
    if hint is Any or hint is inspect.Parameter.empty or isinstance(hint, TypeVar):
        return True
    if hint is None or hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return any(matches(value, arm) for arm in typing.get_args(hint))
    if origin is typing.Literal:
        return any(value == choice and matches(value, type(choice))
                   for choice in typing.get_args(hint))
    target = origin if origin is not None else hint
    if not isinstance(target, type):
        return True  # typing special forms (Callable[...] aliases, NewType, ...): loosely
    is_bool = isinstance(value, (bool, np.bool_))
    if target is bool:
        return is_bool
    if target is int:
        return isinstance(value, numbers.Integral) and not is_bool
    if target is float:
        return isinstance(value, numbers.Real) and not is_bool
    if target is complex:
        return isinstance(value, numbers.Complex) and not is_bool
    if target is str:
        return isinstance(value, str)
    if issubclass(target, (os.PathLike, Path)):
        return isinstance(value, (str, os.PathLike))
    if target in (list, tuple) or target is collections.abc.Sequence:
        return isinstance(value, _SEQUENCES)
    if target in (set, frozenset) or target is collections.abc.Set:
        return isinstance(value, (set, frozenset, *_SEQUENCES))
    if target is dict or target is collections.abc.Mapping:
        return isinstance(value, Mapping)
    if target is _CALLABLE:
        return callable(value)
    if target in (collections.abc.Iterable, collections.abc.Collection):
        return isinstance(value, collections.abc.Iterable) and not isinstance(value, str)
    try:
        return isinstance(value, target)
    except TypeError:  # a Protocol without runtime_checkable, a parametrised generic
        return True


def type_text(hint: Any, sep: str) -> str:
    """A type hint as users read it: ``int``, ``'full' | 'diag'``, ``str | PathLike[str]``.

    ``sep`` joins the arms of a top-level union or ``Literal`` (``" or "`` in a sentence).
    """
    if hint is Any or hint is inspect.Parameter.empty:
        return "any"
    if hint is None or hint is type(None):
        return "None"
    if hint is Ellipsis:
        return "..."
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        return sep.join(type_text(a, " | ") for a in args)
    if origin is typing.Literal:
        return sep.join(repr(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        inner = ", ".join(type_text(a, " | ") for a in args)
        return f"{name}[{inner}]" if args else name
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")
