"""Figure legends that fit their figure."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib import rcParams
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextPath

EM_PER_CHAR = 0.6
"""Upper estimate of the width of a character, in font sizes, for labels with no font
measurement at hand."""


def text_width(text: str, fontsize: float) -> float:
    """Width of ``text`` in points in the default font (no renderer needed)."""
    try:
        path = TextPath((0, 0), text, size=fontsize, prop=FontProperties())
        return float(path.get_extents().width)
    except (ValueError, RuntimeError):  # a font without the glyphs: estimate
        return EM_PER_CHAR * fontsize * len(text)


def legend_columns(labels: Sequence[str], width_in: float, fontsize: float,
                   handlelength: float | None = None) -> int:
    """The most columns (up to one per label) whose rows fit in ``width_in`` inches.

    A figure legend placed ``outside`` is as wide as its row of entries, however narrow
    the figure: with too many columns its ends fall off the figure. Every column is
    counted as wide as the widest entry, as a safe bound.
    """
    if not labels:
        return 1
    handle = rcParams["legend.handlelength"] if handlelength is None else handlelength
    # handle, gap to the text, gap between columns, all in font sizes
    chrome = (handle + rcParams["legend.handletextpad"] + rcParams["legend.columnspacing"]
              ) * fontsize
    entry = chrome + max(text_width(label, fontsize) for label in labels)
    available = 72.0 * width_in - 2 * rcParams["legend.borderpad"] * fontsize
    return max(1, min(len(labels), int(available // entry)))
