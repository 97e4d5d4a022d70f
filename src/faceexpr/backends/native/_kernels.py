"""The HMM recursions, compiled with numba: forward–backward in scaled probability space
and Viterbi in log space.

Inputs are the log densities ``log_b`` ``(T, K)`` of every frame under every state, with
several sequences laid end to end in one array; ``bounds`` ``(S + 1,)`` holds where each
starts (sequence ``s`` is ``bounds[s]:bounds[s + 1]``). Sequences are independent, so the
recursions run in parallel over them (``prange``); each sequence is one thread's work.

Scaling: frame ``t``'s densities are used as ``exp(log_b[t] - log_s[t])``, where
``log_s[t]`` is the log of the forward normaliser, so the forward variables sum to 1, the
backward ones stay of order 1, and the log-likelihood is ``sum(log_s)``. When the scaled
sum underflows (every state with predicted weight has a density below 1e-308 of the best
one), that frame is normalised in log space instead; nothing becomes ``-inf`` that is not.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from faceexpr._typing import FloatArray

_TINY = 1e-300


@njit(cache=True, nogil=True)
def _forward(log_b, start, stop, startprob, transmat, alpha, log_s, store):  # type: ignore[no-untyped-def]
    """Scaled forward pass of one sequence; fills ``alpha`` and ``log_s``, returns log P.

    With ``store``, ``log_b[t]`` is overwritten by the scaled densities
    ``exp(log_b[t] - log_s[t])`` that the backward pass needs (saving it the exponentials).
    """
    k = log_b.shape[1]
    pred = np.empty(k)
    a = np.empty(k)
    e = np.empty(k)
    total = 0.0
    for t in range(start, stop):
        if t == start:
            for j in range(k):
                pred[j] = startprob[j]
        else:
            for j in range(k):
                acc = 0.0
                for i in range(k):
                    acc += alpha[t - 1, i] * transmat[i, j]
                pred[j] = acc
        m = log_b[t, 0]
        for j in range(1, k):
            if log_b[t, j] > m:
                m = log_b[t, j]
        c = 0.0
        for j in range(k):
            e[j] = math.exp(log_b[t, j] - m)
            a[j] = pred[j] * e[j]
            c += a[j]
        if c > _TINY and math.isfinite(c):
            for j in range(k):
                alpha[t, j] = a[j] / c
            log_s[t] = math.log(c) + m
            if store:
                for j in range(k):
                    log_b[t, j] = e[j] / c
        else:
            # underflow of the scaled sum: normalise this frame in log space
            lm = -math.inf
            for j in range(k):
                a[j] = math.log(pred[j]) + log_b[t, j] if pred[j] > 0 else -math.inf
                if a[j] > lm:
                    lm = a[j]
            if not math.isfinite(lm):
                log_s[t] = -math.inf
                return -math.inf
            c = 0.0
            for j in range(k):
                c += math.exp(a[j] - lm)
            lse = lm + math.log(c)
            for j in range(k):
                alpha[t, j] = math.exp(a[j] - lse)
            log_s[t] = lse
            if store:
                for j in range(k):
                    log_b[t, j] = math.exp(log_b[t, j] - lse)
        total += log_s[t]
    return total


@njit(cache=True, nogil=True)
def _backward(b, start, stop, transmat, alpha, gamma, xi):  # type: ignore[no-untyped-def]
    """Scaled backward pass of one sequence on the scaled densities ``b`` (what
    :func:`_forward` stores): posteriors into ``gamma``, expected transition counts added
    to ``xi`` ``(K, K)``."""
    k = b.shape[1]
    beta = np.ones(k)
    w = np.empty(k)
    for j in range(k):
        gamma[stop - 1, j] = alpha[stop - 1, j]
    for t in range(stop - 2, start - 1, -1):
        for j in range(k):
            w[j] = b[t + 1, j] * beta[j]
        norm = 0.0
        for i in range(k):
            acc = 0.0
            ai = alpha[t, i]
            for j in range(k):
                p = transmat[i, j] * w[j]
                acc += p
                xi[i, j] += ai * p
            beta[i] = acc
            gamma[t, i] = ai * acc
            norm += ai * acc
        # gamma sums to 1 in exact arithmetic; renormalise away the rounding
        if norm > 0:
            for i in range(k):
                gamma[t, i] /= norm


def _forward_backward(log_b, bounds, startprob, transmat):  # type: ignore[no-untyped-def]
    n, k = log_b.shape
    n_seq = bounds.shape[0] - 1
    alpha = np.empty((n, k))
    gamma = np.empty((n, k))
    log_s = np.empty(n)
    xi = np.zeros((n_seq, k, k))
    loglik = np.empty(n_seq)
    for s in prange(n_seq):
        a, b = bounds[s], bounds[s + 1]
        loglik[s] = _forward(log_b, a, b, startprob, transmat, alpha, log_s, True)
        if math.isfinite(loglik[s]):
            _backward(log_b, a, b, transmat, alpha, gamma, xi[s])
    return gamma, xi, loglik


def _log_likelihoods(log_b, bounds, startprob, transmat):  # type: ignore[no-untyped-def]
    n, k = log_b.shape
    n_seq = bounds.shape[0] - 1
    alpha = np.empty((n, k))
    log_s = np.empty(n)
    loglik = np.empty(n_seq)
    for s in prange(n_seq):
        loglik[s] = _forward(log_b, bounds[s], bounds[s + 1], startprob, transmat, alpha,
                             log_s, False)
    return loglik


# Each recursion compiled twice: over sequences in parallel, and serially. A parallel
# region costs a thread hand-off, and on a loaded machine (or beside other OpenMP pools)
# much more; only many frames in several sequences pay for it.
_fb_parallel = njit(cache=True, parallel=True)(_forward_backward)
_fb_serial = njit(cache=True)(_forward_backward)
_ll_parallel = njit(cache=True, parallel=True)(_log_likelihoods)
_ll_serial = njit(cache=True)(_log_likelihoods)

PARALLEL_FRAMES = 20_000
"""Fewest frames (in at least two sequences) for which the recursions run in parallel."""


def _parallel(bounds: npt.NDArray[np.int64]) -> bool:
    return len(bounds) > 2 and int(bounds[-1]) >= PARALLEL_FRAMES


def forward_backward(log_b: FloatArray, bounds: npt.NDArray[np.int64], startprob: FloatArray,
                     transmat: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Posteriors ``(T, K)``, expected transition counts ``(S, K, K)`` and the
    log-likelihood of every sequence ``(S,)``. ``log_b`` is overwritten (scaled
    densities)."""
    run = _fb_parallel if _parallel(bounds) else _fb_serial
    gamma, xi, loglik = run(log_b, bounds, startprob, transmat)
    return gamma, xi, loglik


