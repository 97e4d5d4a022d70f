"""The ``example-kmeans`` state model: k-means clusters, each with a Gaussian.

``fit`` clusters every finite frame with k-means (scikit-learn, best of ``n_init``);
each cluster's mean and covariance (``full``, or ``diag``: its diagonal; plus
``min_covar`` on the diagonal) and its share of the frames (``startprob_``, also the
mixture weights) make a Gaussian mixture, and ``transmat_`` counts the cluster labels of
consecutive frames (plus one in every cell, so no transition is impossible).
``predict`` assigns the nearest mean, as k-means does; ``predict_proba`` gives the
mixture's responsibilities and ``score`` its log-likelihood. Frames are independent in
this model: the transitions are estimated for the reports, not used.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import numpy as np
import numpy.typing as npt

from faceexpr import StateModel

_Array = npt.NDArray[np.float64]


class KMeansStateModel(StateModel):
    """States as k-means clusters with a Gaussian each (see the module documentation).

    Parameters
    ----------
    n_states
        Number of clusters K.
    covariance_type
        ``"full"`` or ``"diag"`` covariance of each cluster's Gaussian.
    n_init
        k-means restarts, the best (lowest inertia) kept.
    min_covar
        Added to the diagonal of every covariance.
    random_state
        Seed of k-means.
    """

    name: ClassVar[str] = "example-kmeans"
    requires: ClassVar[tuple[str, ...]] = ("sklearn",)

    def __init__(self, n_states: int = 9, *,
                 covariance_type: Literal["full", "diag"] = "full", n_init: int = 3,
                 min_covar: float = 1e-3, random_state: int | None = 0) -> None:
        if covariance_type not in ("full", "diag"):
            raise ValueError(f"covariance_type must be 'full' or 'diag', got {covariance_type!r}")
        if int(n_init) < 1:
            raise ValueError(f"n_init must be >= 1, got {n_init}")
        super().__init__(n_states, random_state=random_state, covariance_type=covariance_type,
                         n_init=int(n_init), min_covar=float(min_covar))
        self._chol: _Array  # Cholesky factors of covars_, set with the parameters

    def _fit_arrays(self, segments: list[_Array]) -> None:
        from sklearn.cluster import KMeans

        x = np.concatenate(segments)
        k, d = self.n_states, x.shape[1]
        kmeans = KMeans(k, n_init=self.options["n_init"], random_state=self.random_state)
        labels = kmeans.fit_predict(x)
        overall = np.atleast_2d(np.cov(x, rowvar=False))
        covars = np.empty((k, d, d))
        for s in range(k):
            members = x[labels == s]
            cov = np.atleast_2d(np.cov(members, rowvar=False)) if len(members) > 1 else overall
            if self.options["covariance_type"] == "diag":
                cov = np.diag(np.diag(cov))
            covars[s] = cov + self.options["min_covar"] * np.eye(d)
        counts = np.ones((k, k))
        start = 0
        for segment in segments:
            path = labels[start:start + len(segment)]
            np.add.at(counts, (path[:-1], path[1:]), 1.0)
            start += len(segment)
        self._set_params({"means": np.asarray(kmeans.cluster_centers_, dtype=np.float64),
                          "covars": covars,
                          "transmat": counts / counts.sum(axis=1, keepdims=True),
                          "startprob": np.bincount(labels, minlength=k) / len(labels)})

    def _set_params(self, params: dict[str, _Array]) -> None:
        k = self.n_states
        means = np.array(params["means"], dtype=np.float64)
        d = means.shape[1]
        expected = {"means": (k, d), "covars": (k, d, d), "transmat": (k, k),
                    "startprob": (k,)}
        for key, shape in expected.items():
            if np.shape(params[key]) != shape:
                raise ValueError(f"{key} has shape {np.shape(params[key])}, expected {shape}")
        self.means_ = means
        self.covars_ = np.array(params["covars"], dtype=np.float64)
        self.transmat_ = np.array(params["transmat"], dtype=np.float64)
        self.startprob_ = np.array(params["startprob"], dtype=np.float64)
        self._chol = np.asarray(np.linalg.cholesky(self.covars_), dtype=np.float64)

    def _log_joint(self, x: _Array) -> _Array:
        """``log(weight_k) + log N(x_t | mean_k, covar_k)``, shape ``(T, K)``."""
        out = np.empty((len(x), self.n_states))
        d = x.shape[1]
        for s in range(self.n_states):
            z = np.linalg.solve(self._chol[s], (x - self.means_[s]).T)
            log_det = 2.0 * np.log(np.diag(self._chol[s])).sum()
            out[:, s] = -0.5 * (d * math.log(2 * math.pi) + log_det + (z**2).sum(axis=0))
        with np.errstate(divide="ignore"):
            return out + np.log(self.startprob_)

    @staticmethod
    def _logsumexp(a: _Array) -> _Array:
        top = a.max(axis=1, keepdims=True)
        total = top + np.log(np.exp(a - top).sum(axis=1, keepdims=True))
        return np.asarray(total[:, 0], dtype=np.float64)

    def _predict_array(self, x: _Array) -> npt.NDArray[np.int64]:
        distance = ((x[:, None, :] - self.means_[None, :, :]) ** 2).sum(axis=-1)
        return np.asarray(distance.argmin(axis=1), dtype=np.int64)

    def _proba_array(self, x: _Array) -> _Array:
        joint = self._log_joint(x)
        return np.asarray(np.exp(joint - self._logsumexp(joint)[:, None]), dtype=np.float64)

    def _score_array(self, x: _Array) -> float:
        return float(self._logsumexp(self._log_joint(x)).sum())
