"""StateModel backend on dynamax (JAX): a Gaussian HMM, or a linear autoregressive HMM.

``ar_order=0`` is dynamax's ``GaussianHMM`` (``covariance_type="full"``) or
``DiagonalGaussianHMM`` (``"diag"``): the same model, likelihood and k-means start
(:func:`faceexpr.backends._start.kmeans_start`) as the other Gaussian-HMM backends.
``ar_order=p >= 1`` is dynamax's ``LinearAutoregressiveHMM`` with ``num_lags=p``: in state
``k`` a frame is ``x_t ~ N(W_k [x_{t-1}; ...; x_{t-p}] + b_k, Σ_k)``, so how the face
moves, not only where it is, defines a state.

What dynamax does and what this backend adds or changes:

- **Float64.** JAX computes in float32 unless 64-bit mode is on. Every computation runs
  inside ``jax.enable_x64(True)``, a context manager that changes the setting only for the
  calls inside it, so other users of JAX in the process (aniposelib) keep theirs.
- **EM loop.** Each iteration is one jitted function of dynamax's pieces: the emission
  log densities of ``model.emission_distribution``, the forward-backward of
  ``hmm_two_filter_smoother`` (its ``hmm_filter`` and ``hmm_backward_filter``, called
  directly: its ``compute_trans_probs=False`` cannot be used under ``jit`` in dynamax
  1.0.3), the components' ``collect_suff_stats`` and ``model.m_step``. The loop runs
  here, so the log-likelihood of every iteration drives the progress bar and the
  convergence test (``fit_em`` runs a fixed number of iterations in one ``lax.scan``).
- **Several sequences and padding.** dynamax batches sequences of equal length only, with
  no masks. Here all sequences are concatenated into one, padded to a bucket length (at
  most 25% longer; so compiled code is reused by fits of similar size, across restarts
  and iterations), and the step from one sequence into the next uses a transition matrix
  whose rows are all the start probabilities (given through dynamax's ``transition_fn``):
  the sequences are then independent, and the likelihood and posteriors are exactly those
  of the separate sequences. Padded frames have log density 0 in every state and
  uniform transitions, which changes neither the likelihood, the posteriors nor the
  Viterbi path of the real frames; they and the steps between sequences are left out of
  the sufficient statistics. This is one compiled shape per fit however many lengths
  the NaN gaps make (grouping sequences by length, as the pomegranate backend does,
  would compile once per distinct length). Prediction and scoring likewise pass all
  finite segments of a recording in one call.
- **Cost.** Measured on 2 shared CPU cores at T=20,000, D=10, K=9: the first fit of a
  process spends about 4 s importing dynamax (with TensorFlow Probability), tracing and
  compiling (of which ~0.3 s tracing and ~0.6 s compiling the EM step); an EM iteration
  then takes ~0.1 s with full covariances and ~0.05 s with diagonal ones (the native
  backend: ~0.03 s). Compiled code is kept per configuration (K, D, covariance type,
  AR order, priors) and padded length, so later fits and restarts of that size reuse it;
  the first prediction of a length bucket compiles for ~0.5 s.
- **Transition counts** are ``A ∘ (Fᵀ R)`` with ``F`` the filtered probabilities of the
  frames followed by one of the same sequence and ``R`` the smoothed over the predicted
  probabilities of the next frame: dynamax's expression for ``p(z_t, z_{t+1} | x)``,
  summed over the steps inside sequences as one matrix product instead of a
  ``(T, K, K)`` array.
- **Priors**, the shared ones of :mod:`faceexpr.backends._em`, on dynamax's own:

  ``stickiness`` κ
      dynamax's ``transition_matrix_stickiness`` (``Dirichlet(β 1 + κ e_k)`` on row ``k``),
      exactly.
  ``transition_concentration`` α
      dynamax's ``transition_matrix_concentration`` β = α. dynamax takes the mode of the
      Dirichlet posterior, which is undefined when a concentration is ≤ 1: for α = 1 (no
      prior, the default) β is ``1 + 1e-10`` (a pseudo-count of 1e-10 frames on every
      transition, far below anything observable); α < 1 is refused. The start
      probabilities have no prior, likewise ``initial_probs_concentration = 1 + 1e-10``.
  ``covariance_prior`` ψ
      dynamax's conjugate priors with scale ψ: ``emission_prior_scale = ψ`` (ψ I of the
      normal-inverse-Wishart of ``GaussianHMM``), ``ψ/2`` (the inverse-gamma scale β₀ of
      the normal-inverse-gamma of ``DiagonalGaussianHMM``), and for the AR model a
      matrix-normal-inverse-Wishart (dynamax's ``mniw_posterior_update``) with scale ψ I
      and column precision ψ on the lag weights (a ridge of ψ: as if every state had seen
      one more frame with lagged inputs of variance ψ and output 0; none on the bias).
      The posterior is dynamax's (``niw_posterior_update``, ``nig_posterior_update``,
      ``mniw_posterior_update``); the covariance taken from it is the shared
      ``(S_k + ψ I) / (N_k + 1)`` (``S_k / N_k`` for ψ = 0), not the joint mode dynamax
      takes, ``(S_k + ψ I) / (N_k + ν₀ + D + 2)``: its ν₀ must be at least D (tfp checks
      it), so dynamax's own M-step would act like ≥ 2D + 2 extra frames instead of one
      (with 60 features a state of 100 frames would get less than half its covariance). The
      prior mean of the NIW/NIG is the data mean with concentration κ₀ = 1e-8 (EM runs
      on centred data), so means and covariances differ from the shared M-step by about
      1e-8 relative. For the AR model ``S_k`` is the residual scatter plus the
      ridge's ``ψ W_k W_kᵀ``. A state with no posterior weight (< 1e-10 frames) keeps its
      previous mean (and, for ψ = 0, its covariance), as in the native backend; a state
      never left gets a uniform transition row (from the 1e-10 pseudo-counts) where the
      native backend keeps its previous row.

- **AR models.** The first ``p`` frames of each finite segment are conditioned on (they
  are the lagged inputs of frame ``p + 1`` and are not scored), instead of dynamax's
  default of zeros before the first frame; they take the state and posterior of frame
  ``p + 1``. A segment of ``p`` frames or fewer has no modelled frame: it gets state
  ``-1``, NaN posteriors and adds nothing to the score. The start is the shared k-means
  start of the modelled frames, with zero weights and the cluster means as biases (so
  the first E-step is that of the Gaussian HMM). That start is enough for states that
  differ only in their dynamics: with two or three states of equal mean and covariance
  and AR coefficients such as 0.95 / -0.5 or 0.9 / 0.3, EM separated them (adjusted Rand
  index 0.92-0.99 over 3 seeds, where the Gaussian HMM gets below 0.2). ``means_`` are
  each state's posterior-weighted mean of its frames, ``covars_`` its noise covariance
  ``Σ_k``; the weights and biases are ``ar_weights_`` ``(K, D, D·p)`` (lag 1 first,
  dynamax's layout) and ``ar_biases_`` ``(K, D)``. AR models cannot be saved yet: the
  model file holds means, covariances and transitions only, so
  :meth:`DynamaxStateModel.save` refuses.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from faceexpr._arrays import finite_segments
from faceexpr._typing import BoolArray, FloatArray, IntArray, PathLike
from faceexpr.backends._em import check_priors, em_progress, restart_label
from faceexpr.backends._start import kmeans_start
from faceexpr.data import NO_STATE, as_sequences
from faceexpr.errors import FaceexprError
from faceexpr.hookspecs import hookimpl
from faceexpr.interfaces import StateModel

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["DynamaxStateModel"]

_NO_WEIGHT = 1e-10
"""A state with less posterior weight (in frames) keeps its previous mean."""
_DIRICHLET_EXCESS = 1e-10
"""Added to a Dirichlet concentration of 1: dynamax's mode needs every concentration > 1."""
_MEAN_CONCENTRATION = 1e-8
"""κ₀ of the conjugate priors on the means (the prior mean is the data mean)."""
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


