"""Group tables: state sequences of known runs for 2 subjects × 2 conditions, summarised per
session and combined per group; means, SEs, pooled dwell times and transition
probabilities checked against values worked out by hand."""

from __future__ import annotations

import math
import pickle
import statistics

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from faceexpr import analysis
from faceexpr.errors import FaceexprError
from faceexpr.study.group import (
    GROUPINGS,
    SessionTables,
    group_html,
    group_tables,
    session_tables,
)

K = 3
FPS = 10.0


def runs(*pairs: tuple[int, int], fps: float | None = FPS) -> xr.DataArray:
    """A state sequence made of runs ``(state, n_frames)``; -1 is no state."""
    labels = np.concatenate([np.full(n, s, dtype=np.int64) for s, n in pairs])
    return xr.DataArray(labels, dims="time", attrs={} if fps is None else {"fps": fps})


STATES = {
    # name: (subject, condition, states)
    "a_rest1": ("A", "rest", runs((0, 10), (1, 20), (0, 10))),
    "a_rest2": ("A", "rest", runs((1, 5), (0, 30), (2, 5))),
    "a_task": ("A", "task", runs((2, 10), (0, 10), (2, 20), (0, 4), (1, 20))),
    "b_rest": ("B", "rest", runs((0, 20), (-1, 5), (1, 15))),
    "b_task": ("B", "task", runs((0, 5), (1, 10), (2, 10), (1, 10), (0, 5))),
    "b_free": ("B", "", runs((2, 30))),
    "anon": ("", "rest", runs((0, 10))),
}


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    per_session = {name: session_tables(states, K, None)
                   for name, (_, _, states) in STATES.items()}
    sessions = pd.DataFrame(
        [(name, subject, condition) for name, (subject, condition, _) in STATES.items()]
        + [("not_run", "A", "rest")],  # listed, but without tables (it failed): left out
        columns=["session", "subject", "condition"])
    return group_tables(per_session, sessions, K)


def _row(table: pd.DataFrame, grouping: str, group: str, **where: int) -> pd.Series:
    mask = (table["grouping"] == grouping) & (table["group"] == group)
    for column, value in where.items():
        mask &= table[column] == value
    rows = table.loc[mask]
    assert len(rows) == 1, (grouping, group, where)
    return rows.iloc[0]


def test_groups_and_their_sessions(tables: dict[str, pd.DataFrame]) -> None:
    assert sorted(tables) == ["group_dwell_times", "group_frequencies", "group_transitions"]
    freq = tables["group_frequencies"]
    groups = freq[["grouping", "group", "subject", "condition"]].drop_duplicates()
    # empty subjects / conditions are in no group of the groupings that need them
    assert [tuple(g) for g in groups.itertuples(index=False)] == [
        ("subject", "A", "A", ""), ("subject", "B", "B", ""),
        ("condition", "rest", "", "rest"), ("condition", "task", "", "task"),
        ("subject x condition", "A x rest", "A", "rest"),
        ("subject x condition", "A x task", "A", "task"),
        ("subject x condition", "B x rest", "B", "rest"),
        ("subject x condition", "B x task", "B", "task"),
    ]
    assert list(GROUPINGS) == ["subject", "condition", "subject x condition"]
    n = freq.loc[freq["state"] == 0].set_index("group")["n_sessions"].to_dict()
    assert n == {"A": 3, "B": 3, "rest": 4, "task": 2, "A x rest": 2, "A x task": 1,
                 "B x rest": 1, "B x task": 1}
    assert len(freq) == 8 * K and freq["state"].tolist()[:K] == [0, 1, 2]
    assert len(tables["group_transitions"]) == 8 * K * K


def test_fraction_of_time_mean_sd_se(tables: dict[str, pd.DataFrame]) -> None:
    freq = tables["group_frequencies"]
    expected = {
        ("condition", "rest", 0): [0.5, 0.75, 20 / 35, 1.0],
        ("condition", "task", 1): [20 / 64, 0.5],
        ("subject", "B", 2): [0.0, 0.25, 1.0],
        ("subject", "A", 2): [0.0, 0.125, 30 / 64],
        ("subject x condition", "A x rest", 0): [0.5, 0.75],
    }
    for (grouping, group, state), values in expected.items():
        row = _row(freq, grouping, group, state=state)
        sd = statistics.stdev(values)
        assert row["n_sessions"] == len(values)
        assert row["fraction_mean"] == pytest.approx(statistics.mean(values))
        assert row["fraction_sd"] == pytest.approx(sd)
        assert row["fraction_se"] == pytest.approx(sd / math.sqrt(len(values)))
    assert _row(freq, "subject x condition", "A x rest", state=0)["fraction_se"] == (
        pytest.approx(0.125))
    one = _row(freq, "subject x condition", "A x task", state=0)
    assert one["fraction_mean"] == pytest.approx(14 / 64)
    assert math.isnan(one["fraction_sd"]) and math.isnan(one["fraction_se"])


