"""Choosing K (blocked CV, BIC/ICL/AIC), --n-states auto, and matching states across models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import faceexpr as fe
from faceexpr.analysis import match_means, match_states, relabel, state_agreement
from faceexpr.cli import main
from faceexpr.model_selection import (
    autocorrelation_time,
    blocked_folds,
    effective_frames,
    fold_bounds,
    pick,
    select_n_states,
    sticky_priors,
)
from faceexpr.synthetic import simulate


def features_of(pose: xr.Dataset) -> list[xr.DataArray]:
    pipe = fe.Pipeline(standardize=True, pca=10, progress=False)
    ego = pipe.clean(pose)
    return pipe.features([ego], [fe.features.head_kinematics(ego)])


@pytest.fixture(scope="module")
def five() -> tuple[list[xr.DataArray], xr.DataArray]:
    # expressions switch at once (ease=0): the data are an HMM with exactly 5 states
    sim = simulate(1500, n_expressions=5, ease=0.0, seed=3)
    return features_of(sim.pose3d), sim.states


def test_table_and_criteria(five: tuple[list[xr.DataArray], xr.DataArray]) -> None:
    feats, truth = five
    sel = select_n_states(feats, [3, 5, 7], n_init=2, criterion="cv")
    table = sel.table
    assert table.columns.tolist() == [
        "n_states", "log_likelihood", "n_parameters", "n_frames", "n_effective_frames",
        "posterior_entropy", "bic", "icl", "aic", "log_likelihood_per_frame",
        "bic_per_frame", "icl_per_frame", "aic_per_frame", "cv_mean", "cv_se",
        "cv_se_vs_best", "chosen"]
    assert table["n_states"].tolist() == [3, 5, 7]
    n, p, ll = table["n_frames"], table["n_parameters"], table["log_likelihood"]
    np.testing.assert_allclose(table["bic"], -2 * ll + p * np.log(n))
    np.testing.assert_allclose(table["aic"], -2 * ll + 2 * p)
    np.testing.assert_allclose(table["icl"], table["bic"] + 2 * table["posterior_entropy"])
    np.testing.assert_allclose(table["bic_per_frame"], table["bic"] / (-2 * n))
    assert (table["posterior_entropy"] >= 0).all()
    assert p.tolist() == [sel.models[k].n_parameters() for k in (3, 5, 7)]
    assert sel.criterion == "cv" and sel.best == 5
    assert table["chosen"].tolist() == [False, True, False]
    # five contiguous folds per candidate, each scored per held-out frame
    assert sel.folds.shape[0] == 15 and sel.folds["n_frames"].sum() == 3 * n[0]
    np.testing.assert_allclose(
        sel.folds.groupby("n_states")["heldout_log_likelihood"].mean(), table["cv_mean"])
    assert [pick(table, c) for c in ("cv", "bic", "icl")] == [5, 5, 5]
    assert not sel.at_edge and sel.edge_message() is None
    assert state_agreement(truth, sel.model.predict(feats[0])) > 0.95


def test_one_standard_error_rule_prefers_fewer_states() -> None:
    table = pd.DataFrame({"n_states": [2, 3, 4, 5], "cv_mean": [-5.0, -3.0, -2.9, -2.8],
                          "cv_se": [0.1, 0.2, 0.2, 0.25]})
    # without paired errors: 3 lies within one SE of the best mean (5: -2.8 - 0.25)
    assert pick(table, "cv") == 3
    table["cv_se"] = 0.01
    assert pick(table, "cv") == 5
    # with them, each candidate's own error of its difference from the best decides
    table["cv_se_vs_best"] = [3.0, 0.1, 0.15, 0.0]
    assert pick(table, "cv") == 2
    table["cv_se_vs_best"] = [0.1, 0.1, 0.15, 0.0]
    assert pick(table, "cv") == 4


def test_blocked_folds_are_contiguous_and_never_join_the_gap() -> None:
    seq = fe.make_features(np.arange(40.0).reshape(20, 2), ["a", "b"])
    folds = blocked_folds([seq, seq], 4)
    assert len(folds) == 4
    train, test = folds[1]
    assert [t.sizes["time"] for t in test] == [5, 5]
    assert test[0].values[:, 0].tolist() == [10.0, 12.0, 14.0, 16.0, 18.0]
    # the frames before and after the held-out block are separate sequences
    assert [t.sizes["time"] for t in train] == [5, 10, 5, 10]
    assert fold_bounds(10, 3) == [(0, 3), (3, 7), (7, 10)]
    with pytest.raises(fe.FaceexprError, match="too short"):
        blocked_folds([seq.isel(time=slice(0, 5))], 4)


def test_effective_frames_follow_the_autocorrelation() -> None:
    rng = np.random.default_rng(0)
    white = rng.standard_normal((4000, 2))
    assert 0.8 < autocorrelation_time(white[:, 0]) < 1.3
    # an AR(1) with a = 0.9 has an integrated autocorrelation time (1 + a) / (1 - a) = 19
    ar = np.zeros(4000)
    for t in range(1, 4000):
        ar[t] = 0.9 * ar[t - 1] + rng.standard_normal()
    assert 14 < autocorrelation_time(ar) < 25
    n = effective_frames(fe.make_features(np.c_[ar, ar], ["a", "b"]))
    assert 4000 / 25 < n < 4000 / 14


def test_sticky_priors_give_the_expected_dwell() -> None:
    priors = sticky_priors(30.0, 4)
    k = 4
    pseudo = np.full((k, k), priors["transition_concentration"] - 1) + priors[
        "stickiness"] * np.eye(k)
    # alone, the prior's rows stay with probability 1 - 1/30: a mean dwell of 30 frames
    np.testing.assert_allclose(np.diag(pseudo) / pseudo.sum(axis=1), 1 - 1 / 30)
    assert pseudo.sum(axis=1)[0] == pytest.approx(30.0)  # worth one bout of 30 frames
    with pytest.raises(fe.ParameterError, match="at least one frame"):
        sticky_priors(0.5, 3)


def test_parallel_fits_equal_serial_fits(
        five: tuple[list[xr.DataArray], xr.DataArray], capsys: pytest.CaptureFixture[str]
) -> None:
    feats, _ = five
    serial = select_n_states(feats, [3, 5], n_init=2, n_jobs=1, cv_folds=2)
    parallel = select_n_states(feats, [3, 5], n_init=2, n_jobs=2, cv_folds=2, progress=True)
    pd.testing.assert_frame_equal(serial.table, parallel.table, rtol=1e-10)
    for k in (3, 5):
        np.testing.assert_allclose(parallel.models[k].means_, serial.models[k].means_,
                                   rtol=1e-10)
    bar = capsys.readouterr().err
    # one bar over every fit: 2 candidates x (all frames + 2 folds) x 2 restarts
    assert "2 candidates x 3 fits x 2 restart(s)" in bar and "/12 " in bar


def test_bad_arguments(five: tuple[list[xr.DataArray], xr.DataArray]) -> None:
    feats, _ = five
    with pytest.raises(ValueError, match="n_jobs must be a positive"):
        select_n_states(feats, [2], n_jobs=0)
    with pytest.raises(fe.ParameterError, match="--jobs"):
        fe.Pipeline(n_jobs=-1).check()
    with pytest.raises(ValueError, match="criterion must be one of"):
        select_n_states(feats, [2], criterion="bayes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs cv_folds"):
        select_n_states(feats, [2], criterion="cv", cv_folds=None)
    with pytest.raises(ValueError, match="positive numbers of states"):
        select_n_states(feats, [0, 2])
    for bad in ({"cv_folds": 1}, {"n_init": 0}, {"dwell_time": -1.0}, {"stability": -2}):
        with pytest.raises(fe.ParameterError):
            fe.Pipeline(**bad).check()  # type: ignore[arg-type]


def test_analyze_n_states_auto_picks_five_expressions(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sim = simulate(1500, n_expressions=5, ease=0.0, seed=2)
    csv = sim.write_anipose_csv(tmp_path / "pose-3d.csv")
    out = tmp_path / "out"
    assert main(["analyze", str(csv), "--n-states", "auto", "--candidates", "4", "7",
                 "--n-init", "2", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    # the default criterion, ICL, with an autoregressive model of 3 components; BIC
    # agrees (cross-validation prefers more states here)
    assert "icl chooses 5 states (cv 7, bic 5, icl 5, aic" in printed
    table = pd.read_csv(out / "model_selection.csv")
    assert table["n_states"].tolist() == [4, 5, 6, 7]
    assert int(table.loc[table["bic"].idxmin(), "n_states"]) == 5
    assert (out / "model_selection.png").exists()
    assert "model_selection.png" in (out / "report.html").read_text()
    assert pd.read_csv(out / "frequencies.csv").shape[0] == 5


def test_n_states_must_be_a_number_or_auto(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["analyze", "x.csv", "--n-states", "many"])
    assert exc.value.code == 2
    with pytest.raises(ValueError, match="positive number or 'auto'"):
        fe.Pipeline(n_states=0, progress=False).run(simulate(200, seed=1).pose3d)


def test_match_states_across_different_k() -> None:
    ref = xr.DataArray([0, 0, 1, 1, 2, 2], dims="time")
    other = xr.DataArray([3, 3, 0, 0, 1, 2], dims="time")  # K=4: state 2 splits state 2
    mapping = match_states(ref, other, 3, n_other=4)
    assert mapping.tolist() == [1, 2, 3, 0] or mapping.tolist() == [1, 3, 2, 0]
    assert sorted(mapping.tolist()) == [0, 1, 2, 3]
    assert relabel(other, mapping).values.tolist()[:4] == [0, 0, 1, 1]


def test_match_means_relabels_a_second_fit(five: tuple[list[xr.DataArray], xr.DataArray]
                                           ) -> None:
    feats, _ = five
    a = fe.state_model("hmmlearn", n_states=5, random_state=0).fit(feats)
    b = fe.state_model("hmmlearn", n_states=5, random_state=7, n_init=2).fit(feats)
    mapping = match_means(a.means_, b.means_)
    pa, pb = a.predict(feats[0]), relabel(b.predict(feats[0]), mapping)
    agree = float((pa.values == pb.values).mean())
    assert agree > 0.97  # same labels frame by frame, not only the same partition
    assert mapping.tolist() == match_states(pa, b.predict(feats[0]), 5).tolist()
    with pytest.raises(fe.InvalidStatesError, match="same features"):
        match_means(a.means_, b.means_[:, :3])
