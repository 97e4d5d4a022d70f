"""The k-means start shared by the HMM backends.

Every Gaussian-HMM backend starts EM from the same place, so that differences between
backends come from their EM and not from their initialisation.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from faceexpr._defaults import KMEANS_FRAMES
from faceexpr._typing import FloatArray

STAY = 0.9
"""Initial probability of staying in a state (sticky transitions)."""

__all__ = ["KMEANS_FRAMES", "STAY", "InitialParams", "kmeans_start"]


class InitialParams(NamedTuple):
    """Starting parameters of a Gaussian HMM with ``K`` states over ``D`` features."""

    means: FloatArray
    """``(K, D)`` k-means cluster centres."""
    covars: FloatArray
    """``(K, D, D)`` full covariance of each cluster (plus the floor)."""
    transmat: FloatArray
    """``(K, K)`` sticky transitions: ``STAY`` on the diagonal, the rest spread evenly."""
    startprob: FloatArray
    """``(K,)`` uniform."""


def kmeans_start(x: FloatArray, n_states: int, *, min_covar: float,
                 seed: int | None) -> InitialParams:
    """Initial HMM parameters from the best of 10 k-means runs on the frames ``x`` ``(T, D)``.

    A generic HMM start gives every state the covariance of all the data and a single
    k-means run; on face data that often merges expressions, so we start from the best of
    10 k-means runs, each cluster with its own covariance (``min_covar`` added to the
    diagonal; clusters with no more frames than features get the overall covariance), and
    sticky transitions. Longer recordings are clustered on :data:`KMEANS_FRAMES` evenly
    spaced frames, and every frame then joins its nearest centre.
    """
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    k, d = n_states, x.shape[1]
    step = -(-len(x) // KMEANS_FRAMES)  # ceil: at most KMEANS_FRAMES frames
    # one OpenMP thread: on at most KMEANS_FRAMES frames a thread pool gains little, and
    # its spinning threads starve every other pool on a loaded machine (measured: 0.2 s
    # per k-means run of 450 frames beside a second fit, against milliseconds alone)
    with threadpool_limits(limits=1, user_api="openmp"):
        kmeans = KMeans(k, n_init=10, random_state=seed).fit(x[::step])
        labels = kmeans.labels_ if step == 1 else kmeans.predict(x)
    floor = float(min_covar) * np.eye(d)
    overall = np.atleast_2d(np.cov(x, rowvar=False)) + floor
    means = np.empty((k, d))
    covars = np.empty((k, d, d))
    for j in range(k):
        members = x[labels == j]
        means[j] = members.mean(axis=0) if len(members) else x.mean(axis=0)
        covars[j] = (np.atleast_2d(np.cov(members, rowvar=False)) + floor
                     if len(members) > d else overall)
    stay = STAY if k > 1 else 1.0
    transmat = np.full((k, k), (1.0 - stay) / max(k - 1, 1))
    np.fill_diagonal(transmat, stay)
    return InitialParams(means=means, covars=covars, transmat=transmat,
                         startprob=np.full(k, 1.0 / k))
