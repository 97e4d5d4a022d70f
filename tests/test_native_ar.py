"""The native engine's autoregressive states and its split EM (statistics that add up)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from sklearn.metrics import adjusted_rand_score

from faceexpr.backends.native import NativeStateModel
from faceexpr.data import make_features
from faceexpr.errors import FileFormatError
from faceexpr.interfaces import StateModel


def _ar_hmm(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two states that differ in their dynamics and their resting face, long stays, a
    slow drift (lag-1 weights 0.9–0.97)."""
    rng = np.random.default_rng(seed)
    weights = np.array([[[0.97, 0.0], [0.0, 0.9]], [[0.9, 0.05], [0.0, 0.95]]])
    rest = np.array([[0.0, 0.0], [3.0, -2.0]])
    biases = np.einsum("kde,ke->kd", np.eye(2) - weights, rest)
    states = np.zeros(n, dtype=np.int64)
    x = np.zeros((n, 2))
    for t in range(1, n):
        states[t] = states[t - 1] if rng.random() > 0.01 else 1 - states[t - 1]
        k = states[t]
        x[t] = weights[k] @ x[t - 1] + biases[k] + rng.normal(0, 0.1, 2)
    return x, states, weights


def test_ar_states_and_their_weights_are_recovered() -> None:
    x, truth, weights = _ar_hmm(4000, seed=1)
    model = NativeStateModel(2, ar_order=1, n_init=2).fit(make_features(x, ["a", "b"]))
    states = np.asarray(model.predict(make_features(x, ["a", "b"])).values)
    assert adjusted_rand_score(truth, states) > 0.95
    # match the fitted states to the true ones by their means
    order = np.argsort(model.means_[:, 0])
    assert model.ar_weights_ is not None
    np.testing.assert_allclose(model.ar_weights_[order], weights, atol=0.05)
    # EM never lowers the log-likelihood (beyond round-off)
    assert np.all(np.diff(model.history_) > -1e-6)
    k, d = 2, 2
    gaussian = (k - 1) + k * (k - 1) + k * d + k * d * (d + 1) // 2
    assert model.n_parameters() == gaussian + k * d * d


def test_an_ar_model_explains_drift_better_than_a_gaussian_one() -> None:
    x, _, _ = _ar_hmm(3000, seed=2)
    f = make_features(x, ["a", "b"])
    ar = NativeStateModel(2, ar_order=1).fit(f)
    plain = NativeStateModel(2, ar_order=0).fit(f)
    assert ar.score(f) > plain.score(f) + 1000


def test_statistics_add_up_over_sequences() -> None:
    x, _, _ = _ar_hmm(1500, seed=3)
    for order in (0, 1, 2):
        model = NativeStateModel(3, ar_order=order)
        xc = x - x.mean(axis=0)
        params = model.start_params(xc, seed=0)
        whole = model.e_step(xc, np.array([0, 700, 1500]), params)
        parts = (model.e_step(xc[:700], np.array([0, 700]), params)
                 + model.e_step(xc[700:], np.array([0, 800]), params))
        assert whole.log_likelihood == pytest.approx(parts.log_likelihood, rel=1e-12)
        for name in ("start", "transitions", "weights", "cross", "inputs", "second"):
            np.testing.assert_allclose(getattr(whole, name), getattr(parts, name),
                                       rtol=1e-10, atol=1e-8)
        a = model.m_step(whole, params)
        b = model.m_step(parts, params)
        for name in a:
            np.testing.assert_allclose(a[name], b[name], rtol=1e-9, atol=1e-12)


def test_the_gaussian_path_is_unchanged_by_the_split() -> None:
    """ar_order=0 fits the same model as hmmlearn's EM would from the same start: the
    split E/M step gives a monotone history and the means of a Gaussian HMM."""
    x, _, _ = _ar_hmm(2000, seed=4)
    model = NativeStateModel(2, ar_order=0).fit(make_features(x, ["a", "b"]))
    assert model.ar_weights_ is None
    assert np.all(np.diff(model.history_) > -1e-6)


def test_a_saved_ar_model_predicts_the_same(tmp_path) -> None:
    x, _, _ = _ar_hmm(1200, seed=5)
    f = make_features(x, ["a", "b"])
    model = NativeStateModel(2, ar_order=1).fit(f)
    path = model.save(tmp_path / "m.npz")
    back = StateModel.load(path)
    assert isinstance(back, NativeStateModel)
    np.testing.assert_array_equal(back.predict(f).values, model.predict(f).values)
    assert back.score(f) == pytest.approx(model.score(f), rel=1e-12)
    # the lag weights are checked on loading
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["ar_weights"] = arrays["ar_weights"][:, :, :1]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(FileFormatError, match="ar_weights has shape"):
        StateModel.load(tmp_path / "bad.npz")
    arrays.pop("ar_weights")
    np.savez(tmp_path / "none.npz", **arrays)
    with pytest.raises(FileFormatError, match="needs ar_weights"):
        StateModel.load(tmp_path / "none.npz")


def test_first_frames_of_each_sequence_get_states() -> None:
    x, _, _ = _ar_hmm(600, seed=6)
    model = NativeStateModel(2, ar_order=2).fit(make_features(x, ["a", "b"]))
    short = make_features(x[:2], ["a", "b"])  # no frame with two predecessors
    assert set(np.asarray(model.predict(short).values)) <= {0, 1}
    assert np.isfinite(np.asarray(model.predict_proba(short).values)).all()


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_ar_order_is_checked(bad: object) -> None:
    with pytest.raises(ValueError, match="ar_order must be an integer >= 0"):
        NativeStateModel(2, ar_order=bad)  # type: ignore[arg-type]


def test_ar_needs_frames_beyond_its_order() -> None:
    model = NativeStateModel(2, ar_order=3)
    f = xr.concat([make_features(np.random.default_rng(0).normal(size=(3, 2)), ["a", "b"])],
                  dim="time")
    with pytest.raises(Exception, match="ar_order=3"):
        model.fit(f)
