"""StateModel backend on ``hmmlearn.hmm.GaussianHMM``."""

from __future__ import annotations

import logging
import warnings
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from faceexpr._typing import FloatArray
from faceexpr.backends._start import kmeans_start
from faceexpr.errors import FaceexprError
from faceexpr.hookspecs import hookimpl
from faceexpr.interfaces import StateModel

_LOG = logging.getLogger("hmmlearn.base")


class HmmlearnStateModel(StateModel):
    """Gaussian HMM fitted with hmmlearn's EM (Baum–Welch), best of ``n_init`` restarts.

    Parameters
    ----------
    n_states
        Number of hidden states K.
    covariance_type
        ``"full"`` or ``"diag"``.
    n_iter
        Maximum EM iterations per restart.
    tol
        Convergence threshold on the log-likelihood gain.
    n_init
        Restarts, each from its own k-means clustering (see :meth:`_initial_hmm`); the one
        with the highest log-likelihood is kept.
    min_covar
        Added to the diagonal of the starting covariances (hmmlearn uses it only there;
        its M-step regularises full covariances with its own prior).
    random_state
        Seed; restart ``i`` uses ``random_state + i``.
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
        random_state: int | None = 0,
    ) -> None:
        if covariance_type not in ("full", "diag"):
            raise ValueError(f"covariance_type must be 'full' or 'diag', got {covariance_type!r}")
        if n_init < 1:
            raise ValueError(f"n_init must be >= 1, got {n_init}")
        super().__init__(n_states, random_state=random_state, covariance_type=covariance_type,
                         n_iter=n_iter, tol=tol, n_init=n_init, min_covar=min_covar)
        self._hmm: Any = None
        self.log_likelihood_: float = float("nan")
        self.n_iter_: int = 0
        self.converged_: bool = False

    def _new_hmm(self, seed: int | None, init_params: str = "stmc") -> Any:
        from hmmlearn.hmm import GaussianHMM

        o = self.options
        return GaussianHMM(n_components=self.n_states, covariance_type=o["covariance_type"],
                           n_iter=o["n_iter"], tol=o["tol"], min_covar=o["min_covar"],
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
        hmm = self._new_hmm(seed, init_params="")
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

    def _fit_arrays(self, segments: list[FloatArray]) -> None:
        x = np.concatenate(segments)
        lengths = [len(s) for s in segments]
        best, best_ll, failure = None, -np.inf, ""
        for i in range(int(self.options["n_init"])):
            seed = None if self.random_state is None else int(self.random_state) + i
            hmm = self._initial_hmm(x, seed)
            with warnings.catch_warnings():
                # hmmlearn reports log-likelihood dips of rounding size; not useful here
                warnings.simplefilter("ignore", RuntimeWarning)
                level = _LOG.level
                _LOG.setLevel(logging.ERROR)
                try:
                    hmm.fit(x, lengths)
                    ll = float(hmm.score(x, lengths))
                except ValueError as exc:
                    # a state shrank onto too few frames for its covariance: try the next start
                    failure, ll = str(exc), -np.inf
                finally:
                    _LOG.setLevel(level)
            if np.isfinite(ll) and ll > best_ll:
                best, best_ll = hmm, ll
        if best is None:
            d = x.shape[1]
            raise FaceexprError(
                f"every one of the {self.options['n_init']} hmmlearn restart(s) failed"
                f"{f' ({failure})' if failure else ''}: {self.n_states} states with "
                f"{self.options['covariance_type']} covariances over {d} features are too "
                f"many for {len(x)} frames; use fewer states, covariance_type='diag' or "
                "fewer features"
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
        hmm = self._new_hmm(self.random_state)
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
