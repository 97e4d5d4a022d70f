"""The dynamax StateModel (real dynamax and JAX): states it recovers, the same likelihood as
hmmlearn, the same EM as the native backend, the autoregressive option, files, devices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

pytest.importorskip("dynamax")
jax = pytest.importorskip("jax")

from hmmlearn.hmm import GaussianHMM  # noqa: E402

import faceexpr as fe  # noqa: E402
from faceexpr.analysis import state_agreement  # noqa: E402
from faceexpr.backends.dynamax import DynamaxStateModel, _bucket, _lagged  # noqa: E402
from faceexpr.data import make_features  # noqa: E402
from faceexpr.errors import BackendOptionError, FaceexprError  # noqa: E402
from faceexpr.synthetic import sticky_chain  # noqa: E402


def hmm_data(n: int = 2000, d: int = 4, k: int = 3, seed: int = 0
             ) -> tuple[xr.DataArray, xr.DataArray]:
    """Frames of a sticky Gaussian HMM with known states (as benchmarks/state_models.py)."""
    rng = np.random.default_rng(seed)
    states = sticky_chain(rng, n, k, 30.0)
    means = rng.normal(0, 2, (k, d))
    x = means[states] + rng.normal(0, 1, (n, d))
    return make_features(x, [f"f{i}" for i in range(d)]), xr.DataArray(states, dims="time")


def ar_data(n: int = 3000, d: int = 2, coefs: tuple[float, ...] = (0.95, -0.5),
            seed: int = 0) -> tuple[xr.DataArray, xr.DataArray]:
    """States that differ only in their dynamics: ``x_t = a_k x_{t-1} + e_t`` with the noise
    scaled so that every state has mean 0 and covariance I."""
    rng = np.random.default_rng(seed)
    states = sticky_chain(rng, n, len(coefs), 50.0)
    x = np.zeros((n, d))
    for t in range(1, n):
        a = coefs[states[t]]
        x[t] = a * x[t - 1] + np.sqrt(1 - a * a) * rng.normal(size=d)
    return make_features(x, [f"f{i}" for i in range(d)]), xr.DataArray(states, dims="time")


@pytest.fixture(scope="module")
def data() -> tuple[xr.DataArray, xr.DataArray]:
    return hmm_data()


@pytest.fixture(scope="module")
def fitted(data: tuple[xr.DataArray, xr.DataArray]) -> DynamaxStateModel:
    model = fe.state_model("dynamax", n_states=3)
    assert isinstance(model, DynamaxStateModel)
    return model.fit(data[0])


def with_gaps(feats: xr.DataArray, rows: list[int]) -> xr.DataArray:
    x = feats.values.copy()
    x[rows] = np.nan
    return feats.copy(data=x)


def test_recovers_states(data: tuple[xr.DataArray, xr.DataArray],
                         fitted: DynamaxStateModel) -> None:
    feats, truth = data
    assert state_agreement(truth, fitted.predict(feats)) >= 0.9
    assert fitted.converged_ and 1 < fitted.n_iter_ < 100
    assert fitted.means_.shape == (3, 4) and fitted.covars_.shape == (3, 4, 4)
    # the log-likelihood of every iteration, of the parameters it started from
    assert len(fitted.history_) == fitted.n_iter_
    assert fitted.log_likelihood_ >= fitted.history_[-1] - 1e-6
    assert fitted.score(feats) == pytest.approx(fitted.log_likelihood_, rel=1e-10)


def test_diagonal_recovers_states(data: tuple[xr.DataArray, xr.DataArray]) -> None:
    feats, truth = data
    model = fe.state_model("dynamax", n_states=3, covariance_type="diag").fit(feats)
    assert state_agreement(truth, model.predict(feats)) >= 0.9
    off = model.covars_ - np.einsum("kii,ij->kij", model.covars_, np.eye(4))
    assert np.all(off == 0)


@pytest.mark.parametrize("cov", ["full", "diag"])
def test_same_likelihood_as_hmmlearn(data: tuple[xr.DataArray, xr.DataArray],
                                     cov: str) -> None:
    """Identical parameters: hmmlearn's log-likelihood, posteriors and Viterbi path, over
    the finite segments between NaN frames."""
    k, d = 3, 4
    rng = np.random.default_rng(5)
    a = rng.normal(size=(k, d, d))
    covars = a @ a.transpose(0, 2, 1) / d + 0.5 * np.eye(d)
    if cov == "diag":
        covars = covars * np.eye(d)
    transmat = rng.dirichlet(np.ones(k), size=k) + 5 * np.eye(k)
    params = {"means": rng.normal(0, 2, (k, d)), "covars": covars,
              "transmat": transmat / transmat.sum(1, keepdims=True),
              "startprob": rng.dirichlet(np.ones(k))}
    model = DynamaxStateModel(k, covariance_type=cov)  # type: ignore[arg-type]
    model.feature_names_ = [f"f{i}" for i in range(d)]
    model._set_params(params)
    feats = with_gaps(data[0], [300, 301, 302, 1200])
    ref = GaussianHMM(k, cov, init_params="")
    ref.n_features = d
    ref.startprob_, ref.transmat_, ref.means_ = (params["startprob"], params["transmat"],
                                                 params["means"])
    ref.covars_ = covars if cov == "full" else np.diagonal(covars, axis1=1, axis2=2)
    ok = np.isfinite(feats.values).all(axis=1)
    lengths = [300, 897, 799]
    x = feats.values[ok]
    assert model.score(feats) == pytest.approx(ref.score(x, lengths), rel=1e-8, abs=0)
    proba = model.predict_proba(feats).values
    assert np.isnan(proba[~ok]).all()
    np.testing.assert_allclose(proba[ok], ref.predict_proba(x, lengths), atol=1e-8)
    states = model.predict(feats).values
    assert (states[~ok] == -1).all()
    np.testing.assert_array_equal(states[ok], ref.predict(x, lengths))


def test_same_em_as_native(data: tuple[xr.DataArray, xr.DataArray]) -> None:
    """The priors mapped onto dynamax's give the shared M-step: with the same start and
    priors, 8 EM iterations end where the native backend's do (several sequences)."""
    pytest.importorskip("numba")
    feats = with_gaps(data[0] + 5.0, [400, 401, 1500])
    opts = dict(n_states=3, n_iter=8, tol=-np.inf, stickiness=50.0,
                transition_concentration=2.0, covariance_prior=0.5)
    dyn = fe.state_model("dynamax", **opts).fit(feats)
    nat = fe.state_model("native", **opts).fit(feats)
    assert dyn.n_iter_ == nat.n_iter_ == 8
    np.testing.assert_allclose(dyn.history_, nat.history_, rtol=1e-9)
    for name in ("means_", "covars_", "transmat_", "startprob_"):
        np.testing.assert_allclose(getattr(dyn, name), getattr(nat, name), atol=1e-7)


