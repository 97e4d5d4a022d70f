"""Gaussian log densities and M-step statistics as BLAS matrix products.

Nothing here loops over frames in Python: frames are processed in blocks of
:data:`BLOCK` (so temporaries stay small and in cache), every state at once through one
matrix product per block, and the small per-frame reductions in compiled loops
(:mod:`._kernels`). The frames should be centred (the engine centres them once per fit):
second moments are then summed as ``Σ γ x xᵀ − N μ μᵀ`` without losing digits.
"""

from __future__ import annotations

import math

import numpy as np

from faceexpr._typing import FloatArray

BLOCK = 8192
"""Frames per block of the log-density and moment products."""


def precision_factors(covars: FloatArray, diagonal: bool) -> tuple[FloatArray, FloatArray]:
    """``U`` ``(K, D, D)`` with ``Σ⁻¹ = U Uᵀ`` (the inverse transposed Cholesky factor) and
    ``log det Σ`` ``(K,)``; raises ``numpy.linalg.LinAlgError`` when one is not positive
    definite.

    Diagonal models use only the diagonal of ``covars``.
    """
    k, d, _ = covars.shape
    if diagonal:
        var = np.diagonal(covars, axis1=1, axis2=2)
        if not (var > 0).all():
            raise np.linalg.LinAlgError("a variance is not positive")
        u = np.zeros((k, d, d))
        idx = np.arange(d)
        u[:, idx, idx] = 1.0 / np.sqrt(var)
        return u, np.log(var).sum(axis=1)
    chol = np.linalg.cholesky(covars)  # (K, D, D) lower, raises LinAlgError
    eye = np.broadcast_to(np.eye(d), covars.shape)
    # L⁻¹ by a batched solve; U = L⁻ᵀ so that (x - μ)ᵀ Σ⁻¹ (x - μ) = |(x - μ)ᵀ U|²
    u = np.swapaxes(np.linalg.solve(chol, eye), 1, 2)
    log_det = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    return np.ascontiguousarray(u), log_det


def log_densities(x: FloatArray, means: FloatArray, factors: FloatArray,
                  log_det: FloatArray, out: FloatArray | None = None) -> FloatArray:
    """``log N(x_t | μ_k, Σ_k)`` for every frame and state, ``(T, K)``."""
    from faceexpr.backends.native._kernels import grouped_squares

    n, d = x.shape
    k = means.shape[0]
    # all states in one product: columns k*D:(k+1)*D of w are state k's factor
    w = np.ascontiguousarray(np.swapaxes(factors, 0, 1).reshape(d, k * d))
    shift = np.einsum("kd,kde->ke", means, factors).reshape(k * d)
    const = -0.5 * (d * math.log(2.0 * math.pi) + log_det)
    result = np.empty((n, k)) if out is None else out
    y = np.empty((min(BLOCK, n), k * d))
    for a in range(0, n, BLOCK):
        b = min(a + BLOCK, n)
        yb = y[:b - a]
        np.matmul(x[a:b], w, out=yb)
        grouped_squares(yb, shift, const, k, d, result[a:b])
    return result


def weighted_moments(x: FloatArray, gamma: FloatArray, diagonal: bool
                     ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Posterior weights ``N`` ``(K,)``, means ``(K, D)`` and scatters about those means
    ``S = Σ_t γ_tk (x_t − μ_k)(x_t − μ_k)ᵀ`` ``(K, D, D)`` (diagonal only, for diagonal
    models) of centred frames ``x``."""
    from faceexpr.backends.native._kernels import outer_products

    n, d = x.shape
    k = gamma.shape[1]
    weights = gamma.sum(axis=0)
    safe = np.where(weights > 0, weights, 1.0)
    means = (gamma.T @ x) / safe[:, None]
    if diagonal:
        second = gamma.T @ (x * x)  # (K, D)
        var = second - weights[:, None] * means**2
        scatter = np.zeros((k, d, d))
        idx = np.arange(d)
        scatter[:, idx, idx] = np.maximum(var, 0.0)
        return weights, means, scatter
    iu, ju = np.triu_indices(d)
    iu, ju = iu.astype(np.int64), ju.astype(np.int64)
    second = np.zeros((k, len(iu)))
    z = np.empty((min(BLOCK, n), len(iu)))
    for a in range(0, n, BLOCK):
        b = min(a + BLOCK, n)
        zb = z[:b - a]
        outer_products(x[a:b], iu, ju, zb)
        second += gamma[a:b].T @ zb
    scatter = np.empty((k, d, d))
    scatter[:, iu, ju] = second
    scatter[:, ju, iu] = second
    scatter -= weights[:, None, None] * (means[:, :, None] * means[:, None, :])
    return weights, means, scatter
