"""What every EM-fitted Gaussian-HMM backend shares: the priors, their M-step, progress.

The priors have the same names and the same meaning in every backend (a backend whose
library cannot honour one says so when it is set):

``stickiness`` (κ, default 0)
    Extra Dirichlet pseudo-counts on the diagonal of every transition row: the prior on
    row ``i`` is ``Dirichlet(α + κ e_i)``, keypoint-MoSeq's stickiness. κ is in frames: a
    κ of 100 adds as much weight to staying as 100 observed stays.
``transition_concentration`` (α, default 1)
    Dirichlet concentration of every transition; 1 is no prior (the maximum-likelihood
    M-step), above 1 smooths rare transitions.
``covariance_prior`` (ψ, default 1e-2)
    Applied in every M-step: a state's covariance is ``(S_k + ψ I) / (N_k + 1)``, where
    ``S_k`` is the state's posterior-weighted scatter about its mean and ``N_k`` its
    posterior weight in frames: as if every state had seen one more frame of variance
    ψ in every direction. A state that shrinks onto a few frames keeps a covariance of
    order ψ instead of collapsing (ψ is in the features' units squared; standardised
    features have variance 1). This is the maximum a posteriori covariance of hmmlearn's
    conjugate prior with ``covars_prior = ψ I``.

The M-step here is the maximum a posteriori estimate under these priors; the transitions
``A_ij ∝ max(ξ_ij + α − 1 + κ δ_ij, 0)`` (a row with no weight keeps its previous values).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from faceexpr._progress import MININTERVAL, EMProgress, em_progress, restart_label
from faceexpr._typing import FloatArray

__all__ = ["MININTERVAL", "EMProgress", "Priors", "check_priors", "em_progress", "map_covariances",
           "map_startprob", "map_transitions", "restart_label"]


@dataclass(frozen=True)
class Priors:
    """The priors of one fit (see the module's description)."""

    stickiness: float = 0.0
    transition_concentration: float = 1.0
    covariance_prior: float = 1e-2


def check_priors(stickiness: float, transition_concentration: float,
                 covariance_prior: float) -> Priors:
    """The priors, checked: each finite, κ ≥ 0, α > 0, ψ ≥ 0 (a ValueError naming it)."""
    values = {"stickiness": stickiness, "transition_concentration": transition_concentration,
              "covariance_prior": covariance_prior}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                or not math.isfinite(float(value)):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    if stickiness < 0:
        raise ValueError(f"stickiness must be >= 0 (extra pseudo-frames of staying), got "
                         f"{stickiness!r}")
    if transition_concentration <= 0:
        raise ValueError(f"transition_concentration must be > 0 (1 is no prior), got "
                         f"{transition_concentration!r}")
    if covariance_prior < 0:
        raise ValueError(f"covariance_prior must be >= 0 (0 is no prior), got "
                         f"{covariance_prior!r}")
    return Priors(float(stickiness), float(transition_concentration), float(covariance_prior))


def map_transitions(counts: FloatArray, previous: FloatArray, priors: Priors) -> FloatArray:
    """Transition rows from the expected counts ``(K, K)`` under the Dirichlet prior.

    A row whose weight is zero (a state never visited) keeps its ``previous`` row.
    """
    k = counts.shape[0]
    a = counts + (priors.transition_concentration - 1.0) + priors.stickiness * np.eye(k)
    a = np.maximum(a, 0.0)
    sums = a.sum(axis=1, keepdims=True)
    return np.where(sums > 0, a / np.where(sums > 0, sums, 1.0), previous)


def map_startprob(counts: FloatArray, previous: FloatArray) -> FloatArray:
    """Start probabilities from the expected first-frame counts ``(K,)`` (no prior)."""
    total = float(counts.sum())
    return counts / total if total > 0 else previous


def map_covariances(scatter: FloatArray, weights: FloatArray, priors: Priors,
                    previous: FloatArray) -> FloatArray:
    """Covariances ``(S_k + ψ I) / (N_k + 1)`` from the scatters ``(K, D, D)`` about the new
    means and the posterior weights ``(K,)``.

    Without a prior (ψ = 0) a state with no weight keeps its ``previous`` covariance.
    """
    d = scatter.shape[1]
    psi = priors.covariance_prior
    if psi > 0:
        out = (scatter + psi * np.eye(d)) / (weights + 1.0)[:, None, None]
    else:
        out = np.array(previous, dtype=np.float64, copy=True)
        some = weights > 1e-10
        out[some] = scatter[some] / weights[some, None, None]
    return 0.5 * (out + np.swapaxes(out, 1, 2))