def test_stickiness_raises_the_diagonal(data: tuple[xr.DataArray, xr.DataArray],
                                        fitted: DynamaxStateModel) -> None:
    sticky = fe.state_model("dynamax", n_states=3, stickiness=2000.0).fit(data[0])
    # a few hundred frames per state: 2000 extra stays move the diagonal visibly
    assert np.diag(sticky.transmat_).min() > np.diag(fitted.transmat_).max()
    assert state_agreement(data[1], sticky.predict(data[0])) >= 0.9


def test_priors_that_dynamax_cannot_honour_are_refused() -> None:
    with pytest.raises(BackendOptionError, match=r"transition_concentration.*Dirichlet"):
        fe.state_model("dynamax", transition_concentration=0.5)
    with pytest.raises(BackendOptionError, match="ar_order"):
        fe.state_model("dynamax", ar_order=-1)
    with pytest.raises(BackendOptionError, match="device"):
        fe.state_model("dynamax", device="tpu")


def test_autoregressive_states_from_dynamics_alone() -> None:
    """Two states with the same mean and covariance of x and different AR coefficients:
    the AR model recovers them, the Gaussian HMM cannot."""
    feats, truth = ar_data()
    ar = fe.state_model("dynamax", n_states=2, ar_order=1).fit(feats)
    gauss = fe.state_model("dynamax", n_states=2).fit(feats)
    assert state_agreement(truth, ar.predict(feats)) >= 0.95  # measured 0.99
    assert state_agreement(truth, gauss.predict(feats)) <= 0.3  # measured 0.13
    assert ar.ar_weights_ is not None and ar.ar_weights_.shape == (2, 2, 2)
    coefs = sorted(np.einsum("kii->k", ar.ar_weights_) / 2)
    np.testing.assert_allclose(coefs, [-0.5, 0.95], atol=0.08)
    # every state's frames have mean ~0 and its noise variance is 1 - a^2
    np.testing.assert_allclose(ar.means_, 0.0, atol=0.15)
    assert ar.n_parameters() == gauss.n_parameters() + 2 * 2 * 2


