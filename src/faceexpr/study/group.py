"""Group tables: state summaries per subject, per condition and per subject × condition.

Each session is summarised on its own by :func:`session_tables` (small tables, cheap to
send back from a dask worker); :func:`group_tables` then combines the summaries of the
sessions of each group:

* ``group_frequencies``: per group and state, the mean, SD and SE over sessions of the
  fraction of time in the state and of its bouts per minute; each session counts once,
  whatever its length.
* ``group_dwell_times``: per group and state, the bouts of known length of all the group's
  sessions pooled (censored bouts left out, as :func:`faceexpr.analysis.dwell_times` does).
* ``group_transitions``: per group, the frame-to-frame transition counts summed over its
  sessions and their row-normalised probabilities.

The groupings are :data:`GROUPINGS`; a session with an empty subject (condition) is in no
group of the groupings that need it.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from faceexpr._typing import FloatArray, IntArray
from faceexpr.errors import FaceexprError

if TYPE_CHECKING:  # pandas and xarray where the tables are built
    import pandas as pd
    import xarray as xr

__all__ = ["GROUPINGS", "SessionTables", "group_html", "group_tables", "session_tables"]

GROUPINGS = ("subject", "condition", "subject x condition")
"""The values of the ``grouping`` column, in the tables' order."""

_KEYS = ["grouping", "group", "subject", "condition"]
_FREQUENCY_COLUMNS = {
    "state": "int64", "n_sessions": "int64",
    "fraction_mean": "float64", "fraction_sd": "float64", "fraction_se": "float64",
    "bouts_per_minute_mean": "float64", "bouts_per_minute_sd": "float64",
    "bouts_per_minute_se": "float64",
}
_DWELL_COLUMNS = {
    "state": "int64", "n_sessions": "int64", "n_bouts": "int64", "n_censored": "int64",
    "median_frames": "float64", "mean_frames": "float64",
    "median_s": "float64", "mean_s": "float64",
}
_TRANSITION_COLUMNS = {
    "from_state": "int64", "to_state": "int64", "count": "int64", "probability": "float64",
}


@dataclass(frozen=True, eq=False)
class SessionTables:
    """The summaries of one session that the group tables need.

    Attributes
    ----------
    frequencies
        :func:`faceexpr.analysis.state_frequencies` of the session.
    bouts
        :func:`faceexpr.analysis.bouts` of the session.
    transition_counts
        :func:`faceexpr.analysis.transition_counts` of the session, ``(K, K)`` int64.
    """

    frequencies: pd.DataFrame
    bouts: pd.DataFrame
    transition_counts: IntArray


def session_tables(states: xr.DataArray, n_states: int, fps: float | None) -> SessionTables:
    """Summarise one session's state sequence for :func:`group_tables`.

    Parameters
    ----------
    states
        The session's states ``(time,)``.
    n_states
        Number of states ``K``.
    fps
        Frame rate; None: ``states.attrs["fps"]`` (seconds are NaN when neither is known).
    """
    from faceexpr import analysis

    counts = analysis.transition_counts(states, n_states).values
    return SessionTables(
        frequencies=analysis.state_frequencies(states, n_states, fps),
        bouts=analysis.bouts(states, fps),
        transition_counts=np.asarray(counts, dtype=np.int64),
    )


@dataclass(frozen=True)
class _Group:
    grouping: str
    group: str
    subject: str
    condition: str
    sessions: list[str]

    def keys(self) -> dict[str, str]:
        return {"grouping": self.grouping, "group": self.group, "subject": self.subject,
                "condition": self.condition}


def group_tables(tables: Mapping[str, SessionTables], sessions: pd.DataFrame,
                 n_states: int) -> dict[str, pd.DataFrame]:
    """Combine the summaries of the sessions of each subject, condition and both.

    Parameters
    ----------
    tables
        :func:`session_tables` of each session, by session name. Sessions of ``sessions``
        without tables (e.g. ones that failed) are left out.
    sessions
        Columns ``session``, ``subject`` and ``condition``
        (:func:`faceexpr.study.manifest.manifest_table`).
    n_states
        Number of states ``K``.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``"group_frequencies"``, ``"group_dwell_times"`` and ``"group_transitions"``, each
        in long format with the columns ``grouping`` (one of :data:`GROUPINGS`),
        ``group`` (the subject, the condition, or ``"<subject> x <condition>"``),
        ``subject`` and ``condition`` (empty when not part of the grouping), then:

        * frequencies: ``state``, ``n_sessions`` (sessions with frames that have a state),
          ``fraction_mean``, ``fraction_sd``, ``fraction_se`` (fraction of the session's
          frames with a state that are in the state; SD with ``n - 1``, SE = SD / √n, NaN
          for one session) and the same three for ``bouts_per_minute`` (NaN unless every
          session's frame rate is known);
        * dwell times: ``state``, ``n_sessions``, ``n_bouts`` (bouts of known length,
          pooled over the sessions), ``n_censored`` (bouts left out), ``median_frames``,
          ``mean_frames``, ``median_s``, ``mean_s`` (seconds NaN unless every pooled bout's
          frame rate is known);
        * transitions: ``from_state``, ``to_state``, ``count`` (summed over the sessions)
          and ``probability`` (count over its row's total; NaN for a state never followed
          by a state frame).

    Raises
    ------
    FaceexprError
        When ``sessions`` lacks a column or names a session twice, or a session's tables
        do not have ``n_states`` states or belong to no row of ``sessions``.
    """
    import pandas as pd

    if n_states < 1:
        raise FaceexprError(f"n_states must be >= 1, got {n_states}")
    groups = _groups(tables, sessions, n_states)
    frequencies, dwell, transitions = [], [], []
    for g in groups:
        members = [tables[name] for name in g.sessions]
        frequencies += [{**g.keys(), **row} for row in _frequency_rows(members, n_states)]
        dwell += [{**g.keys(), **row} for row in _dwell_rows(members, n_states)]
        transitions += [{**g.keys(), **row} for row in _transition_rows(members, n_states)]

    def frame(rows: list[dict[str, object]], dtypes: dict[str, str]) -> pd.DataFrame:
        table = pd.DataFrame(rows, columns=[*_KEYS, *dtypes])
        return table.astype({**dict.fromkeys(_KEYS, "object"), **dtypes})

    return {
        "group_frequencies": frame(frequencies, _FREQUENCY_COLUMNS),
        "group_dwell_times": frame(dwell, _DWELL_COLUMNS),
        "group_transitions": frame(transitions, _TRANSITION_COLUMNS),
    }


