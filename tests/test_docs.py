"""The documentation covers every hook, built-in backend and command (no Sphinx build).

The plugin guide (``docs/user_guide/plugins.rst``) has a table with a row per hook that
names the built-in classes of that hook; the API reference (``docs/api/index.rst``)
lists the module of every built-in plugin. A new hookspec, backend, format or command
that is not added there fails these tests, as does a class without a docstring. The
plugin guide's example plugin is run as well, so its code keeps working.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import faceexpr
from faceexpr import hookspecs, registry

DOCS = Path(__file__).resolve().parents[1] / "docs"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PLUGIN_PAGE = DOCS / "user_guide" / "plugins.rst"
API_INDEX = DOCS / "api" / "index.rst"
# the hook that provides each stage of faceexpr.registry.backends()
STAGE_HOOKS = {stage: hook for stage, (hook, _base) in registry.STAGES.items()}
COMMAND_HOOK = "faceexpr_cli_commands"
# old module paths kept working with a DeprecationWarning: never documented
DEPRECATED_MODULES = {
    "faceexpr.calibration", "faceexpr.dlc_project", "faceexpr.synthetic_video",
    "faceexpr.synthetic_board", "faceexpr.io.anipose", "faceexpr.io.anipose_config",
    "faceexpr.io.deeplabcut", "faceexpr.io.openface",
}


def hook_names() -> list[str]:
    """Every hookspec of faceexpr.hookspecs."""
    return sorted(name for name, obj in vars(hookspecs).items()
                  if name.startswith("faceexpr_") and inspect.isfunction(obj))


def builtin_classes() -> list[tuple[str, str, type]]:
    """(hook, name, class) of every built-in backend, format and command."""
    table = registry.backends()
    classes = {stage: registry._classes(stage) for stage in STAGE_HOOKS}
    out = [(STAGE_HOOKS[row.stage], row.name, classes[row.stage][row.name])
           for row in table.itertuples() if row.module.startswith("faceexpr.")]
    out += [(COMMAND_HOOK, name, cls) for name, cls in registry.cli_commands().items()
            if cls.__module__.startswith("faceexpr.")]
    return out


def hook_rows(page: str) -> dict[str, str]:
    """The text of each row of the plugin page's hook table, by hook name."""
    rows = re.split(r"^   \* - ", page, flags=re.MULTILINE)
    found = {}
    for row in rows[1:]:
        match = re.match(r":func:`~faceexpr\.hookspecs\.(faceexpr_\w+)`", row)
        if match:
            found[match.group(1)] = row
    return found


def undocumented_hooks(page: str) -> list[str]:
    """Hooks without a table row and a section (their docstring) on the plugin page."""
    rows = hook_rows(page)
    return [hook for hook in hook_names()
            if hook not in rows
            or f".. autofunction:: faceexpr.hookspecs.{hook}" not in page]


def undocumented_classes(page: str) -> list[str]:
    """Built-in classes whose name is not in their hook's row of the plugin page."""
    rows = hook_rows(page)
    return [f"{hook}: {name}" for hook, name, _cls in builtin_classes()
            if f"``{name}``" not in rows.get(hook, "")]


def api_modules(index: str) -> set[str]:
    return {line.strip() for line in index.splitlines()
            if re.fullmatch(r"faceexpr(\.\w+)+", line.strip())}


def test_there_are_five_hooks_and_builtins_of_each() -> None:
    assert len(hook_names()) == 5
    assert {hook for hook, _name, _cls in builtin_classes()} == set(hook_names())


def test_every_hookspec_is_documented() -> None:
    assert undocumented_hooks(PLUGIN_PAGE.read_text(encoding="utf-8")) == []
    for hook in hook_names():
        assert inspect.getdoc(getattr(hookspecs, hook)), f"{hook} has no docstring"


def test_every_builtin_backend_format_and_command_is_documented() -> None:
    assert undocumented_classes(PLUGIN_PAGE.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("hook, name, cls", builtin_classes(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_every_builtin_class_has_a_docstring(hook: str, name: str, cls: type) -> None:
    assert (cls.__dict__.get("__doc__") or "").strip(), f"{cls.__qualname__} ({name})"


def test_every_builtin_plugin_module_is_in_the_api_reference() -> None:
    documented = api_modules(API_INDEX.read_text(encoding="utf-8"))
    modules = set(registry.DEFAULT_PLUGINS) | {cls.__module__ for *_, cls in builtin_classes()}
    missing = [m for m in sorted(modules)
               if not any(m == d or m.startswith(d + ".") for d in documented)]
    assert missing == []


def test_the_api_reference_leaves_out_the_deprecated_modules() -> None:
    documented = api_modules(API_INDEX.read_text(encoding="utf-8"))
    assert documented & DEPRECATED_MODULES == set()
    assert "faceexpr.backends.builtin" not in documented


def test_the_checks_fail_on_missing_documentation() -> None:
    page = PLUGIN_PAGE.read_text(encoding="utf-8")
    # a hookspec whose section is gone
    without_section = page.replace(
        ".. autofunction:: faceexpr.hookspecs.faceexpr_triangulators", "")
    assert undocumented_hooks(without_section) == ["faceexpr_triangulators"]
    # a hookspec whose table row is gone (its section still there)
    without_row = re.sub(r"   \* - :func:`~faceexpr\.hookspecs\.faceexpr_cli_commands`"
                         r".*?(?=\n\n)", "", page, flags=re.DOTALL)
    assert "faceexpr_cli_commands" in undocumented_hooks(without_row)
    # a built-in format missing from its row
    without_format = page.replace("``openface``, ", "")
    assert undocumented_classes(without_format) == ["faceexpr_pose_formats: openface"]


def test_the_docs_and_examples_name_things_that_exist() -> None:
    # the functions the examples and guide lean on are still there
    for name in ("Pipeline", "select_n_states", "state_model", "register", "unregister",
                 "hookimpl", "backends", "load_pose", "save_pose", "make_pose"):
        assert hasattr(faceexpr, name), name
    examples = sorted(EXAMPLES.glob("plot_*.py"))
    assert len(examples) >= 4
    for path in examples:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert ast.get_docstring(tree), f"{path.name} has no title docstring"


def test_the_plugin_guide_example_runs() -> None:
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(DOCS / "plugin_example" / "run_example.py")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.split()[:2] == ["pose_format", "npz"] for line in lines)
    assert "face.npz: 600 frames, 21 landmarks, 3D, 1 camera(s), 30.0 fps, mm" in lines
    ari = float(next(line for line in lines if line.startswith("ARI")).split()[-1])
    assert ari > 0.9
    error = float(next(line for line in lines if line.startswith("median error")).split()[2])
    assert error < 2.0
