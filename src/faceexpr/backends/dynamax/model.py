"""The ``dynamax`` StateModel (see the package's description)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from faceexpr._arrays import finite_segments
from faceexpr._typing import FloatArray, PathLike
from faceexpr.backends._em import check_priors, em_progress, restart_label
from faceexpr.backends._start import kmeans_start
from faceexpr.data import NO_STATE, as_sequences
from faceexpr.errors import FaceexprError
from faceexpr.interfaces import StateModel

if TYPE_CHECKING:
    import xarray as xr


from faceexpr.backends.dynamax._batch import _lagged, _pack
from faceexpr.backends.dynamax._engine import (
    _NO_WEIGHT,
    _computing,
    _Config,
    _Engine,
    _engine,
    _resolve_device,
)

__all__ = ["DynamaxStateModel"]


class _EMFailed(Exception):
    """One restart broke down (a log-likelihood that is not finite)."""


class DynamaxStateModel(StateModel):
    """Gaussian or linear autoregressive HMM fitted by EM on dynamax (JAX, float64).

    See the module's description for what dynamax computes, how the priors map onto
    dynamax's and how several sequences are handled.

    Parameters
    ----------
    n_states
        Number of hidden states K.
    covariance_type
        ``"full"`` (dynamax's ``GaussianHMM``) or ``"diag"`` (``DiagonalGaussianHMM``;
        for an AR model, diagonal noise covariances).
    n_iter
        Maximum EM iterations per restart.
    tol
        EM stops when the log-likelihood gains less than this in one iteration (``-inf``:
        never before ``n_iter``).
    n_init
        Restarts, each from its own k-means clustering (seed ``random_state + i``); the one
        with the highest log-likelihood is kept.
    min_covar
        Added to the diagonal of the starting covariances.
    stickiness, transition_concentration, covariance_prior
        The priors of every backend (:mod:`faceexpr.backends._em`), on dynamax's own (see
        the module's description); ``transition_concentration`` must be ≥ 1 here.
    ar_order
        0: a Gaussian HMM. p ≥ 1: dynamax's ``LinearAutoregressiveHMM`` with ``num_lags=p``,
        ``x_t ~ N(W_k [x_{t-1}; ...; x_{t-p}] + b_k, Σ_k)``.
    device
        ``"auto"`` (a GPU where JAX has one, else the CPU), ``"cpu"`` or ``"gpu"`` (an error
        where JAX sees no GPU; this includes loading a model saved with it there).
    progress
        Show a progress bar over the EM iterations (log-likelihood and its change).
    random_state
        Seed; restart ``i`` uses ``random_state + i``.

    Attributes
    ----------
    log_likelihood_
        Total log-likelihood of the fitted frames under the kept model (for an AR model,
        of the frames after the first ``p`` of each segment, given those).
    n_iter_
        EM iterations the kept restart ran.
    converged_
        Whether its gain fell below ``tol`` within ``n_iter`` iterations.
    history_
        The kept restart's log-likelihood at every iteration (of the parameters that
        iteration started from).
    ar_weights_, ar_biases_
        For ``ar_order >= 1``: ``(K, D, D·p)`` lag weights (lag 1 first) and ``(K, D)``
        biases; ``None`` otherwise.
    device_
        The JAX device used.
    """

    name: ClassVar[str] = "dynamax"
    extra: ClassVar[str | None] = "dynamax"
    requires: ClassVar[tuple[str, ...]] = ("dynamax", "jax")

    def __init__(
        self,
        n_states: int = 9,
        *,
        covariance_type: Literal["full", "diag"] = "full",
        n_iter: int = 100,
        tol: float = 1e-3,
        n_init: int = 1,
        min_covar: float = 1e-3,
        stickiness: float = 0.0,
        transition_concentration: float = 1.0,
        covariance_prior: float = 1e-2,
        ar_order: int = 0,
        device: str = "auto",
        progress: bool = False,
        random_state: int | None = 0,
    ) -> None:
        if covariance_type not in ("full", "diag"):
            raise ValueError(f"covariance_type must be 'full' or 'diag', got {covariance_type!r}")
        if int(n_iter) < 1:
            raise ValueError(f"n_iter must be >= 1, got {n_iter}")
        if math.isnan(float(tol)):
            raise ValueError(f"tol must be a number (-inf runs all n_iter iterations), got {tol}")
        if int(n_init) < 1:
            raise ValueError(f"n_init must be >= 1, got {n_init}")
        if not (math.isfinite(float(min_covar)) and float(min_covar) >= 0):
            raise ValueError(f"min_covar must be >= 0, got {min_covar}")
        if isinstance(ar_order, bool) or int(ar_order) < 0:
            raise ValueError(f"ar_order must be an integer >= 0 (0: no autoregression), got "
                             f"{ar_order!r}")
        priors = check_priors(stickiness, transition_concentration, covariance_prior)
        if priors.transition_concentration < 1.0:
            raise ValueError(
                f"transition_concentration must be >= 1 for the dynamax backend, got "
                f"{transition_concentration!r}: dynamax's M-step takes the mode of a "
                "Dirichlet, which is undefined for concentrations below 1")
        super().__init__(n_states, random_state=random_state, covariance_type=covariance_type,
                         n_iter=int(n_iter), tol=float(tol), n_init=int(n_init),
                         min_covar=float(min_covar), stickiness=priors.stickiness,
                         transition_concentration=priors.transition_concentration,
                         covariance_prior=priors.covariance_prior, ar_order=int(ar_order),
                         device=device, progress=bool(progress))
        self.device_ = _resolve_device(device)
        self._params: dict[str, FloatArray] | None = None
        self._jax_params: Any = None
        self.ar_weights_: FloatArray | None = None
        self.ar_biases_: FloatArray | None = None
        self.log_likelihood_: float = float("nan")
        self.n_iter_: int = 0
        self.converged_: bool = False
        self.history_: list[float] = []

    @property
    def _order(self) -> int:
        return int(self.options["ar_order"])

    def _engine(self, n_features: int) -> _Engine:
        o = self.options
        return _engine(_Config(self.n_states, n_features, o["covariance_type"] == "diag",
                               self._order, float(o["stickiness"]),
                               float(o["transition_concentration"]),
                               float(o["covariance_prior"])))

    def n_parameters(self) -> int:
        """Free parameters (for BIC/AIC): the Gaussian HMM's plus the AR lag weights."""
        k, d = self.means_.shape
        return int(super().n_parameters() + k * d * d * self._order)

    def save(self, path: PathLike) -> Path:
        """Write the fitted model (see :meth:`StateModel.save`); not for AR models yet.

        Raises
        ------
        FaceexprError
            For ``ar_order >= 1``: the model file has no place for the AR weights.
        """
        self._check_fitted()
        if self._order > 0:
            raise FaceexprError(
                f"a dynamax model with ar_order={self._order} cannot be saved yet: the model "
                "file holds means, covariances and transitions but not the AR weights; keep "
                "the fitted object, or refit")
        return super().save(path)

    # -- fitting --------------------------------------------------------------------------
    def _modelled(self, segments: list[FloatArray]) -> tuple[list[FloatArray],
                                                             list[FloatArray] | None]:
        """The frames the model scores and (AR) their lagged inputs, per segment."""
        p = self._order
        if p == 0:
            return segments, None
        pairs = [_lagged(s, p) for s in segments if len(s) > p]
        return [y for y, _ in pairs], [u for _, u in pairs]

    def _ar_start(self, start: Any) -> dict[str, FloatArray]:
        """The AR start: the k-means start with zero weights and the cluster means as
        biases (the first E-step is then the Gaussian HMM's)."""
        k, d = start.means.shape
        return {"startprob": start.startprob, "transmat": start.transmat,
                "covars": start.covars, "biases": start.means,
                "weights": np.zeros((k, d, d * self._order))}

    def _fit_arrays(self, segments: list[FloatArray]) -> None:
        import jax

        frames, inputs = self._modelled(segments)
        p = self._order
        if not frames:
            raise FaceexprError(
                f"no finite segment is longer than ar_order={p} frames, so an order-{p} "
                "autoregressive model has nothing to fit; use a smaller ar_order")
        y = np.concatenate(frames)
        if len(y) < self.n_states:
            raise FaceexprError(f"only {len(y)} frames can be modelled with ar_order={p}; "
                                f"need at least n_states={self.n_states}")
        # EM runs on centred frames (second moments then lose no digits); the means and
        # biases are moved back at the end
        centre = y.mean(axis=0)
        frames = [f - centre for f in frames]
        if inputs is not None:
            inputs = [u - np.tile(centre, p) for u in inputs]
        yc = y - centre
        batch = _pack(frames, inputs)
        engine = self._engine(y.shape[1])
        o = self.options
        n_init, n_iter, tol = int(o["n_init"]), int(o["n_iter"]), float(o["tol"])
        best: dict[str, FloatArray] | None = None
        best_ll, best_history, best_conv, failure = -math.inf, [], False, ""
        with _computing(self.device_):
            data = [None if a is None else jax.device_put(a, self.device_) for a in batch]
            for i in range(n_init):
                seed = None if self.random_state is None else int(self.random_state) + i
                start = kmeans_start(yc, self.n_states, min_covar=float(o["min_covar"]),
                                     seed=seed)
                initial = self._ar_start(start) if p else start._asdict()
                history: list[float] = []
                converged = False
                try:
                    params = engine.params(initial)
                    label = restart_label(self.name, self.n_states, i, n_init)
                    with em_progress(n_iter, label, bool(o["progress"])) as bar:
                        for _ in range(n_iter):
                            new, ll_j, _, _ = engine.em_step(params, *data)
                            ll = float(ll_j)
                            if not math.isfinite(ll):
                                raise _EMFailed(f"the log-likelihood became {ll}")
                            params = new
                            history.append(ll)
                            bar.update(ll)
                            if len(history) > 1 and history[-1] - history[-2] < tol:
                                converged = True
                                break
                    # the kept parameters' own log-likelihood (the update is discarded)
                    _, ll_j, weights, sums = engine.em_step(params, *data)
                    ll = float(ll_j)
                    if not math.isfinite(ll):
                        raise _EMFailed(f"the fitted parameters' log-likelihood is {ll}")
                except _EMFailed as exc:
                    failure, ll = str(exc), -math.inf
                if math.isfinite(ll) and ll > best_ll:
                    best = engine.arrays(params)
                    if p:
                        w = np.asarray(weights, dtype=np.float64)
                        s = np.asarray(sums, dtype=np.float64)
                        # each state's posterior-weighted mean of its frames
                        best["means"] = np.where((w > _NO_WEIGHT)[:, None],
                                                 s / np.maximum(w, _NO_WEIGHT)[:, None],
                                                 best["biases"])
                    best_ll, best_history, best_conv = ll, history, converged
        if best is None:
            raise FaceexprError(
                f"every one of the {n_init} dynamax restart(s) failed"
                f"{f' ({failure})' if failure else ''}: {self.n_states} states with "
                f"{o['covariance_type']} covariances over {y.shape[1]} features are too "
                f"many for {len(y)} frames; use fewer states, a larger covariance_prior, "
                "covariance_type='diag' or fewer features")
        best["means"] = best["means"] + centre
        if p:
            # x_t - c = W (u_t - c) + b'  <=>  x_t = W u_t + b' + c - W c
            best["biases"] = (best["biases"] + centre
                              - np.einsum("kdm,m->kd", best["weights"], np.tile(centre, p)))
        self._set_fitted(best)
        self.log_likelihood_ = best_ll
        self.history_ = best_history
        self.n_iter_ = len(best_history)
        self.converged_ = best_conv

    # -- parameters -----------------------------------------------------------------------
    def _set_fitted(self, params: dict[str, FloatArray]) -> None:
        self.means_ = np.array(params["means"], dtype=np.float64)
        self.covars_ = np.array(params["covars"], dtype=np.float64)
        self.transmat_ = np.array(params["transmat"], dtype=np.float64)
        self.startprob_ = np.array(params["startprob"], dtype=np.float64)
        if self._order:
            self.ar_weights_ = np.array(params["weights"], dtype=np.float64)
            self.ar_biases_ = np.array(params["biases"], dtype=np.float64)
        self._params = {"means": self.means_, "covars": self.covars_,
                        "transmat": self.transmat_, "startprob": self.startprob_}
        if self._order:
            self._params |= {"weights": params["weights"], "biases": params["biases"]}
        self._jax_params = None

    def _set_params(self, params: dict[str, FloatArray]) -> None:
        if self._order:
            raise ValueError(f"a model with ar_order={self._order} needs its AR weights, "
                             "which a model file does not hold")
        self._set_fitted(params)

    def _dynamax_params(self) -> Any:
        """The fitted parameters as dynamax's (built once; call inside :func:`_computing`)."""
        if self._params is None:
            raise FaceexprError("the dynamax model is not fitted")
        if self._jax_params is None:
            import jax

            self._jax_params = jax.device_put(
                self._engine(self.means_.shape[1]).params(self._params), self.device_)
        return self._jax_params

    # -- inference ------------------------------------------------------------------------
    # The base class asks for one finite segment at a time; here all finite segments of a
    # recording go through one call (one compiled shape per bucket of the recording's
    # length instead of one per bucket of every segment's), which gives the same states,
    # posteriors and log-likelihoods since the segments are independent in the batch.
    def _infer(self, which: str, x: FloatArray) -> tuple[Any, list[tuple[int, int]]]:
        """``which`` (an :class:`_Engine` function) on every finite segment of ``x`` with
        a modelled frame, and those segments; ``(None, [])`` when there is none."""
        import jax

        p = self._order
        segments = [(a, b) for a, b in finite_segments(x) if b - a > p]
        if not segments:
            return None, []
        if p:
            pieces = [_lagged(x[a:b], p) for a, b in segments]
            batch = _pack([y for y, _ in pieces], [u for _, u in pieces])
        else:
            batch = _pack([x[a:b] for a, b in segments], None)
        fn = getattr(self._engine(x.shape[1]), which)
        with _computing(self.device_):
            params = self._dynamax_params()
            put = [None if a is None else jax.device_put(a, self.device_)
                   for a in (batch.x, batch.u, batch.kind, batch.valid)]
            return np.asarray(fn(params, *put)), segments

    def _per_frame(self, which: str, x: FloatArray, fill: float) -> Any:
        """Per-frame output of ``which`` on ``x`` (``fill`` where nothing is modelled); the
        first ``p`` frames of a segment take the values of its first modelled frame."""
        p = self._order
        res, segments = self._infer(which, x)
        shape = (len(x),) if which == "viterbi" else (len(x), self.n_states)
        out = np.full(shape, fill, dtype=np.int64 if which == "viterbi" else np.float64)
        offset = 0
        for a, b in segments:
            n = b - a - p
            out[a + p:b] = res[offset:offset + n]
            out[a:a + p] = res[offset]
            offset += n
        return out

    def predict(self, features: xr.DataArray) -> xr.DataArray:
        """The Viterbi states (``-1`` where features are NaN, or in a segment of an AR
        model too short to have a modelled frame)."""
        import xarray as xr

        out = self._per_frame("viterbi", self._checked(features), NO_STATE)
        return xr.DataArray(out, dims=("time",), coords={"time": features["time"].values},
                            name="state")

    def predict_proba(self, features: xr.DataArray) -> xr.DataArray:
        """State posteriors ``(time, states)``; NaN rows where no state is modelled."""
        import xarray as xr

        out = self._per_frame("smoothed", self._checked(features), np.nan)
        return xr.DataArray(out, dims=("time", "states"),
                            coords={"time": features["time"].values,
                                    "states": np.arange(self.n_states)},
                            name="posterior")

    def score(self, features: xr.DataArray | Sequence[xr.DataArray]) -> float:
        """Total log-likelihood of the modelled frames (for an AR model, given the first
        ``p`` frames of each segment)."""
        total = 0.0
        for s in as_sequences(features):
            res, _ = self._infer("log_likelihood", self._checked(s))
            total += 0.0 if res is None else float(res)
        return total

    def _predict_array(self, x: FloatArray) -> npt.NDArray[np.int64]:
        return np.asarray(self._per_frame("viterbi", x, NO_STATE), dtype=np.int64)

    def _proba_array(self, x: FloatArray) -> FloatArray:
        return np.asarray(self._per_frame("smoothed", x, np.nan), dtype=np.float64)

    def _score_array(self, x: FloatArray) -> float:
        res, _ = self._infer("log_likelihood", x)
        return 0.0 if res is None else float(res)