def test_autoregressive_matches_dynamax_itself() -> None:
    """Score and Viterbi path of a segment are those of dynamax's own
    ``LinearAutoregressiveHMM`` (its ``initialize``, ``compute_inputs``,
    ``marginal_log_prob``, ``most_likely_states``) conditioned on the first p frames;
    here with diagonal noise covariances."""
    from dynamax.hidden_markov_model import LinearAutoregressiveHMM

    feats, _ = ar_data(n=600, coefs=(0.9, 0.2, -0.4))
    p = 2
    model = fe.state_model("dynamax", n_states=3, ar_order=p, n_iter=5,
                           covariance_type="diag").fit(feats)
    assert np.all(model.covars_[:, 0, 1] == 0) and np.all(model.covars_[:, 0, 0] > 0)
    x = feats.values
    with jax.enable_x64(True):
        ref = LinearAutoregressiveHMM(3, 2, num_lags=p)
        j = jax.numpy.asarray
        params, _ = ref.initialize(
            jax.random.PRNGKey(0), initial_probs=j(model.startprob_),
            transition_matrix=j(model.transmat_), emission_weights=j(model.ar_weights_),
            emission_biases=j(model.ar_biases_), emission_covariances=j(model.covars_))
        inputs = ref.compute_inputs(j(x[p:]), prev_emissions=j(x[:p]))
        np.testing.assert_array_equal(np.asarray(inputs), _lagged(x, p)[1])
        ll = float(ref.marginal_log_prob(params, x[p:], inputs))
        path = np.asarray(ref.most_likely_states(params, x[p:], inputs))
    assert model.score(feats) == pytest.approx(ll, rel=1e-9)
    states = model.predict(feats).values
    np.testing.assert_array_equal(states[p:], path)
    assert (states[:p] == path[0]).all()  # the first p frames take frame p's state


def test_autoregressive_segments(tmp_path: Path) -> None:
    """NaN frames split segments; a segment of no more than p frames has no modelled frame
    (state -1, NaN posteriors, no score), the first p frames of the others take the state
    of their first modelled frame. AR models cannot be saved yet."""
    feats, truth = ar_data()
    gaps = with_gaps(feats, [1000, 1002, 2000])
    model = fe.state_model("dynamax", n_states=2, ar_order=1).fit(gaps)
    assert state_agreement(truth, model.predict(gaps)) >= 0.95
    states = model.predict(gaps).values
    assert (states[[1000, 1001, 1002, 2000]] == -1).all()
    assert states[1003] == states[1004] and states[0] == states[1]
    proba = model.predict_proba(gaps).values
    assert np.isnan(proba[1001]).all() and np.isfinite(proba[1003]).all()
    pieces = [gaps.isel(time=slice(a, b)) for a, b in [(0, 1000), (1003, 2000), (2001, 3000)]]
    assert model.score(gaps) == pytest.approx(sum(model.score(s) for s in pieces), rel=1e-12)
    with pytest.raises(FaceexprError, match="ar_order=1 cannot be saved"):
        model.save(tmp_path / "ar.npz")
    assert not (tmp_path / "ar.npz").exists()


def test_save_load_round_trip(tmp_path: Path, data: tuple[xr.DataArray, xr.DataArray],
                              fitted: DynamaxStateModel) -> None:
    feats = with_gaps(data[0], [10, 11, 500])
    path = fitted.save(tmp_path / "model.npz")
    loaded = fe.registry.load_state_model(path)
    assert isinstance(loaded, DynamaxStateModel)
    assert loaded.options == fitted.options
    np.testing.assert_array_equal(loaded.covars_, fitted.covars_)
    np.testing.assert_array_equal(loaded.predict(feats).values, fitted.predict(feats).values)
    assert loaded.score(feats) == fitted.score(feats)


def test_gpu_without_a_gpu_is_a_one_line_error() -> None:
    try:
        has_gpu = bool(jax.devices("gpu"))
    except RuntimeError:
        has_gpu = False
    if has_gpu:
        assert fe.state_model("dynamax", device="gpu").device_.platform == "gpu"
        return
    with pytest.raises(FaceexprError, match=r"device='gpu'.*no GPU") as info:
        fe.state_model("dynamax", device="gpu")
    assert "\n" not in str(info.value)
    assert fe.state_model("dynamax", device="auto").device_.platform == "cpu"


def test_64_bit_inside_only(data: tuple[xr.DataArray, xr.DataArray],
                            fitted: DynamaxStateModel,
                            capsys: pytest.CaptureFixture[str]) -> None:
    """Float64 for dynamax without changing JAX's process-wide setting; the EM bar."""
    before = bool(jax.config.jax_enable_x64)
    model = fe.state_model("dynamax", n_states=3, progress=True).fit(data[0])
    model.predict(data[0])
    assert bool(jax.config.jax_enable_x64) == before
    np.testing.assert_allclose(model.means_, fitted.means_)  # compiled code reused
    assert "dynamax K=3" in capsys.readouterr().err


def test_padding_buckets() -> None:
    sizes = [_bucket(n) for n in range(1, 5000)]
    assert all(b >= n for n, b in zip(range(1, 5000), sizes))
    assert all(b <= max(32, 1.25 * n) for n, b in zip(range(1, 5000), sizes))
    assert len(set(sizes)) <= 30  # few shapes to compile
