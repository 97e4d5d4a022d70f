"""Gaussian log densities as BLAS matrix products (the M-step's sums: :mod:`._steps`).

Nothing here loops over frames in Python: frames are processed in blocks of
:data:`BLOCK` (so temporaries stay small and in cache), every state at once through one
matrix product per block, and the small per-frame reductions in compiled loops
(:mod:`._kernels`).
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
