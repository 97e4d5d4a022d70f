"""Typical sequences: bout sequences, n-grams against a shuffled baseline, entropy rates,
and the transition-graph and n-gram figures."""

from __future__ import annotations

import doctest
import math
from collections.abc import Iterator
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.patches import Circle, FancyArrowPatch
from test_figures_fixed import texts_outside

import faceexpr as fe
import faceexpr.sequences
from faceexpr import analysis
from faceexpr.errors import InvalidStatesError
from faceexpr.plot import sequences as plot_sequences
from faceexpr.sequences import (
    bout_sequence,
    bout_transition_counts,
    entropy_rate,
    ngram_counts,
    shuffled_baseline,
    shuffled_sequences,
    stationary_distribution,
)
from faceexpr.synthetic.faces import simulate


def test_the_examples_hold() -> None:
    assert doctest.testmod(faceexpr.sequences).failed == 0


# --------------------------------------------------------------------------- sequences


def test_bouts_collapse_repeats_and_gaps_sessions_and_shots_split_them() -> None:
    labels = xr.DataArray([0, 0, 1, 1, 1, 2, -1, 2, 0, 0, 1], dims="time")
    assert [s.tolist() for s in bout_sequence(labels)] == [[0, 1, 2], [2, 0, 1]]
    sessions = [xr.DataArray([0, 1, 1], dims="time"), xr.DataArray([1, 2], dims="time")]
    assert [s.tolist() for s in bout_sequence(sessions)] == [[0, 1], [1, 2]]
    # a shot boundary inside a bout splits the sequence (and the bout)
    shots = xr.DataArray([0, 0, 1, 1, 2, 2], dims="time",
                         coords={"segment": ("time", [0, 0, 0, 1, 1, 1])})
    assert [s.tolist() for s in bout_sequence(shots)] == [[0, 1], [1, 2]]
    assert bout_sequence(np.array([-1, -1])) == []
    with pytest.raises(InvalidStatesError, match="integer"):
        bout_sequence(np.array([0.5, 1.0]))


def test_ngrams_never_span_a_gap() -> None:
    seqs = bout_sequence(np.array([0, 1, -1, 2, 0]))
    assert ngram_counts(seqs, 2).to_dict() == {"0-1": 1, "2-0": 1}  # no 1-2
    assert ngram_counts(seqs, 3).empty
    counts = ngram_counts([[0, 1, 2, 0, 1, 2, 0]], 3)
    assert counts.to_dict() == {"0-1-2": 2, "1-2-0": 2, "2-0-1": 1}
    assert counts.index.name == "ngram" and counts.dtype == np.int64
    with pytest.raises(InvalidStatesError, match="repeats a state"):
        ngram_counts([[0, 0, 1]], 2)
    with pytest.raises(ValueError, match="at least 1"):
        ngram_counts([[0, 1]], 0)


# --------------------------------------------------------------------------- the null


def test_shuffles_keep_the_bout_counts_and_never_repeat_a_state() -> None:
    rng = np.random.default_rng(3)
    for _ in range(40):
        k = int(rng.integers(2, 6))
        seq = [int(rng.integers(k))]
        while len(seq) < int(rng.integers(2, 30)):
            nxt = int(rng.integers(k))
            if nxt != seq[-1]:
                seq.append(nxt)
        other = [1, 0, 1]
        perms = shuffled_sequences([seq, other], n_perm=50, random_state=int(rng.integers(99)))
        for row in perms:
            parts = np.split(row, np.flatnonzero(row == -1))
            got = [p[p >= 0] for p in parts if (p >= 0).any()]
            assert [sorted(g.tolist()) for g in got] == [sorted(seq), sorted(other)]
            assert all(np.all(g[1:] != g[:-1]) for g in got)


def arrangements(counts: list[int], last: int) -> Iterator[tuple[int, ...]]:
    """Every arrangement of the bouts ``counts`` without equal neighbours, after ``last``."""
    if not any(counts):
        yield ()
        return
    for s, c in enumerate(counts):
        if c and s != last:
            counts[s] -= 1
            for rest in arrangements(counts, s):
                yield (s, *rest)
            counts[s] += 1