def log_likelihoods(log_b: FloatArray, bounds: npt.NDArray[np.int64], startprob: FloatArray,
                    transmat: FloatArray) -> FloatArray:
    """The log-likelihood of every sequence ``(S,)`` (forward pass only)."""
    run = _ll_parallel if _parallel(bounds) else _ll_serial
    return np.asarray(run(log_b, bounds, startprob, transmat))


@njit(cache=True, nogil=True)
def viterbi(log_b, log_startprob, log_transmat):  # type: ignore[no-untyped-def]
    """The most likely state path ``(T,)`` of one sequence, in log space."""
    n, k = log_b.shape
    back = np.empty((n, k), dtype=np.int32)
    delta = np.empty(k)
    new = np.empty(k)
    for j in range(k):
        delta[j] = log_startprob[j] + log_b[0, j]
    for t in range(1, n):
        for j in range(k):
            best, arg = -math.inf, 0
            for i in range(k):
                v = delta[i] + log_transmat[i, j]
                if v > best:
                    best, arg = v, i
            new[j] = best + log_b[t, j]
            back[t, j] = arg
        for j in range(k):
            delta[j] = new[j]
    path = np.empty(n, dtype=np.int64)
    best, arg = -math.inf, 0
    for j in range(k):
        if delta[j] > best:
            best, arg = delta[j], j
    path[n - 1] = arg
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


# the two block kernels are serial: a block is too little work to share out among threads
@njit(cache=True, nogil=True)
def grouped_squares(y, shift, const, k, d, out):  # type: ignore[no-untyped-def]
    """``out[t, j] = const[j] - sum((y[t, j*d:(j+1)*d] - shift[j*d:(j+1)*d]) ** 2) / 2``
    for a block ``y`` ``(B, K*D)``: the shift and the scaling in the same pass over it."""
    for t in range(y.shape[0]):
        for j in range(k):
            acc = 0.0
            for i in range(j * d, (j + 1) * d):
                v = y[t, i] - shift[i]
                acc += v * v
            out[t, j] = const[j] - 0.5 * acc


@njit(cache=True, nogil=True)
def outer_products(x, iu, ju, out):  # type: ignore[no-untyped-def]
    """``out[t, m] = x[t, iu[m]] * x[t, ju[m]]``: the upper triangle of every frame's
    ``x xᵀ``, ``(B, D (D + 1) / 2)``."""
    for t in range(x.shape[0]):
        for m in range(iu.shape[0]):
            out[t, m] = x[t, iu[m]] * x[t, ju[m]]