def _resolve_device(device: str) -> Any:
    """The JAX device for ``device`` (``"auto"``: the first GPU if JAX has one)."""
    if device not in ("auto", "cpu", "gpu"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'gpu', got {device!r}")
    import jax

    if device == "cpu":
        return jax.devices("cpu")[0]
    try:
        gpus = jax.devices("gpu")
    except RuntimeError:
        gpus = []
    if gpus:
        return gpus[0]
    if device == "auto":
        return jax.devices("cpu")[0]
    raise FaceexprError(
        f"device='gpu' was asked for but JAX {jax.__version__} sees no GPU "
        f"(devices: {', '.join(str(d) for d in jax.devices())}); use device='cpu', or "
        "device='auto' to take a GPU only where there is one")


@contextmanager
def _computing(device: Any) -> Iterator[None]:
    """Float64 JAX on ``device`` inside the block only (JAX's settings are restored)."""
    import jax

    with jax.enable_x64(True), jax.default_device(device):
        yield


# -- padded batches ---------------------------------------------------------------------
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
class _Config(NamedTuple):
    n_states: int
    n_features: int
    diagonal: bool
    ar_order: int
    stickiness: float
    transition_concentration: float
    covariance_prior: float


@functools.cache
def _emission_classes() -> tuple[type[Any], type[Any], type[Any]]:
    """dynamax's emission components with the shared covariance M-step (module doc)."""
    import jax.numpy as jnp
    from dynamax.hidden_markov_model.models.arhmm import LinearAutoregressiveHMMEmissions
    from dynamax.hidden_markov_model.models.gaussian_hmm import (
        DiagonalGaussianHMMEmissions,
        GaussianHMMEmissions,
    )
    from dynamax.utils.distributions import (
        MatrixNormalInverseWishart,
        NormalInverseGamma,
        NormalInverseWishart,
        mniw_posterior_update,
        nig_posterior_update,
        niw_posterior_update,
    )
    from dynamax.utils.utils import pytree_sum
    from jax import vmap

    def per_state(weights: Any, like: Any) -> Any:
        """``weights`` ``(K,)`` shaped to broadcast against ``like`` ``(K, ...)``."""
        return weights.reshape((-1,) + (1,) * (like.ndim - 1))

    def covariances(scatter: Any, weights: Any, previous: Any, psi: float) -> Any:
        """``scatter / (N + 1)``; without a prior ``scatter / N``, and a state with no
        weight keeps its ``previous`` value (as :func:`faceexpr.backends._em.map_covariances`)."""
        if psi > 0:
            return scatter / (per_state(weights, scatter) + 1.0)
        some = per_state(weights > _NO_WEIGHT, scatter)
        return jnp.where(some, scatter / jnp.where(some, per_state(weights, scatter), 1.0),
                         previous)

    def symmetric(a: Any) -> Any:
        return 0.5 * (a + jnp.swapaxes(a, 1, 2))

    def keep_empty(new: Any, previous: Any, weights: Any) -> Any:
        return jnp.where(per_state(weights <= _NO_WEIGHT, new), previous, new)

    class FullGaussian(GaussianHMMEmissions):  # type: ignore[misc]
        """Full-covariance emissions; NIW posterior, covariance ``Ψ_N / (N + 1)``."""

        def __init__(self, num_states: int, emission_dim: int, psi: float) -> None:
            super().__init__(num_states, emission_dim, emission_prior_mean=0.0,
                             emission_prior_concentration=_MEAN_CONCENTRATION,
                             emission_prior_scale=psi, emission_prior_extra_df=1.0)
            self.psi = psi

        def m_step(self, params: Any, props: Any, batch_stats: Any,
                   m_step_state: Any) -> tuple[Any, Any]:
            stats = pytree_sum(batch_stats, axis=0)
            prior = NormalInverseWishart(self.emission_prior_mean, self.emission_prior_conc,
                                         self.emission_prior_df, self.emission_prior_scale)

            def one(s: Any) -> tuple[Any, Any]:
                post = niw_posterior_update(prior, (s["sum_x"], s["sum_xxT"], s["sum_w"]))
                return post.loc, post.scale

            means, scatter = vmap(one)(stats)
            w = stats["sum_w"]
            return params._replace(
                means=keep_empty(means, params.means, w),
                covs=symmetric(covariances(scatter, w, params.covs, self.psi))), m_step_state

    class DiagGaussian(DiagonalGaussianHMMEmissions):  # type: ignore[misc]
        """Diagonal emissions; NIG posterior, variance ``2 β_N / (N + 1)``."""

        def __init__(self, num_states: int, emission_dim: int, psi: float) -> None:
            super().__init__(num_states, emission_dim, emission_prior_mean=0.0,
                             emission_prior_mean_concentration=_MEAN_CONCENTRATION,
                             emission_prior_concentration=1.0,
                             emission_prior_scale=psi / 2.0)
            self.psi = psi

        def m_step(self, params: Any, props: Any, batch_stats: Any,
                   m_step_state: Any) -> tuple[Any, Any]:
            stats = pytree_sum(batch_stats, axis=0)
            prior = NormalInverseGamma(self.emission_prior_mean, self.emission_prior_mean_conc,
                                       self.emission_prior_conc, self.emission_prior_scale)

            def one(s: Any) -> tuple[Any, Any]:
                post = nig_posterior_update(prior, (s["sum_x"], s["sum_xsq"], s["sum_w"]))
                return post.loc, post.scale

            means, beta = vmap(one)(stats)
            w = stats["sum_w"]
            # the inverse-gamma scale is beta_0 + S/2 with beta_0 = psi/2
            var = covariances(2.0 * beta, w, jnp.square(params.scale_diags), self.psi)
            return params._replace(means=keep_empty(means, params.means, w),
                                   scale_diags=jnp.sqrt(var)), m_step_state

    class AutoRegressive(LinearAutoregressiveHMMEmissions):  # type: ignore[misc]
        """AR emissions; MNIW posterior (ridge ψ on the weights), ``Ψ_N / (N + 1)``."""

        def __init__(self, num_states: int, emission_dim: int, num_lags: int, psi: float,
                     diagonal: bool) -> None:
            super().__init__(num_states, emission_dim, num_lags=num_lags)
            self.psi = psi
            self.diagonal = diagonal

        def m_step(self, params: Any, props: Any, batch_stats: Any,
                   m_step_state: Any) -> tuple[Any, Any]:
            stats = pytree_sum(batch_stats, axis=0)
            d, m = self.emission_dim, self.input_dim
            ridge = jnp.concatenate([jnp.full(m, self.psi), jnp.zeros(1)])
            prior = MatrixNormalInverseWishart(jnp.zeros((d, m + 1)), jnp.diag(ridge),
                                               d + 1.0, self.psi * jnp.eye(d))

            def one(s: Any) -> tuple[Any, Any]:
                # the regressors with a 1 appended, as dynamax's own M-step stacks them
                sxx = jnp.block([[s["sum_xxT"], s["sum_x"][:, None]],
                                 [s["sum_x"][None, :], s["sum_w"][None, None]]])
                sxy = jnp.vstack([s["sum_xyT"], s["sum_y"][None, :]])
                post = mniw_posterior_update(prior, (sxx, sxy, s["sum_yyT"], s["sum_w"]))
                return post.loc, post.scale

            ab, scatter = vmap(one)(stats)
            w = stats["sum_w"]
            covs = symmetric(covariances(scatter, w, params.covs, self.psi))
            if self.diagonal:
                covs = covs * jnp.eye(d)
            return params._replace(weights=keep_empty(ab[:, :, :m], params.weights, w),
                                   biases=keep_empty(ab[:, :, m], params.biases, w),
                                   covs=covs), m_step_state

    return FullGaussian, DiagGaussian, AutoRegressive


class _Engine:
    """A dynamax HMM for one configuration with its jitted EM step and inference."""

    def __init__(self, config: _Config) -> None:
        import jax
        import jax.numpy as jnp
        from dynamax.hidden_markov_model import (
            DiagonalGaussianHMM,
            GaussianHMM,
            LinearAutoregressiveHMM,
        )

        self.config = config
        k, d, p = config.n_states, config.n_features, config.ar_order
        psi = config.covariance_prior
        full, diag, ar = _emission_classes()
        common = dict(
            initial_probs_concentration=1.0 + _DIRICHLET_EXCESS,
            transition_matrix_concentration=max(config.transition_concentration,
                                                1.0 + _DIRICHLET_EXCESS),
            transition_matrix_stickiness=config.stickiness)
        model: Any
        # built in 64-bit mode: the priors' constants are then float64 like the data
        with jax.enable_x64(True):
            if p > 0:
                model = LinearAutoregressiveHMM(k, d, num_lags=p, **common)
                model.emission_component = ar(k, d, p, psi, config.diagonal)
            elif config.diagonal:
                model = DiagonalGaussianHMM(k, d, **common)
                model.emission_component = diag(k, d, psi)
            else:
                model = GaussianHMM(k, d, **common)
                model.emission_component = full(k, d, psi)
        self.model = model
        self.props = self._properties()
        self.em_step = jax.jit(self._em_step)
        self.smoothed = jax.jit(self._smoothed)
        self.viterbi = jax.jit(self._viterbi)
        self.log_likelihood = jax.jit(self._log_likelihood)
        self._jnp = jnp

    # -- parameters (numpy <-> dynamax) ---------------------------------------------------
    def _classes(self) -> tuple[type[Any], type[Any]]:
        """dynamax's parameter containers of the model and of its emissions."""
        from dynamax.hidden_markov_model.models.arhmm import ParamsLinearAutoregressiveHMM
        from dynamax.hidden_markov_model.models.gaussian_hmm import (
            ParamsDiagonalGaussianHMM,
            ParamsDiagonalGaussianHMMEmissions,
            ParamsGaussianHMM,
            ParamsGaussianHMMEmissions,
        )
        from dynamax.hidden_markov_model.models.linreg_hmm import (
            ParamsLinearRegressionHMMEmissions,
        )

        if self.config.ar_order > 0:
            return ParamsLinearAutoregressiveHMM, ParamsLinearRegressionHMMEmissions
        if self.config.diagonal:
            return ParamsDiagonalGaussianHMM, ParamsDiagonalGaussianHMMEmissions
        return ParamsGaussianHMM, ParamsGaussianHMMEmissions

    def _properties(self) -> Any:
        """The parameters' properties, as the models' ``initialize`` makes them.

        ``initialize`` itself is not called: with the parameters given it still draws
        emission parameters from the prior, which takes seconds in JAX's eager mode.
        """
        import tensorflow_probability.substrates.jax.bijectors as tfb  # type: ignore[import-untyped]
        from dynamax.hidden_markov_model.models.initial import ParamsStandardHMMInitialState
        from dynamax.hidden_markov_model.models.transitions import (
            ParamsStandardHMMTransitions,
        )
        from dynamax.parameters import ParameterProperties
        from dynamax.utils.bijectors import RealToPSDBijector

        params_cls, emissions_cls = self._classes()
        if self.config.ar_order > 0:
            emissions = emissions_cls(weights=ParameterProperties(),
                                      biases=ParameterProperties(),
                                      covs=ParameterProperties(constrainer=RealToPSDBijector()))
        elif self.config.diagonal:
            emissions = emissions_cls(means=ParameterProperties(),
                                      scale_diags=ParameterProperties(constrainer=tfb.Softplus()))
        else:
            emissions = emissions_cls(means=ParameterProperties(),
                                      covs=ParameterProperties(constrainer=RealToPSDBijector()))
        return params_cls(
            initial=ParamsStandardHMMInitialState(
                probs=ParameterProperties(constrainer=tfb.SoftmaxCentered())),
            transitions=ParamsStandardHMMTransitions(
                transition_matrix=ParameterProperties(constrainer=tfb.SoftmaxCentered())),
            emissions=emissions)

    def params(self, p: dict[str, FloatArray]) -> Any:
        """dynamax parameters from ``startprob``, ``transmat``, ``means``, ``covars`` (and
        ``weights``, ``biases`` for AR); call inside :func:`_computing`."""
        from dynamax.hidden_markov_model.models.initial import ParamsStandardHMMInitialState
        from dynamax.hidden_markov_model.models.transitions import (
            ParamsStandardHMMTransitions,
        )

        jnp = self._jnp
        params_cls, emissions_cls = self._classes()
        if self.config.ar_order > 0:
            em = emissions_cls(weights=jnp.asarray(p["weights"]),
                               biases=jnp.asarray(p["biases"]), covs=jnp.asarray(p["covars"]))
        elif self.config.diagonal:
            em = emissions_cls(
                means=jnp.asarray(p["means"]),
                scale_diags=jnp.asarray(np.sqrt(np.einsum("kii->ki", p["covars"]))))
        else:
            em = emissions_cls(means=jnp.asarray(p["means"]), covs=jnp.asarray(p["covars"]))
        return params_cls(
            initial=ParamsStandardHMMInitialState(probs=jnp.asarray(p["startprob"])),
            transitions=ParamsStandardHMMTransitions(
                transition_matrix=jnp.asarray(p["transmat"])),
            emissions=em)

    def arrays(self, params: Any) -> dict[str, FloatArray]:
        """The numpy parameters of dynamax ``params`` (full covariance matrices)."""
        em = params.emissions
        out = {"startprob": np.asarray(params.initial.probs, dtype=np.float64),
               "transmat": np.asarray(params.transitions.transition_matrix,
                                      dtype=np.float64)}
        if self.config.ar_order > 0:
            out["weights"] = np.asarray(em.weights, dtype=np.float64)
            out["biases"] = np.asarray(em.biases, dtype=np.float64)
            out["covars"] = np.asarray(em.covs, dtype=np.float64)
        elif self.config.diagonal:
            out["means"] = np.asarray(em.means, dtype=np.float64)
            var = np.square(np.asarray(em.scale_diags, dtype=np.float64))
            out["covars"] = var[:, :, None] * np.eye(var.shape[1])
        else:
            out["means"] = np.asarray(em.means, dtype=np.float64)
            out["covars"] = np.asarray(em.covs, dtype=np.float64)
        return out

    # -- the compiled functions -------------------------------------------------------------
    def _inputs(self, params: Any, x: Any, u: Any, kind: Any, valid: Any
                ) -> tuple[Any, Callable[[Any], Any], Any]:
        """Start probabilities, the transition function and the masked log densities."""
        import jax
        jnp = self._jnp
        model = self.model
        k = self.config.n_states
        states = jnp.arange(k)

        def frame(xt: Any, ut: Any) -> Any:
            return jax.vmap(lambda s: model.emission_distribution(params, s, ut)
                            .log_prob(xt))(states)

        log_b = jnp.where(valid[:, None], jax.vmap(frame)(x, u), 0.0)
        pi = params.initial.probs
        mats = jnp.stack([params.transitions.transition_matrix,
                          jnp.broadcast_to(pi, (k, k)), jnp.full((k, k), 1.0 / k)])
        return pi, lambda t: mats[kind[t]], log_b

    def _em_step(self, params: Any, x: Any, u: Any, kind: Any, start: Any, valid: Any
                 ) -> tuple[Any, Any, Any, Any]:
        """One EM iteration: (new params, log-likelihood of ``params``, state weights,
        posterior-weighted sums of the frames)."""
        jnp = self._jnp
        model = self.model
        post = self._posterior(params, x, u, kind, valid)
        gamma = post.smoothed_probs * valid[:, None]
        # p(z_t = i, z_{t+1} = j | x) = filtered_t(i) A_ij smoothed_{t+1}(j) / predicted_{t+1}(j),
        # summed over the steps inside sequences
        filt = post.filtered_probs[:-1] * (kind[:-1] == _WITHIN)[:, None]
        pred = post.predicted_probs[1:]
        rel = jnp.where(jnp.isclose(pred, 0.0), 0.0, post.smoothed_probs[1:] / pred)
        counts = params.transitions.transition_matrix * (filt.T @ rel)
        initial = (post.smoothed_probs * start[:, None]).sum(axis=0)
        emission = model.emission_component.collect_suff_stats(
            params.emissions, post._replace(smoothed_probs=gamma), x, u)
        batch = (initial[None], counts[None],
                 {key: value[None] for key, value in emission.items()})
        new, _ = model.m_step(params, self.props, batch,
                              model.initialize_m_step_state(params, self.props))
        return new, post.marginal_loglik, gamma.sum(axis=0), gamma.T @ x

    def _posterior(self, params: Any, x: Any, u: Any, kind: Any, valid: Any) -> Any:
        """dynamax's forward-backward: ``hmm_two_filter_smoother`` without the ``(T, K, K)``
        transition posteriors (its ``compute_trans_probs=False`` cannot be traced)."""
        from dynamax.hidden_markov_model.inference import (
            HMMPosterior,
            hmm_backward_filter,
            hmm_filter,
        )
        pi, trans, log_b = self._inputs(params, x, u, kind, valid)
        post = hmm_filter(pi, None, log_b, transition_fn=trans)
        _, backward = hmm_backward_filter(None, log_b, transition_fn=trans)
        smoothed = post.filtered_probs * backward
        smoothed /= smoothed.sum(axis=1, keepdims=True)
        return HMMPosterior(marginal_loglik=post.marginal_loglik,
                            filtered_probs=post.filtered_probs,
                            predicted_probs=post.predicted_probs, smoothed_probs=smoothed,
                            initial_probs=smoothed[0])

    def _smoothed(self, params: Any, x: Any, u: Any, kind: Any, valid: Any) -> Any:
        return self._posterior(params, x, u, kind, valid).smoothed_probs

    def _viterbi(self, params: Any, x: Any, u: Any, kind: Any, valid: Any) -> Any:
        from dynamax.hidden_markov_model.inference import hmm_posterior_mode
        pi, trans, log_b = self._inputs(params, x, u, kind, valid)
        return hmm_posterior_mode(pi, None, log_b, transition_fn=trans)

    def _log_likelihood(self, params: Any, x: Any, u: Any, kind: Any, valid: Any) -> Any:
        from dynamax.hidden_markov_model.inference import hmm_filter
        pi, trans, log_b = self._inputs(params, x, u, kind, valid)
        return hmm_filter(pi, None, log_b, transition_fn=trans).marginal_loglik


@functools.lru_cache(maxsize=16)
def _engine(config: _Config) -> _Engine:
    """One engine per configuration: fits and models of the same shape share compiled code."""
    return _Engine(config)


class _EMFailed(Exception):
    """One restart broke down (a log-likelihood that is not finite)."""


class DynamaxStateModel(StateModel):
    """Gaussian or linear autoregressive HMM fitted by EM on dynamax (JAX, float64).

    See the module's description for what dynamax computes, how the priors map onto
    dynamax's and how several sequences are handled.

    Parameters
    ----------
    n_states
        Number of hidden states K.
    covariance_type
        ``"full"`` (dynamax's ``GaussianHMM``) or ``"diag"`` (``DiagonalGaussianHMM``;
        for an AR model, diagonal noise covariances).
    n_iter
        Maximum EM iterations per restart.
    tol
        EM stops when the log-likelihood gains less than this in one iteration (``-inf``:
        never before ``n_iter``).
    n_init
        Restarts, each from its own k-means clustering (seed ``random_state + i``); the one
        with the highest log-likelihood is kept.
    min_covar
        Added to the diagonal of the starting covariances.
    stickiness, transition_concentration, covariance_prior
        The priors of every backend (:mod:`faceexpr.backends._em`), on dynamax's own (see
        the module's description); ``transition_concentration`` must be ≥ 1 here.
    ar_order
        0: a Gaussian HMM. p ≥ 1: dynamax's ``LinearAutoregressiveHMM`` with ``num_lags=p``,
        ``x_t ~ N(W_k [x_{t-1}; ...; x_{t-p}] + b_k, Σ_k)``.
    device
        ``"auto"`` (a GPU where JAX has one, else the CPU), ``"cpu"`` or ``"gpu"`` (an error
        where JAX sees no GPU; this includes loading a model saved with it there).
    progress
        Show a progress bar over the EM iterations (log-likelihood and its change).
    random_state
        Seed; restart ``i`` uses ``random_state + i``.

    Attributes
    ----------
    log_likelihood_
        Total log-likelihood of the fitted frames under the kept model (for an AR model,
        of the frames after the first ``p`` of each segment, given those).
    n_iter_
        EM iterations the kept restart ran.
    converged_
        Whether its gain fell below ``tol`` within ``n_iter`` iterations.
    history_
        The kept restart's log-likelihood at every iteration (of the parameters that
        iteration started from).
    ar_weights_, ar_biases_
        For ``ar_order >= 1``: ``(K, D, D·p)`` lag weights (lag 1 first) and ``(K, D)``
        biases; ``None`` otherwise.
    device_
        The JAX device used.
    """

    name: ClassVar[str] = "dynamax"
    extra: ClassVar[str | None] = "dynamax"
    requires: ClassVar[tuple[str, ...]] = ("dynamax", "jax")

    def __init__(
        self,
        n_states: int = 9,
        *,
        covariance_type: Literal["full", "diag"] = "full",
        n_iter: int = 100,
        tol: float = 1e-3,
        n_init: int = 1,
        min_covar: float = 1e-3,
        stickiness: float = 0.0,
        transition_concentration: float = 1.0,
        covariance_prior: float = 1e-2,
        ar_order: int = 0,
        device: str = "auto",
        progress: bool = False,
        random_state: int | None = 0,
    ) -> None:
        if covariance_type not in ("full", "diag"):
            raise ValueError(f"covariance_type must be 'full' or 'diag', got {covariance_type!r}")
        if int(n_iter) < 1:
            raise ValueError(f"n_iter must be >= 1, got {n_iter}")
        if math.isnan(float(tol)):
            raise ValueError(f"tol must be a number (-inf runs all n_iter iterations), got {tol}")
        if int(n_init) < 1:
            raise ValueError(f"n_init must be >= 1, got {n_init}")
        if not (math.isfinite(float(min_covar)) and float(min_covar) >= 0):
            raise ValueError(f"min_covar must be >= 0, got {min_covar}")
        if isinstance(ar_order, bool) or int(ar_order) < 0:
            raise ValueError(f"ar_order must be an integer >= 0 (0: no autoregression), got "
                             f"{ar_order!r}")
        priors = check_priors(stickiness, transition_concentration, covariance_prior)
        if priors.transition_concentration < 1.0:
            raise ValueError(
                f"transition_concentration must be >= 1 for the dynamax backend, got "
                f"{transition_concentration!r}: dynamax's M-step takes the mode of a "
                "Dirichlet, which is undefined for concentrations below 1")
        super().__init__(n_states, random_state=random_state, covariance_type=covariance_type,
                         n_iter=int(n_iter), tol=float(tol), n_init=int(n_init),
                         min_covar=float(min_covar), stickiness=priors.stickiness,
                         transition_concentration=priors.transition_concentration,
                         covariance_prior=priors.covariance_prior, ar_order=int(ar_order),
                         device=device, progress=bool(progress))
        self.device_ = _resolve_device(device)
        self._params: dict[str, FloatArray] | None = None
        self._jax_params: Any = None
        self.ar_weights_: FloatArray | None = None
        self.ar_biases_: FloatArray | None = None
        self.log_likelihood_: float = float("nan")
        self.n_iter_: int = 0
        self.converged_: bool = False
        self.history_: list[float] = []

    @property
    def _order(self) -> int:
        return int(self.options["ar_order"])

    def _engine(self, n_features: int) -> _Engine:
        o = self.options
        return _engine(_Config(self.n_states, n_features, o["covariance_type"] == "diag",
                               self._order, float(o["stickiness"]),
                               float(o["transition_concentration"]),
                               float(o["covariance_prior"])))

    def n_parameters(self) -> int:
        """Free parameters (for BIC/AIC): the Gaussian HMM's plus the AR lag weights."""
        k, d = self.means_.shape
        return int(super().n_parameters() + k * d * d * self._order)

    def save(self, path: PathLike) -> Path:
        """Write the fitted model (see :meth:`StateModel.save`); not for AR models yet.

        Raises
        ------
        FaceexprError
            For ``ar_order >= 1``: the model file has no place for the AR weights.
        """
        self._check_fitted()
        if self._order > 0:
            raise FaceexprError(
                f"a dynamax model with ar_order={self._order} cannot be saved yet: the model "
                "file holds means, covariances and transitions but not the AR weights; keep "
                "the fitted object, or refit")
        return super().save(path)

    # -- fitting --------------------------------------------------------------------------
    def _modelled(self, segments: list[FloatArray]) -> tuple[list[FloatArray],
                                                             list[FloatArray] | None]:
        """The frames the model scores and (AR) their lagged inputs, per segment."""
        p = self._order
        if p == 0:
            return segments, None
        pairs = [_lagged(s, p) for s in segments if len(s) > p]
        return [y for y, _ in pairs], [u for _, u in pairs]

    def _ar_start(self, start: Any) -> dict[str, FloatArray]:
        """The AR start: the k-means start with zero weights and the cluster means as
        biases (the first E-step is then the Gaussian HMM's)."""
        k, d = start.means.shape
        return {"startprob": start.startprob, "transmat": start.transmat,
                "covars": start.covars, "biases": start.means,
                "weights": np.zeros((k, d, d * self._order))}

    def _fit_arrays(self, segments: list[FloatArray]) -> None:
        import jax

        frames, inputs = self._modelled(segments)
        p = self._order
        if not frames:
            raise FaceexprError(
                f"no finite segment is longer than ar_order={p} frames, so an order-{p} "
                "autoregressive model has nothing to fit; use a smaller ar_order")
        y = np.concatenate(frames)
        if len(y) < self.n_states:
            raise FaceexprError(f"only {len(y)} frames can be modelled with ar_order={p}; "
                                f"need at least n_states={self.n_states}")
        # EM runs on centred frames (second moments then lose no digits); the means and
        # biases are moved back at the end
        centre = y.mean(axis=0)
        frames = [f - centre for f in frames]
        if inputs is not None:
            inputs = [u - np.tile(centre, p) for u in inputs]
        yc = y - centre
        batch = _pack(frames, inputs)
        engine = self._engine(y.shape[1])
        o = self.options
        n_init, n_iter, tol = int(o["n_init"]), int(o["n_iter"]), float(o["tol"])
        best: dict[str, FloatArray] | None = None
        best_ll, best_history, best_conv, failure = -math.inf, [], False, ""
        with _computing(self.device_):
            data = [None if a is None else jax.device_put(a, self.device_) for a in batch]
            for i in range(n_init):
                seed = None if self.random_state is None else int(self.random_state) + i
                start = kmeans_start(yc, self.n_states, min_covar=float(o["min_covar"]),
                                     seed=seed)
                initial = self._ar_start(start) if p else start._asdict()
                history: list[float] = []
                converged = False
                try:
                    params = engine.params(initial)
                    label = restart_label(self.name, self.n_states, i, n_init)
                    with em_progress(n_iter, label, bool(o["progress"])) as bar:
                        for _ in range(n_iter):
                            new, ll_j, _, _ = engine.em_step(params, *data)
                            ll = float(ll_j)
                            if not math.isfinite(ll):
                                raise _EMFailed(f"the log-likelihood became {ll}")
                            params = new
                            history.append(ll)
                            bar.update(ll)
                            if len(history) > 1 and history[-1] - history[-2] < tol:
                                converged = True
                                break
                    # the kept parameters' own log-likelihood (the update is discarded)
                    _, ll_j, weights, sums = engine.em_step(params, *data)
                    ll = float(ll_j)
                    if not math.isfinite(ll):
                        raise _EMFailed(f"the fitted parameters' log-likelihood is {ll}")
                except _EMFailed as exc:
                    failure, ll = str(exc), -math.inf
                if math.isfinite(ll) and ll > best_ll:
                    best = engine.arrays(params)
                    if p:
                        w = np.asarray(weights, dtype=np.float64)
                        s = np.asarray(sums, dtype=np.float64)
                        # each state's posterior-weighted mean of its frames
                        best["means"] = np.where((w > _NO_WEIGHT)[:, None],
                                                 s / np.maximum(w, _NO_WEIGHT)[:, None],
                                                 best["biases"])
                    best_ll, best_history, best_conv = ll, history, converged
        if best is None:
            raise FaceexprError(
                f"every one of the {n_init} dynamax restart(s) failed"
                f"{f' ({failure})' if failure else ''}: {self.n_states} states with "
                f"{o['covariance_type']} covariances over {y.shape[1]} features are too "
                f"many for {len(y)} frames; use fewer states, a larger covariance_prior, "
                "covariance_type='diag' or fewer features")
        best["means"] = best["means"] + centre
        if p:
            # x_t - c = W (u_t - c) + b'  <=>  x_t = W u_t + b' + c - W c
            best["biases"] = (best["biases"] + centre
                              - np.einsum("kdm,m->kd", best["weights"], np.tile(centre, p)))
        self._set_fitted(best)
        self.log_likelihood_ = best_ll
        self.history_ = best_history
        self.n_iter_ = len(best_history)
        self.converged_ = best_conv

    # -- parameters -----------------------------------------------------------------------
    def _set_fitted(self, params: dict[str, FloatArray]) -> None:
        self.means_ = np.array(params["means"], dtype=np.float64)
        self.covars_ = np.array(params["covars"], dtype=np.float64)
        self.transmat_ = np.array(params["transmat"], dtype=np.float64)
        self.startprob_ = np.array(params["startprob"], dtype=np.float64)
        if self._order:
            self.ar_weights_ = np.array(params["weights"], dtype=np.float64)
            self.ar_biases_ = np.array(params["biases"], dtype=np.float64)
        self._params = {"means": self.means_, "covars": self.covars_,
                        "transmat": self.transmat_, "startprob": self.startprob_}
        if self._order:
            self._params |= {"weights": params["weights"], "biases": params["biases"]}
        self._jax_params = None

    def _set_params(self, params: dict[str, FloatArray]) -> None:
        if self._order:
            raise ValueError(f"a model with ar_order={self._order} needs its AR weights, "
                             "which a model file does not hold")
        self._set_fitted(params)

    def _dynamax_params(self) -> Any:
        """The fitted parameters as dynamax's (built once; call inside :func:`_computing`)."""
        if self._params is None:
            raise FaceexprError("the dynamax model is not fitted")
        if self._jax_params is None:
            import jax

            self._jax_params = jax.device_put(
                self._engine(self.means_.shape[1]).params(self._params), self.device_)
        return self._jax_params

    # -- inference ------------------------------------------------------------------------
    # The base class asks for one finite segment at a time; here all finite segments of a
    # recording go through one call (one compiled shape per bucket of the recording's
    # length instead of one per bucket of every segment's), which gives the same states,
    # posteriors and log-likelihoods since the segments are independent in the batch.
    def _infer(self, which: str, x: FloatArray) -> tuple[Any, list[tuple[int, int]]]:
        """``which`` (an :class:`_Engine` function) on every finite segment of ``x`` with
        a modelled frame, and those segments; ``(None, [])`` when there is none."""
        import jax

        p = self._order
        segments = [(a, b) for a, b in finite_segments(x) if b - a > p]
        if not segments:
            return None, []
        if p:
            pieces = [_lagged(x[a:b], p) for a, b in segments]
            batch = _pack([y for y, _ in pieces], [u for _, u in pieces])
        else:
            batch = _pack([x[a:b] for a, b in segments], None)
        fn = getattr(self._engine(x.shape[1]), which)
        with _computing(self.device_):
            params = self._dynamax_params()
            put = [None if a is None else jax.device_put(a, self.device_)
                   for a in (batch.x, batch.u, batch.kind, batch.valid)]
            return np.asarray(fn(params, *put)), segments

    def _per_frame(self, which: str, x: FloatArray, fill: float) -> Any:
        """Per-frame output of ``which`` on ``x`` (``fill`` where nothing is modelled); the
        first ``p`` frames of a segment take the values of its first modelled frame."""
        p = self._order
        res, segments = self._infer(which, x)
        shape = (len(x),) if which == "viterbi" else (len(x), self.n_states)
        out = np.full(shape, fill, dtype=np.int64 if which == "viterbi" else np.float64)
        offset = 0
        for a, b in segments:
            n = b - a - p
            out[a + p:b] = res[offset:offset + n]
            out[a:a + p] = res[offset]
            offset += n
        return out

    def predict(self, features: xr.DataArray) -> xr.DataArray:
        """The Viterbi states (``-1`` where features are NaN, or in a segment of an AR
        model too short to have a modelled frame)."""
        import xarray as xr

        out = self._per_frame("viterbi", self._checked(features), NO_STATE)
        return xr.DataArray(out, dims=("time",), coords={"time": features["time"].values},
                            name="state")

    def predict_proba(self, features: xr.DataArray) -> xr.DataArray:
        """State posteriors ``(time, states)``; NaN rows where no state is modelled."""
        import xarray as xr

        out = self._per_frame("smoothed", self._checked(features), np.nan)
        return xr.DataArray(out, dims=("time", "states"),
                            coords={"time": features["time"].values,
                                    "states": np.arange(self.n_states)},
                            name="posterior")

    def score(self, features: xr.DataArray | Sequence[xr.DataArray]) -> float:
        """Total log-likelihood of the modelled frames (for an AR model, given the first
        ``p`` frames of each segment)."""
        total = 0.0
        for s in as_sequences(features):
            res, _ = self._infer("log_likelihood", self._checked(s))
            total += 0.0 if res is None else float(res)
        return total

    def _predict_array(self, x: FloatArray) -> npt.NDArray[np.int64]:
        return np.asarray(self._per_frame("viterbi", x, NO_STATE), dtype=np.int64)

    def _proba_array(self, x: FloatArray) -> FloatArray:
        return np.asarray(self._per_frame("smoothed", x, np.nan), dtype=np.float64)

    def _score_array(self, x: FloatArray) -> float:
        res, _ = self._infer("log_likelihood", x)
        return 0.0 if res is None else float(res)


@hookimpl
def faceexpr_state_models() -> list[type[StateModel]]:
    return [DynamaxStateModel]
