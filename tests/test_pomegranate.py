"""The pomegranate StateModel against known states and against hmmlearn (real pomegranate)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

pytest.importorskip("pomegranate")
torch = pytest.importorskip("torch")

import faceexpr as fe  # noqa: E402
from faceexpr.analysis import match_states, relabel, state_agreement  # noqa: E402
from faceexpr.backends.hmmlearn import HmmlearnStateModel  # noqa: E402
from faceexpr.backends.pomegranate import PomegranateStateModel  # noqa: E402
from faceexpr.data import make_features  # noqa: E402
from faceexpr.interfaces import StateModel  # noqa: E402
from faceexpr.synthetic import SyntheticFace, sticky_chain  # noqa: E402

NAMES = [f"f{i}" for i in range(6)]


def hmm_data(seed: int = 0, n: int = 2000, k: int = 4, d: int = 6) -> tuple[xr.DataArray,
                                                                            np.ndarray]:
    """Frames of a sticky ``k``-state Gaussian HMM with correlated noise, and its states.

    The HMM is fixed by ``(k, d)``; ``seed`` draws the states and the noise.
    """
    model = np.random.default_rng(100 * k + d)
    means = model.normal(0, 3, (k, d))
    mixing = 0.4 * model.normal(size=(k, d, d))  # covariance 0.64 I + M Mᵀ: well conditioned
    rng = np.random.default_rng(seed)
    states = sticky_chain(rng, n, k, 40.0)
    noise = 0.8 * rng.normal(size=(n, d))
    noise += np.einsum("tij,tj->ti", mixing[states], rng.normal(size=(n, d)))
    return make_features(means[states] + noise, [f"f{i}" for i in range(d)]), states


@pytest.fixture(scope="module")
def data() -> tuple[xr.DataArray, np.ndarray]:
    return hmm_data()


def random_params(k: int, d: int, cov: str, seed: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(k, d, d))
    covars = a @ a.transpose(0, 2, 1) / d + 0.5 * np.eye(d)
    if cov == "diag":
        covars = np.stack([np.diag(np.diag(c)) for c in covars])
    transmat = rng.dirichlet(np.ones(k), size=k) + 5 * np.eye(k)
    return {"means": rng.normal(0, 2, (k, d)), "covars": covars,
            "transmat": transmat / transmat.sum(1, keepdims=True),
            "startprob": rng.dirichlet(np.ones(k))}


def with_params(model: StateModel, params: dict[str, np.ndarray]) -> StateModel:
    model.feature_names_ = list(NAMES[: params["means"].shape[1]])
    model._set_params(params)
    return model


@pytest.mark.parametrize("cov", ["full", "diag"])
def test_recovers_states_like_hmmlearn(data: tuple[xr.DataArray, np.ndarray],
                                       cov: str) -> None:
    feats, truth = data
    pom = fe.state_model("pomegranate", n_states=4, covariance_type=cov).fit(feats)
    ref = fe.state_model("hmmlearn", n_states=4, covariance_type=cov).fit(feats)
    assert isinstance(pom, PomegranateStateModel)
    p, r = pom.predict(feats), ref.predict(feats)
    truth_da = xr.DataArray(truth, dims="time")
    assert state_agreement(truth_da, p) >= 0.9
    assert state_agreement(truth_da, r) >= 0.9
    mapping = match_states(r, p, 4)  # mapping[pomegranate label] = hmmlearn label
    same = relabel(p, mapping)
    assert state_agreement(r, same) >= 0.95
    assert (same.values == r.values).mean() >= 0.99
    np.testing.assert_allclose(pom.means_, ref.means_[mapping], atol=0.05)
    np.testing.assert_allclose(pom.covars_, ref.covars_[mapping], atol=0.05)
    assert pom.log_likelihood_ == pytest.approx(ref.log_likelihood_, rel=1e-4)
    # same outputs and parameter shapes as the hmmlearn backend
    assert pom.means_.shape == ref.means_.shape == (4, 6)
    assert pom.covars_.shape == ref.covars_.shape == (4, 6, 6)
    assert pom.transmat_.shape == (4, 4) and pom.startprob_.shape == (4,)
    np.testing.assert_allclose(pom.transmat_.sum(1), 1)
    assert pom.startprob_.sum() == pytest.approx(1)
    assert pom.transmat_.diagonal().min() > 0.9  # sticky chain of 40-frame dwell
    if cov == "diag":
        assert np.count_nonzero(pom.covars_ - np.stack([np.diag(np.diag(c))
                                                        for c in pom.covars_])) == 0
    assert pom.converged_ and 1 <= pom.n_iter_ < 100
    assert pom.n_parameters() == ref.n_parameters()
    assert p.dims == ("time",) and p.dtype == np.int64
    posterior = pom.predict_proba(feats)
    assert posterior.dims == ("time", "states") and posterior.shape == (2000, 4)
    np.testing.assert_allclose(posterior.sum("states"), 1)


@pytest.mark.parametrize("cov", ["full", "diag"])
def test_same_likelihood_and_posteriors_as_hmmlearn(cov: str) -> None:
    """The same parameters give hmmlearn's log P(X), posteriors and Viterbi path."""
    params = random_params(3, 4, cov)
    pom = with_params(PomegranateStateModel(3, covariance_type=cov), params)
    ref = with_params(HmmlearnStateModel(3, covariance_type=cov), params)
    np.testing.assert_allclose(pom.covars_, params["covars"])
    np.testing.assert_allclose(pom.transmat_, params["transmat"])
    a, _ = hmm_data(seed=7, n=600, k=3, d=4)
    b, _ = hmm_data(seed=8, n=350, k=3, d=4)
    b = b.copy()
    b.values[50:55] = np.nan
    b.values[200] = np.nan
    assert pom.score([a, b]) == pytest.approx(ref.score([a, b]), rel=1e-9)
    for f in (a, b):
        np.testing.assert_allclose(pom.predict_proba(f).values, ref.predict_proba(f).values,
                                   rtol=1e-6, atol=1e-9)
        np.testing.assert_array_equal(pom.predict(f).values, ref.predict(f).values)


