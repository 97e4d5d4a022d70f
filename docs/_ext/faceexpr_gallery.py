"""sphinx-gallery helpers: the order of the examples, and a scraper for figures that were
not made with pyplot.

``faceexpr.plot`` functions return :class:`matplotlib.figure.Figure` objects built
without pyplot (no window, no global state), which sphinx-gallery's matplotlib scraper
cannot see. This scraper saves every Figure that a code block left in a variable of the
example (``fig = fe.plot.expressions(...)``), or in a list or dict variable, once.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from matplotlib.figure import Figure
from sphinx_gallery.scrapers import figure_rst

_SCRAPED = "_faceexpr_docs_scraped"


def _figures(values: Any) -> list[Figure]:
    found: list[Figure] = []
    for value in values:
        if isinstance(value, Figure):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            found += [v for v in value if isinstance(v, Figure)]
        elif isinstance(value, dict):
            found += [v for v in value.values() if isinstance(v, Figure)]
    return found


def figure_scraper(block: Any, block_vars: dict[str, Any], gallery_conf: dict[str, Any],
                   **kwargs: Any) -> str:
    """Save the new Figures of the example's variables and return their reST."""
    unique: dict[int, Figure] = {}
    for fig in _figures(block_vars["example_globals"].values()):
        if not getattr(fig, _SCRAPED, False):
            unique.setdefault(id(fig), fig)
    rst = []
    for fig, path in zip(unique.values(), block_vars["image_path_iterator"]):
        image_path = PurePosixPath(path)
        fig.savefig(image_path, dpi=kwargs.get("dpi", 80))
        setattr(fig, _SCRAPED, True)
        rst.append(figure_rst([image_path], gallery_conf["src_dir"]))
    return "".join(rst)


EXAMPLE_ORDER = (
    "plot_pipeline_3d.py",
    "plot_one_camera_2d.py",
    "plot_choose_k.py",
    "plot_compare_backends.py",
    "plot_figures.py",
)
"""The examples from the first to read to the last; others follow by name."""


class ExampleOrder:
    """Sort key of the examples within the gallery (``within_subsection_order``)."""

    def __init__(self, src_dir: str) -> None:
        self.src_dir = src_dir

    def __call__(self, filename: str) -> tuple[int, str]:
        name = Path(filename).name
        return (EXAMPLE_ORDER.index(name) if name in EXAMPLE_ORDER else len(EXAMPLE_ORDER),
                name)

    def __repr__(self) -> str:
        return "ExampleOrder"
