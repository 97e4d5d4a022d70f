"""Typical sequences of states: bouts in order, n-grams against a shuffled baseline, entropy.

A recording becomes *bout sequences* (:func:`bout_sequence`): the states of its bouts in
order, each repeat collapsed to one bout (``0 0 0 2 2 1`` → ``0 2 1``). A frame without a
state (``-1``), the end of a session and a shot boundary (a ``segment`` coordinate along
``time``) end a sequence: nothing is known about what happened across them, so no n-gram
spans them.

*n-grams* are runs of ``n`` successive bouts (``0-2-1`` is a 3-gram); :func:`ngram_counts`
counts them. Whether one occurs more often than chance is tested against a shuffled
baseline (:func:`shuffled_baseline`): the null hypothesis is that the bouts come in no
particular order, given how many bouts of each state each sequence has.

**The null model.** Shuffling the bouts of a sequence freely would put equal states side by
side (``A A``), which a collapsed sequence never has, and would so deflate the expected
count of every n-gram without repeats: every real sequence would look ordered. The baseline
therefore draws arrangements of each sequence's own bouts (its bout counts per state kept
exactly) *with no two equal neighbours*, as near uniformly as it can
(:func:`shuffled_sequences`): each shuffle starts from a random arrangement built bout by
bout (each state in proportion to its bouts left, never the previous one, never one that
would leave the rest impossible to arrange), independent of the observed order, and then
runs a Markov chain that proposes ``sweeps × N`` swaps of two bouts of one sequence (``N``
bouts) and keeps each swap unless it puts two equal states side by side; symmetric
proposals with that rejection leave the uniform distribution over the arrangements
unchanged, and the swaps take away what the construction leans towards. A sequence whose
states follow a first-order chain that moves to any other state with equal probability is,
given its bout counts, exactly such a uniform arrangement: the null's own model, in which
nothing is above chance.

A 3-gram above this baseline may follow from its 2-grams alone (a cycle A→B→C→A makes
``A-B-C`` common because A→B and B→C are); the column ``expected_from_pairs`` gives the
count that the observed 2-gram frequencies alone predict (a first-order chain), so an
n-gram whose count is near it adds nothing beyond its pairs.

**p-values and multiple comparisons.** The p-value of an n-gram is the share of shuffles
with a count at least the observed one, with the +1 correction ``(1 + #{count* ≥ count}) /
(1 + n_perm)`` (never 0). Many n-grams are tested at once, so ``above_chance`` uses the
Benjamini–Hochberg false discovery rate (``q_value`` ≤ ``alpha``, 0.05), applied within
each ``n`` over every n-gram that occurs in the data or in any shuffle. With ``n_perm``
shuffles no p-value is below ``1 / (n_perm + 1)``: with very many possible n-grams (many
states, ``n = 4``) more shuffles are needed to find any.

**Entropy rate.** :func:`entropy_rate` is the entropy rate of a Markov chain, ``−Σ_i π_i
Σ_j P_ij log2 P_ij`` bits per step: 0 for a fully predictable order, ``log2(K − 1)`` for
bouts that move to any other state at random, ``log2 K`` for frames drawn independently.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
import xarray as xr

from faceexpr._typing import FloatArray, IntArray
from faceexpr.data import NO_STATE
from faceexpr.errors import InvalidStatesError

__all__ = [
    "ALPHA",
    "bout_sequence",
    "bout_transition_counts",
    "entropy_rate",
    "format_ngram",
    "ngram_counts",
    "shuffled_baseline",
    "shuffled_sequences",
    "stationary_distribution",
]

ALPHA = 0.05
"""False discovery rate under which an n-gram counts as above chance."""

SequencesLike = Sequence[npt.ArrayLike]
"""Bout sequences: one int array of states per uninterrupted stretch."""


# --------------------------------------------------------------------------- sequences


def _as_label_arrays(
    states: xr.DataArray | Sequence[xr.DataArray] | npt.ArrayLike,
) -> list[tuple[IntArray, IntArray | None]]:
    """``(labels, segment or None)`` of every session."""
    if isinstance(states, xr.DataArray):
        items: list[object] = [states]
    elif isinstance(states, (list, tuple)) and states and all(
            isinstance(s, xr.DataArray) for s in states):
        items = list(states)
    else:
        items = [np.asarray(states)]
    out = []
    for item in items:
        values = np.asarray(item.values if isinstance(item, xr.DataArray) else item)
        if values.ndim != 1:
            raise InvalidStatesError(f"states must be 1D (time,), got shape {values.shape}")
        if values.size and not np.issubdtype(values.dtype, np.integer):
            if not (np.issubdtype(values.dtype, np.floating)
                    and np.all(values == np.round(values))):
                raise InvalidStatesError(
                    f"states must hold integer labels, got dtype {values.dtype}")
        labels = values.astype(np.int64)
        if labels.size and labels.min() < NO_STATE:
            raise InvalidStatesError(f"state labels must be >= {NO_STATE}, got {labels.min()}")
        segment = None
        if isinstance(item, xr.DataArray) and "segment" in item.coords:
            segment = np.asarray(item["segment"].values).astype(np.int64)
        out.append((labels, segment))
    return out


def bout_sequence(
    states: xr.DataArray | Sequence[xr.DataArray] | npt.ArrayLike,
) -> list[IntArray]:
    """Return the bout sequences of one state sequence or of several sessions.

    Parameters
    ----------
    states
        A state sequence ``(time,)`` (DataArray or array of int labels, ``-1`` = no
        state) or a list of DataArrays, one per session. A DataArray's ``segment``
        coordinate (shot numbers, see :data:`faceexpr.data.DROP_REASONS`) splits it at
        every shot boundary.

    Returns
    -------
    list of numpy.ndarray
        int64 arrays of states, repeats collapsed; one per stretch between gaps, session
        ends and shot boundaries, in time order.

    Examples
    --------
    >>> [s.tolist() for s in bout_sequence([0, 0, 2, 2, 1, -1, -1, 1, 0, 0])]
    [[0, 2, 1], [1, 0]]
    """
    out = []
    for labels, segment in _as_label_arrays(states):
        if labels.size == 0:
            continue
        change = labels[1:] != labels[:-1]
        cut = np.zeros(labels.size - 1, dtype=bool)
        if segment is not None:
            cut = segment[1:] != segment[:-1]
        starts = np.concatenate([[0], np.flatnonzero(change | cut) + 1])
        values = labels[starts]
        # a new sequence begins after a gap and at a shot boundary
        new = np.ones(starts.size, dtype=bool)
        new[1:] = (values[:-1] == NO_STATE) | np.concatenate([[False], cut])[starts[1:]]
        group = np.cumsum(new)
        keep = values != NO_STATE
        for g in np.unique(group[keep]):
            out.append(values[keep & (group == g)].astype(np.int64))
    return out


def _check_sequences(seqs: SequencesLike) -> list[IntArray]:
    out = []
    for i, s in enumerate(seqs):
        arr = np.asarray(s)
        if arr.ndim != 1:
            raise InvalidStatesError(f"bout sequence {i} must be 1D, got shape {arr.shape}")
        arr = arr.astype(np.int64)
        if arr.size and arr.min() < 0:
            raise InvalidStatesError(f"bout sequence {i} holds a state below 0 ({arr.min()}); "
                                     "make bout sequences with bout_sequence")
        if arr.size > 1 and np.any(arr[1:] == arr[:-1]):
            raise InvalidStatesError(f"bout sequence {i} repeats a state in successive bouts; "
                                     "make bout sequences with bout_sequence")
        out.append(arr)
    return out


def format_ngram(ngram: Sequence[int]) -> str:
    """``(0, 2, 1)`` → ``"0-2-1"``."""
    return "-".join(str(int(s)) for s in ngram)


def _base(seqs: list[IntArray]) -> int:
    return max((int(s.max()) + 1 for s in seqs if s.size), default=1)


def _codes(padded: npt.NDArray[np.int64], n: int, base: int) -> npt.NDArray[np.int64]:
    """Code of every window of ``n`` along the last axis (``-1`` where a window holds a
    separator): ``s_1 s_2 … s_n`` → ``s_1 base^(n−1) + … + s_n``."""
    width = padded.shape[-1] - n + 1
    if width <= 0:
        return np.full((*padded.shape[:-1], 0), -1, dtype=np.int64)
    code = np.zeros((*padded.shape[:-1], width), dtype=np.int64)
    valid = np.ones(code.shape, dtype=bool)
    for k in range(n):
        part = padded[..., k:k + width]
        valid &= part >= 0
        code = code * base + part
    return np.where(valid, code, -1)


def _decode(code: int, n: int, base: int) -> tuple[int, ...]:
    out = []
    for _ in range(n):
        code, digit = divmod(code, base)
        out.append(digit)
    return tuple(reversed(out))


def _padded(seqs: list[IntArray]) -> npt.NDArray[np.int64]:
    """All sequences in one row, each between ``-1`` separators."""
    parts: list[npt.NDArray[np.int64]] = [np.array([-1], dtype=np.int64)]
    for s in seqs:
        parts += [s, np.array([-1], dtype=np.int64)]
    return np.concatenate(parts)


def ngram_counts(seqs: SequencesLike, n: int) -> pd.Series:
    """Count the n-grams (runs of ``n`` successive bouts) of bout sequences.

    Parameters
    ----------
    seqs
        Bout sequences (:func:`bout_sequence`); no n-gram spans two of them.
    n
        Length of the n-grams, at least 1.

    Returns
    -------
    pandas.Series
        int64 counts indexed by ``ngram`` (``"0-2-1"``), the most frequent first (ties in
        the order of the states). Only n-grams that occur are listed.

    Examples
    --------
    >>> ngram_counts([[0, 1, 2, 0, 1], [2, 0, 1]], 2).to_dict()
    {'0-1': 3, '2-0': 2, '1-2': 1}
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    checked = _check_sequences(seqs)
    base = _base(checked)
    codes = _codes(_padded(checked), n, base)
    codes = codes[codes >= 0]
    uniq, counts = np.unique(codes, return_counts=True)
    order = np.lexsort((uniq, -counts))
    index = pd.Index([format_ngram(_decode(int(c), n, base)) for c in uniq[order]],
                     name="ngram", dtype=object)
    return pd.Series(counts[order].astype(np.int64), index=index, name="count")


