"""Tests of faceexpr.analysis on hand-built state sequences with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from faceexpr.analysis import (
    InvalidStatesError,
    bouts,
    dwell_times,
    kinematics_by_state,
    match_states,
    relabel,
    state_agreement,
    state_frequencies,
    state_means,
    state_stds,
    summarize,
    transition_counts,
    transition_matrix,
)
from faceexpr.data import make_pose

SEQ = [0, 0, 1, 1, 1, -1, 2, 2, 0]
K = 4  # state 3 never occurs


def states_of(values: list[int], fps: float | None = None) -> xr.DataArray:
    da = xr.DataArray(np.asarray(values, dtype=np.int64), dims="time", name="state")
    if fps is not None:
        da.attrs["fps"] = fps
    return da


# --------------------------------------------------------------------------- bouts


def test_bouts_rows_exact() -> None:
    table = bouts(states_of(SEQ), fps=2.0)
    assert list(table.columns) == [
        "session", "state", "start_frame", "stop_frame", "n_frames", "start_s", "seconds",
        "censored",
    ]
    assert table["session"].tolist() == [0, 0, 0, 0]
    assert table["state"].tolist() == [0, 1, 2, 0]
    assert table["start_frame"].tolist() == [0, 2, 6, 8]
    assert table["stop_frame"].tolist() == [2, 5, 8, 9]
    assert table["n_frames"].tolist() == [2, 3, 2, 1]
    assert table["start_s"].tolist() == [0.0, 1.0, 3.0, 4.0]
    assert table["seconds"].tolist() == [1.0, 1.5, 1.0, 0.5]
    # start, gap after, gap before, end: no bout of SEQ has a known length
    assert table["censored"].tolist() == [True, True, True, True]


def test_bouts_do_not_cross_sessions_and_fps_from_attrs() -> None:
    table = bouts([states_of([0, 0, 1], fps=10.0), states_of([1, 1, 0], fps=10.0)])
    assert table["session"].tolist() == [0, 0, 1, 1]
    assert table["state"].tolist() == [0, 1, 1, 0]
    assert table["start_frame"].tolist() == [0, 2, 0, 2]
    assert table["n_frames"].tolist() == [2, 1, 2, 1]
    np.testing.assert_allclose(table["seconds"], [0.2, 0.1, 0.2, 0.1])


def test_bouts_without_fps_have_nan_seconds() -> None:
    table = bouts(states_of([-1, 3, 3, -1, -1]))
    assert table["state"].tolist() == [3]
    assert table["start_frame"].tolist() == [1]
    assert table["stop_frame"].tolist() == [3]
    assert table["seconds"].isna().all()
    assert table["start_s"].isna().all()


def test_bouts_of_all_missing_and_empty() -> None:
    assert len(bouts(states_of([-1, -1]))) == 0
    assert len(bouts(states_of([]))) == 0


# --------------------------------------------------------------------------- frequencies


def test_state_frequencies_exact() -> None:
    freq = state_frequencies(states_of(SEQ), K, fps=2.0)
    assert list(freq.index) == [0, 1, 2, 3]
    assert freq.index.name == "state"
    assert list(freq.columns) == [
        "n_frames", "seconds", "relative", "n_bouts", "bouts_per_minute"
    ]
    assert freq["n_frames"].tolist() == [3, 3, 2, 0]
    assert freq["seconds"].tolist() == [1.5, 1.5, 1.0, 0.0]
    assert freq["relative"].tolist() == [3 / 8, 3 / 8, 2 / 8, 0.0]
    assert freq["n_bouts"].tolist() == [2, 1, 1, 0]
    # 8 assigned frames at 2 fps = 4 s = 1/15 min
    np.testing.assert_allclose(freq["bouts_per_minute"], [30.0, 15.0, 15.0, 0.0])


def test_state_frequencies_sum_over_sessions_and_no_fps() -> None:
    freq = state_frequencies([states_of([0, 0, 1]), states_of([1, 1, -1, 0])], 3)
    assert freq["n_frames"].tolist() == [3, 3, 0]
    assert freq["n_bouts"].tolist() == [2, 2, 0]
    assert freq["relative"].tolist() == [0.5, 0.5, 0.0]
    assert freq["seconds"].isna().all()
    assert freq["bouts_per_minute"].isna().all()


def test_state_frequencies_fps_from_attrs() -> None:
    freq = state_frequencies(states_of(SEQ, fps=4.0), K)
    assert freq["seconds"].tolist() == [0.75, 0.75, 0.5, 0.0]


def test_out_of_range_label_raises() -> None:
    with pytest.raises(InvalidStatesError, match="out of range"):
        state_frequencies(states_of([0, 5]), 3)
    with pytest.raises(InvalidStatesError, match=">= -1"):
        bouts(states_of([0, -2]))


def test_different_session_fps_raises() -> None:
    with pytest.raises(InvalidStatesError, match="frame rates"):
        bouts([states_of([0], fps=10.0), states_of([0], fps=20.0)])


# --------------------------------------------------------------------------- dwell times


def test_dwell_times_exact() -> None:
    # SEQ framed by other states, so that every bout of SEQ but the one cut by the gap
    # is complete
    dwell = dwell_times(states_of([3, *SEQ[:5], 3, *SEQ[6:], 3]), K, fps=2.0)
    assert list(dwell.columns) == [
        "n_bouts", "n_censored", "mean_frames", "median_frames", "max_frames", "mean_s",
        "median_s",
    ]
    assert dwell["n_bouts"].tolist() == [2, 1, 1, 3]
    assert dwell["n_censored"].tolist() == [0, 0, 0, 2]  # first and last frame
    assert dwell.loc[0, "mean_frames"] == 1.5
    assert dwell.loc[0, "median_frames"] == 1.5
    assert dwell.loc[0, "max_frames"] == 2.0
    assert dwell.loc[1, "median_frames"] == 3.0
    assert dwell.loc[2, "median_frames"] == 2.0
    assert dwell.loc[3, "mean_frames"] == 1.0
    assert dwell.loc[0, "mean_s"] == 0.75
    assert dwell.loc[1, "median_s"] == 1.5
    empty = dwell_times(states_of(SEQ), K + 1)
    assert empty.loc[4, "n_bouts"] == 0
    assert empty.loc[4].drop(["n_bouts", "n_censored"]).isna().all()


def test_dwell_times_median_of_odd_count() -> None:
    dwell = dwell_times(states_of([1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1]), 2)
    # complete bouts of state 0: 1, 4, 2 frames
    assert dwell.loc[0, "median_frames"] == 2.0
    assert dwell.loc[0, "max_frames"] == 4.0
    assert dwell["median_s"].isna().all()


# --------------------------------------------------------------------------- transitions


def test_transition_counts_skip_missing_frames() -> None:
    counts = transition_counts(states_of(SEQ), K)
    assert counts.dims == ("from_state", "to_state")
    expected = np.zeros((4, 4), dtype=np.int64)
    expected[0, 0] = 1
    expected[0, 1] = 1
    expected[1, 1] = 2
    expected[2, 2] = 1
    expected[2, 0] = 1
    np.testing.assert_array_equal(counts.values, expected)
    assert int(counts.sum()) == 6  # 8 pairs minus the two touching the -1 frame


def test_transition_counts_do_not_cross_sessions() -> None:
    counts = transition_counts([states_of([0, 0, 1]), states_of([1, 1, 0])], 2)
    np.testing.assert_array_equal(counts.values, [[1, 1], [1, 1]])
    joined = transition_counts(states_of([0, 0, 1, 1, 1, 0]), 2)
    np.testing.assert_array_equal(joined.values, [[1, 1], [1, 2]])


def test_transition_matrix_rows() -> None:
    probs = transition_matrix(states_of(SEQ), K)
    np.testing.assert_allclose(probs.sel(from_state=0).values, [0.5, 0.5, 0.0, 0.0])
    np.testing.assert_allclose(probs.sel(from_state=1).values, [0.0, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(probs.sel(from_state=2).values, [0.5, 0.0, 0.5, 0.0])
    assert bool(probs.sel(from_state=3).isnull().all())
    np.testing.assert_allclose(probs.sum("to_state").values[:3], 1.0)


# --------------------------------------------------------------------------- pose means


def small_pose() -> xr.Dataset:
    position = np.array(
        [
            [[0.0, 0.0], [10.0, 20.0]],
            [[2.0, 4.0], [np.nan, np.nan]],
            [[4.0, 8.0], [30.0, 40.0]],
            [[100.0, 100.0], [100.0, 100.0]],
        ]
    )
    return make_pose(position, ["nose", "chin"], fps=30.0)


def test_state_means_exact() -> None:
    means = state_means(small_pose(), states_of([0, 1, 0, -1]), 3)
    assert means.dims == ("states", "landmarks", "space")
    assert means["landmarks"].values.tolist() == ["nose", "chin"]
    np.testing.assert_array_equal(means.sel(states=0).values, [[2.0, 4.0], [20.0, 30.0]])
    np.testing.assert_array_equal(means.sel(states=1, landmarks="nose").values, [2.0, 4.0])
    assert bool(means.sel(states=1, landmarks="chin").isnull().all())  # only NaN frames
    assert bool(means.sel(states=2).isnull().all())  # empty state


def test_state_stds_exact() -> None:
    stds = state_stds(small_pose(), states_of([0, 1, 0, -1]), 3)
    np.testing.assert_array_equal(stds.sel(states=0).values, [[2.0, 4.0], [10.0, 10.0]])
    np.testing.assert_array_equal(stds.sel(states=1, landmarks="nose").values, [0.0, 0.0])
    assert bool(stds.sel(states=2).isnull().all())


def test_state_means_over_sessions() -> None:
    pose = small_pose()
    means = state_means(
        [pose, pose.isel(time=[3])], [states_of([0, 1, 0, -1]), states_of([2])], 3
    )
    np.testing.assert_array_equal(means.sel(states=2).values, [[100.0, 100.0]] * 2)
    np.testing.assert_array_equal(means.sel(states=0, landmarks="nose").values, [2.0, 4.0])


def test_state_means_length_mismatch_raises() -> None:
    with pytest.raises(InvalidStatesError, match="frames"):
        state_means(small_pose(), states_of([0, 1]), 2)


# --------------------------------------------------------------------------- kinematics


def test_kinematics_by_state_exact() -> None:
    kin = xr.Dataset(
        {
            "head_speed": ("time", [1.0, 2.0, 3.0, 4.0, np.nan, 6.0]),
            "head_velocity": (
                ("time", "space"),
                [[1.0, -1.0], [3.0, -3.0], [0.0, 5.0], [2.0, 5.0], [4.0, 5.0], [9.0, 9.0]],
            ),
            "landmark_speed": (("time", "landmarks"), np.ones((6, 2))),
        },
        coords={"space": ["x", "y"]},
    )
    table = kinematics_by_state(kin, states_of([0, 0, 1, 1, 1, -1]), 3)
    assert list(table.index) == [0, 1, 2]
    assert list(table.columns) == [
        f"{series}_{stat}"
        for series in ("head_speed", "head_velocity_x", "head_velocity_y")
        for stat in ("mean", "std", "median")
    ]
    assert table.loc[0, "head_speed_mean"] == 1.5
    assert table.loc[0, "head_speed_median"] == 1.5
    assert table.loc[0, "head_speed_std"] == pytest.approx(math.sqrt(0.5))
    assert table.loc[1, "head_speed_mean"] == 3.5  # the NaN frame is ignored
    assert table.loc[1, "head_velocity_x_mean"] == 2.0
    assert table.loc[1, "head_velocity_x_std"] == 2.0
    assert table.loc[1, "head_velocity_x_median"] == 2.0
    assert table.loc[0, "head_velocity_y_mean"] == -2.0
    assert table.loc[1, "head_velocity_y_std"] == 0.0
    assert table.loc[2].isna().all()


# --------------------------------------------------------------------------- comparisons


def random_labels(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    labels = rng.integers(0, k, size=n)
    labels[rng.random(n) < 0.1] = -1
    return labels


def test_match_states_recovers_permutation() -> None:
    rng = np.random.default_rng(0)
    k = 5
    ref = random_labels(rng, 2000, k)
    perm = np.array([3, 0, 4, 1, 2])
    other = np.where(ref >= 0, perm[np.maximum(ref, 0)], -1)
    mapping = match_states(states_of(ref.tolist()), states_of(other.tolist()), k)
    np.testing.assert_array_equal(mapping, np.argsort(perm))
    back = relabel(states_of(other.tolist(), fps=30.0), mapping)
    np.testing.assert_array_equal(back.values, ref)
    assert back.attrs["fps"] == 30.0
    assert state_agreement(states_of(ref.tolist()), back) == 1.0


def test_match_states_with_noise_and_lists() -> None:
    ref = [0, 0, 0, 1, 1, 1, 2, 2]
    other = [1, 1, 2, 2, 2, 2, 0, 0]  # one frame of ref-state 0 disagrees
    mapping = match_states([states_of(ref[:4]), states_of(ref[4:])],
                           [states_of(other[:4]), states_of(other[4:])], 3)
    assert mapping.tolist() == [2, 0, 1]


def test_relabel_keeps_missing() -> None:
    out = relabel(states_of([2, -1, 0, 1]), [1, 2, 0])
    assert out.values.tolist() == [0, -1, 1, 2]
    assert out.dims == ("time",)


def test_state_agreement() -> None:
    a = states_of([0, 0, 1, 1, 2, -1])
    b = states_of([2, 2, 0, 0, 1, 1])
    assert state_agreement(a, b) == 1.0
    assert state_agreement(a, states_of([0, 1, 0, 1, 2, 2])) < 1.0
    rng = np.random.default_rng(1)
    x = states_of(random_labels(rng, 5000, 4).tolist())
    y = states_of(random_labels(rng, 5000, 4).tolist())
    assert abs(state_agreement(x, y)) < 0.1
    assert math.isnan(state_agreement(states_of([-1, 0]), states_of([0, -1])))


# --------------------------------------------------------------------------- summarize


def test_summarize_bundles() -> None:
    out = summarize(states_of(SEQ, fps=2.0), K)
    assert sorted(out) == [
        "bouts", "dwell_times", "frequencies", "transition_counts", "transition_matrix"
    ]
    freq = out["frequencies"]
    assert isinstance(freq, pd.DataFrame)
    assert freq["seconds"].tolist() == [1.5, 1.5, 1.0, 0.0]
    counts = out["transition_counts"]
    assert isinstance(counts, xr.DataArray)
    assert int(counts.sum()) == 6