def test_several_sequences_of_different_lengths_and_nan_frames() -> None:
    a, ta = hmm_data(seed=1)
    b, tb = hmm_data(seed=2, n=1500)
    b = b.copy()
    # segments of b: 100, 100 (same length: one batch of two), 1280 frames
    b.values[100:110] = np.nan
    b.values[210:220] = np.nan
    model = fe.state_model("pomegranate", n_states=4).fit([a, b])
    pb = model.predict(b)
    assert (pb.values[100:110] == -1).all() and (pb.values[210:220] == -1).all()
    assert (pb.values[:100] >= 0).all() and (pb.values[220:] >= 0).all()
    proba = model.predict_proba(b).values
    assert np.isnan(proba[100:110]).all() and not np.isnan(proba[:100]).any()
    assert state_agreement(xr.DataArray(tb, dims="time"), pb) > 0.9
    assert state_agreement(xr.DataArray(ta, dims="time"), model.predict(a)) > 0.9
    assert model.log_likelihood_ == pytest.approx(model.score([a, b]), rel=1e-9)
    assert model.score([a, b]) == pytest.approx(model.score(a) + model.score(b), rel=1e-12)


def test_restarts_keep_the_best_log_likelihood() -> None:
    feats, _ = hmm_data(seed=3, n=1000)
    one = fe.state_model("pomegranate", n_states=4, n_init=1, random_state=7).fit(feats)
    three = fe.state_model("pomegranate", n_states=4, n_init=3, random_state=7).fit(feats)
    assert three.score(feats) >= one.score(feats) - 1e-6


@pytest.mark.parametrize("cov", ["full", "diag"])
def test_save_load_round_trip(data: tuple[xr.DataArray, np.ndarray], cov: str,
                              tmp_path: Path) -> None:
    feats, _ = data
    model = fe.state_model("pomegranate", n_states=4, covariance_type=cov, n_iter=20).fit(feats)
    path = model.save(tmp_path / f"m_{cov}.npz")
    back = fe.StateModel.load(path)
    assert type(back) is PomegranateStateModel
    assert back.options == model.options
    for attr in ("means_", "covars_", "transmat_", "startprob_"):
        np.testing.assert_allclose(getattr(back, attr), getattr(model, attr))
    np.testing.assert_array_equal(back.predict(feats).values, model.predict(feats).values)
    np.testing.assert_allclose(back.predict_proba(feats).values,
                               model.predict_proba(feats).values, atol=1e-12)
    assert back.score(feats) == pytest.approx(model.score(feats), rel=1e-12)


