"""Choosing the number of states: every criterion per frame against K."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from faceexpr.plot._style import panel_grid

CHOSEN_COLOR = "#000000"
"""Colour of the line marking the chosen number of states."""

_PANELS: tuple[tuple[str, tuple[tuple[str, str, str, str], ...]], ...] = (
    ("in-sample log-likelihood per frame", (
        ("log_likelihood_per_frame", "training (no penalty)", "#999999", "."),
        ("bic_per_frame", "BIC", "#004488", "o"),
        ("icl_per_frame", "ICL", "#DDAA33", "^"),
        ("aic_per_frame", "AIC", "#BB5566", "s"),
    )),
    ("held-out log-likelihood per frame", (
        ("cv_mean", "blocked CV (mean ± SE)", "#228833", "o"),
    )),
)
"""Panels of the figure: every score as a log-likelihood per frame (higher is better)."""


def _draw_metric(ax: Axes, table: pd.DataFrame, column: str, label: str, color: str,
                 marker: str) -> None:
    """Draw one metric against K: the mean per K as a line, every row as a dot if repeated."""
    data = table[["n_states", column]].dropna()
    if data.empty:
        return
    mean = data.groupby("n_states")[column].mean()
    x, y = mean.index.to_numpy(np.float64), mean.to_numpy(np.float64)
    if column == "cv_mean" and "cv_se" in table:
        se = table.groupby("n_states")["cv_se"].mean().reindex(mean.index).to_numpy(
            np.float64)
        ax.errorbar(x, y, yerr=np.nan_to_num(se), color=color, marker=marker,
                    markersize=5, linewidth=1.5, capsize=3, label=label)
        if np.isfinite(y).any():
            top = int(np.nanargmax(y))
            ax.axhline(y[top] - np.nan_to_num(se[top]), color=color, linestyle="--",
                       linewidth=1, label="best − 1 SE")
        return
    ax.plot(x, y, color=color, marker=marker, markersize=5, linewidth=1.5, label=label)
    if data["n_states"].duplicated().any():
        ax.plot(data["n_states"].to_numpy(np.float64), data[column].to_numpy(np.float64),
                linestyle="none", marker=marker, markersize=3, color=color, alpha=0.4)


def model_selection(table: pd.DataFrame, chosen: int | None = None) -> Figure:
    """Plot model-selection scores against the number of states K.

    Parameters
    ----------
    table
        One row per fitted model (several per K allowed, e.g. seeds or folds), with
        column ``n_states`` and any of the per-frame scores of
        :func:`faceexpr.model_selection.select_n_states` (``log_likelihood_per_frame``,
        ``bic_per_frame``, ``icl_per_frame``, ``aic_per_frame``, ``cv_mean`` with
        ``cv_se``).
    chosen
        The number of states picked; marked by a dotted vertical line in every panel.

    Returns
    -------
    matplotlib.figure.Figure
        Up to two panels, both in log-likelihood per frame (higher is better): the
        in-sample scores (training, BIC, ICL, AIC) and the held-out score of blocked
        cross-validation with its standard error and the one-standard-error line; the
        line shows the mean per K and, where K repeats, every row is a faint dot. Panels
        whose columns are all missing are left out.

    Raises
    ------
    ValueError
        If the table is empty, lacks ``n_states`` or every score column, or ``chosen``
        is not among its ``n_states``.
    """
    if len(table) == 0:
        raise ValueError("the model-selection table is empty: there is nothing to plot")
    if "n_states" not in table.columns:
        raise ValueError("the model-selection table lacks the column 'n_states'")
    panels = [(ylabel, [m for m in metrics if m[0] in table.columns
                        and table[m[0]].notna().any()])
              for ylabel, metrics in _PANELS]
    panels = [(ylabel, metrics) for ylabel, metrics in panels if metrics]
    if not panels:
        raise ValueError("the model-selection table has none of the per-frame columns "
                         "log_likelihood_per_frame, bic_per_frame, icl_per_frame, "
                         "aic_per_frame, cv_mean")
    ks = table["n_states"].to_numpy(np.float64)
    if chosen is not None and chosen not in set(ks.tolist()):
        raise ValueError(f"chosen={chosen} is not among the table's n_states "
                         f"{sorted(set(ks.astype(np.int64).tolist()))}")
    fig, axes = panel_grid(len(panels), ncols=len(panels), panel_size=(4.2, 3.2))
    for ax, (ylabel, metrics) in zip(axes, panels):
        for column, label, color, marker in metrics:
            _draw_metric(ax, table, column, label, color, marker)
        if chosen is not None:
            ax.axvline(chosen, color=CHOSEN_COLOR, linestyle=":", linewidth=1.3,
                       label=f"chosen K = {chosen}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("number of states K")
        ax.set_ylabel(ylabel)
        ax.grid(color="#EEEEEE", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.legend(frameon=False, fontsize="small")
    return fig