def _groups(tables: Mapping[str, SessionTables], sessions: pd.DataFrame,
            n_states: int) -> list[_Group]:
    """The groups of every grouping, in order of first appearance in ``sessions``."""
    missing = [c for c in ("session", "subject", "condition") if c not in sessions.columns]
    if missing:
        raise FaceexprError(f"the sessions table has no column {', '.join(missing)} (it has: "
                            f"{', '.join(map(str, sessions.columns))})")
    info = sessions[["session", "subject", "condition"]].fillna("").astype(str)
    twice = sorted(set(info["session"][info["session"].duplicated()]))
    if twice:
        raise FaceexprError(f"the sessions table lists the session(s) {twice} twice")
    unknown = sorted(set(tables) - set(info["session"]))
    if unknown:
        raise FaceexprError(f"tables for session(s) {unknown}, which the sessions table does "
                            "not list")
    for name, t in tables.items():
        _check(name, t, n_states)
    rows = [(s, subj.strip(), cond.strip()) for s, subj, cond in info.itertuples(index=False)
            if s in tables]
    found: dict[tuple[str, str, str], _Group] = {}
    for session, subject, condition in rows:
        memberships = [(GROUPINGS[0], subject, subject, ""),
                       (GROUPINGS[1], condition, "", condition),
                       (GROUPINGS[2], f"{subject} x {condition}", subject, condition)]
        for grouping, label, sub, cond in memberships:
            if (grouping != GROUPINGS[1] and not subject) or (
                    grouping != GROUPINGS[0] and not condition):
                continue
            group = found.setdefault((grouping, sub, cond), _Group(grouping, label, sub, cond,
                                                                   []))
            group.sessions.append(session)
    order = {g: i for i, g in enumerate(GROUPINGS)}
    return sorted(found.values(), key=lambda g: order[g.grouping])


def _check(name: str, t: SessionTables, n_states: int) -> None:
    if len(t.frequencies) != n_states or np.shape(t.transition_counts) != (n_states, n_states):
        raise FaceexprError(
            f"session {name}: its tables have {len(t.frequencies)} states and transition "
            f"counts of shape {np.shape(t.transition_counts)}, expected n_states={n_states}")


def _spread(values: FloatArray) -> tuple[float, float, float]:
    """Mean, SD (n - 1) and SE of values (NaN where undefined)."""
    n = values.size
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if n < 2:
        return mean, math.nan, math.nan
    sd = float(values.std(ddof=1))
    return mean, sd, sd / math.sqrt(n)


def _frequency_rows(members: list[SessionTables], n_states: int
                    ) -> Iterator[dict[str, object]]:
    fractions = np.stack([m.frequencies["relative"].to_numpy(np.float64) for m in members])
    rates = np.stack([m.frequencies["bouts_per_minute"].to_numpy(np.float64)
                      for m in members])
    for k in range(n_states):
        # a session without any frame that has a state has no fraction: left out
        has = np.isfinite(fractions[:, k])
        rate = rates[has, k]
        fraction_stats = _spread(fractions[has, k])
        rate_stats = _spread(rate) if np.isfinite(rate).all() else (math.nan,) * 3
        yield {"state": k, "n_sessions": int(has.sum()),
               **dict(zip(("fraction_mean", "fraction_sd", "fraction_se"), fraction_stats,
                          strict=True)),
               **dict(zip(("bouts_per_minute_mean", "bouts_per_minute_sd",
                           "bouts_per_minute_se"), rate_stats, strict=True))}


