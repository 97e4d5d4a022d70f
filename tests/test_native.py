"""The native engine: the same HMM as hmmlearn's to rounding, and the states it recovers.

hmmlearn is the reference: for identical parameters the log-likelihood, posteriors and
Viterbi paths must be hmmlearn's, and EM from the same start with the same priors must
take the same steps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hmmlearn.hmm import GaussianHMM

import faceexpr as fe
from faceexpr import _progress
from faceexpr.analysis import state_agreement
from faceexpr.backends._start import kmeans_start
from faceexpr.backends.native import NativeStateModel
from faceexpr.backends.native._kernels import forward_backward, log_likelihoods
from faceexpr.data import make_features
from faceexpr.synthetic import sticky_chain


def hard_data(seed: int = 0, n: int = 1500, k: int = 4, d: int = 8, rho: float = 0.95,
              dwell: float = 120.0) -> tuple[xr.DataArray, np.ndarray]:
    """Few long bouts, strongly autocorrelated noise (lag-1 ``rho``), one flat direction."""
    rng = np.random.default_rng(seed)
    means = np.random.default_rng(77).normal(0, 1.6, (k, d))
    means[:, -1] = 0.0  # a direction no state differs in (like a flat face's depth)
    states = sticky_chain(rng, n, k, dwell)
    noise = np.empty((n, d))
    noise[0] = rng.normal(0, 1, d)
    innov = rng.normal(0, np.sqrt(1 - rho**2), (n, d))
    for t in range(1, n):
        noise[t] = rho * noise[t - 1] + innov[t]
    scale = np.r_[np.ones(d - 1), 0.05]
    x = means[states] + noise * scale
    return make_features(x, [f"f{i}" for i in range(d)]), states


def hmmlearn_with(model: NativeStateModel, d: int) -> GaussianHMM:
    """hmmlearn's GaussianHMM holding ``model``'s parameters and the same priors."""
    k = model.n_states
    full = model.options["covariance_type"] == "full"
    psi = model.options["covariance_prior"]
    prior = psi * (np.broadcast_to(np.eye(d), (k, d, d)).copy() if full else np.ones((k, d)))
    trans_prior = (model.options["transition_concentration"]
                   + model.options["stickiness"] * np.eye(k))
    h = GaussianHMM(k, model.options["covariance_type"], init_params="", params="stmc",
                    covars_prior=prior, covars_weight=d + 1 if full else 2,
                    transmat_prior=trans_prior, n_iter=model.options["n_iter"], tol=-np.inf)
    h.n_features = d
    h.startprob_, h.transmat_, h.means_ = model.startprob_, model.transmat_, model.means_
    h.covars_ = model.covars_ if full else np.diagonal(model.covars_, axis1=1, axis2=2)
    return h


@pytest.mark.parametrize("cov", ["full", "diag"])
def test_same_likelihood_posteriors_and_path_as_hmmlearn(cov: str) -> None:
    feats, _ = hard_data(seed=1)
    model = fe.state_model("native", n_states=4, covariance_type=cov, n_iter=5).fit(feats)
    h = hmmlearn_with(model, feats.sizes["features"])
    x = feats.values
    assert model.score(feats) == pytest.approx(h.score(x), rel=1e-8)
    assert np.abs(model.predict_proba(feats).values - h.predict_proba(x)).max() < 1e-8
    assert (model.predict(feats).values == h.predict(x)).all()


@pytest.mark.parametrize("cov", ["full", "diag"])
def test_em_takes_hmmlearn_steps_from_the_same_start(cov: str) -> None:
    feats, _ = hard_data(seed=2)
    x, d = feats.values, feats.sizes["features"]
    model = NativeStateModel(4, covariance_type=cov, n_iter=8, tol=-np.inf, stickiness=30.0,
                             transition_concentration=1.5, covariance_prior=0.05)
    # hmmlearn from the start the native engine draws (k-means on the centred frames)
    start = kmeans_start(x - x.mean(axis=0), 4, min_covar=1e-3, seed=0)
    start_model = NativeStateModel(4, covariance_type=cov, n_iter=8, stickiness=30.0,
                                   transition_concentration=1.5, covariance_prior=0.05)
    covars = start.covars if cov == "full" else np.einsum("kii->ki", start.covars)[
        :, :, None] * np.eye(d)
    start_model._set_params({"means": start.means + x.mean(axis=0), "covars": covars,
                             "transmat": start.transmat, "startprob": start.startprob})
    h = hmmlearn_with(start_model, d)
    h.fit(x)
    model.fit(feats)
    assert model.n_iter_ == h.monitor_.iter == 8
    assert np.abs(model.means_ - h.means_).max() < 1e-6
    assert np.abs(model.covars_ - h.covars_).max() < 1e-6
    assert np.abs(model.transmat_ - h.transmat_).max() < 1e-8
    assert model.score(feats) == pytest.approx(h.score(x), rel=1e-9)


@pytest.mark.parametrize("cov", ["full", "diag", "tied"])
def test_recovers_states_of_hard_data(cov: str) -> None:
    """Short, autocorrelated, a handful of bouts per state, several recordings with gaps."""
    a, ta = hard_data(seed=3)
    b, tb = hard_data(seed=4, n=900)
    b = b.copy()
    b.values[300:340] = np.nan
    model = fe.state_model("native", n_states=4, covariance_type=cov, n_init=3).fit([a, b])
    pa, pb = model.predict(a), model.predict(b)
    ari = state_agreement([xr.DataArray(ta, dims="time"), xr.DataArray(tb, dims="time")],
                          [pa, pb])
    assert ari >= 0.9
    assert (pb.values[300:340] == -1).all() and (pb.values[:300] >= 0).all()
    assert np.isnan(model.predict_proba(b).values[300:340]).all()
    assert model.converged_ and model.n_iter_ == len(model.history_)
    # EM never lowers the likelihood (beyond rounding)
    assert (np.diff(model.history_) > -1e-6 * abs(model.history_[-1])).all()


def test_sequences_fitted_together_equal_the_sum_of_their_parts() -> None:
    feats, _ = hard_data(seed=5, n=600)
    model = fe.state_model("native", n_states=3, n_iter=3).fit(feats)
    parts = [feats.isel(time=slice(0, 250)), feats.isel(time=slice(250, None))]
    assert model.score(parts) == pytest.approx(sum(model.score(p) for p in parts), rel=1e-12)
    # and the parallel kernel over sequences agrees with one sequence at a time
    log_b = model._densities(feats.values)
    bounds = np.array([0, 250, 600])
    both = log_likelihoods(log_b, bounds, model.startprob_, model.transmat_)
    one = [model._score_array(feats.values[a:b]) for a, b in [(0, 250), (250, 600)]]
    assert np.allclose(both, one, rtol=1e-12)
    gamma, xi, _ = forward_backward(log_b.copy(), bounds, model.startprob_,
                                         model.transmat_)
    assert np.allclose(gamma.sum(axis=1), 1.0)
    assert np.allclose(xi.sum(axis=(1, 2)), [249, 349])  # one transition per frame pair


def test_frames_far_from_every_state_do_not_underflow() -> None:
    """A frame thousands of standard deviations from every state, and a transition the
    model forbids, still give finite likelihoods and posteriors (the log-space fallback)."""
    feats, _ = hard_data(seed=6, n=400, k=2, d=3)
    model = fe.state_model("native", n_states=2, n_iter=5).fit(feats)
    x = feats.values.copy()
    x[200] = 1e4
    far = make_features(x, list(feats["features"].values))
    h = hmmlearn_with(model, 3)
    assert np.isfinite(model.score(far))
    assert model.score(far) == pytest.approx(h.score(x), rel=1e-8)
    post = model.predict_proba(far).values
    assert np.isfinite(post).all() and np.allclose(post.sum(axis=1), 1.0)
    # a transition matrix with zeros: state 1 can only be reached from the start
    model._set_params({"means": model.means_, "covars": model.covars_,
                       "transmat": np.array([[1.0, 0.0], [0.5, 0.5]]),
                       "startprob": np.array([0.5, 0.5])})
    h = hmmlearn_with(model, 3)
    assert model.score(feats) == pytest.approx(h.score(feats.values), rel=1e-8)


def test_save_load_round_trip(tmp_path: Path) -> None:
    feats, _ = hard_data(seed=7, n=500, k=3)
    model = fe.state_model("native", n_states=3, covariance_type="diag",
                           stickiness=10.0).fit(feats)
    path = model.save(tmp_path / "m.npz")
    back = fe.load_state_model(path)
    assert isinstance(back, NativeStateModel)
    assert back.options == model.options
    assert back.score(feats) == pytest.approx(model.score(feats), rel=1e-12)
    assert (back.predict(feats).values == model.predict(feats).values).all()


def test_progress_shows_iterations_and_log_likelihood(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_progress, "MININTERVAL", 0)  # draw every iteration, however fast
    feats, _ = hard_data(seed=8, n=400, k=2, d=3)
    fe.state_model("native", n_states=2, n_iter=4, tol=-np.inf, progress=True).fit(feats)
    err = capsys.readouterr().err
    assert "native K=2" in err and "log-lik" in err and "4/4" in err


def test_threads_are_limited_and_restored() -> None:
    import numba
    from threadpoolctl import threadpool_info

    feats, _ = hard_data(seed=9, n=300, k=2, d=3)
    before = numba.get_num_threads()
    model = NativeStateModel(2, n_threads=1)
    with model._threads(feats):
        assert numba.get_num_threads() == 1
        assert all(p["num_threads"] == 1 for p in threadpool_info())
    model.fit(feats)
    assert numba.get_num_threads() == before


def test_collapsing_state_fails_with_advice_without_prior() -> None:
    """Without the covariance prior, a state on a few identical frames is singular: the
    error says what to change."""
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (60, 4))
    x[:30] = x[0]  # a frozen tracker: 30 identical frames
    feats = make_features(x, ["a", "b", "c", "d"])
    with pytest.raises(fe.FaceexprError, match="covariance_prior"):
        fe.state_model("native", n_states=2, covariance_prior=0.0, min_covar=0.0).fit(feats)
    model = fe.state_model("native", n_states=2).fit(feats)  # the default prior holds
    assert np.linalg.eigvalsh(model.covars_).min() >= 1e-2 / (60 + 1) - 1e-12


@pytest.mark.parametrize("bad", [{"n_iter": 0}, {"covariance_type": "spherical"},
                                 {"n_threads": 0}, {"stickiness": -1.0},
                                 {"covariance_prior": float("nan")}])
def test_bad_options_are_one_line_errors(bad: dict[str, object]) -> None:
    name = next(iter(bad))
    with pytest.raises(ValueError, match=name):
        NativeStateModel(3, **bad)  # type: ignore[arg-type]


def test_tied_covariance_is_one_matrix_and_recovers_a_short_recording() -> None:
    from faceexpr.synthetic.faces import short_recording

    sim = short_recording(0)
    pipe = fe.Pipeline(standardize=False, progress=False)
    ego = pipe.clean(sim.pose3d)
    feats = pipe.features([ego], [fe.features.head_kinematics(ego)])
    tied = fe.state_model("native", n_states=3, covariance_type="tied", n_init=3).fit(feats)
    full = fe.state_model("native", n_states=3, n_init=3).fit(feats)
    np.testing.assert_array_equal(tied.covars_[0], tied.covars_[2])
    d = feats[0].sizes["features"]
    assert tied.n_parameters() == 2 + 6 + 3 * d + d * (d + 1) // 2
    truth = sim.states
    # a covariance from every bout instead of each state's own three or four
    ari_tied = state_agreement(truth, tied.predict(feats[0]))
    ari_full = state_agreement(truth, full.predict(feats[0]))
    assert ari_tied > 0.85 and ari_tied > ari_full + 0.1, (ari_tied, ari_full)

