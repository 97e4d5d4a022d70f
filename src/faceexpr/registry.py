"""The plugin registry: find backends, file formats and commands by stage and name.

Built-in backends and third-party plugins go through the same pluggy hooks
(:mod:`faceexpr.hookspecs`): the modules named in :data:`DEFAULT_PLUGINS` are imported and
registered the first time the registry is used, then third-party plugins from the
entry-point group ``faceexpr``. The rest of faceexpr reaches a backend only through this
module, never by importing it.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

from faceexpr import hookspecs
from faceexpr._typing import PathLike
from faceexpr.errors import BackendNotFoundError
from faceexpr.interfaces import (
    Backend,
    Command,
    PoseEstimator,
    PoseFormat,
    StateModel,
    Triangulator,
)

if TYPE_CHECKING:  # pandas only for the table of backends(), imported there
    import pandas as pd

B = TypeVar("B", bound=Backend)

DEFAULT_PLUGINS: tuple[str, ...] = (
    "faceexpr.backends.netcdf",
    "faceexpr.backends.movement",
    "faceexpr.backends.deeplabcut",
    "faceexpr.backends.anipose",
    "faceexpr.backends.openface",
    "faceexpr.backends.file",
    "faceexpr.backends.dlib",
    "faceexpr.backends.hmmlearn",
    "faceexpr.backends.pomegranate",
    "faceexpr.backends.native",
    "faceexpr.backends.dynamax",
)
"""Modules of faceexpr's own plugins, registered through the same hooks as third-party
ones (by name, so that the core never imports a backend)."""

STAGES: dict[str, tuple[str, type[Backend]]] = {
    "pose_format": ("faceexpr_pose_formats", PoseFormat),
    "pose_estimator": ("faceexpr_pose_estimators", PoseEstimator),
    "triangulator": ("faceexpr_triangulators", Triangulator),
    "state_model": ("faceexpr_state_models", StateModel),
}

_manager: pluggy.PluginManager | None = None


def get_plugin_manager() -> pluggy.PluginManager:
    """Return the process-wide plugin manager, creating it on first use."""
    global _manager
    if _manager is None:
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        for module in DEFAULT_PLUGINS:
            pm.register(importlib.import_module(module), name=module)
        pm.load_setuptools_entrypoints(hookspecs.PROJECT)
        _manager = pm
    return _manager


def register(plugin: object, name: str | None = None) -> str:
    """Register a plugin (module or object with hook implementations) at run time.

    Returns the name it was registered under; :func:`unregister` takes it back.
    """
    registered = get_plugin_manager().register(plugin, name=name)
    if registered is None:
        raise ValueError(f"plugin {name or plugin!r} is blocked and was not registered")
    return registered


def unregister(name: str) -> None:
    """Remove a plugin registered under ``name``."""
    get_plugin_manager().unregister(name=name)


def _classes(stage: str) -> dict[str, type[Backend]]:
    hook_name, base = STAGES[stage]
    found: dict[str, type[Backend]] = {}
    # pluggy calls the newest registration first: a later plugin overrides by name
    for result in reversed(getattr(get_plugin_manager().hook, hook_name)()):
        for cls in result or []:
            if not (isinstance(cls, type) and issubclass(cls, base)):
                raise TypeError(f"{hook_name} returned {cls!r}, not a {base.__name__} subclass")
            found[cls.name] = cls
    return found


def _get(stage: str, name: str, base: type[B]) -> type[B]:
    classes = _classes(stage)
    if stage == "pose_format" and name not in classes:
        name = next((n for n, c in classes.items()
                     if name in getattr(c, "aliases", ())), name)
    if name not in classes:
        raise BackendNotFoundError(
            f"no {stage.replace('_', ' ')} backend named '{name}'; "
            f"registered: {sorted(classes) or 'none'}"
        )
    cls = classes[name]
    assert issubclass(cls, base)
    return cls


def pose_format(name: str) -> type[PoseFormat]:
    """Return the PoseFormat class registered as ``name`` (or with ``name`` as an alias)."""
    return _get("pose_format", name.strip().lower(), PoseFormat)  # type: ignore[type-abstract]


def pose_formats() -> dict[str, type[PoseFormat]]:
    """Every registered PoseFormat class by name, in registration order."""
    return {n: c for n, c in _classes("pose_format").items()
            if issubclass(c, PoseFormat)}


def cli_commands() -> dict[str, type[Command]]:
    """Every plugin subcommand of ``faceexpr`` by name (a later plugin overrides)."""
    found: dict[str, type[Command]] = {}
    for result in reversed(get_plugin_manager().hook.faceexpr_cli_commands()):
        for cls in result or []:
            if not (isinstance(cls, type) and issubclass(cls, Command)):
                raise TypeError(f"faceexpr_cli_commands returned {cls!r}, not a Command "
                                "subclass")
            found[cls.name] = cls
    return found


def load_state_model(path: PathLike) -> StateModel:
    """Read a model written by :meth:`StateModel.save` with the backend that wrote it.

    The file is checked before the model is built (:meth:`StateModel.load`): a damaged or
    edited one raises :class:`~faceexpr.errors.FileFormatError` naming it.
    """
    get_plugin_manager()  # the backends' classes exist once their plugins are loaded
    return StateModel.load(Path(path))


def pose_estimator_class(name: str) -> type[PoseEstimator]:
    """Return the PoseEstimator class registered as ``name``."""
    return _get("pose_estimator", name, PoseEstimator)  # type: ignore[type-abstract]


def triangulator_class(name: str) -> type[Triangulator]:
    """Return the Triangulator class registered as ``name``."""
    return _get("triangulator", name, Triangulator)  # type: ignore[type-abstract]


def state_model_class(name: str) -> type[StateModel]:
    """Return the StateModel class registered as ``name``."""
    return _get("state_model", name, StateModel)  # type: ignore[type-abstract]


def check_options(stage: str, name: str, options: Mapping[str, Any]) -> None:
    """Check ``options`` for the backend ``name`` of ``stage`` without building it.

    The one check every builder below runs (:meth:`~faceexpr.interfaces.Backend.check_options`
    on the registered class, third-party plugins included): option names against the
    constructor's signature (``**kwargs`` count only where the backend declares them, see
    :attr:`~faceexpr.interfaces.Backend.extra_options`) and values against its type hints.
    ``progress`` is always accepted by pose estimators (see :func:`pose_estimator`).
    The check is a method of the backend class rather than code here because
    :meth:`StateModel.load <faceexpr.interfaces.StateModel.load>`, in a layer below the
    registry, runs the same check on the options stored in a model file.

    Parameters
    ----------
    stage
        ``"pose_estimator"``, ``"triangulator"`` or ``"state_model"``.
    name
        The registered backend.
    options
        Keyword options, as the builder would get them.

    Raises
    ------
    BackendOptionError
        One line naming the stage, the backend and the option, what was expected, and
        every accepted option with its type and default.
    BackendNotFoundError
        When no such backend is registered.

    Examples
    --------
    >>> check_options("state_model", "hmmlearn", {"n_iter": 50})
    >>> check_options("state_model", "hmmlearn", {"n_iter": "abc"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    faceexpr.errors.BackendOptionError: state model 'hmmlearn': n_iter must be int, ...
    """
    if stage not in STAGES or stage == "pose_format":
        raise ValueError(f"stage must be one of {[s for s in STAGES if s != 'pose_format']}, "
                         f"got {stage!r}")
    cls = _get(stage, name, Backend)
    if stage == "pose_estimator":
        options = {k: v for k, v in options.items() if k != "progress"}
    cls.check_options(options)


def pose_estimator(name: str, **options: Any) -> PoseEstimator:
    """Build the pose estimator ``name`` (e.g. ``"file"``, ``"deeplabcut"``).

    ``progress`` (show progress bars) is taken by every estimator: it is the
    :attr:`~faceexpr.interfaces.PoseEstimator.progress` attribute of the built object,
    not a constructor argument.

    Raises
    ------
    BackendOptionError
        For an option the estimator does not take, a value of the wrong type, or a value
        its constructor refuses (see :func:`check_options`).
    """
    cls = pose_estimator_class(name)
    cls.check_available()
    progress = options.pop("progress", None)
    estimator = cls.from_options(options)
    if progress is not None:
        estimator.progress = bool(progress)
    return estimator


def triangulator(name: str, **options: Any) -> Triangulator:
    """Build the triangulator ``name`` (e.g. ``"anipose"``).

    Raises
    ------
    BackendOptionError
        As :func:`pose_estimator`.
    """
    cls = triangulator_class(name)
    cls.check_available()
    return cls.from_options(options)


def state_model(name: str, **options: Any) -> StateModel:
    """Build the state model ``name`` (e.g. ``"hmmlearn"``) with ``n_states`` etc.

    Raises
    ------
    BackendOptionError
        As :func:`pose_estimator`.
    """
    cls = state_model_class(name)
    cls.check_available()
    return cls.from_options(options)


def backends() -> pd.DataFrame:
    """List every registered backend: stage, name, whether usable here, what is missing.

    Examples
    --------
    >>> table = backends()
    >>> "hmmlearn" in set(table["name"])
    True
    """
    import pandas as pd

    rows = []
    for stage in STAGES:
        for name, cls in sorted(_classes(stage).items()):
            missing = cls.missing_dependencies()
            rows.append({
                "stage": stage, "name": name, "available": not missing,
                "missing": ", ".join(missing),
                "install": f'pip install "faceexpr[{cls.extra}]"' if missing and cls.extra else "",
                "module": cls.__module__,
            })
    return pd.DataFrame(rows, columns=["stage", "name", "available", "missing", "install",
                                       "module"])
