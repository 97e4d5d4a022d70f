"""The hmmlearn StateModel on synthetic data with known states (the real hmmlearn runs)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hmmlearn.base import ConvergenceMonitor

import faceexpr as fe
from faceexpr.analysis import state_agreement
from faceexpr.data import make_features
from faceexpr.synthetic import sticky_chain


def hmm_data(seed: int = 0, n: int = 2000, k: int = 4, d: int = 6) -> tuple[xr.DataArray,
                                                                            np.ndarray]:
    # the HMM (its means) depends on k and d only, so sequences of any length share it
    means = np.random.default_rng(1000 * k + d).normal(0, 3, (k, d))
    rng = np.random.default_rng(seed)
    states = sticky_chain(rng, n, k, 40.0)
    x = means[states] + rng.normal(0, 1, (n, d))
    return make_features(x, [f"f{i}" for i in range(d)]), states


@pytest.mark.parametrize("cov", ["full", "diag"])
def test_recovers_states(cov: str) -> None:
    feats, truth = hmm_data()
    model = fe.state_model("hmmlearn", n_states=4, covariance_type=cov, n_init=2).fit(feats)
    pred = model.predict(feats)
    assert state_agreement(xr.DataArray(truth, dims="time"), pred) > 0.95
    assert model.means_.shape == (4, 6)
    assert model.covars_.shape == (4, 6, 6)
    assert np.allclose(model.transmat_.sum(1), 1)
    assert model.transmat_.diagonal().min() > 0.9  # sticky chain of 40-frame dwell


def test_restarts_keep_the_best_log_likelihood() -> None:
    feats, _ = hmm_data(seed=3)
    one = fe.state_model("hmmlearn", n_states=4, n_init=1, random_state=7).fit(feats)
    three = fe.state_model("hmmlearn", n_states=4, n_init=3, random_state=7).fit(feats)
    assert three.score(feats) >= one.score(feats) - 1e-6


def test_several_sequences_and_nan_frames() -> None:
    a, ta = hmm_data(seed=1)
    b, tb = hmm_data(seed=2, n=1500)
    b = b.copy()
    b.values[100:110] = np.nan
    model = fe.state_model("hmmlearn", n_states=4).fit([a, b])
    pa, pb = model.predict(a), model.predict(b)
    assert state_agreement([xr.DataArray(ta, dims="time"), xr.DataArray(tb, dims="time")],
                           [pa, pb]) > 0.95
    assert (pb.values[100:110] == -1).all()
    assert (pb.values[:100] >= 0).all()
    assert np.isnan(model.predict_proba(b).values[100:110]).all()
    assert state_agreement(xr.DataArray(tb, dims="time"), pb) > 0.9


def test_save_load_round_trip(tmp_path: Path) -> None:
    feats, _ = hmm_data()
    for cov in ("full", "diag"):
        model = fe.state_model("hmmlearn", n_states=4, covariance_type=cov).fit(feats)
        path = model.save(tmp_path / f"m_{cov}.npz")
        back = fe.StateModel.load(path)
        assert type(back) is type(model)
        assert back.options == model.options
        np.testing.assert_allclose(back.covars_, model.covars_)
        np.testing.assert_array_equal(back.predict(feats).values, model.predict(feats).values)
        assert back.score(feats) == pytest.approx(model.score(feats))


def test_feature_mismatch_and_unfitted_errors() -> None:
    feats, _ = hmm_data()
    model = fe.state_model("hmmlearn", n_states=4)
    with pytest.raises(fe.NotFittedError):
        model.predict(feats)
    model.fit(feats)
    other = feats.isel(features=slice(0, 5))
    with pytest.raises(fe.InvalidFeaturesError, match=r"missing \['f5'\]"):
        model.predict(other)
    with pytest.raises(ValueError, match="covariance_type"):
        fe.state_model("hmmlearn", covariance_type="spherical")
    with pytest.raises(fe.InvalidFeaturesError, match="need at least n_states"):
        fe.state_model("hmmlearn", n_states=9).fit(feats.isel(time=slice(0, 5)))


def test_too_many_states_for_the_data_is_explained() -> None:
    rng = np.random.default_rng(0)
    x = fe.make_features(rng.normal(size=(20, 10)), [f"f{i}" for i in range(10)])
    with pytest.raises(fe.FaceexprError, match="9 states with full covariances over 10 "
                                               "features are too many for 20 frames"):
        fe.state_model("hmmlearn", n_states=9, n_init=2).fit(x)


def test_priors_reach_hmmlearn_and_the_bar_leaves_no_trace(
        capsys: pytest.CaptureFixture[str]) -> None:
    feats, _ = hmm_data(n=500)
    model = fe.state_model("hmmlearn", n_states=4, n_iter=3, tol=-np.inf, stickiness=50.0,
                           transition_concentration=2.0, covariance_prior=0.1,
                           progress=True).fit(feats)
    assert "hmmlearn K=4" in capsys.readouterr().err
    hmm = model._hmm  # what hmmlearn was given: α + κ I, and ψ I with one frame of weight
    np.testing.assert_array_equal(hmm.transmat_prior, 2.0 + 50.0 * np.eye(4))
    np.testing.assert_array_equal(hmm.covars_prior, np.broadcast_to(0.1 * np.eye(6),
                                                                    (4, 6, 6)))
    assert hmm.covars_weight == 6 + 1 and model.n_iter_ == 3
    # hmmlearn's own monitor is back after the fit: the model pickles (model selection
    # sends fitted models back from worker processes)
    assert type(hmm.monitor_) is ConvergenceMonitor and hmm.monitor_.iter == 3
    back = pickle.loads(pickle.dumps(model))
    assert back.score(feats) == model.score(feats)
