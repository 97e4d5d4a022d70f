"""Plugin hooks of faceexpr (pluggy project name ``"faceexpr"``).

A plugin is any module or object with functions of these names marked with
:data:`hookimpl`. faceexpr registers its own backends through these same hooks, and finds
third-party plugins through the entry-point group ``faceexpr``::

    # pyproject.toml of your package
    [project.entry-points.faceexpr]
    mybackends = "mypackage.faceexpr_plugin"

    # mypackage/faceexpr_plugin.py
    import faceexpr as fe

    @fe.hookimpl
    def faceexpr_state_models():
        return [MyStateModel]

A plugin can also be registered at run time with :func:`faceexpr.register`.
"""

from __future__ import annotations

import pluggy

from faceexpr.interfaces import PoseEstimator, StateModel, Triangulator

PROJECT = "faceexpr"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def faceexpr_pose_estimators() -> list[type[PoseEstimator]]:  # type: ignore[empty-body]
    """Return the :class:`~faceexpr.interfaces.PoseEstimator` classes this plugin provides.

    Each class needs a unique ``name`` class attribute; users build it with
    ``fe.pose_estimator(name, **options)``, which calls ``cls(**options)``.
    """


@hookspec
def faceexpr_triangulators() -> list[type[Triangulator]]:  # type: ignore[empty-body]
    """Return the :class:`~faceexpr.interfaces.Triangulator` classes this plugin provides."""


@hookspec
def faceexpr_state_models() -> list[type[StateModel]]:  # type: ignore[empty-body]
    """Return the :class:`~faceexpr.interfaces.StateModel` classes this plugin provides.

    A state model's constructor takes ``n_states`` and ``random_state`` plus its own
    keyword options, and its fitted attributes have the shapes documented on
    :class:`~faceexpr.interfaces.StateModel`.
    """
