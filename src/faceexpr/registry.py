"""The plugin registry: find backends by stage and name.

Built-in backends and third-party plugins go through the same pluggy hooks
(:mod:`faceexpr.hookspecs`); third-party ones are discovered from the entry-point group
``faceexpr`` the first time the registry is used.
"""

from __future__ import annotations

from typing import Any, TypeVar

import pandas as pd
import pluggy

from faceexpr import hookspecs
from faceexpr.errors import BackendNotFoundError
from faceexpr.interfaces import Backend, PoseEstimator, StateModel, Triangulator

B = TypeVar("B", bound=Backend)

STAGES: dict[str, tuple[str, type[Backend]]] = {
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
        from faceexpr.backends import builtin

        pm.register(builtin, name="faceexpr.builtin")
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
    if name not in classes:
        raise BackendNotFoundError(
            f"no {stage.replace('_', ' ')} backend named '{name}'; "
            f"registered: {sorted(classes) or 'none'}"
        )
    cls = classes[name]
    assert issubclass(cls, base)
    return cls


def pose_estimator_class(name: str) -> type[PoseEstimator]:
    """Return the PoseEstimator class registered as ``name``."""
    return _get("pose_estimator", name, PoseEstimator)  # type: ignore[type-abstract]


def triangulator_class(name: str) -> type[Triangulator]:
    """Return the Triangulator class registered as ``name``."""
    return _get("triangulator", name, Triangulator)  # type: ignore[type-abstract]


def state_model_class(name: str) -> type[StateModel]:
    """Return the StateModel class registered as ``name``."""
    return _get("state_model", name, StateModel)  # type: ignore[type-abstract]


def pose_estimator(name: str, **options: Any) -> PoseEstimator:
    """Build the pose estimator ``name`` (e.g. ``"file"``, ``"deeplabcut"``)."""
    cls = pose_estimator_class(name)
    cls.check_available()
    return cls(**options)


def triangulator(name: str, **options: Any) -> Triangulator:
    """Build the triangulator ``name`` (e.g. ``"anipose"``)."""
    cls = triangulator_class(name)
    cls.check_available()
    return cls(**options)


def state_model(name: str, **options: Any) -> StateModel:
    """Build the state model ``name`` (e.g. ``"hmmlearn"``) with ``n_states`` etc."""
    cls = state_model_class(name)
    cls.check_available()
    return cls(**options)


def backends() -> pd.DataFrame:
    """List every registered backend: stage, name, whether usable here, what is missing.

    Examples
    --------
    >>> table = backends()
    >>> "hmmlearn" in set(table["name"])
    True
    """
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
