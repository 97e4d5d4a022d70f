"""How reproducible the states are: reappearance over refits and agreement of each refit."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from faceexpr.plot._style import NEUTRAL_COLOR, state_colors

if TYPE_CHECKING:
    from faceexpr.state_stability import Stability

REAPPEARANCE_TARGET = 0.9
"""The dashed line of the left panel: a state worth naming reappears this often."""

_KIND_ORDER = ("bootstrap", "half", "seed")
_KIND_LABELS = {"bootstrap": "block\nbootstrap", "half": "halves", "seed": "seeds"}


def stability(stab: Stability) -> Figure:
    """Bar chart of how often each state reappears, and the ARI of every refit.

    Parameters
    ----------
    stab
        The result of :func:`faceexpr.state_stability.stability`.

    Returns
    -------
    matplotlib.figure.Figure
        Left: one bar per state in the state colour, the percentage of refits in which it
        reappears (Jaccard index with its matched refit state at least ``stab.threshold``),
        and a dashed line at 90%. Right: the adjusted Rand index of each refit with the
        reference labels, one point per refit, grouped by kind of refit (the number of
        refits and of failed ones under each group), with the median as a dashed line.

    Raises
    ------
    ValueError
        If ``stab`` has no state or no refit.
    """
    per_state, refits = stab.per_state, stab.refits
    k = len(per_state)
    if k == 0 or len(refits) == 0:
        raise ValueError("stab has no state or no refit: there is nothing to plot")
    states = np.asarray(per_state.index, dtype=np.int64)
    share = 100.0 * per_state["reappearance"].to_numpy(np.float64)
    colors = state_colors(int(states.max()) + 1)

    # panel widths in inches: the bars widen with K, the refit panel does not
    bars_width, refits_width = max(3.2, 0.3 * k + 1.0), 3.4
    fig = Figure(figsize=(bars_width + refits_width + 0.4, 3.6), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[bars_width, refits_width])
    x = np.arange(k)
    left.bar(x, share, color=[colors[s] for s in states], edgecolor="white", width=0.8)
    left.axhline(100.0 * REAPPEARANCE_TARGET, color="black", linestyle="--", linewidth=1.0)
    left.set_xticks(x, [str(s) for s in states])
    left.set_xlim(-0.6, k - 0.4)
    left.set_ylim(0.0, 105.0)
    left.set_yticks(np.arange(0, 101, 20))
    left.set_xlabel("state")
    left.set_ylabel("reappears in refits (%)")
    left.set_title(f"reappearance (Jaccard ≥ {stab.threshold:g})", fontsize="medium")

    kinds = [kd for kd in _KIND_ORDER if (refits["kind"] == kd).any()]
    kinds += sorted({str(kd) for kd in refits["kind"]} - set(kinds))
    ari = refits["ari"].to_numpy(np.float64)
    failed = refits["error"].astype(str).to_numpy() != "" if "error" in refits else \
        ~np.isfinite(ari)
    labels = []
    # a fixed spread inside each group, so that equal values stay visible side by side
    for i, kind in enumerate(kinds):
        rows = np.flatnonzero(refits["kind"].astype(str).to_numpy() == kind)
        values = ari[rows]
        ok = np.isfinite(values)
        offsets = np.linspace(-0.25, 0.25, rows.size) if rows.size > 1 else np.zeros(1)
        right.plot(i + offsets[ok], values[ok], "o", color=NEUTRAL_COLOR,
                   markeredgecolor="black", markeredgewidth=0.5, markersize=5)
        n_failed = int(failed[rows].sum())
        labels.append(f"{_KIND_LABELS.get(kind, kind)}\n(n = {rows.size}"
                      + (f", {n_failed} failed)" if n_failed else ")"))
    if math.isfinite(stab.ari):
        right.axhline(stab.ari, color="black", linestyle="--", linewidth=1.0)
    right.set_xticks(np.arange(len(kinds)), labels, fontsize="small")
    right.set_xlim(-0.6, len(kinds) - 0.4)
    finite = ari[np.isfinite(ari)]
    low = min(0.0, float(finite.min())) if finite.size else 0.0
    right.set_ylim(low - 0.05, 1.05)
    right.set_ylabel("ARI with the reference")
    shown = f"{stab.ari:.2f}" if math.isfinite(stab.ari) else "n/a"
    right.set_title(f"ARI per refit (median {shown})", fontsize="medium")
    return fig
