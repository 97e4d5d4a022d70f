"""Plugin hooks of faceexpr (pluggy project name ``"faceexpr"``).

A plugin is any module or object with functions of these names marked with
:data:`hookimpl`. faceexpr's own backends and file formats are plugins of these same hooks
(:data:`faceexpr.registry.DEFAULT_PLUGINS`), and third-party plugins are found through
the entry-point group ``faceexpr``::

    # pyproject.toml of your package
    [project.entry-points.faceexpr]
    mybackends = "mypackage.faceexpr_plugin"

    # mypackage/faceexpr_plugin.py
    import faceexpr as fe

    @fe.hookimpl
    def faceexpr_state_models():
        return [MyStateModel]

A plugin can also be registered at run time with :func:`faceexpr.register`. Every hook
returns a list of classes; a class whose ``name`` another plugin already used replaces
it (the plugin registered last wins). Hook implementations should import nothing heavy:
import the wrapped library inside the methods that use it.
"""

from __future__ import annotations

import pluggy

from faceexpr.interfaces import Command, PoseEstimator, PoseFormat, StateModel, Triangulator

PROJECT = "faceexpr"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
"""Marks a plugin's hook implementations (``@fe.hookimpl``)."""

__all__ = [
    "PROJECT",
    "faceexpr_cli_commands",
    "faceexpr_pose_estimators",
    "faceexpr_pose_formats",
    "faceexpr_state_models",
    "faceexpr_triangulators",
    "hookimpl",
    "hookspec",
]


@hookspec
def faceexpr_pose_formats() -> list[type[PoseFormat]]:  # type: ignore[empty-body]
    """Return the :class:`~faceexpr.interfaces.PoseFormat` classes this plugin provides.

    A format class has a unique ``name`` (what ``fe.io.load_pose(path, format=name)``
    takes), ``suffixes`` (``(".csv",)``), class methods ``sniff(path) -> bool`` that looks
    at the file's content, ``read(path, **options) -> xarray.Dataset`` and, if the format
    can be written, ``write(pose, path)`` and ``can_write(pose) -> bool``. With
    ``format="auto"``, :func:`faceexpr.io.load_pose` asks every format whose suffixes
    include the file's suffix; exactly one must recognise the file.
    """


@hookspec
def faceexpr_pose_estimators() -> list[type[PoseEstimator]]:  # type: ignore[empty-body]
    """Return the :class:`~faceexpr.interfaces.PoseEstimator` classes this plugin provides.

    Each class needs a unique ``name`` class attribute; users build it with
    ``fe.pose_estimator(name, **options)``, which calls ``cls(**options)``.
    ``estimate(video)`` takes one video, or a list of synchronised videos (one per camera),
    and returns a pose Dataset (:mod:`faceexpr.data`); a list gives a ``cameras`` dim.
    """


@hookspec
def faceexpr_triangulators() -> list[type[Triangulator]]:  # type: ignore[empty-body]
    """Return the :class:`~faceexpr.interfaces.Triangulator` classes this plugin provides.

    ``fe.triangulator(name, **options)`` calls ``cls(**options)``; ``triangulate(pose2d)``
    takes a pose with a ``cameras`` dim and returns a 3D pose (``space = x, y, z``). A
    triangulator that wraps a tool with project files (Anipose's ``config.toml``) may
    override ``read_project(path)``.
    """


@hookspec
def faceexpr_state_models() -> list[type[StateModel]]:  # type: ignore[empty-body]
    """Return the :class:`~faceexpr.interfaces.StateModel` classes this plugin provides.

    A state model's constructor takes ``n_states`` and ``random_state`` plus its own
    keyword options, and its fitted attributes have the shapes documented on
    :class:`~faceexpr.interfaces.StateModel`.
    """


@hookspec
def faceexpr_cli_commands() -> list[type[Command]]:  # type: ignore[empty-body]
    """Return :class:`~faceexpr.interfaces.Command` classes: subcommands of ``faceexpr``.

    Each class has a unique ``name`` (the subcommand), a one-line ``help``,
    ``add_arguments(parser)`` and ``run(args) -> int`` (the exit status). The Anipose
    plugin adds ``faceexpr calibrate`` this way, the DeepLabCut plugin ``faceexpr dlc``.
    """
