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

from faceexpr.backends.dynamax._batch import _bucket, _lagged
from faceexpr.backends.dynamax.model import DynamaxStateModel
from faceexpr.hookspecs import hookimpl
from faceexpr.interfaces import StateModel

__all__ = ["DynamaxStateModel", "_bucket", "_lagged"]


@hookimpl
def faceexpr_state_models() -> list[type[StateModel]]:
    return [DynamaxStateModel]