def _dwell_rows(members: list[SessionTables], n_states: int) -> Iterator[dict[str, object]]:
    import pandas as pd

    pooled = pd.concat([m.bouts[["state", "n_frames", "seconds", "censored"]]
                        for m in members], ignore_index=True)
    known = pooled.loc[~pooled["censored"].astype(bool)]
    for k in range(n_states):
        frames = known.loc[known["state"] == k, "n_frames"].to_numpy(np.float64)
        seconds = known.loc[known["state"] == k, "seconds"].to_numpy(np.float64)
        timed = frames.size > 0 and bool(np.isfinite(seconds).all())
        yield {
            "state": k, "n_sessions": len(members), "n_bouts": int(frames.size),
            "n_censored": int(((pooled["state"] == k) & pooled["censored"]).sum()),
            "median_frames": float(np.median(frames)) if frames.size else math.nan,
            "mean_frames": float(frames.mean()) if frames.size else math.nan,
            "median_s": float(np.median(seconds)) if timed else math.nan,
            "mean_s": float(seconds.mean()) if timed else math.nan,
        }


def _transition_rows(members: list[SessionTables], n_states: int
                     ) -> Iterator[dict[str, object]]:
    counts = np.zeros((n_states, n_states), dtype=np.int64)
    for m in members:
        counts += np.asarray(m.transition_counts, dtype=np.int64)
    totals = counts.sum(axis=1)
    for i in range(n_states):
        for j in range(n_states):
            probability = counts[i, j] / totals[i] if totals[i] > 0 else math.nan
            yield {"from_state": i, "to_state": j, "count": int(counts[i, j]),
                   "probability": float(probability)}


# --------------------------------------------------------------------------- HTML


def group_html(tables: Mapping[str, pd.DataFrame]) -> str:
    """The group tables as an HTML fragment for a study report.

    A ``<section>`` headed *Groups* with the fraction of time in each state by condition
    and by subject (mean ± SE over sessions) and the median dwell time of each state per
    group. Every text is escaped; nothing outside the fragment is referred to.

    Parameters
    ----------
    tables
        What :func:`group_tables` returns.
    """
    esc = html.escape
    out = ["<section class='groups'>", "<h2>Groups</h2>"]
    frequencies = tables["group_frequencies"]
    if frequencies.empty:
        out += ["<p>The manifest gives no subject or condition: there are no groups.</p>",
                "</section>"]
        return "\n".join(out)
    for grouping in ("condition", "subject"):
        part = frequencies.loc[frequencies["grouping"] == grouping]
        if part.empty:
            continue
        out.append(f"<h3>Fraction of time per state by {esc(grouping)}</h3>")
        out.append("<p>Mean ± SE over sessions (n: sessions).</p>")
        out += _pivot(part, lambda r: _percent(r["fraction_mean"], r["fraction_se"]),
                      extra=("n", lambda rows: str(int(rows["n_sessions"].max()))))
    dwell = tables["group_dwell_times"]
    part = dwell.loc[dwell["grouping"].isin(["condition", "subject"])]
    if not part.empty:
        out.append("<h3>Median dwell time per state</h3>")
        out.append("<p>Bouts of known length pooled over each group's sessions (censored "
                   "bouts left out); n: bouts.</p>")
        out += _pivot(part, _median_text, label=True)
    out.append("</section>")
    return "\n".join(out)


def _percent(mean: float, se: float) -> str:
    if not math.isfinite(mean):
        return "–"
    return f"{mean:.1%}" + (f" ± {se:.1%}" if math.isfinite(se) else "")


def _median_text(row: pd.Series) -> str:
    if math.isfinite(row["median_s"]):
        text = f"{row['median_s']:.3g} s"
    elif math.isfinite(row["median_frames"]):
        text = f"{row['median_frames']:g} frames"
    else:
        return "–"
    return f"{text} (n = {int(row['n_bouts'])})"


def _pivot(part: pd.DataFrame, cell: Callable[[pd.Series], str], *, label: bool = False,
           extra: tuple[str, Callable[[pd.DataFrame], str]] | None = None) -> list[str]:
    """Rows: groups; columns: states; ``cell(row)`` the text of one group and state."""
    esc = html.escape
    states = sorted(int(s) for s in part["state"].unique())
    head = "".join(f"<th>state {s}</th>" for s in states)
    lead = "<th>grouping</th><th>group</th>" if label else "<th>group</th>"
    more = f"<th>{esc(extra[0])}</th>" if extra else ""
    lines = ["<table>", f"<tr>{lead}{more}{head}</tr>"]
    for (grouping, group), rows in part.groupby(["grouping", "group"], sort=False):
        by_state = {int(r["state"]): r for _, r in rows.iterrows()}
        name = (f"<th>{esc(str(grouping))}</th>" if label else "") + f"<th>{esc(str(group))}</th>"
        more = f"<td>{esc(extra[1](rows))}</td>" if extra else ""
        cells = "".join(f"<td>{esc(cell(by_state[s]))}</td>" if s in by_state
                        else "<td>–</td>" for s in states)
        lines.append(f"<tr>{name}{more}{cells}</tr>")
    lines.append("</table>")
    return lines
