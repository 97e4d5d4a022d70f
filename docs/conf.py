"""Sphinx configuration of the faceexpr documentation.

Build (warnings are errors, no network needed)::

    sphinx-build -W --keep-going -b html docs docs/_build/html

or ``nox -s docs``. The build writes, besides ``docs/_build/``, the API pages
(``docs/api/generated/``), the example gallery (``docs/auto_examples/``, from the scripts
in ``examples/``, which run during the build) and the command line's help texts
(``docs/_generated/``).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

# Before numpy and scikit-learn load: one thread each. The examples fit small models, for
# which OpenMP threads only add overhead, and on a busy 2-core machine they oversubscribe
# the cores (k-means became ~7 times slower in the examples).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import matplotlib

matplotlib.use("Agg")  # headless: the gallery examples draw figures during the build

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))  # the gallery's example order and figure scraper
os.environ.setdefault("MPLBACKEND", "Agg")

import faceexpr  # noqa: E402

# -- project ---------------------------------------------------------------------------
project = "faceexpr"
author = "faceexpr developers"
copyright = "faceexpr developers"
version = release = faceexpr.__version__

# -- general ---------------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
# No intersphinx: the build must work offline.
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "_generated",
    "figures.md",  # the README's page of figures; the site has them in user_guide/outputs
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.json",
    "plugin_example/**",
]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
default_role = "py:obj"
pygments_style = "sphinx"

# -- autodoc / autosummary / numpydoc ---------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autosummary_ignore_module_all = False  # a module's __all__ says what is public
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # signatures as written in the docstrings (numpy style)
autodoc_preserve_defaults = True
autodoc_inherit_docstrings = True
add_module_names = False

numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set[str] = set()
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = True


def _api_excludes() -> dict[str, list[str]]:
    """Names that a documented submodule leaves to its package's page.

    A package page (e.g. ``faceexpr.backends.anipose``) documents what the package's
    ``__all__`` re-exports, at the path users import it from; the submodule pages document
    only the rest, so every object is described once.
    """
    api_index = (DOCS / "api" / "index.rst").read_text(encoding="utf-8")
    modules = [line.strip() for line in api_index.splitlines()
               if line.strip().startswith("faceexpr.")]
    out: dict[str, list[str]] = {}
    for name in modules:
        parent_name = name.rpartition(".")[0]
        if parent_name in modules:
            parent = importlib.import_module(parent_name)
            out[name] = sorted(getattr(parent, "__all__", []))
    return out


autosummary_context = {"api_exclude": _api_excludes()}


# -- the command line's help, as the program prints it ------------------------------------
CLI_HELP = {
    "faceexpr": ["--help"],
    "analyze": ["analyze", "--help"],
    "demo": ["demo", "--help"],
    "backends": ["backends", "--help"],
    "calibrate": ["calibrate", "--help"],
    "dlc-init": ["dlc", "init", "--help"],
}


def _write_cli_help() -> None:
    """Write ``faceexpr ... --help`` of every command to ``docs/_generated/cli/``."""
    import contextlib
    import io

    from faceexpr.cli import main

    out = DOCS / "_generated" / "cli"
    out.mkdir(parents=True, exist_ok=True)
    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "88"  # argparse wraps to the terminal's width
    try:
        for name, argv in CLI_HELP.items():
            text = io.StringIO()
            with contextlib.redirect_stdout(text), contextlib.suppress(SystemExit):
                main(argv)
            target = out / f"{name}.txt"
            if not target.exists() or target.read_text(encoding="utf-8") != text.getvalue():
                target.write_text(text.getvalue(), encoding="utf-8")
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns


_write_cli_help()

# -- HTML ------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"faceexpr {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_sidebars = {"index": []}
html_context = {"default_mode": "light"}

# -- sphinx-gallery --------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": [str(ROOT / "examples")],
    "gallery_dirs": [str(DOCS / "auto_examples")],
    "filename_pattern": r"/plot_",
    "image_scrapers": ("matplotlib", "faceexpr_gallery.figure_scraper"),
    "within_subsection_order": "faceexpr_gallery.ExampleOrder",
    "download_all_examples": False,
    "write_computation_times": False,
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 1,
    "abort_on_example_error": True,
    "capture_repr": (),  # the examples print what they show
    "image_srcset": [],
}


# -- work-arounds, each a no-op once the thing it works around is fixed ---------------------
def _fix_numpydoc_data_signatures() -> None:
    """Give data no signature: numpydoc's handler returns one for callable data (type
    aliases such as ``npt.NDArray[np.float64]``), which Sphinx 9 cannot place and reports
    as "error while formatting signature"."""
    import numpydoc.numpydoc as nd

    original = nd.mangle_signature
    if getattr(original, "_faceexpr_docs", False):
        return

    def mangle_signature(app: Any, what: str, name: str, obj: Any, options: Any, sig: Any,
                         retann: Any) -> Any:
        if what in ("data", "attribute", "type"):
            return None
        return original(app, what, name, obj, options, sig, retann)

    mangle_signature._faceexpr_docs = True  # type: ignore[attr-defined]
    nd.mangle_signature = mangle_signature  # read by numpydoc's setup(), which runs later


def _fix_autosummary_first_sentence() -> None:
    """Cut the summary-table sentences where they end, not inside markup.

    Sphinx 9's autosummary checks the whole first paragraph, not the sentence it cut, for
    broken markup, so a period inside an inline literal (``a. b``) or an ellipsis cuts
    the summary there. Take the shortest run of sentences that parses cleanly and does
    not end in an ellipsis or an abbreviation.
    """
    import sphinx.ext.autosummary as autosummary
    from docutils import nodes

    original = autosummary.extract_summary
    needed = ("_parse_summary", "periods_re", "literal_re", "WELL_KNOWN_ABBREVIATIONS")
    if getattr(original, "_faceexpr_docs", False) or not all(
            hasattr(autosummary, name) for name in needed):
        return

    def clean(text: str, settings: Any) -> bool:
        node = autosummary._parse_summary([text], settings)
        return not any(node.findall(nodes.system_message))

    def extract_summary(doc: list[str], settings: Any) -> str:
        stanza: list[str] = []
        for line in doc:
            if line.strip():
                stanza.append(line.strip())
            elif stanza:
                break
        if not stanza or not isinstance(autosummary._parse_summary(stanza, settings)[0],
                                        nodes.paragraph):
            return original(doc, settings)
        sentences = autosummary.periods_re.split(" ".join(stanza))
        for i in range(1, len(sentences)):
            if sentences[i - 1].endswith("."):  # "..." or "etc.."
                continue
            candidate = ". ".join(sentences[:i]) + "."
            if candidate.endswith(autosummary.WELL_KNOWN_ABBREVIATIONS):
                continue
            if clean(candidate, settings):
                return autosummary.literal_re.sub(".", candidate)
        return autosummary.literal_re.sub(".", " ".join(stanza))

    extract_summary._faceexpr_docs = True  # type: ignore[attr-defined]
    autosummary.extract_summary = extract_summary


_fix_numpydoc_data_signatures()
_fix_autosummary_first_sentence()


# Private methods that a plugin implements, shown on the interface that declares them.
_PLUGIN_METHODS = {
    "StateModel": {"_fit_arrays", "_predict_array", "_proba_array", "_score_array",
                   "_set_params"},
}


def _show_plugin_methods(app: Any, what: str, name: str, obj: Any, skip: bool,
                         options: Any) -> bool | None:
    owner = getattr(obj, "__qualname__", "").partition(".")[0]
    if (getattr(obj, "__module__", None) == "faceexpr.interfaces"
            and name in _PLUGIN_METHODS.get(owner, ())):
        return False
    return None


def setup(app: Any) -> None:
    app.connect("autodoc-skip-member", _show_plugin_methods)
