"""Results a researcher can trust: diagnostics, edge-of-range warnings, provenance and one
set of defaults, on synthetic recordings as short and hard as real ones."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from sklearn.metrics import adjusted_rand_score

import faceexpr as fe
from faceexpr import _defaults
from faceexpr.cli import main
from faceexpr.model_selection import pick
from faceexpr.synthetic.faces import short_recording


def lag1(values: np.ndarray) -> float:
    """Median lag-1 autocorrelation of the columns of ``values``."""
    out = []
    for v in values.T:
        ok = np.isfinite(v[1:]) & np.isfinite(v[:-1])
        out.append(np.corrcoef(v[1:][ok], v[:-1][ok])[0, 1])
    return float(np.median(out))


@pytest.fixture(scope="module")
def short() -> fe.synthetic.faces.SyntheticFace:
    return short_recording(0)


@pytest.fixture(scope="module")
def short_csv(tmp_path_factory: pytest.TempPathFactory,
              short: fe.synthetic.faces.SyntheticFace) -> Path:
    return short.write_anipose_csv(tmp_path_factory.mktemp("short") / "pose-3d.csv")


@pytest.mark.parametrize("seed", [0, 3])
def test_the_short_recording_is_as_hard_as_a_real_one(seed: int) -> None:
    sim = short_recording(seed)
    pos = sim.pose3d["position"].values
    assert pos.shape == (450, 21, 3)
    assert lag1(pos.reshape(450, -1)) >= 0.98
    states = sim.states.values
    starts = states[np.r_[True, states[1:] != states[:-1]]]
    assert np.bincount(starts, minlength=3).min() >= 3  # every expression recurs
    ego = fe.Pipeline(progress=False).clean(sim.pose3d)["position"].values
    depth = np.nanmedian(np.ptp(ego[..., 2], axis=1))
    width = np.nanmedian(np.ptp(ego[..., 0], axis=1))
    assert depth < 0.1 * width  # a nearly flat face


def test_n_states_9_warns_about_parameters_and_single_bouts(
        short_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "nine"
    assert main(["analyze", str(short_csv), "--n-states", "9", "--out", str(out),
                 "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"warning \[parameters-vs-frames\]: the model has \d+ free parameters "
                     r"\(9 states, 3 features, full covariances, autoregressive order 1\) "
                     r"for 449 frames", printed), printed
    assert "warning [single-bout-states]" in printed
    assert "warning [flat-face]" in printed
    summary = json.loads((out / "summary.json").read_text())
    codes = [d["code"] for d in summary["diagnostics"]]
    assert {"parameters-vs-frames", "single-bout-states", "flat-face",
            "no-frame-rate"} <= set(codes)
    page = (out / "report.html").read_text()
    # the report opens with the diagnostics, before any table or figure
    assert page.index("Diagnostics") < page.index("<table>")
    assert "parameters-vs-frames" in page and "free parameters" in page


def test_bic_at_the_edge_warns_to_widen_the_range(
        short_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bic"
    # the classic recipe's model (a Gaussian HMM on 10 z-scored components): BIC keeps
    # falling with K on a short, drifting recording
    assert main(["analyze", str(short_csv), "--n-states", "auto", "--criterion", "bic",
                 "--candidates", "2", "6", "--n-init", "1", "--no-figures", "--out",
                 str(out), "--quiet", "--ar-order", "0", "--standardize", "--pca",
                 "10"]) == 0
    printed = capsys.readouterr().out
    assert "bic chooses 6 states" in printed
    assert "warning [edge-of-range]: bic chose K=6, the highest of the candidates 2-6" \
        in printed and "--candidates 2 12" in printed
    table = pd.read_csv(out / "model_selection.csv")
    # every criterion per frame, the held-out one with its standard error
    assert {"bic_per_frame", "icl_per_frame", "aic_per_frame", "cv_mean", "cv_se",
            "n_effective_frames"} <= set(table.columns)
    assert (table["cv_se"] > 0).all() and np.isfinite(table["cv_mean"]).all()
    # held-out scoring never collapses (the covariance prior keeps every state regular)
    assert table["cv_mean"].min() > -200
    assert table["n_effective_frames"].iloc[0] < 450 / 5


def test_a_flat_face_and_an_egocentric_input_each_warn(
        short: fe.synthetic.faces.SyntheticFace, tmp_path: Path) -> None:
    result = fe.Pipeline(n_states=3, progress=False).run(short.pose3d)
    codes = [d.code for d in result.diagnostics]
    assert "flat-face" in codes and "already-egocentric" not in codes
    # faceexpr's own egocentric output, analysed again: the head never moves
    again = fe.Pipeline(n_states=3, progress=False).run(result.egocentric[0].drop_vars(
        ["head_position", "head_rotation", "head_angles"], errors="ignore"))
    assert "already-egocentric" in [d.code for d in again.diagnostics]
    # a deep face (the default simulation) is not flat
    deep = fe.Pipeline(n_states=3, progress=False).run(
        fe.synthetic.simulate(600, n_expressions=3, seed=1).pose3d)
    assert "flat-face" not in [d.code for d in deep.diagnostics]


def test_summary_lists_every_step_and_api_equals_cli(
        short: fe.synthetic.faces.SyntheticFace, short_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    assert main(["analyze", str(short_csv), "--n-states", "3", "--seed", "4", "--out",
                 str(out), "--quiet", "--no-figures", "--standardize", "--pca", "10"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    steps = {s["step"]: s for s in summary["provenance"]["steps"]}
    assert list(steps) == ["load", "mask_low_confidence", "interpolate_gaps", "smooth",
                           "egocentric", "features", "standardize", "pca", "state_model"]
    assert steps["mask_low_confidence"]["confidence_threshold"] == 0.5
    assert steps["interpolate_gaps"]["max_gap_frames"] == 10
    assert steps["egocentric"]["reference"] == "nose1"
    assert len(steps["standardize"]["scale"]) == len(steps["features"]["columns"])
    pca = steps["pca"]
    assert pca["n_components"] == 10 and len(pca["explained_variance_ratio"]) == 10
    assert np.asarray(pca["components"]).shape == (10, len(steps["features"]["columns"]))
    model = steps["state_model"]
    assert model["random_state"] == 4 and model["n_init"] == _defaults.N_INIT
    assert model["priors"]["covariance_prior"] > 0
    # ψ is the default fraction of the features' mean variance, and says so
    assert model["covariance_prior_fraction"] == _defaults.COVARIANCE_PRIOR
    assert model["priors"]["covariance_prior"] == pytest.approx(
        _defaults.COVARIANCE_PRIOR * model["features_mean_variance"], rel=1e-5)
    assert model["options"]["ar_order"] == _defaults.AR_ORDER
    assert model["priors"]["stickiness"] == pytest.approx(30 - 1 - 1 / 2)  # 1 s at 30 fps
    assert len(model["restart_log_likelihoods"]) == 3
    versions = summary["provenance"]["versions"]
    assert versions["faceexpr"] == fe.__version__ and versions["numba"]
    # the same file through the API with the defaults and the same seed: the same states
    api = fe.Pipeline(n_states=3, random_state=4, standardize=True, pca=10,
                      progress=False).run(short_csv)
    cli = pd.read_csv(out / "states.csv")
    np.testing.assert_array_equal(api.state_table()["state"].to_numpy(),
                                  cli["state"].to_numpy())


def test_auto_picks_three_states_on_short_recordings() -> None:
    """The defaults (an AR(1) HMM on 3 components in millimetres, ICL, candidates 2-12)
    on ten 450-frame recordings of 3 drifting expressions on a flat face."""
    picked, agreement = [], []
    for seed in range(10):
        sim = short_recording(seed)
        result = fe.Pipeline(n_states="auto", progress=False).run(sim.pose3d)
        picked.append(result.n_states)
        states = np.asarray(result.states[0])
        ok = states >= 0
        agreement.append(adjusted_rand_score(np.asarray(sim.states)[ok], states[ok]))
    assert sum(k == 3 for k in picked) >= 8, picked
    assert np.median(agreement) > 0.95, agreement


def test_pick_reports_what_every_criterion_would_choose(
        short: fe.synthetic.faces.SyntheticFace) -> None:
    result = fe.Pipeline(n_states="auto", candidates=(2, 3, 4), n_init=1,
                         progress=False).run(short.pose3d)
    sel = result.model_selection
    assert sel is not None
    summary = sel.criteria_summary()
    for c in ("cv", "bic", "icl", "aic"):
        assert summary[f"{c}_would_choose"] == pick(sel.table, c)
    assert result.summary()["selection"]["chosen"] == result.n_states


def test_features_are_readable(short: fe.synthetic.faces.SyntheticFace) -> None:
    result = fe.Pipeline(n_states=3, progress=False).run(short.pose3d)
    loads = result.loadings
    assert isinstance(loads, xr.DataArray)
    assert loads.sizes["landmarks"] == 20 and loads.sizes["components"] == 3  # not nose1
    ratio = result.features[0].attrs["explained_variance_ratio"]
    assert len(ratio) == 3 and 0.5 < sum(ratio) <= 1.0


def test_analyze_stability_option_writes_and_prints_it(
        short_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "stab"
    assert main(["analyze", str(short_csv), "--n-states", "8", "--stability", "3",
                 "--dwell-time", "0.5", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "stability over 7 refits" in printed  # 3 bootstrap + 2 halves + 2 seeds
    table = pd.read_csv(out / "stability.csv", index_col="state")
    assert len(table) == 8 and table["reappearance"].between(0, 1).all()
    # 8 states for 3 expressions in 450 frames do not reproduce, and the report says so
    assert (table["reappearance"] < 0.9).any()
    assert "warning [unstable-states]" in printed
    page = (out / "report.html").read_text()
    assert "stability.png" in page and "Stability" in page
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stability"]["n_refits"] == 7
    model = {s["step"]: s for s in summary["provenance"]["steps"]}["state_model"]
    assert model["dwell_frames"] == 15.0  # 0.5 s at the assumed 30 frames/s


def test_tied_covariance_in_own_units_recovers_a_short_recording(
        short: fe.synthetic.faces.SyntheticFace, short_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "tied"
    assert main(["analyze", str(short_csv), "--n-states", "3", "--covariance", "tied",
                 "--no-standardize", "--no-figures", "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    steps = {s["step"]: s for s in summary["provenance"]["steps"]}
    assert steps["standardize"]["enabled"] is False
    assert steps["state_model"]["options"]["covariance_type"] == "tied"
    states = pd.read_csv(out / "states.csv")["state"].to_numpy()
    ok = states >= 0
    assert adjusted_rand_score(short.states.values[ok], states[ok]) > 0.85