def test_shuffles_are_uniform_over_the_arrangements_without_repeats() -> None:
    # the exact expectation, by enumerating every arrangement without equal neighbours
    seq = (0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 3, 1)
    valid = list(arrangements(np.bincount(seq).tolist(), -1))
    assert len(valid) == 7524
    exact = np.mean([sum(w == (0, 1, 2) for w in zip(p, p[1:], p[2:])) for p in valid])
    table = shuffled_baseline([list(seq)], n=3, n_perm=20000, random_state=1)
    expected = table.set_index("ngram").loc["0-1-2", "expected"]
    assert expected == pytest.approx(exact, abs=0.02)  # MC error about 0.006
    # without the swaps, the bout-by-bout construction alone is off by 0.07
    start = shuffled_baseline([list(seq)], n=3, n_perm=20000, random_state=1, sweeps=0)
    assert abs(start.set_index("ngram").loc["0-1-2", "expected"] - exact) > 0.03


def random_bouts(n_bouts: int, k: int, rng: np.random.Generator,
                 cycle: float = 0.0) -> list[int]:
    """A bout chain: with probability ``cycle`` 0 -> 1 -> 2 -> 0, else any other state."""
    seq = [int(rng.integers(k))]
    while len(seq) < n_bouts:
        if seq[-1] < 3 and rng.random() < cycle:
            seq.append((seq[-1] + 1) % 3)
        else:
            nxt = int(rng.integers(k - 1))
            seq.append(nxt + (nxt >= seq[-1]))
    return seq


