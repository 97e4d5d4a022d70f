"""faceexpr's own HMM engine (``native``): Gaussian and autoregressive states, numba
recursions, BLAS statistics.

The default state model of the pipeline. :mod:`.model` holds the StateModel,
:mod:`._kernels` the compiled forward–backward and Viterbi recursions, :mod:`._gaussian`
the Gaussian log densities, :mod:`._steps` the E-step's sufficient statistics (which add
up over sessions) and the M-step.
"""

from __future__ import annotations

from faceexpr.backends.native.model import NativeStateModel
from faceexpr.hookspecs import hookimpl
from faceexpr.interfaces import StateModel

__all__ = ["NativeStateModel"]


@hookimpl
def faceexpr_state_models() -> list[type[StateModel]]:
    return [NativeStateModel]
