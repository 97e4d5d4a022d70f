"""The compiled EM pieces on dynamax: emission components with the shared covariance
prior, and one engine (E-step, M-step, inference) per model configuration."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np

from faceexpr._typing import FloatArray
from faceexpr.backends.dynamax._batch import _WITHIN
from faceexpr.errors import FaceexprError

_NO_WEIGHT = 1e-10
"""A state with less posterior weight (in frames) keeps its previous mean."""
_DIRICHLET_EXCESS = 1e-10
"""Added to a Dirichlet concentration of 1: dynamax's mode needs every concentration > 1."""
_MEAN_CONCENTRATION = 1e-8
"""κ₀ of the conjugate priors on the means (the prior mean is the data mean)."""

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