def frames_of(bouts: list[int], rng: np.random.Generator, gap_every: int = 40,
              mean_dwell: float = 12.0) -> xr.DataArray:
    """Frame labels of a bout chain: geometric dwells, a few frames without a state now
    and then (each ends a sequence), as a fitted model's states look."""
    frames: list[int] = []
    for i, s in enumerate(bouts):
        frames += [s] * int(rng.geometric(1.0 / mean_dwell))
        if i and i % gap_every == 0:
            frames += [-1] * 3
    return xr.DataArray(frames, dims="time", attrs={"fps": 30.0})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_forced_cycle_is_the_top_3gram_above_its_shuffled_baseline(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # 160 bouts of 5 states (about 65 s at 30 fps), split by gaps into 4 sequences;
    # 80 % of the time a bout of 0, 1 or 2 goes on round the cycle 0 -> 1 -> 2 -> 0
    labels = frames_of(random_bouts(160, 5, rng, cycle=0.8), rng)
    seqs = bout_sequence(labels)
    assert len(seqs) == 4
    table = shuffled_baseline(seqs, n=(2, 3, 4), n_perm=1000, random_state=seed)
    threes = table[table["n"] == 3]
    top = threes.iloc[0]
    assert top["ngram"] in {"0-1-2", "1-2-0", "2-0-1"}
    assert top["p_value"] < 0.05 and top["above_chance"]
    assert top["count"] > 2 * top["expected"]
    # the other rotations of the cycle are above chance too (states 3 and 4 may be as
    # well: the cycle leaves them the gaps between its runs, so they meet more often)
    above = set(threes.loc[threes["above_chance"], "ngram"])
    assert len(above & {"0-1-2", "1-2-0", "2-0-1"}) >= 2
    # the cycle is first-order: its 3-grams are about what its 2-grams predict
    assert top["expected_from_pairs"] == pytest.approx(top["count"], rel=0.35)


def test_a_chain_without_order_finds_nothing_above_chance() -> None:
    hits = []
    for seed in range(10):
        rng = np.random.default_rng(100 + seed)
        labels = frames_of(random_bouts(160, 5, rng), rng)
        table = shuffled_baseline(bout_sequence(labels), n=(2, 3, 4), n_perm=1000,
                                  random_state=seed)
        hits.append(bool(table["above_chance"].any()))
    assert sum(hits) <= 2  # a 5 % false discovery rate per length: about 0.15 expected


def test_the_baseline_table_has_its_columns_and_p_values() -> None:
    table = shuffled_baseline([[0, 1, 2] * 8, [1, 0, 2, 1]], n=(3, 2), n_perm=200)
    assert list(table.columns) == ["ngram", "n", "count", "expected", "expected_from_pairs",
                                   "ratio", "p_value", "q_value", "above_chance"]
    assert table["n"].tolist() == sorted(table["n"].tolist())
    for _, part in table.groupby("n"):
        assert part["count"].is_monotonic_decreasing
    assert table["p_value"].min() >= 1 / 201 and table["p_value"].max() <= 1.0
    assert (table["q_value"] >= table["p_value"] - 1e-12).all()
    assert table.loc[table["n"] == 2, "expected_from_pairs"].isna().all()
    assert table.attrs["n_perm"] == 200 and table.attrs["n_bouts"] == 28
    assert table.attrs["tested"][3] >= len(table[table["n"] == 3])
    counts = ngram_counts([[0, 1, 2] * 8, [1, 0, 2, 1]], 3)
    assert table[table["n"] == 3].set_index("ngram")["count"].to_dict() == counts.to_dict()
    with pytest.raises(ValueError, match="n_perm"):
        shuffled_baseline([[0, 1]], n_perm=0)


# --------------------------------------------------------------------------- entropy


def test_entropy_rates_of_known_chains() -> None:
    assert entropy_rate([[0, 1, 0], [0, 0, 1], [1, 0, 0]]) == 0.0  # a cycle
    uniform = (np.ones((5, 5)) - np.eye(5)) / 4
    assert entropy_rate(uniform) == pytest.approx(2.0)  # log2(K - 1)
    assert entropy_rate(np.full((4, 4), 0.25)) == pytest.approx(2.0)  # log2 K
    sticky = np.array([[0.9, 0.1], [0.2, 0.8]])
    pi = stationary_distribution(sticky)
    assert pi == pytest.approx([2 / 3, 1 / 3])
    h = -(2 / 3) * (0.9 * math.log2(0.9) + 0.1 * math.log2(0.1)) \
        - (1 / 3) * (0.2 * math.log2(0.2) + 0.8 * math.log2(0.8))
    assert entropy_rate(sticky) == pytest.approx(h)
    # a state never left: NaN row, weight 0
    assert entropy_rate([[0.5, 0.5], [np.nan, np.nan]], [1.0, 0.0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="stationary"):
        entropy_rate(np.eye(2))  # two closed classes


def test_bout_transitions_count_successive_bouts() -> None:
    counts = bout_transition_counts([[0, 1, 0, 2], [2, 1]], 3)
    assert counts.values.tolist() == [[0, 1, 1], [1, 0, 0], [0, 1, 0]]
    with pytest.raises(InvalidStatesError, match="out of range"):
        bout_transition_counts([[0, 3]], 3)


# --------------------------------------------------------------------------- results


@pytest.fixture(scope="module")
def result() -> fe.Result:
    sim = simulate(1200, n_expressions=4, seed=5, drift_mm=0.3, ease=0.5)
    return fe.Pipeline(n_states=4, progress=False).run(sim.pose3d)


def test_typical_sequences_of_a_result(result: fe.Result) -> None:
    table = analysis.typical_sequences(result, n_perm=300)
    assert list(table.columns)[:4] == ["ngram", "n", "count", "expected"]
    assert set(table["n"]) == {2, 3, 4}
    seqs = analysis.bout_sequences(result)
    assert table.attrs["n_bouts"] == sum(len(s) for s in seqs)
    assert table.attrs["n_bouts"] == len(result.bouts)  # one session, one shot
    assert sum(table.loc[table["n"] == 2, "count"]) == sum(len(s) - 1 for s in seqs)
    again = analysis.typical_sequences(result, n_perm=300)
    pd.testing.assert_frame_equal(table, again)  # seeded


def test_shots_split_the_sequences_of_a_result(result: fe.Result) -> None:
    n = result.states[0].size
    ego = result.egocentric[0].assign_coords(
        segment=("time", (np.arange(n) >= n // 2).astype(np.int64)))
    shot = SimpleNamespace(states=result.states, egocentric=[ego], model=result.model,
                           n_states=result.n_states)
    assert len(analysis.bout_sequences(shot)) == len(analysis.bout_sequences(result)) + 1
    frame = analysis.entropy_rates(shot).loc["frame", "n_transitions"]
    assert frame == analysis.entropy_rates(result).loc["frame", "n_transitions"] - 1


def test_entropy_rates_of_a_result(result: fe.Result) -> None:
    rates = analysis.entropy_rates(result)
    assert rates.index.tolist() == ["bout", "frame", "model"]
    assert list(rates.columns) == ["entropy_bits", "max_bits", "relative", "n_transitions"]
    k = result.n_states
    assert rates.loc["bout", "max_bits"] == pytest.approx(math.log2(k - 1))
    assert rates.loc["frame", "max_bits"] == pytest.approx(math.log2(k))
    # frames are far more predictable than bouts (states last many frames)
    assert rates.loc["frame", "entropy_bits"] < 0.5 * rates.loc["bout", "entropy_bits"]
    assert 0.0 < rates.loc["bout", "relative"] <= 1.0
    # the fitted chain and the labelled frames agree
    assert rates.loc["model", "entropy_bits"] == pytest.approx(
        rates.loc["frame", "entropy_bits"], abs=0.1)
    assert rates.loc["frame", "n_transitions"] == result.states[0].size - 1


def test_bout_transitions_of_a_result(result: fe.Result) -> None:
    probs = analysis.bout_transitions(result)
    assert probs.dims == ("from_state", "to_state")
    assert np.all(np.diag(probs.values) == 0)
    rows = probs.values.sum(axis=1)
    assert np.allclose(rows[np.isfinite(rows)], 1.0)
    assert sum(probs.attrs["n_bouts"]) == len(result.bouts)


# --------------------------------------------------------------------------- figures


def edges(fig: object) -> dict[str, FancyArrowPatch]:
    return {a.get_gid(): a for a in fig.axes[0].patches  # type: ignore[attr-defined]
            if isinstance(a, FancyArrowPatch)}


def test_the_transition_graph_draws_a_node_per_state_and_the_likely_edges() -> None:
    probs = np.array([[0.0, 0.7, 0.25, 0.05],
                      [0.5, 0.0, 0.5, 0.0],
                      [0.9, 0.08, 0.0, 0.02],
                      [np.nan] * 4])
    share = [0.4, 0.3, 0.2, 0.1]
    fig = plot_sequences.transition_graph(probs, share)
    assert texts_outside(fig) == []
    nodes = [p for p in fig.axes[0].patches if isinstance(p, Circle)]
    assert sorted(p.get_gid() for p in nodes) == [f"state-{k}" for k in range(4)]
    radius = {p.get_gid(): p.get_radius() for p in nodes}
    assert radius["state-0"] > radius["state-1"] > radius["state-2"] > radius["state-3"]
    drawn = edges(fig)
    assert set(drawn) == {"edge-0-1", "edge-0-2", "edge-1-0", "edge-1-2", "edge-2-0"}
    assert drawn["edge-2-0"].get_linewidth() > drawn["edge-0-2"].get_linewidth()
    written = {t.get_text() for t in fig.axes[0].texts}
    assert {"0.70", "0.90", "40%", "10%"} <= written
    assert set(edges(plot_sequences.transition_graph(probs, share, threshold=0.6))) == {
        "edge-0-1", "edge-2-0"}
    with pytest.raises(ValueError, match="threshold"):
        plot_sequences.transition_graph(probs, threshold=2.0)
    with pytest.raises(ValueError, match="frequencies"):
        plot_sequences.transition_graph(probs, [0.5, 0.5])


@pytest.mark.parametrize("k", [1, 2, 9, 15])
def test_the_transition_graph_fits_any_number_of_states(k: int) -> None:
    rng = np.random.default_rng(k)
    probs = rng.dirichlet(np.ones(k), size=k)
    np.fill_diagonal(probs, 0.0)
    names = [f"expression {s}" for s in range(k)]
    fig = plot_sequences.transition_graph(probs, rng.dirichlet(np.ones(k)),
                                          state_names=names)
    assert texts_outside(fig) == []
    assert len([p for p in fig.axes[0].patches if isinstance(p, Circle)]) == k


def test_the_graph_and_ngram_figures_of_a_result(result: fe.Result) -> None:
    fig = plot_sequences.transition_graph(analysis.bout_transitions(result),
                                          result.frequencies["relative"])
    assert texts_outside(fig) == []
    table = analysis.typical_sequences(result, n_perm=200)
    fig = plot_sequences.ngrams(table, top=6)
    assert texts_outside(fig) == []
    assert len(fig.axes) == 3
    bars = fig.axes[1].patches
    assert len(bars) == min(6, int((table["n"] == 3).sum()))
    assert bars[0].get_width() == table.loc[table["n"] == 3, "count"].max()
    names = ["calm", "smile", "surprise", "frown"]
    assert texts_outside(plot_sequences.ngrams(table, state_names=names)) == []
    with pytest.raises(ValueError, match="lacks"):
        plot_sequences.ngrams(table.drop(columns="expected"))
