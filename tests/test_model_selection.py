"""Choosing K (BIC/AIC/held-out), --n-states auto, and matching states across models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import faceexpr as fe
from faceexpr.analysis import match_means, match_states, relabel, state_agreement
from faceexpr.cli import main
from faceexpr.model_selection import select_n_states, split_heldout
from faceexpr.synthetic import simulate


def features_of(pose: xr.Dataset) -> list[xr.DataArray]:
    pipe = fe.Pipeline(progress=False)
    ego = pipe.clean(pose)
    return pipe.features([ego], [fe.features.head_kinematics(ego)])


@pytest.fixture(scope="module")
def five() -> tuple[list[xr.DataArray], xr.DataArray]:
    # expressions switch at once (ease=0): the data are an HMM with exactly 5 states
    sim = simulate(1500, n_expressions=5, ease=0.0, seed=3)
    return features_of(sim.pose3d), sim.states


def test_table_and_criteria(five: tuple[list[xr.DataArray], xr.DataArray]) -> None:
    feats, truth = five
    sel = select_n_states(feats, [3, 5, 7], criterion="heldout", n_init=2)
    table = sel.table
    assert table.columns.tolist() == ["n_states", "log_likelihood", "n_parameters", "n_frames",
                                      "bic", "aic", "heldout_log_likelihood", "chosen"]
    assert table["n_states"].tolist() == [3, 5, 7]
    n, p, ll = table["n_frames"], table["n_parameters"], table["log_likelihood"]
    np.testing.assert_allclose(table["bic"], -2 * ll + p * np.log(n))
    np.testing.assert_allclose(table["aic"], -2 * ll + 2 * p)
    assert p.tolist() == [sel.models[k].n_parameters() for k in (3, 5, 7)]
    assert sel.best == 5 and table["chosen"].tolist() == [False, True, False]
    assert table["heldout_log_likelihood"].idxmax() == table["bic"].idxmin() == 1
    assert state_agreement(truth, sel.model.predict(feats[0])) > 0.95


def test_parallel_fits_equal_serial_fits(
        five: tuple[list[xr.DataArray], xr.DataArray], capsys: pytest.CaptureFixture[str]
) -> None:
    feats, _ = five
    serial = select_n_states(feats, [3, 5], n_init=2, n_jobs=1)
    parallel = select_n_states(feats, [3, 5], n_init=2, n_jobs=2, progress=True)
    pd.testing.assert_frame_equal(serial.table, parallel.table, rtol=1e-10)
    for k in (3, 5):
        np.testing.assert_allclose(parallel.models[k].means_, serial.models[k].means_,
                                   rtol=1e-10)
    bar = capsys.readouterr().err
    # one bar over every fit: 2 candidates x (all frames, training part) x 2 restarts
    assert "2 candidates x 2 fits x 2 restart(s)" in bar and "/8 " in bar


def test_heldout_split_keeps_the_end_of_every_sequence() -> None:
    seq = fe.make_features(np.arange(20.0).reshape(10, 2), ["a", "b"])
    train, test = split_heldout([seq, seq], 0.3)
    assert [t.sizes["time"] for t in train] == [7, 7]
    assert test[0].values[0].tolist() == [14.0, 15.0]
    with pytest.raises(ValueError, match="between 0 and 1"):
        split_heldout([seq], 1.5)
    with pytest.raises(fe.FaceexprError, match="too short"):
        split_heldout([seq.isel(time=slice(0, 3))], 0.2)


def test_bad_arguments(five: tuple[list[xr.DataArray], xr.DataArray]) -> None:
    feats, _ = five
    with pytest.raises(ValueError, match="n_jobs must be a positive"):
        select_n_states(feats, [2], n_jobs=0)
    with pytest.raises(fe.ParameterError, match="--jobs"):
        fe.Pipeline(n_jobs=-1).check()
    with pytest.raises(ValueError, match="criterion must be one of"):
        select_n_states(feats, [2], criterion="bayes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs a heldout_fraction"):
        select_n_states(feats, [2], criterion="heldout", heldout_fraction=None)
    with pytest.raises(ValueError, match="positive numbers of states"):
        select_n_states(feats, [0, 2])


def test_analyze_n_states_auto_picks_five_expressions(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sim = simulate(1500, n_expressions=5, ease=0.0, seed=2)
    csv = sim.write_anipose_csv(tmp_path / "pose-3d.csv")
    out = tmp_path / "out"
    assert main(["analyze", str(csv), "--n-states", "auto", "--candidates", "4", "7",
                 "--n-init", "2", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "bic chooses 5 states" in printed
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
