"""The ``native`` StateModel: Gaussian-HMM EM on faceexpr's own compiled engine."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from faceexpr._typing import FloatArray
from faceexpr.backends._em import (
    check_priors,
    em_progress,
    restart_label,
)
from faceexpr.backends._start import kmeans_start
from faceexpr.backends.native._steps import NO_WEIGHT as _NO_WEIGHT
from faceexpr.backends.native._steps import Params, Statistics
from faceexpr.errors import FaceexprError
from faceexpr.interfaces import SummableStateModel

if TYPE_CHECKING:  # imported where used: registering the plugin stays cheap
    import xarray as xr

BLAS_THREADS_FROM = 32
"""Fewest features for which BLAS gets more than one thread. The products on narrower
features are small blocks that a second thread does not speed up; on a loaded 2-core
machine it slowed the log densities 4× and the moments 9× (T=108k, D=10, K=12)."""


class _EMFailed(FaceexprError):
    """One restart broke down (a covariance that is not positive definite, or a
    log-likelihood that is not finite)."""


class NativeStateModel(SummableStateModel):
    """Gaussian HMM fitted by EM (Baum–Welch) on faceexpr's own engine, best of ``n_init``.

    The same model and the same k-means start as the hmmlearn backend, computed
    differently: the forward–backward recursions run in scaled probability space,
    compiled with numba and in parallel over sequences; log densities and the M-step's
    sums are matrix products on the covariances' Cholesky factors, frames in blocks. For
    the same parameters the log-likelihood equals hmmlearn's; with the same priors, EM
    from the same start takes the same steps.

    Parameters
    ----------
    n_states
        Number of hidden states K.
    covariance_type
        ``"full"``, ``"diag"`` or ``"tied"`` (one full covariance shared by every state,
        from the scatter of all frames about their states' means: on short recordings
        with few bouts per state it is estimated from every bout, not from a state's
        own few).
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
        The priors of every backend (:mod:`faceexpr.backends._em`): Dirichlet
        pseudo-counts κ on staying and α on every transition, and the covariance prior ψ
        applied in every M-step, ``Σ_k = (S_k + ψ I) / (N_k + 1)``.
    ar_order
        0: a Gaussian HMM. p ≥ 1: an autoregressive HMM, ``x_t ~ N(W_k [x_{t-1}; …;
        x_{t-p}] + b_k, Σ_k)`` (:mod:`._steps`): a slow drift within an expression is the
        state's own dynamics, not a reason for more states. The first p frames of every
        sequence carry no evidence (density 1), and get their states from the transitions.
    n_threads
        Threads of the compiled recursions (parallel over sequences) and, on 32 features
        or more, of BLAS while this model computes (the previous limits are restored
        afterwards); ``None`` keeps numba's setting (every core, or ``NUMBA_NUM_THREADS``)
        and BLAS's own on wide features; narrower features always use one BLAS thread.
        The two never run at the same time, so they do not compete for cores;
        ``n_threads=1`` in each of several processes keeps those from competing.
    progress
        Show a progress bar over the EM iterations (log-likelihood and its change).
    random_state
        Seed; restart ``i`` uses ``random_state + i``.

    Attributes
    ----------
    log_likelihood_
        Total log-likelihood of the fitted frames under the kept model.
    restart_log_likelihoods_
        The final log-likelihood of every restart (``-inf`` where one broke down).
    n_iter_
        EM iterations the kept restart ran.
    converged_
        Whether its gain fell below ``tol`` within ``n_iter`` iterations.
    history_
        The kept restart's log-likelihood at every iteration (of the parameters that
        iteration started from).
    means_, covars_
        Each state's mean and covariance; for ``ar_order >= 1``, the posterior-weighted
        mean of the state's frames and the covariance of its AR noise.
    ar_weights_, ar_biases_
        For ``ar_order >= 1``: ``(K, D, D·p)`` lag weights (lag 1 first) and ``(K, D)``
        biases; ``None`` otherwise.
    """

    name: ClassVar[str] = "native"
    requires: ClassVar[tuple[str, ...]] = ("numba", "threadpoolctl")

    def __init__(
        self,
        n_states: int = 9,
        *,
        covariance_type: Literal["full", "diag", "tied"] = "full",
        n_iter: int = 100,
        tol: float = 1e-3,
        n_init: int = 1,
        min_covar: float = 1e-3,
        stickiness: float = 0.0,
        transition_concentration: float = 1.0,
        covariance_prior: float = 1e-2,
        ar_order: int = 0,
        n_threads: int | None = None,
        progress: bool = False,
        random_state: int | None = 0,
    ) -> None:
        if covariance_type not in ("full", "diag", "tied"):
            raise ValueError(f"covariance_type must be 'full', 'diag' or 'tied', got "
                             f"{covariance_type!r}")
        if int(n_iter) < 1:
            raise ValueError(f"n_iter must be >= 1, got {n_iter}")
        if math.isnan(float(tol)):
            raise ValueError(f"tol must be a number (-inf runs all n_iter iterations), got {tol}")
        if int(n_init) < 1:
            raise ValueError(f"n_init must be >= 1, got {n_init}")
        if not (math.isfinite(float(min_covar)) and float(min_covar) >= 0):
            raise ValueError(f"min_covar must be >= 0, got {min_covar}")
        if isinstance(ar_order, bool) or int(ar_order) != ar_order or int(ar_order) < 0:
            raise ValueError(f"ar_order must be an integer >= 0 (0: no autoregression), got "
                             f"{ar_order!r}")
        if n_threads is not None and int(n_threads) < 1:
            raise ValueError(f"n_threads must be >= 1 or None, got {n_threads}")
        priors = check_priors(stickiness, transition_concentration, covariance_prior)
        super().__init__(n_states, random_state=random_state, covariance_type=covariance_type,
                         n_iter=int(n_iter), tol=float(tol), n_init=int(n_init),
                         min_covar=float(min_covar), stickiness=priors.stickiness,
                         transition_concentration=priors.transition_concentration,
                         covariance_prior=priors.covariance_prior, ar_order=int(ar_order),
                         n_threads=None if n_threads is None else int(n_threads),
                         progress=bool(progress))
        self._priors = priors
        self._factors: tuple[FloatArray, FloatArray] | None = None
        self._coefs: FloatArray | None = None
        self.ar_weights_: FloatArray | None = None
        self.ar_biases_: FloatArray | None = None
        self.log_likelihood_: float = float("nan")
        self.n_iter_: int = 0
        self.converged_: bool = False
        self.history_: list[float] = []

    @property
    def _diagonal(self) -> bool:
        return bool(self.options["covariance_type"] == "diag")

    # -- threads ------------------------------------------------------------------------
    @contextmanager
    def _threads(self, features: xr.DataArray | Sequence[xr.DataArray]) -> Iterator[None]:
        """Use ``n_threads`` (default: numba's setting) for the recursions, one BLAS thread
        on narrow features (:data:`BLAS_THREADS_FROM`); previous limits are restored."""
        import numba
        from threadpoolctl import threadpool_limits

        n = self.options["n_threads"]
        before = numba.get_num_threads()
        # None keeps numba's own setting (NUMBA_NUM_THREADS, or what the caller set);
        # numba's pool has NUMBA_NUM_THREADS threads (its config module is untyped)
        n = before if n is None else max(1, min(int(n),
                                                int(vars(numba.config)["NUMBA_NUM_THREADS"])))
        # a DataArray has sizes; a sequence of them holds them
        one = features if hasattr(features, "sizes") else next(iter(features), None)
        wide = one is not None and one.sizes.get("features", 0) >= BLAS_THREADS_FROM
        numba.set_num_threads(n)
        try:
            # BLAS is only ever limited, never raised above the caller's limit (such as
            # OMP_NUM_THREADS); on wide features without n_threads it is left alone
            blas = None if wide and self.options["n_threads"] is None else (n if wide else 1)
            with threadpool_limits(limits=blas):
                yield
        finally:
            numba.set_num_threads(before)

    def fit(self, features: xr.DataArray | Sequence[xr.DataArray]) -> NativeStateModel:
        with self._threads(features):
            super().fit(features)
            return self

    def predict(self, features: xr.DataArray) -> xr.DataArray:
        with self._threads(features):
            return super().predict(features)

    def predict_proba(self, features: xr.DataArray) -> xr.DataArray:
        with self._threads(features):
            return super().predict_proba(features)

    def score(self, features: xr.DataArray | Sequence[xr.DataArray]) -> float:
        with self._threads(features):
            return super().score(features)

    # -- the engine ---------------------------------------------------------------------
    @property
    def _order(self) -> int:
        return int(self.options["ar_order"])

    def start_params(self, x: FloatArray, seed: int | None) -> Params:
        """EM's start on the (centred) frames ``x``: the k-means start (the hmmlearn
        backend's), for AR states with zero lag weights and the cluster means as biases,
        so that the first E-step is the Gaussian HMM's."""
        start = kmeans_start(x, self.n_states, min_covar=float(self.options["min_covar"]),
                             seed=seed)
        k, d = start.means.shape
        coefs = np.zeros((k, d * self._order + 1, d))
        coefs[:, -1, :] = start.means
        covars = start.covars.copy()
        if self._diagonal:
            covars = np.einsum("kii->ki", covars)[:, :, None] * np.eye(d)
        if self.options["covariance_type"] == "tied":
            covars = np.broadcast_to(covars.mean(axis=0), covars.shape).copy()
        return {"coefs": coefs, "covars": covars, "transmat": start.transmat.copy(),
                "startprob": start.startprob.copy()}

    def e_step(self, x: FloatArray, bounds: npt.NDArray[np.int64], params: Params
               ) -> Statistics:
        """The E-step's sums over the sequences of ``x`` (centred the way ``params``
        are); see :mod:`faceexpr.backends.native._steps`."""
        from faceexpr.backends.native._steps import expected_statistics

        try:
            stats = expected_statistics(x, bounds, params, self._diagonal)
        except np.linalg.LinAlgError:
            raise _EMFailed("a state's covariance is not positive definite") from None
        if not math.isfinite(stats.log_likelihood):
            raise _EMFailed(f"the log-likelihood became {stats.log_likelihood}")
        return stats

    def m_step(self, stats: Statistics, params: Params) -> Params:
        """The M-step from (summed) statistics, under this model's priors."""
        from faceexpr.backends.native._steps import maximise

        return maximise(stats, params, self._priors, str(self.options["covariance_type"]))

    def _em(self, x: FloatArray, bounds: npt.NDArray[np.int64], start: Params, label: str
            ) -> tuple[Params, list[float], bool]:
        """EM from ``start`` in place of hmmlearn's: the same steps, the same stopping."""
        params = start
        tol, n_iter = float(self.options["tol"]), int(self.options["n_iter"])
        history: list[float] = []
        converged = False
        with em_progress(n_iter, label, bool(self.options["progress"])) as bar:
            for _ in range(n_iter):
                stats = self.e_step(x, bounds, params)
                params = self.m_step(stats, params)
                history.append(stats.log_likelihood)
                bar.update(stats.log_likelihood)
                if len(history) > 1 and history[-1] - history[-2] < tol:
                    converged = True
                    break
        return params, history, converged

    def _fit_arrays(self, segments: list[FloatArray]) -> None:
        p = self._order
        segments = [s for s in segments if len(s) > p]
        if not segments:
            raise FaceexprError(
                f"no finite segment is longer than ar_order={p} frames, so an order-{p} "
                "autoregressive model has nothing to fit; use a smaller ar_order")
        x = np.ascontiguousarray(np.concatenate(segments), dtype=np.float64)
        # EM runs on centred frames (second moments then lose no digits); the means are
        # moved back at the end
        centre = x.mean(axis=0)
        x -= centre
        bounds = np.concatenate([[0], np.cumsum([len(s) for s in segments])]).astype(np.int64)
        n_init = int(self.options["n_init"])
        best: Params | None = None
        best_stats: Statistics | None = None
        best_ll, best_history, best_conv, failure = -math.inf, [], False, ""
        lls = []
        for i in range(n_init):
            seed = None if self.random_state is None else int(self.random_state) + i
            try:
                params, history, conv = self._em(
                    x, bounds, self.start_params(x, seed),
                    restart_label(self.name, self.n_states, i, n_init))
                # the kept parameters' own log-likelihood (and, for AR, state means)
                stats = self.e_step(x, bounds, params)
                ll = stats.log_likelihood
            except _EMFailed as exc:
                failure, ll = str(exc), -math.inf
            lls.append(ll)
            if math.isfinite(ll) and ll > best_ll:
                best, best_stats, best_ll = params, stats, ll
                best_history, best_conv = history, conv
        if best is None or best_stats is None:
            raise FaceexprError(
                f"every one of the {n_init} native restart(s) failed"
                f"{f' ({failure})' if failure else ''}: {self.n_states} states with "
                f"{self.options['covariance_type']} covariances over {x.shape[1]} features "
                f"are too many for {len(x)} frames; use fewer states, a larger "
                "covariance_prior, covariance_type='diag' or fewer features")
        self.set_centred(best, best_stats, centre)
        self.log_likelihood_ = best_ll
        self.restart_log_likelihoods_ = lls
        self.history_ = best_history
        self.n_iter_ = len(best_history)
        self.converged_ = best_conv

    def set_centred(self, params: Params, stats: Statistics, centre: FloatArray) -> None:
        """Set the fitted attributes from EM's parameters on frames centred at ``centre``
        and the statistics of those parameters (for an AR model, its states' means)."""
        coefs = params["coefs"]
        fitted = {"covars": params["covars"], "transmat": params["transmat"],
                  "startprob": params["startprob"]}
        if self._order == 0:
            fitted["means"] = coefs[:, 0, :] + centre
        else:
            w = stats.weights
            # each state's posterior-weighted mean of its modelled frames
            means = np.where((w > _NO_WEIGHT)[:, None],
                             stats.cross[:, -1, :] / np.maximum(w, _NO_WEIGHT)[:, None],
                             coefs[:, -1, :])
            weights = np.swapaxes(coefs[:, :-1, :], 1, 2)  # (K, D, D·p)
            # x_t - c = W (u_t - c) + b'  <=>  x_t = W u_t + b' + c - W c
            biases = coefs[:, -1, :] + centre - weights @ np.tile(centre, self._order)
            fitted |= {"means": means + centre, "ar_weights": weights, "ar_biases": biases}
        self._set_params(fitted)

    # -- parameters and inference -------------------------------------------------------
    def n_parameters(self) -> int:
        """Free parameters (for BIC/AIC): the Gaussian HMM's plus the AR lag weights."""
        k, d = self.means_.shape
        return int(super().n_parameters() + k * d * d * self._order)

    def _set_params(self, params: dict[str, FloatArray]) -> None:
        from faceexpr.backends.native._gaussian import precision_factors

        self.means_ = np.array(params["means"], dtype=np.float64)
        self.covars_ = np.array(params["covars"], dtype=np.float64)
        self.transmat_ = np.array(params["transmat"], dtype=np.float64)
        self.startprob_ = np.array(params["startprob"], dtype=np.float64)
        k, d = self.means_.shape
        p = self._order
        if p:
            missing = [n for n in ("ar_weights", "ar_biases") if n not in params]
            if missing:
                raise ValueError(f"a model with ar_order={p} needs {' and '.join(missing)}")
            self.ar_weights_ = np.array(params["ar_weights"], dtype=np.float64)
            self.ar_biases_ = np.array(params["ar_biases"], dtype=np.float64)
            if self.ar_weights_.shape != (k, d, d * p) or self.ar_biases_.shape != (k, d):
                raise ValueError(
                    f"ar_weights has shape {self.ar_weights_.shape} and ar_biases "
                    f"{self.ar_biases_.shape}; expected {(k, d, d * p)} and {(k, d)} for "
                    f"{k} states, {d} features and ar_order={p}")
            if not (np.isfinite(self.ar_weights_).all() and np.isfinite(self.ar_biases_).all()):
                raise ValueError("the AR weights or biases have non-finite values")
            coefs = np.concatenate([np.swapaxes(self.ar_weights_, 1, 2),
                                    self.ar_biases_[:, None, :]], axis=1)
        else:
            self.ar_weights_ = self.ar_biases_ = None
            coefs = self.means_[:, None, :]
        self._coefs = coefs
        self._factors = precision_factors(self.covars_, self._diagonal)

    def _extra_arrays(self) -> dict[str, FloatArray]:
        if self.ar_weights_ is None or self.ar_biases_ is None:
            return {}
        return {"ar_weights": self.ar_weights_, "ar_biases": self.ar_biases_}

    def _densities(self, x: FloatArray) -> FloatArray:
        from faceexpr.backends.native._gaussian import log_densities
        from faceexpr.backends.native._steps import inputs_of
        from faceexpr.backends.native._steps import log_densities as ar_log_densities

        if self._factors is None or self._coefs is None:
            raise FaceexprError("the native model is not fitted")
        x = np.ascontiguousarray(x, dtype=np.float64)
        if self._order == 0:
            return log_densities(x, self.means_, *self._factors)
        z, modelled = inputs_of(x, self._one(x), self._order)
        params = {"coefs": self._coefs, "covars": self.covars_}
        return ar_log_densities(x, z, modelled, params, self._diagonal)

    def _predict_array(self, x: FloatArray) -> npt.NDArray[np.int64]:
        from faceexpr.backends.native._kernels import viterbi

        with np.errstate(divide="ignore"):
            log_start, log_trans = np.log(self.startprob_), np.log(self.transmat_)
        return np.asarray(viterbi(self._densities(x), log_start, log_trans))

    def _one(self, x: FloatArray) -> npt.NDArray[np.int64]:
        return np.array([0, len(x)], dtype=np.int64)

    def _proba_array(self, x: FloatArray) -> FloatArray:
        from faceexpr.backends.native._kernels import forward_backward

        gamma, _, _ = forward_backward(self._densities(x), self._one(x), self.startprob_,
                                       self.transmat_)
        return np.asarray(gamma)

    def _score_array(self, x: FloatArray) -> float:
        from faceexpr.backends.native._kernels import log_likelihoods

        return float(log_likelihoods(self._densities(x), self._one(x), self.startprob_,
                                     self.transmat_)[0])
