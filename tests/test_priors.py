"""The shared priors (stickiness κ, transition_concentration α, covariance_prior ψ) and the
EM progress bar in every EM-fitted Gaussian-HMM backend (real libraries throughout).

Every backend fits the same data from the same k-means start with the same priors: a
state that a frozen tracker shrinks onto keeps a covariance of ``ψ / (N_k + 1)`` where
plain hmmlearn collapses, stickiness makes staying likelier, and all backends reach the
same log-likelihood.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
import xarray as xr
from hmmlearn.hmm import GaussianHMM

import faceexpr as fe
from faceexpr import _progress
from faceexpr.backends._start import kmeans_start
from faceexpr.interfaces import StateModel
from faceexpr.synthetic import sticky_chain

BACKENDS = ["native", "hmmlearn", "pomegranate", "dynamax"]
K, D, N_ITER = 4, 4, 10
ALPHA, PSI = 1.5, 0.05
FROZEN = -6.0  # where the frozen tracker sits in every feature, far from the other states
N_FROZEN = 6


def frozen_data(n: int = 400, seed: int = 0) -> xr.DataArray:
    """Three sticky Gaussian states over ``n`` frames, and ``N_FROZEN`` frames in the middle
    where the tracker froze: (almost) the same values, which one state shrinks onto."""
    rng = np.random.default_rng(seed)
    means = 3.0 * np.eye(3, D)  # the origin's neighbours: (3,0,0,0), (0,3,0,0), (0,0,3,0)
    states = sticky_chain(rng, n, 3, 20.0)
    x = means[states] + rng.normal(0, 1, (n, D))
    frozen = FROZEN + 1e-9 * rng.normal(size=(N_FROZEN, D))
    x = np.concatenate([x[: n // 2], frozen, x[n // 2:]])
    return fe.make_features(x, [f"f{i}" for i in range(D)])


@pytest.fixture(scope="module")
def feats() -> xr.DataArray:
    return frozen_data()


def options(backend: str, stickiness: float) -> dict[str, Any]:
    """The same priors and a fixed number of EM iterations for every backend."""
    if backend == "pomegranate":
        pytest.importorskip("pomegranate")
    if backend == "dynamax":
        pytest.importorskip("dynamax")
    # tol -inf: every iteration runs, though a step of the priors may lower the likelihood
    return {"n_states": K, "n_iter": N_ITER, "tol": -math.inf, "stickiness": stickiness,
            "transition_concentration": ALPHA, "covariance_prior": PSI}


_FITS: dict[tuple[str, float], StateModel] = {}


def fitted(backend: str, stickiness: float, feats: xr.DataArray) -> StateModel:
    """One fit per backend and stickiness, shared by the tests (dynamax compiles each)."""
    key = (backend, stickiness)
    if key not in _FITS:
        _FITS[key] = fe.state_model(backend, **options(backend, stickiness)).fit(feats)
    model = _FITS[key]
    assert model.n_iter_ == N_ITER  # all iterations ran: the same EM everywhere
    return model


def frozen_state(model: StateModel) -> int:
    return int(np.argmin(np.linalg.norm(model.means_ - FROZEN, axis=1)))


def test_plain_hmmlearn_collapses_onto_the_frozen_frames(feats: xr.DataArray) -> None:
    """Without a covariance prior the frozen state's covariance goes singular."""
    x = feats.values
    start = kmeans_start(x, K, min_covar=1e-3, seed=0)
    # hmmlearn's maximum-likelihood M-step (covariance S_k / N_k) from our start
    hmm = GaussianHMM(K, "full", init_params="", covars_prior=0.0, n_iter=N_ITER,
                      tol=-np.inf)
    hmm.n_features = D
    hmm.startprob_, hmm.transmat_ = start.startprob, start.transmat
    hmm.means_, hmm.covars_ = start.means, start.covars
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            hmm.fit(x)
        smallest = float(np.linalg.eigvalsh(hmm.covars_).min())
    except ValueError:  # hmmlearn refused a covariance that is not positive definite
        smallest = 0.0
    assert smallest < 1e-6