# --------------------------------------------------------------------------- baseline


def _arrangeable(counts: npt.NDArray[np.int64], first_not: npt.NDArray[np.int64]
                 ) -> npt.NDArray[np.bool_]:
    """Whether bouts with these ``(…, K)`` counts can be put in a row with no two equal
    neighbours and not starting with state ``first_not`` (``-1``: any start).

    With ``R`` bouts that holds exactly when no state has more than ``(R + 1) / 2`` of them
    and ``first_not`` at most ``R / 2`` (it cannot take the first place).
    """
    total = counts.sum(axis=-1)
    worst = counts.max(axis=-1, initial=0)
    excluded = np.take_along_axis(counts, np.maximum(first_not, 0)[..., None], axis=-1)[..., 0]
    excluded = np.where(first_not >= 0, excluded, 0)
    return np.asarray((2 * worst <= total + 1) & (2 * excluded <= total))


def _random_arrangements(seq: IntArray, base: int, n_perm: int,
                         rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """``(n_perm, len(seq))`` arrangements of the bouts of ``seq`` without equal
    neighbours, drawn one bout at a time: each state with probability proportional to its
    bouts left, among the states that are not the previous one and leave an arrangeable
    rest (so no draw gets stuck)."""
    n = seq.size
    left = np.broadcast_to(np.bincount(seq, minlength=base), (n_perm, base)).copy()
    prev = np.full(n_perm, -1, dtype=np.int64)
    out = np.empty((n_perm, n), dtype=np.int64)
    states = np.arange(base)
    for t in range(n):
        # the rest after taking each state j: (n_perm, K candidates, K counts)
        rest = left[:, None, :] - np.eye(base, dtype=np.int64)[None]
        ok = ((left > 0) & (states[None] != prev[:, None])
              & _arrangeable(rest, np.broadcast_to(states, (n_perm, base))))
        weight = np.where(ok, left, 0).cumsum(axis=1)
        pick = rng.random(n_perm) * weight[:, -1]
        chosen = np.minimum((weight <= pick[:, None]).sum(axis=1), base - 1)
        out[:, t] = chosen
        left[np.arange(n_perm), chosen] -= 1
        prev = chosen
    return out


def shuffled_sequences(seqs: SequencesLike, n_perm: int = 1000, random_state: int | None = 0,
                       sweeps: int = 10) -> npt.NDArray[np.int64]:
    """Draw ``n_perm`` shuffles of bout sequences that keep their bout counts and never
    put two equal states side by side (the null model of :mod:`faceexpr.sequences`).

    Every shuffle of a sequence starts from its own random arrangement of the sequence's
    bouts (drawn bout by bout, each state in proportion to its bouts left, never the
    previous one), independent of the observed order, then runs ``sweeps × N`` proposals
    (``N`` bouts) of a Markov chain that swaps two bouts of one sequence unless that puts
    two equal states side by side; the chain leaves the uniform distribution over such
    arrangements unchanged and takes the start's leanings away.

    Parameters
    ----------
    seqs
        Bout sequences (:func:`bout_sequence`).
    n_perm
        Number of shuffles.
    random_state
        Seed.
    sweeps
        Proposed swaps per bout.

    Returns
    -------
    numpy.ndarray
        int64 ``(n_perm, L)``: every shuffle as one row of all sequences, each between
        ``-1`` separators (as the observed sequences are laid out internally).
    """
    if n_perm < 1:
        raise ValueError(f"n_perm must be at least 1, got {n_perm}")
    if sweeps < 0:
        raise ValueError(f"sweeps must be 0 or more, got {sweeps}")
    checked = _check_sequences(seqs)
    row = _padded(checked)
    lengths = np.array([s.size for s in checked], dtype=np.int64)
    movable = lengths > 1
    if not movable.any():
        return np.repeat(row[None], n_perm, axis=0)
    base = _base(checked)
    rng = np.random.default_rng(random_state)
    # small integers: the shuffles' random reads and writes stay in the processor's cache
    small = np.int8 if base <= np.iinfo(np.int8).max else np.int16
    arr = np.repeat(row.astype(small)[None], n_perm, axis=0)
    firsts = np.cumsum(np.concatenate([[1], lengths[:-1] + 1]))
    for k in np.flatnonzero(movable):
        arr[:, firsts[k]:firsts[k] + lengths[k]] = _random_arrangements(
            checked[k], base, n_perm, rng)
    # the bouts that can move, their padded positions and sequences
    seq_of = np.repeat(np.flatnonzero(movable), lengths[movable])
    pos = np.concatenate([firsts[k] + np.arange(lengths[k]) for k in np.flatnonzero(movable)])
    n_bouts = pos.size
    flat = arr.reshape(-1)
    offset = np.arange(n_perm, dtype=np.int64) * row.size
    steps = sweeps * n_bouts
    block = max(1, min(steps, 1_000_000 // n_perm))
    done = 0
    while done < steps:
        m = min(block, steps - done)
        # where each proposal swaps does not depend on the shuffles so far: draw a block
        u = rng.integers(0, n_bouts, size=(m, n_perm))
        s = seq_of[u]
        first_i = offset + pos[u]
        first_j = offset + firsts[s] + (rng.random((m, n_perm)) * lengths[s]).astype(np.int64)
        # the left end of the four pairs a swap can spoil: (i-1, i), (i, i+1), (j-1, j), (j, j+1)
        left = np.stack([first_i - 1, first_i, first_j - 1, first_j], axis=1)
        for t in range(m):
            i, j = first_i[t], first_j[t]
            vi, vj = flat[i], flat[j]
            flat[i], flat[j] = vj, vi
            # separators (-1) never equal a state
            bad = (flat[left[t]] == flat[left[t] + 1]).any(axis=0)
            if bad.any():
                flat[i[bad]], flat[j[bad]] = vi[bad], vj[bad]
        done += m
    return arr.astype(np.int64)


def _benjamini_hochberg(p: FloatArray) -> FloatArray:
    """Benjamini–Hochberg adjusted p-values (q-values), capped at 1."""
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p)
    scaled = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    return out


def _from_pairs(code: int, n: int, base: int, pairs: dict[tuple[int, int], int],
                leaving: dict[int, int]) -> float:
    """Expected count of an n-gram from the 2-gram counts alone (first-order chain)."""
    states = _decode(code, n, base)
    expected = float(pairs.get((states[0], states[1]), 0))
    for x, y in itertools.pairwise(states[1:]):
        total = leaving.get(x, 0)
        expected *= pairs.get((x, y), 0) / total if total else 0.0
    return expected


def shuffled_baseline(
    seqs: SequencesLike,
    n: int | Sequence[int] = (2, 3, 4),
    n_perm: int = 1000,
    random_state: int | None = 0,
    alpha: float = ALPHA,
    sweeps: int = 10,
) -> pd.DataFrame:
    """Compare the n-gram counts of bout sequences with their shuffled baseline.

    Parameters
    ----------
    seqs
        Bout sequences (:func:`bout_sequence`).
    n
        n-gram length(s); all lengths are counted on the same shuffles.
    n_perm
        Shuffles (:func:`shuffled_sequences`).
    random_state
        Seed of the shuffles.
    alpha
        False discovery rate of ``above_chance`` (Benjamini–Hochberg within each ``n``).
    sweeps
        Proposed swaps per bout and shuffle (see :func:`shuffled_sequences`).

    Returns
    -------
    pandas.DataFrame
        One row per n-gram that occurs, sorted by ``n`` and then by count (largest first):
        ``ngram`` (``"0-2-1"``), ``n``, ``count``, ``expected`` (mean count over the
        shuffles), ``expected_from_pairs`` (count the 2-gram frequencies alone predict;
        NaN for ``n`` below 3), ``ratio`` (``count / expected``), ``p_value``
        (one-sided, +1 corrected), ``q_value`` (Benjamini–Hochberg, over every n-gram of
        that length seen in the data or a shuffle) and ``above_chance``
        (``q_value <= alpha``). ``attrs`` hold ``n_perm``, ``alpha``, ``n_bouts``,
        ``n_sequences`` and ``tested`` (n-grams tested per length).

    Examples
    --------
    >>> cycle = [[0, 1, 2] * 10]
    >>> table = shuffled_baseline(cycle, n=3, n_perm=200)
    >>> top = table.iloc[0]
    >>> str(top["ngram"]), int(top["count"]), bool(top["above_chance"])
    ('0-1-2', 10, True)
    """
    lengths = [n] if isinstance(n, (int, np.integer)) else list(n)
    if not lengths or min(lengths) < 1:
        raise ValueError(f"n-gram lengths must be at least 1, got {lengths}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    checked = _check_sequences(seqs)
    base = _base(checked)
    row = _padded(checked)
    perms = shuffled_sequences(checked, n_perm, random_state, sweeps)
    pair_codes = _codes(row, 2, base)
    pair_codes = pair_codes[pair_codes >= 0]
    pairs: dict[tuple[int, int], int] = {(int(c) // base, int(c) % base): int(k)
             for c, k in zip(*np.unique(pair_codes, return_counts=True))}
    leaving: dict[int, int] = {}
    for (x, _), k in pairs.items():
        leaving[x] = leaving.get(x, 0) + k
    columns = ["ngram", "n", "count", "expected", "expected_from_pairs", "ratio", "p_value",
               "q_value", "above_chance"]
    tables, tested = [], {}
    for size in sorted(set(int(v) for v in lengths)):
        observed = _codes(row, size, base)
        observed = observed[observed >= 0]
        shuffled = _codes(perms, size, base)
        candidates = np.unique(np.concatenate([observed, shuffled[shuffled >= 0]]))
        m = candidates.size
        tested[size] = int(m)
        if m == 0:
            continue
        obs_count = np.bincount(np.searchsorted(candidates, observed), minlength=m)
        # count in chunks of shuffles: many states and n = 4 make many candidates
        total, at_least = np.zeros(m), np.zeros(m, dtype=np.int64)
        chunk = max(1, 4_000_000 // m)
        for lo in range(0, n_perm, chunk):
            part = shuffled[lo:lo + chunk]
            valid = part >= 0
            rows_of = np.broadcast_to(np.arange(len(part))[:, None], part.shape)[valid]
            index = np.searchsorted(candidates, part[valid])
            counts = np.bincount(rows_of * m + index, minlength=len(part) * m)
            counts = counts.reshape(len(part), m)
            total += counts.sum(axis=0)
            at_least += (counts >= obs_count[None]).sum(axis=0)
        p = np.asarray((1.0 + at_least) / (1.0 + n_perm), dtype=np.float64)
        q = _benjamini_hochberg(p)
        expected = total / n_perm
        seen = obs_count > 0
        codes = candidates[seen]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = obs_count[seen] / expected[seen]
        tables.append(pd.DataFrame({
            "ngram": [format_ngram(_decode(int(c), size, base)) for c in codes],
            "n": size,
            "count": obs_count[seen].astype(np.int64),
            "expected": expected[seen],
            "expected_from_pairs": [
                _from_pairs(int(c), size, base, pairs, leaving) if size >= 3 else math.nan
                for c in codes],
            "ratio": ratio,
            "p_value": p[seen],
            "q_value": q[seen],
            "above_chance": q[seen] <= alpha,
        }))
    table = (pd.concat(tables, ignore_index=True) if tables
             else pd.DataFrame({c: [] for c in columns}))
    table = table.astype({"n": np.int64, "count": np.int64, "above_chance": bool})
    table = table.sort_values(["n", "count", "ngram"], ascending=[True, False, True],
                              ignore_index=True)[columns]
    table.attrs.update({"n_perm": int(n_perm), "alpha": float(alpha),
                        "n_bouts": int(sum(s.size for s in checked)),
                        "n_sequences": len(checked), "tested": tested})
    return table


# --------------------------------------------------------------------------- entropy


def bout_transition_counts(seqs: SequencesLike, n_states: int) -> xr.DataArray:
    """Count successive bouts ``(from_state, to_state)`` (never a state to itself).

    Examples
    --------
    >>> bout_transition_counts([[0, 1, 0, 1]], 2).values.tolist()
    [[0, 2], [1, 0]]
    """
    checked = _check_sequences(seqs)
    if checked and _base(checked) > n_states:
        raise InvalidStatesError(f"state {_base(checked) - 1} is out of range for "
                                 f"n_states={n_states}")
    counts = np.zeros((n_states, n_states), dtype=np.int64)
    for s in checked:
        np.add.at(counts, (s[:-1], s[1:]), 1)
    coords = np.arange(n_states)
    return xr.DataArray(counts, dims=("from_state", "to_state"),
                        coords={"from_state": coords, "to_state": coords},
                        name="bout_transition_counts")


def stationary_distribution(transmat: npt.ArrayLike) -> FloatArray:
    """Return the stationary distribution ``π = π P`` of a transition matrix.

    Raises
    ------
    ValueError
        If the matrix is not square, has NaN rows, or has no unique stationary
        distribution (several closed classes of states).
    """
    p = np.asarray(transmat, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != p.shape[1]:
        raise ValueError(f"the transition matrix must be square, got shape {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError("the transition matrix has NaN rows (states never left); give "
                         "the stationary distribution")
    values, vectors = np.linalg.eig(p.T)
    ones = np.flatnonzero(np.abs(values - 1.0) < 1e-8)
    if ones.size != 1:
        raise ValueError(f"the chain has {ones.size} stationary distributions; give one")
    pi = np.abs(np.real(vectors[:, ones[0]]))
    return np.asarray(pi / pi.sum(), dtype=np.float64)


def entropy_rate(transmat: npt.ArrayLike, stationary: npt.ArrayLike | None = None) -> float:
    """Return the entropy rate of a Markov chain in bits per step.

    ``H = −Σ_i π_i Σ_j P_ij log2 P_ij``: how unpredictable the next state is given the
    current one, averaged over the states as often as they occur.

    Parameters
    ----------
    transmat
        ``(K, K)`` transition probabilities (rows sum to 1; NaN rows allowed where the
        stationary weight is 0).
    stationary
        Weight of each state (normalised here), e.g. how often each is left; default the
        chain's stationary distribution (:func:`stationary_distribution`).

    Examples
    --------
    >>> entropy_rate([[0.0, 1.0], [1.0, 0.0]]), entropy_rate([[0.5, 0.5], [0.5, 0.5]])
    (0.0, 1.0)
    """
    p = np.asarray(transmat, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != p.shape[1]:
        raise ValueError(f"the transition matrix must be square, got shape {p.shape}")
    pi = (stationary_distribution(p) if stationary is None
          else np.asarray(stationary, dtype=np.float64).ravel())
    if pi.shape != (p.shape[0],) or np.any(pi < 0) or not pi.sum() > 0:
        raise ValueError(f"the stationary weights must be {p.shape[0]} non-negative "
                         "numbers, not all 0")
    pi = pi / pi.sum()
    used = pi > 0
    rows = p[used]
    if not np.all(np.isfinite(rows)):
        raise ValueError("a state with stationary weight has a NaN transition row")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(rows > 0, rows * np.log2(rows), 0.0)
    rate = -float(pi[used] @ terms.sum(axis=1))
    return rate if rate > 0 else 0.0  # rounding, and -0.0