def test_bouts_per_minute(tables: dict[str, pd.DataFrame]) -> None:
    freq = tables["group_frequencies"]
    # bouts / minutes of frames with a state: a_rest1 is 40 frames at 10 fps, 1/15 minute
    row = _row(freq, "subject x condition", "A x rest", state=0)
    assert row["bouts_per_minute_mean"] == pytest.approx(22.5)  # 2 and 1 bouts: 30, 15
    assert row["bouts_per_minute_sd"] == pytest.approx(statistics.stdev([30, 15]))
    assert row["bouts_per_minute_se"] == pytest.approx(7.5)
    values = [15.0, 15.0, 60 / 3.5, 0.0]  # b_rest: 35 frames with a state, 3.5 s
    row = _row(freq, "condition", "rest", state=1)
    assert row["bouts_per_minute_mean"] == pytest.approx(statistics.mean(values))
    assert row["bouts_per_minute_se"] == pytest.approx(statistics.stdev(values) / 2)
    row = _row(freq, "subject", "A", state=0)  # a_task: 2 bouts in 6.4 s
    assert row["bouts_per_minute_mean"] == pytest.approx((30 + 15 + 18.75) / 3)


def test_pooled_dwell_times_leave_censored_bouts_out(tables: dict[str, pd.DataFrame]) -> None:
    dwell = tables["group_dwell_times"]
    expected = {
        # (grouping, group, state): (uncensored bout lengths, censored bouts)
        ("subject", "A", 0): ([30, 10, 4], 2),
        ("subject", "A", 1): ([20], 2),
        ("subject", "B", 0): ([], 3),
        ("subject", "B", 1): ([10, 10], 1),
        ("condition", "rest", 0): ([30], 4),
        ("condition", "rest", 2): ([], 1),
        ("condition", "task", 2): ([20, 10], 1),
        ("condition", "task", 0): ([10, 4], 2),
        ("subject x condition", "B x rest", 1): ([], 1),
    }
    for (grouping, group, state), (lengths, censored) in expected.items():
        row = _row(dwell, grouping, group, state=state)
        assert row["n_bouts"] == len(lengths) and row["n_censored"] == censored
        if lengths:
            assert row["median_frames"] == statistics.median(lengths)
            assert row["mean_frames"] == pytest.approx(statistics.mean(lengths))
            assert row["median_s"] == pytest.approx(statistics.median(lengths) / FPS)
            assert row["mean_s"] == pytest.approx(statistics.mean(lengths) / FPS)
        else:
            assert row[["median_frames", "mean_frames", "median_s", "mean_s"]].isna().all()
    assert _row(dwell, "subject", "A", state=0)["median_frames"] == 10.0
    assert _row(dwell, "subject", "A", state=0)["mean_frames"] == pytest.approx(44 / 3)
    # the same pooling as analysis.dwell_times on the group's sessions
    group_a = [STATES[n][2] for n in ("a_rest1", "a_rest2", "a_task")]
    reference = analysis.dwell_times(group_a, K)
    ours = dwell.loc[(dwell["grouping"] == "subject") & (dwell["group"] == "A")]
    np.testing.assert_array_equal(ours["median_frames"], reference["median_frames"])
    np.testing.assert_array_equal(ours["n_bouts"] + ours["n_censored"], reference["n_bouts"])


def test_transition_counts_and_probabilities(tables: dict[str, pd.DataFrame]) -> None:
    trans = tables["group_transitions"]
    part = trans.loc[trans["group"] == "A x rest"]
    counts = part.pivot(index="from_state", columns="to_state", values="count").to_numpy()
    np.testing.assert_array_equal(counts, [[47, 1, 1], [2, 23, 0], [0, 0, 4]])
    probs = part.pivot(index="from_state", columns="to_state", values="probability")
    np.testing.assert_allclose(probs.to_numpy(), [[47 / 49, 1 / 49, 1 / 49],
                                                  [2 / 25, 23 / 25, 0.0], [0.0, 0.0, 1.0]])
    # no transition across the gap of b_rest; state 2 never occurs: NaN row
    part = trans.loc[trans["group"] == "B x rest"]
    counts = part.pivot(index="from_state", columns="to_state", values="count").to_numpy()
    np.testing.assert_array_equal(counts, [[19, 0, 0], [0, 14, 0], [0, 0, 0]])
    probs = part.pivot(index="from_state", columns="to_state", values="probability")
    values = probs.to_numpy()
    assert values[0].tolist() == [1.0, 0.0, 0.0] and np.isnan(values[2]).all()
    rest = [STATES[n][2] for n in ("a_rest1", "a_rest2", "b_rest", "anon")]
    part = trans.loc[trans["group"] == "rest"]
    np.testing.assert_allclose(
        part.pivot(index="from_state", columns="to_state", values="probability").to_numpy(),
        analysis.transition_matrix(rest, K).values)
    assert trans["count"].dtype == np.int64 and trans["probability"].dtype == np.float64


