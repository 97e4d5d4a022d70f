"""One EM iteration of the native engine split in two: the E-step's sufficient statistics,
which add up over frames, sequences and sessions, and the M-step that turns their sum into
parameters.

Splitting them is what lets a study fit one model to many sessions on a cluster: each
worker runs :func:`expected_statistics` on its sessions, the client adds the
:class:`Statistics` up and runs :func:`maximise`, and the result is the single-process
fit's (the same sums, in another order).

Two emission models share the statistics. A Gaussian state (``order`` 0) emits
``x_t ~ N(μ_k, Σ_k)``; an autoregressive one (``order`` p ≥ 1) emits
``x_t ~ N(W_k u_t + b_k, Σ_k)`` with ``u_t = [x_{t-1}; …; x_{t-p}]``: a slow drift within an
expression is then the state's own dynamics instead of a reason for more states. Both are
regressions of ``x_t`` on inputs ``z_t`` (``[1]``, or ``[u_t; 1]``) with coefficients
``C_k`` ``(M, D)`` (the mean, or the lag weights over the bias), so one set of sums serves
both: ``N_k = Σ γ``, ``Σ γ z xᵀ``, ``Σ γ z zᵀ`` and ``Σ γ x xᵀ``. The first ``p`` frames of
every sequence have no inputs; their densities are 1 under every state (they carry no
evidence, the log-likelihood is that of the later frames given them) and they are left out
of the sums.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from faceexpr._typing import FloatArray
from faceexpr.backends._em import Priors, map_covariances, map_startprob, map_transitions

NO_WEIGHT = 1e-10
"""A state with less posterior weight (in frames) keeps its coefficients."""

Params = dict[str, FloatArray]
"""``coefs`` ``(K, M, D)``, ``covars`` ``(K, D, D)``, ``transmat``, ``startprob``."""


@dataclass(frozen=True)
class Statistics:
    """The E-step's sums over some frames (see the module's description); ``+`` adds two."""

    log_likelihood: float
    start: FloatArray
    """``(K,)`` posteriors of the sequences' first frames."""
    transitions: FloatArray
    """``(K, K)`` expected transition counts."""
    weights: FloatArray
    """``(K,)`` posterior weight of the modelled frames."""
    cross: FloatArray
    """``(K, M, D)`` ``Σ γ z xᵀ``."""
    inputs: FloatArray
    """``(K, M, M)`` ``Σ γ z zᵀ``."""
    second: FloatArray
    """``(K, D, D)`` ``Σ γ x xᵀ`` (only its diagonal for diagonal covariances)."""
    entropy: float = 0.0
    """Total entropy (nats) of the state posteriors (ICL's penalty)."""

    def __add__(self, other: Statistics) -> Statistics:
        return Statistics(self.log_likelihood + other.log_likelihood,
                          self.start + other.start, self.transitions + other.transitions,
                          self.weights + other.weights, self.cross + other.cross,
                          self.inputs + other.inputs, self.second + other.second,
                          self.entropy + other.entropy)


def inputs_of(x: FloatArray, bounds: npt.NDArray[np.int64], order: int
              ) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """The inputs ``z_t`` ``(T, D·p + 1)`` of every frame and which frames are modelled
    (all, for ``order`` 0; not the first ``order`` of each sequence otherwise, whose rows
    of ``z`` are zero)."""
    n, d = x.shape
    z = np.zeros((n, d * order + 1))
    modelled = np.ones(n, dtype=bool)
    for a, b in itertools.pairwise(bounds.tolist()):
        modelled[a:min(a + order, b)] = False
        for lag in range(1, order + 1):
            if b - a > lag:
                z[a + lag:b, (lag - 1) * d:lag * d] = x[a:b - lag]
    z[modelled, -1] = 1.0
    return z, modelled


def log_densities(x: FloatArray, z: FloatArray, modelled: npt.NDArray[np.bool_],
                  params: Params, diagonal: bool) -> FloatArray:
    """``log N(x_t | C_kᵀ z_t, Σ_k)`` ``(T, K)``; 0 for frames that are not modelled.

    Raises ``numpy.linalg.LinAlgError`` when a covariance is not positive definite.
    """
    from faceexpr.backends.native import _gaussian

    coefs = params["coefs"]
    factors, log_det = _gaussian.precision_factors(params["covars"], diagonal)
    if coefs.shape[1] == 1:  # Gaussian: all states in one product per block
        out = _gaussian.log_densities(x, coefs[:, 0, :], factors, log_det)
    else:
        k, d = coefs.shape[0], x.shape[1]
        out = np.empty((len(x), k))
        const = -0.5 * (d * math.log(2.0 * math.pi) + log_det)
        for j in range(k):
            y = (x - z @ coefs[j]) @ factors[j]
            out[:, j] = const[j] - 0.5 * np.einsum("td,td->t", y, y)
    out[~modelled] = 0.0
    return out


