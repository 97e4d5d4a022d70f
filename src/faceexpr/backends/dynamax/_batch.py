"""Sequences of any lengths as one padded batch of a few compiled shapes (see the
package's description), and the lagged inputs of autoregressive models."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from faceexpr._typing import BoolArray, FloatArray, IntArray

_MIN_BUCKET = 32
"""Shortest padded length."""

# the kinds of step t -> t+1 in a padded batch (which transition matrix it uses)
_WITHIN, _RESTART, _PADDING = 0, 1, 2


def _bucket(n: int) -> int:
    """``n`` rounded up to one of 4 lengths per octave (at most 25% more), at least 32."""
    if n <= _MIN_BUCKET:
        return _MIN_BUCKET
    step = 1 << max((n - 1).bit_length() - 3, 0)
    return -(-n // step) * step


class _Batch(NamedTuple):
    """Sequences concatenated and padded (see the module's description)."""

    x: FloatArray
    """``(L, D)`` modelled frames; zeros in the padding."""
    u: FloatArray | None
    """``(L, D·p)`` lagged inputs of an AR model, else None."""
    kind: IntArray
    """``(L,)`` the step t -> t+1: within a sequence, restart (t+1 starts one), padding."""
    start: BoolArray
    """``(L,)`` first frame of a sequence."""
    valid: BoolArray
    """``(L,)`` a real frame."""


def _pack(frames: list[FloatArray], inputs: list[FloatArray] | None) -> _Batch:
    """Concatenate sequences (each ``(T_i, D)``, T_i >= 1) and pad to :func:`_bucket`."""
    n = sum(len(f) for f in frames)
    length = _bucket(n)
    d = frames[0].shape[1]
    x = np.zeros((length, d))
    x[:n] = np.concatenate(frames)
    u = None
    if inputs is not None:
        u = np.zeros((length, inputs[0].shape[1]))
        u[:n] = np.concatenate(inputs)
    kind = np.full(length, _PADDING, dtype=np.int64)
    start = np.zeros(length, dtype=bool)
    valid = np.zeros(length, dtype=bool)
    valid[:n] = True
    a = 0
    for f in frames:
        b = a + len(f)
        start[a] = True
        kind[a:b - 1] = _WITHIN
        if b < n:
            kind[b - 1] = _RESTART
        a = b
    return _Batch(x, u, kind, start, valid)


def _lagged(x: FloatArray, p: int) -> tuple[FloatArray, FloatArray]:
    """Frames ``p..T-1`` of ``x`` and their lagged inputs ``[x_{t-1}, ..., x_{t-p}]``.

    The layout of dynamax's ``LinearAutoregressiveHMM.compute_inputs`` (lag 1 first),
    with the first ``p`` frames as the history instead of zeros.
    """
    t = len(x)
    return x[p:], np.hstack([x[p - lag:t - lag] for lag in range(1, p + 1)])


# -- the dynamax model and its compiled steps -------------------------------------------