def test_without_a_frame_rate(tables: dict[str, pd.DataFrame]) -> None:
    per_session = {
        "timed": session_tables(runs((0, 10), (1, 10), (0, 10)), K, None),
        "untimed": session_tables(runs((0, 5), (1, 10), (0, 5), fps=None), K, None),
        "empty": session_tables(runs((-1, 20), fps=None), K, None),
    }
    sessions = pd.DataFrame({"session": list(per_session), "subject": ["S", "S", "S"],
                             "condition": [None, "", "  "]})
    out = group_tables(per_session, sessions, K)
    freq = out["group_frequencies"]
    assert set(freq["grouping"]) == {"subject"}  # conditions missing or blank
    row = _row(freq, "subject", "S", state=1)
    # the session without any frame that has a state has no fraction: left out
    assert row["n_sessions"] == 2 and row["fraction_mean"] == pytest.approx((1 / 3 + 0.5) / 2)
    # one session's frame rate is unknown: no bouts per minute for the group
    assert row[["bouts_per_minute_mean", "bouts_per_minute_sd",
                "bouts_per_minute_se"]].isna().all()
    dwell = _row(out["group_dwell_times"], "subject", "S", state=1)
    assert dwell["n_bouts"] == 2 and dwell["median_frames"] == 10.0
    assert math.isnan(dwell["median_s"]) and math.isnan(dwell["mean_s"])
    # with no subject nor condition at all: empty tables with their columns and types
    none = group_tables(per_session, sessions.assign(subject=""), K)
    assert all(t.empty for t in none.values())
    assert list(none["group_transitions"].columns) == [
        "grouping", "group", "subject", "condition", "from_state", "to_state", "count",
        "probability"]
    assert none["group_frequencies"]["fraction_mean"].dtype == np.float64
    assert "no groups" in group_html(none)


def test_session_tables_are_small_and_picklable() -> None:
    states = runs((0, 3000), (1, 2000), (2, 1000))
    t = session_tables(states, K, 30.0)
    assert isinstance(t, SessionTables)
    assert t.transition_counts.dtype == np.int64 and t.transition_counts.shape == (K, K)
    assert t.transition_counts.tolist() == [[2999, 1, 0], [0, 1999, 1], [0, 0, 999]]
    assert t.frequencies["seconds"].tolist() == [100.0, pytest.approx(2000 / 30), 1000 / 30]
    data = pickle.dumps(t)
    assert len(data) < 20_000  # not the 6000 frames
    back = pickle.loads(data)
    pd.testing.assert_frame_equal(back.frequencies, t.frequencies)
    pd.testing.assert_frame_equal(back.bouts, t.bouts)


def test_bad_inputs() -> None:
    good = {"s": session_tables(runs((0, 5), (1, 5)), K, None)}
    sessions = pd.DataFrame({"session": ["s"], "subject": ["A"], "condition": ["x"]})
    with pytest.raises(FaceexprError, match=r"session s: its tables have 3 states .* "
                                            "expected n_states=4"):
        group_tables(good, sessions, 4)
    with pytest.raises(FaceexprError, match=r"tables for session\(s\) \['t'\], which the "
                                            "sessions table does not list"):
        group_tables({**good, "t": good["s"]}, sessions, K)
    with pytest.raises(FaceexprError, match="the sessions table has no column condition"):
        group_tables(good, sessions.drop(columns="condition"), K)
    with pytest.raises(FaceexprError, match=r"lists the session\(s\) \['s'\] twice"):
        group_tables(good, pd.concat([sessions, sessions]), K)


def test_group_html(tables: dict[str, pd.DataFrame]) -> None:
    text = group_html(tables)
    assert text.startswith("<section") and text.endswith("</section>")
    assert "<h2>Groups</h2>" in text
    assert "by condition" in text and "by subject" in text and "Median dwell time" in text
    # task, state 0: 14/64 and 10/40 → 23.4 % ± 1.6 %
    values = [14 / 64, 0.25]
    mean, se = statistics.mean(values), statistics.stdev(values) / math.sqrt(2)
    assert f"<td>{mean:.1%} ± {se:.1%}</td>" in text
    assert "<td>1 s (n = 3)</td>" in text  # subject A, state 0: median 10 frames at 10 fps
    assert "src=" not in text and "http" not in text and "<script" not in text

    hostile = {"x": session_tables(runs((0, 5), (1, 5)), K, None)}
    sessions = pd.DataFrame({"session": ["x"], "subject": ["<b>Bob</b> & co"],
                             "condition": ["<script>alert(1)</script>"]})
    text = group_html(group_tables(hostile, sessions, K))
    assert "<b>" not in text and "<script>" not in text
    assert "&lt;b&gt;Bob&lt;/b&gt; &amp; co" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