def expected_statistics(x: FloatArray, bounds: npt.NDArray[np.int64], params: Params,
                        diagonal: bool) -> Statistics:
    """One E-step over the sequences ``x[bounds[s]:bounds[s + 1]]`` (centred frames)."""
    from faceexpr.backends.native._kernels import forward_backward

    order = (params["coefs"].shape[1] - 1) // x.shape[1]
    z, modelled = inputs_of(x, bounds, order)
    log_b = log_densities(x, z, modelled, params, diagonal)
    gamma, xi, loglik = forward_backward(log_b, bounds, params["startprob"],
                                         params["transmat"])
    del log_b
    start = gamma[bounds[:-1]].sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -float(np.where(gamma > 0, gamma * np.log(gamma), 0.0).sum())
    if order:
        gamma = gamma * modelled[:, None]
    return Statistics(float(loglik.sum()), start, xi.sum(axis=0),
                      *_moments(x, z if order else None, gamma, diagonal), entropy=entropy)


def _moments(x: FloatArray, z: FloatArray | None, gamma: FloatArray, diagonal: bool
             ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """``N``, ``Σ γ z xᵀ``, ``Σ γ z zᵀ`` and ``Σ γ x xᵀ`` (``z`` None: the Gaussian's
    ``z = 1``)."""
    from faceexpr.backends.native._gaussian import BLOCK
    from faceexpr.backends.native._kernels import outer_products

    n, d = x.shape
    k = gamma.shape[1]
    weights = gamma.sum(axis=0)
    if z is None:
        cross = (gamma.T @ x)[:, None, :]
        inputs = weights[:, None, None].copy()
    else:
        cross = np.stack([(gamma[:, j, None] * z).T @ x for j in range(k)])
        inputs = np.stack([(gamma[:, j, None] * z).T @ z for j in range(k)])
    second = np.zeros((k, d, d))
    if diagonal:
        idx = np.arange(d)
        second[:, idx, idx] = gamma.T @ (x * x)
        return weights, cross, inputs, second
    iu, ju = np.triu_indices(d)
    iu, ju = iu.astype(np.int64), ju.astype(np.int64)
    upper = np.zeros((k, len(iu)))
    block = np.empty((min(BLOCK, n), len(iu)))
    for a in range(0, n, BLOCK):
        b = min(a + BLOCK, n)
        zb = block[:b - a]
        outer_products(x[a:b], iu, ju, zb)
        upper += gamma[a:b].T @ zb
    second[:, iu, ju] = upper
    second[:, ju, iu] = upper
    return weights, cross, inputs, second


def maximise(stats: Statistics, previous: Params, priors: Priors, covariance_type: str
             ) -> Params:
    """The M-step: maximum a posteriori parameters from summed statistics.

    The coefficients solve each state's weighted least squares (for AR states with ψ added
    to the lag weights' normal equations, a ridge that keeps a state with few frames
    solvable); the covariances are the priors' MAP estimate from the residual scatter,
    pooled over the states for ``"tied"``, only its diagonal for ``"diag"``.
    """
    coefs = previous["coefs"].copy()
    k, m, d = coefs.shape
    scatter = np.zeros((k, d, d))
    for j in range(k):
        n = stats.weights[j]
        gram = stats.inputs[j]
        if m == 1:
            # the same arithmetic as before the split (and as hmmlearn's): mean, then the
            # second moments about it
            mean = stats.cross[j, 0] / (n if n > 0 else 1.0)
            scatter[j] = stats.second[j] - n * np.outer(mean, mean)
            if n > NO_WEIGHT:
                coefs[j, 0] = mean
            continue
        if n <= NO_WEIGHT:
            continue
        ridge = gram + priors.covariance_prior * np.diag(np.r_[np.ones(m - 1), 0.0])
        c = np.linalg.solve(ridge, stats.cross[j])
        fitted = stats.cross[j].T @ c
        scatter[j] = stats.second[j] - fitted - fitted.T + c.T @ gram @ c
        coefs[j] = c
    if covariance_type == "diag":
        scatter = np.maximum(np.diagonal(scatter, axis1=1, axis2=2), 0.0)[:, :, None] \
            * np.eye(d)
    covars = previous["covars"]
    if covariance_type == "tied":
        pooled = map_covariances(scatter.sum(axis=0, keepdims=True),
                                 stats.weights.sum(keepdims=True), priors, covars[:1])
        covars = np.broadcast_to(pooled, covars.shape).copy()
    else:
        covars = map_covariances(scatter, stats.weights, priors, covars)
    return {"coefs": coefs, "covars": covars,
            "transmat": map_transitions(stats.transitions, previous["transmat"], priors),
            "startprob": map_startprob(stats.start, previous["startprob"])}