@pytest.mark.parametrize("backend", BACKENDS)
def test_covariance_prior_keeps_every_state_at_least_psi_over_n_plus_1(
        backend: str, feats: xr.DataArray) -> None:
    model = fitted(backend, 0.0, feats)
    weights = model.predict_proba(feats).values.sum(axis=0)  # N_k, in frames
    smallest = np.linalg.eigvalsh(model.covars_).min(axis=1)
    ratio = smallest * (weights + 1.0) / PSI  # (S_k + ψ I) / (N_k + 1): at least 1
    assert ratio.min() >= 1 - 1e-6
    j = frozen_state(model)
    assert weights[j] == pytest.approx(N_FROZEN, abs=1e-3)
    # the frozen frames scatter by 1e-9: the state's covariance is the prior's alone
    assert ratio[j] == pytest.approx(1.0, abs=1e-6)
    assert smallest[j] == pytest.approx(PSI / (N_FROZEN + 1), rel=1e-3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_stickiness_raises_the_chance_of_staying(backend: str, feats: xr.DataArray) -> None:
    loose = fitted(backend, 0.0, feats).transmat_
    sticky = fitted(backend, 200.0, feats).transmat_
    np.testing.assert_allclose(sticky.sum(axis=1), 1.0)
    assert sticky.diagonal().mean() > loose.diagonal().mean() + 0.02
    # 200 extra stays on the frozen state's 6 frames (5 stays, 1 leaving, α - 1 = 0.5 on
    # each of the 4 transitions): (5 + 0.5 + 200) / (6 + 4 * 0.5 + 200)
    j = frozen_state(fitted(backend, 200.0, feats))
    assert sticky[j, j] == pytest.approx(205.5 / 208.0, abs=1e-3)


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "native"])
@pytest.mark.parametrize("stickiness", [0.0, 200.0])
def test_every_backend_reaches_the_native_log_likelihood(
        backend: str, stickiness: float, feats: xr.DataArray) -> None:
    """The same priors, start and iterations: the same EM, whichever library runs it."""
    ref = fitted("native", stickiness, feats)
    model = fitted(backend, stickiness, feats)
    assert model.score(feats) == pytest.approx(ref.score(feats), rel=1e-6)
    assert model.log_likelihood_ == pytest.approx(
        ref.log_likelihood_, rel=1e-6)
    np.testing.assert_allclose(model.transmat_, ref.transmat_, atol=1e-5)


@pytest.mark.parametrize("cov", ["full", "diag"])
@pytest.mark.parametrize("backend", ["hmmlearn", "pomegranate"])
def test_hmmlearn_and_pomegranate_take_native_steps(backend: str, cov: str,
                                                    feats: xr.DataArray) -> None:
    """Both covariance types, a prior on every part, a few iterations: native's parameters."""
    opts = {**options(backend, 30.0), "covariance_type": cov, "n_iter": 4}
    model = fe.state_model(backend, **opts).fit(feats)
    ref = fe.state_model("native", **opts).fit(feats)
    assert model.score(feats) == pytest.approx(ref.score(feats), rel=1e-9)
    np.testing.assert_allclose(model.covars_, ref.covars_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(model.transmat_, ref.transmat_, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("option", "value"), [("stickiness", -1.0),
                                               ("transition_concentration", 0.0),
                                               ("covariance_prior", math.nan)])
def test_bad_priors_are_named(backend: str, option: str, value: float) -> None:
    if backend in ("pomegranate", "dynamax"):
        pytest.importorskip(backend)
    with pytest.raises(ValueError, match=rf"^state model '{backend}': {option} must be"):
        fe.state_model(backend, n_states=K, **{option: value})


@pytest.mark.parametrize("backend", BACKENDS)
def test_progress_bar_shows_the_log_likelihood(backend: str, feats: xr.DataArray,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_progress, "MININTERVAL", 0.0)  # draw every iteration
    opts = {**options(backend, 0.0), "n_iter": 3, "progress": True}
    fe.state_model(backend, **opts).fit(feats)
    err = capsys.readouterr().err
    assert f"{backend} K={K}" in err and "log-lik" in err and "change" in err
    fe.state_model(backend, **{**opts, "progress": False}).fit(feats)
    assert "log-lik" not in capsys.readouterr().err
