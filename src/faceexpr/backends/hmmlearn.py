"""StateModel backend on ``hmmlearn.hmm.GaussianHMM``."""

from __future__ import annotations

import functools
import logging
import warnings
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from faceexpr._typing import FloatArray
from faceexpr.backends._em import EMProgress, check_priors, em_progress, restart_label
from faceexpr.backends._start import kmeans_start
from faceexpr.errors import FaceexprError
from faceexpr.hookspecs import hookimpl
from faceexpr.interfaces import StateModel

_LOG = logging.getLogger("hmmlearn.base")


@functools.cache
def _monitor_class() -> type[Any]:
    """hmmlearn's ``ConvergenceMonitor`` that also feeds an :class:`EMProgress` bar."""
    from hmmlearn.base import ConvergenceMonitor

    class BarMonitor(ConvergenceMonitor):  # type: ignore[misc]
        """Reports every EM iteration to hmmlearn's monitor and to the bar."""

        def __init__(self, tol: float, n_iter: int, verbose: bool, bar: EMProgress) -> None:
            super().__init__(tol, n_iter, verbose)
            self.bar = bar

        def report(self, log_prob: float) -> None:
            super().report(log_prob)
            self.bar.update(float(log_prob))

    return BarMonitor


class HmmlearnStateModel(StateModel):
    """Gaussian HMM fitted with hmmlearn's EM (Baum–Welch), best of ``n_init`` restarts.

    The priors are hmmlearn's own conjugate priors, set so that its M-step is the one every
    backend shares (:mod:`faceexpr.backends._em`): ``transmat_prior = α + κ I``, no prior
    on the start probabilities, and ``covars_prior = ψ I`` with the weight that makes a
    state's covariance ``(S_k + ψ I) / (N_k + 1)``.

    Parameters
    ----------
    n_states
        Number of hidden states K.
    covariance_type
        ``"full"`` or ``"diag"``.
    n_iter
        Maximum EM iterations per restart.
    tol
        EM stops when the log-likelihood gains less than this in one iteration (``-inf``:
        never before ``n_iter``).
    n_init
        Restarts, each from its own k-means clustering (see :meth:`_initial_hmm`); the one
        with the highest log-likelihood is kept.
    min_covar
        Added to the diagonal of the starting covariances.
    stickiness, transition_concentration, covariance_prior
        The priors of every backend (:mod:`faceexpr.backends._em`): Dirichlet
        pseudo-counts κ on staying and α on every transition, and the covariance prior ψ
        applied in every M-step, ``Σ_k = (S_k + ψ I) / (N_k + 1)``.
    progress
        Show a progress bar over the EM iterations (log-likelihood and its change).
    random_state
        Seed; restart ``i`` uses ``random_state + i``.

    Attributes
    ----------
    log_likelihood_
        Total log-likelihood of the fitted frames under the kept model.
    n_iter_
        EM iterations the kept restart ran.
    converged_
        Whether its gain fell below ``tol`` within ``n_iter`` iterations (hmmlearn's
        monitor also counts reaching ``n_iter`` as converged).
    """

    name: ClassVar[str] = "hmmlearn"
    requires: ClassVar[tuple[str, ...]] = ("hmmlearn",)

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
        progress: bool = False,
        random_state: int | None = 0,
    ) -> None:
        if covariance_type not in ("full", "diag"):
            raise ValueError(f"covariance_type must be 'full' or 'diag', got {covariance_type!r}")
        if n_init < 1:
            raise ValueError(f"n_init must be >= 1, got {n_init}")
        priors = check_priors(stickiness, transition_concentration, covariance_prior)
        super().__init__(n_states, random_state=random_state, covariance_type=covariance_type,
                         n_iter=n_iter, tol=tol, n_init=n_init, min_covar=min_covar,
                         stickiness=priors.stickiness,
                         transition_concentration=priors.transition_concentration,
                         covariance_prior=priors.covariance_prior, progress=bool(progress))
        self._priors = priors
        self._hmm: Any = None
        self.log_likelihood_: float = float("nan")
        self.n_iter_: int = 0
        self.converged_: bool = False

    def _new_hmm(self, n_features: int, seed: int | None, init_params: str = "stmc") -> Any:
        """A GaussianHMM whose M-step is the shared one (:mod:`faceexpr.backends._em`)."""
        from hmmlearn.hmm import GaussianHMM

        o, k, d = self.options, self.n_states, n_features
        psi = self._priors.covariance_prior
        full = o["covariance_type"] == "full"
        # hmmlearn's covariance M-step is (prior + S) / (weight' + N), where weight' is
        # covars_weight - D for full and covars_weight - 1 for diag matrices (floored at
        # 0): one extra frame of variance ψ with the prior, plain S / N without
        extra = 1 if psi > 0 else 0
        covars_prior = psi * (np.broadcast_to(np.eye(d), (k, d, d)).copy() if full
                              else np.ones((k, d)))
        transmat_prior = (self._priors.transition_concentration
                          + self._priors.stickiness * np.eye(k))
        return GaussianHMM(n_components=k, covariance_type=o["covariance_type"],
                           n_iter=o["n_iter"], tol=o["tol"], min_covar=o["min_covar"],
                           startprob_prior=1.0, transmat_prior=transmat_prior,
                           covars_prior=covars_prior,
                           covars_weight=(d if full else 1) + extra,
                           random_state=seed, init_params=init_params)

    def _initial_hmm(self, x: FloatArray, seed: int | None) -> Any:
        """An HMM started from k-means clusters (means and per-cluster covariances).

        hmmlearn's own start gives every state the covariance of all the data and a single
        k-means run; on face data that often merges expressions, so we start from the best
        of 10 k-means runs with each cluster's own covariance and sticky transitions (the
        start every backend shares: :func:`faceexpr.backends._start.kmeans_start`).
        """
        start = kmeans_start(x, self.n_states, min_covar=float(self.options["min_covar"]),
                             seed=seed)
        hmm = self._new_hmm(x.shape[1], seed, init_params="")
        hmm.n_features = x.shape[1]
        hmm.startprob_ = start.startprob
        hmm.transmat_ = start.transmat
        hmm.means_ = start.means
        hmm.covars_ = self._hmmlearn_covars(start.covars)
        return hmm

    def _hmmlearn_covars(self, covars: FloatArray) -> FloatArray:
        """Full ``(K, D, D)`` matrices in the shape hmmlearn's setter takes for our type."""
        if self.options["covariance_type"] == "diag":
            return np.diagonal(covars, axis1=1, axis2=2).copy()
        return covars

    def _fit_one(self, hmm: Any, x: FloatArray, lengths: list[int], label: str) -> float:
        """hmmlearn's EM on ``hmm`` with the progress bar; the fitted log-likelihood."""
        plain = hmm.monitor_
        with warnings.catch_warnings(), \
                em_progress(int(self.options["n_iter"]), label,
                            bool(self.options["progress"])) as bar:
            # hmmlearn reports log-likelihood dips of rounding size (and, with priors, the
            # dips a maximum a posteriori step may take); not useful here
            warnings.simplefilter("ignore", RuntimeWarning)
            level = _LOG.level
            _LOG.setLevel(logging.ERROR)
            hmm.monitor_ = _monitor_class()(plain.tol, plain.n_iter, plain.verbose, bar)
            try:
                hmm.fit(x, lengths)
                return float(hmm.score(x, lengths))
            finally:
                _LOG.setLevel(level)
                # back to hmmlearn's own monitor (the bar's class is local, so a fitted
                # model holding it could not be pickled, e.g. out of a worker process)
                done = hmm.monitor_
                plain.iter, plain.history = done.iter, done.history
                hmm.monitor_ = plain

    def _fit_arrays(self, segments: list[FloatArray]) -> None:
        x = np.concatenate(segments)
        lengths = [len(s) for s in segments]
        n_init = int(self.options["n_init"])
        best, best_ll, failure = None, -np.inf, ""
        for i in range(n_init):
            seed = None if self.random_state is None else int(self.random_state) + i
            hmm = self._initial_hmm(x, seed)
            try:
                ll = self._fit_one(hmm, x, lengths,
                                   restart_label(self.name, self.n_states, i, n_init))
            except ValueError as exc:
                # a state shrank onto too few frames for its covariance: try the next start
                failure, ll = str(exc), -np.inf
            if np.isfinite(ll) and ll > best_ll:
                best, best_ll = hmm, ll
        if best is None:
            d = x.shape[1]
            raise FaceexprError(
                f"every one of the {self.options['n_init']} hmmlearn restart(s) failed"
                f"{f' ({failure})' if failure else ''}: {self.n_states} states with "
                f"{self.options['covariance_type']} covariances over {d} features are too "
                f"many for {len(x)} frames; use fewer states, a larger covariance_prior, "
                "covariance_type='diag' or fewer features"
            )
        self._hmm = best
        self.log_likelihood_ = best_ll
        self.n_iter_ = int(best.monitor_.iter)
        self.converged_ = bool(best.monitor_.converged)
        self._copy_params()

    def _copy_params(self) -> None:
        hmm = self._hmm
        self.means_ = np.asarray(hmm.means_, dtype=np.float64)
        # hmmlearn's covars_ property returns full (K, D, D) matrices for every type
        self.covars_ = np.asarray(hmm.covars_, dtype=np.float64)
        self.transmat_ = np.asarray(hmm.transmat_, dtype=np.float64)
        self.startprob_ = np.asarray(hmm.startprob_, dtype=np.float64)

    def _set_params(self, params: dict[str, FloatArray]) -> None:
        hmm = self._new_hmm(params["means"].shape[1], self.random_state)
        hmm.n_features = params["means"].shape[1]
        hmm.startprob_ = params["startprob"]
        hmm.transmat_ = params["transmat"]
        hmm.means_ = params["means"]
        hmm.covars_ = self._hmmlearn_covars(params["covars"])
        self._hmm = hmm
        self._copy_params()

    def _predict_array(self, x: FloatArray) -> npt.NDArray[np.int64]:
        return np.asarray(self._hmm.predict(x), dtype=np.int64)

    def _proba_array(self, x: FloatArray) -> FloatArray:
        return np.asarray(self._hmm.predict_proba(x), dtype=np.float64)

    def _score_array(self, x: FloatArray) -> float:
        return float(self._hmm.score(x))


@hookimpl
def faceexpr_state_models() -> list[type[StateModel]]:
    return [HmmlearnStateModel]