def test_fitted_model_pickles(data: tuple[xr.DataArray, np.ndarray]) -> None:
    # select_n_states(n_jobs>1) sends fitted models back from worker processes
    import pickle

    x, _ = data
    model = PomegranateStateModel(3, n_iter=5).fit(x)
    back = pickle.loads(pickle.dumps(model))
    assert back.score(x) == pytest.approx(model.score(x), rel=1e-12)
    np.testing.assert_array_equal(back.predict(x).values, model.predict(x).values)


def test_whole_pipeline(sim3d: SyntheticFace) -> None:
    result = fe.Pipeline(state_model="pomegranate", n_states=5, progress=False).run(
        sim3d.pose3d)
    assert isinstance(result.model, PomegranateStateModel)
    assert state_agreement(sim3d.states, result.states[0]) >= 0.9
    np.testing.assert_allclose(result.transitions.sum("to_state").values, 1)


def test_torch_threads_are_restored(data: tuple[xr.DataArray, np.ndarray]) -> None:
    feats, _ = data
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        model = fe.state_model("pomegranate", n_states=4, n_iter=3).fit(feats)  # 1 thread
        model.predict(feats)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    fe.state_model("pomegranate", n_states=4, n_iter=3, n_threads=None).fit(feats)
    assert torch.get_num_threads() == before


def test_registered_with_its_extra() -> None:
    table = fe.backends()
    row = table[(table["stage"] == "state_model") & (table["name"] == "pomegranate")]
    assert len(row) == 1 and bool(row["available"].iloc[0])
    assert PomegranateStateModel.extra == "pomegranate"


def test_bad_options_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="tol must be > 0"):
        fe.state_model("pomegranate", tol=0)
    with pytest.raises(ValueError, match="tol must be > 0"):
        fe.state_model("pomegranate", tol=-1e-3)
    with pytest.raises(ValueError, match="tol must be > 0"):
        fe.state_model("pomegranate", tol=float("inf"))
    with pytest.raises(ValueError, match="covariance_type must be 'full' or 'diag'"):
        fe.state_model("pomegranate", covariance_type="spherical")
    with pytest.raises(ValueError, match="n_init must be >= 1"):
        fe.state_model("pomegranate", n_init=0)
    with pytest.raises(ValueError, match="n_iter must be >= 1"):
        fe.state_model("pomegranate", n_iter=0)
    with pytest.raises(ValueError, match="min_covar must be >= 0"):
        fe.state_model("pomegranate", min_covar=-1)
    with pytest.raises(ValueError, match="device must be"):
        fe.state_model("pomegranate", device="tpu")
    with pytest.raises(ValueError, match="n_states must be >= 1"):
        fe.state_model("pomegranate", n_states=0)
    feats, _ = hmm_data(n=300)
    with pytest.raises(fe.NotFittedError):
        fe.state_model("pomegranate", n_states=4).predict(feats)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_explained() -> None:
    with pytest.raises(fe.FaceexprError, match="sees no CUDA GPU; use device='cpu'"):
        fe.state_model("pomegranate", device="cuda")
    assert PomegranateStateModel(device="auto").device_ == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_gives_the_cpu_result(data: tuple[xr.DataArray, np.ndarray]) -> None:
    feats, _ = data
    cpu = fe.state_model("pomegranate", n_states=4).fit(feats)
    gpu = fe.state_model("pomegranate", n_states=4, device="cuda").fit(feats)
    assert PomegranateStateModel(device="auto").device_ == "cuda"
    assert gpu.score(feats) == pytest.approx(cpu.score(feats), rel=1e-6)
    np.testing.assert_array_equal(gpu.predict(feats).values, cpu.predict(feats).values)


def test_tol_minus_inf_runs_every_iteration() -> None:
    # a step of the priors may lower the likelihood; -inf never stops on that
    feats, _ = hmm_data(n=300)
    model = fe.state_model("pomegranate", n_states=3, n_iter=4, tol=-np.inf,
                           stickiness=100.0).fit(feats)
    assert model.n_iter_ == 4 and not model.converged_
