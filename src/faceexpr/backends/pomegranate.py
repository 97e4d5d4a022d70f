"""StateModel backend on pomegranate 1.x (``pomegranate.hmm.DenseHMM``, PyTorch).

The model is the same Gaussian HMM as the hmmlearn backend's, with the same k-means start
(:func:`faceexpr.backends._start.kmeans_start`) and the same likelihood, so the two give the
same scores and posteriors for the same parameters. What pomegranate does differently by
default, and what this backend changes:

- pomegranate computes in float32 unless told otherwise; full-covariance EM then breaks
  down into NaN on realistic sizes. Every distribution and the HMM are made float64.
- pomegranate's HMM has end probabilities (the chance of a sequence stopping in each
  state) that enter the likelihood and take a share of every transition row. A face
  recording stops when the camera does, so the ends are held at 1 (log 0) — the
  likelihood is then ``log P(X)`` as in hmmlearn — and the transition rows are
  renormalised after each M-step.
- The M-step is the maximum a posteriori one every backend shares
  (:mod:`faceexpr.backends._em`): the Dirichlet pseudo-counts ``(α − 1) + κ I`` are added
  to the expected transition counts before pomegranate normalises them, and a state's
  covariance is ``(S_k + ψ I) / (N_k + 1)`` in place of pomegranate's ``S_k / N_k``
  (pomegranate 1.1's ``Normal`` ignores its ``min_cov``). A state that gets no weight
  keeps its mean instead of becoming NaN. ``min_covar`` is added to the starting
  covariances only, as in the other backends.
- Sequences of different lengths are grouped by length into ``(n, T, D)`` tensors (what
  pomegranate does itself for a list of sequences); each group is one batch of the E-step.
- The EM loop is run here (pomegranate's ``summarize``/``from_summaries``), so the
  iteration count, convergence and log-likelihood are known, and the optional progress
  bar is the one every backend shows; pomegranate itself prints nothing.
- Viterbi paths, posteriors and scores are computed one sequence at a time.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from faceexpr._typing import FloatArray
from faceexpr.backends._em import EMProgress, Priors, check_priors, em_progress, restart_label
from faceexpr.backends._start import kmeans_start
from faceexpr.errors import FaceexprError
from faceexpr.hookspecs import hookimpl
from faceexpr.interfaces import StateModel

if TYPE_CHECKING:
    import xarray as xr


def _resolve_device(device: str) -> str:
    """Check ``device`` and return the torch device to use (``"auto"`` picks one)."""
    if device == "cpu":
        return "cpu"
    if device != "auto" and device != "cuda" and not device.startswith("cuda:"):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}")
    import torch

    if not torch.cuda.is_available():
        if device == "auto":
            return "cpu"
        raise FaceexprError(
            f"device={device!r} was asked for but torch {torch.__version__} sees no CUDA GPU; "
            "use device='cpu', or device='auto' to take a GPU only where there is one"
        )
    return "cuda" if device == "auto" else device


@functools.cache
def _normal_class() -> type[Any]:
    """pomegranate's ``Normal`` with the covariance prior and no NaN for empty states."""
    import torch
    from pomegranate.distributions import Normal

    class PriorNormal(Normal):  # type: ignore[misc]
        """A ``Normal`` whose M-step is ``Σ = (S + ψ I) / (N + 1)`` (``diag``: the
        diagonal), as :func:`faceexpr.backends._em.map_covariances`.

        A state with (almost) no posterior weight keeps its mean; without a prior (ψ = 0)
        it keeps its covariance too. Only for use inside a DenseHMM, whose M-step resets
        the distributions' caches.
        """

        def __init__(self, means: Any, covs: Any, covariance_type: str, psi: float):
            super().__init__(means=means, covs=covs, covariance_type=covariance_type)
            self.psi = float(psi)

        def from_summaries(self) -> None:
            if self.frozen:
                return
            w = self._w_sum[0]
            some = bool(w > 1e-10)
            # no _reset_cache() here: DenseHMM.from_summaries resets every distribution
            # (Cholesky factors and statistics) right after, and once is enough
            if not some and self.psi == 0:
                return
            means = self._xw_sum / w if some else self.means
            # the scatter about the new means, S = Σ w x xᵀ − N μ μᵀ
            if self.covariance_type == "full":
                scatter = self._xxw_sum - w * torch.outer(means, means)
                scatter = 0.5 * (scatter + scatter.T)
                eye = torch.eye(self.d, dtype=scatter.dtype, device=scatter.device)
            else:
                scatter = torch.clamp(self._xxw_sum - w * means**2, min=0.0)
                eye = torch.ones_like(scatter)
            covs = ((scatter + self.psi * eye) / (w + 1.0) if self.psi > 0
                    else scatter / w)
            with torch.no_grad():
                self.means[...] = means
                self.covs[...] = covs

    # pickle finds the class as faceexpr.backends.pomegranate.PriorNormal (the module's
    # __getattr__), so fitted models travel to and from worker processes
    PriorNormal.__module__ = __name__
    PriorNormal.__qualname__ = "PriorNormal"
    return PriorNormal


def __getattr__(name: str) -> Any:
    if name == "PriorNormal":
        return _normal_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _EMFailed(Exception):
    """One restart broke down (non-finite likelihood or a singular covariance)."""


class PomegranateStateModel(StateModel):
    """Gaussian HMM fitted with pomegranate's EM (Baum–Welch) in float64, best of ``n_init``.

    Parameters
    ----------
    n_states
        Number of hidden states K.
    covariance_type
        ``"full"`` or ``"diag"``.
    n_iter
        Maximum EM iterations per restart.
    tol
        EM stops when the log-likelihood gains less than this (> 0) in one iteration;
        ``-inf``: never before ``n_iter``.
    n_init
        Restarts, each from its own k-means clustering (seed ``random_state + i``); the one
        with the highest log-likelihood is kept.
    min_covar
        Added to the diagonal of the starting covariances.
    stickiness, transition_concentration, covariance_prior
        The priors of every backend (:mod:`faceexpr.backends._em`): Dirichlet
        pseudo-counts κ on staying and α on every transition, and the covariance prior ψ
        applied in every M-step, ``Σ_k = (S_k + ψ I) / (N_k + 1)``.
    device
        ``"cpu"`` (default), ``"cuda"`` / ``"cuda:N"`` (an error where torch sees no GPU;
        this includes loading a model saved with it on a machine without one) or
        ``"auto"`` (a GPU where there is one, else the CPU).
    n_threads
        Torch CPU threads while this model computes; torch's process-wide setting is
        restored afterwards. ``None`` uses torch's setting (by default one per physical
        core). The default 1 is deliberate: pomegranate's forward-backward and Viterbi
        step through time with tiny ``K``-sized operations, which more threads only slow
        down (measured: 4× slower with 2 threads at T=3000, D=10, K=5, and no gain at
        T=20000, D=60, K=9 on 2 cores).
    progress
        Show a progress bar over the EM iterations (log-likelihood and its change).
    random_state
        Seed; restart ``i`` uses ``random_state + i``.

    Attributes
    ----------
    log_likelihood_
        Total log-likelihood of the fitted frames under the kept model.
    n_iter_
        EM iterations the kept restart ran.
    converged_
        Whether its gain fell below ``tol`` within ``n_iter`` iterations.
    device_
        The torch device used.
    """

    name: ClassVar[str] = "pomegranate"
    extra: ClassVar[str | None] = "pomegranate"
    requires: ClassVar[tuple[str, ...]] = ("pomegranate", "torch")

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
        device: str = "cpu",
        n_threads: int | None = 1,
        progress: bool = False,
        random_state: int | None = 0,
    ) -> None:
        if covariance_type not in ("full", "diag"):
            raise ValueError(f"covariance_type must be 'full' or 'diag', got {covariance_type!r}")
        if int(n_iter) < 1:
            raise ValueError(f"n_iter must be >= 1, got {n_iter}")
        if not ((math.isfinite(float(tol)) and float(tol) > 0) or float(tol) == -math.inf):
            raise ValueError(f"tol must be > 0 (pomegranate stops on a gain below it) or -inf "
                             f"(never before n_iter), got {tol}")
        if int(n_init) < 1:
            raise ValueError(f"n_init must be >= 1, got {n_init}")
        if not (math.isfinite(float(min_covar)) and float(min_covar) >= 0):
            raise ValueError(f"min_covar must be >= 0, got {min_covar}")
        if n_threads is not None and int(n_threads) < 1:
            raise ValueError(f"n_threads must be >= 1 or None, got {n_threads}")
        priors = check_priors(stickiness, transition_concentration, covariance_prior)
        super().__init__(n_states, random_state=random_state, covariance_type=covariance_type,
                         n_iter=int(n_iter), tol=float(tol), n_init=int(n_init),
                         min_covar=float(min_covar), stickiness=priors.stickiness,
                         transition_concentration=priors.transition_concentration,
                         covariance_prior=priors.covariance_prior, device=device,
                         n_threads=None if n_threads is None else int(n_threads),
                         progress=bool(progress))
        self._priors: Priors = priors
        self.device_ = _resolve_device(device)
        self._hmm: Any = None
        self.log_likelihood_: float = float("nan")
        self.n_iter_: int = 0
        self.converged_: bool = False

    # -- torch helpers ------------------------------------------------------------------
    @contextlib.contextmanager
    def _threads(self) -> Iterator[None]:
        """Use ``n_threads`` torch threads (and no autograd) inside the block.

        torch's thread count is process-wide; the previous one is restored on leaving.
        """
        import torch

        n = self.options["n_threads"]
        before = torch.get_num_threads()
        change = n is not None and int(n) != before
        if change:
            torch.set_num_threads(int(n))
        try:
            with torch.no_grad():
                yield
        finally:
            if change:
                torch.set_num_threads(before)

    # the public methods set the threads once (the base class calls the array methods
    # once per finite segment)
    def fit(self, features: xr.DataArray | Sequence[xr.DataArray]) -> StateModel:
        with self._threads():
            return super().fit(features)

    def predict(self, features: xr.DataArray) -> xr.DataArray:
        with self._threads():
            return super().predict(features)

    def predict_proba(self, features: xr.DataArray) -> xr.DataArray:
        with self._threads():
            return super().predict_proba(features)

    def score(self, features: xr.DataArray | Sequence[xr.DataArray]) -> float:
        with self._threads():
            return super().score(features)

    def _tensor(self, x: FloatArray) -> Any:
        import torch

        return torch.as_tensor(np.ascontiguousarray(x, dtype=np.float64),
                               device=self.device_)

    def _build(self, means: FloatArray, covars: FloatArray, transmat: FloatArray,
               startprob: FloatArray, seed: int | None) -> Any:
        """A float64 DenseHMM with these parameters, end probabilities held at 1."""
        from pomegranate.hmm import DenseHMM

        normal = _normal_class()
        cov_type = self.options["covariance_type"]
        psi = self._priors.covariance_prior
        dists = []
        for j in range(self.n_states):
            cov = covars[j] if cov_type == "full" else np.diagonal(covars[j]).copy()
            dists.append(normal(self._tensor(means[j]), self._tensor(cov), cov_type,
                                psi).double())
        hmm = DenseHMM(dists, edges=self._tensor(transmat), starts=self._tensor(startprob),
                       ends=self._tensor(np.ones(self.n_states)),
                       # EM runs in _em, not in pomegranate's fit: its own tol is unused
                       # (and must be >= 0)
                       max_iter=int(self.options["n_iter"]), tol=0.0,
                       random_state=seed, verbose=False)
        return hmm.double().to(self.device_)

    def _emissions(self, x: Any) -> Any:
        """Log-density of each frame under each state, ``(1, T, K)``, for a ``(T, D)`` tensor."""
        import torch

        return torch.stack([d.log_probability(x) for d in self._hmm.distributions],
                           dim=-1).unsqueeze(0)

    # -- fitting ------------------------------------------------------------------------
    def _batches(self, segments: list[FloatArray]) -> list[Any]:
        """Segments grouped by length into ``(n, T, D)`` tensors."""
        by_length: dict[int, list[FloatArray]] = {}
        for s in segments:
            by_length.setdefault(len(s), []).append(s)
        return [self._tensor(np.stack(group)) for _, group in sorted(by_length.items())]

    def _m_step(self, hmm: Any) -> None:
        """pomegranate's M-step on the counts plus the transition prior, then ends back to
        1 and transition rows summing to 1."""
        import torch

        old_edges = hmm.edges.detach().clone()
        # the Dirichlet's pseudo-counts, as _em.map_transitions: pomegranate's edges are the
        # log of the expected counts over each row's total, which the rows are then
        # renormalised from
        pseudo = (self._priors.transition_concentration - 1.0) + self._priors.stickiness \
            * torch.eye(self.n_states, dtype=hmm._xw_sum.dtype, device=hmm._xw_sum.device)
        hmm._xw_sum[...] = torch.clamp(hmm._xw_sum + pseudo, min=0.0)
        hmm.from_summaries()
        edges = hmm.edges
        norm = torch.logsumexp(edges, dim=1, keepdim=True)
        # a state never left (no outgoing weight) keeps its row
        fresh = torch.where(torch.isfinite(norm), edges - norm, old_edges)
        hmm.edges[...] = fresh
        hmm.ends[...] = 0.0

    def _em(self, hmm: Any, batches: list[Any], bar: EMProgress) -> tuple[int, bool]:
        """Run EM in place; return (iterations, converged)."""
        tol = float(self.options["tol"])
        last = -math.inf
        for it in range(1, int(self.options["n_iter"]) + 1):
            logp = sum(float(hmm.summarize(b).sum()) for b in batches)
            if not math.isfinite(logp):
                raise _EMFailed(f"log-likelihood became {logp} at EM iteration {it}")
            self._m_step(hmm)
            bar.update(logp)
            if logp - last < tol:
                return it, True
            last = logp
        return int(self.options["n_iter"]), False

    def _fit_arrays(self, segments: list[FloatArray]) -> None:
        import torch

        # a covariance that is not positive definite (torch's Cholesky); torch.linalg
        # defines LinAlgError without listing it in __all__
        linalg_error: type[Exception] = getattr(torch.linalg, "LinAlgError", RuntimeError)
        x = np.concatenate(segments)
        best: Any = None
        best_ll, best_iter, best_conv, failure = -math.inf, 0, False, ""
        n_init = int(self.options["n_init"])
        with self._threads():
            batches = self._batches(segments)
            for i in range(n_init):
                seed = None if self.random_state is None else int(self.random_state) + i
                start = kmeans_start(x, self.n_states,
                                     min_covar=float(self.options["min_covar"]), seed=seed)
                try:
                    hmm = self._build(*start, seed=seed)
                    with em_progress(int(self.options["n_iter"]),
                                     restart_label(self.name, self.n_states, i, n_init),
                                     bool(self.options["progress"])) as bar:
                        n_it, conv = self._em(hmm, batches, bar)
                    ll = sum(float(hmm.log_probability(b).sum()) for b in batches)
                except (_EMFailed, linalg_error) as exc:
                    failure, ll = str(exc).splitlines()[0], -math.inf
                if math.isfinite(ll) and ll > best_ll:
                    best, best_ll, best_iter, best_conv = hmm, ll, n_it, conv
        if best is None:
            raise FaceexprError(
                f"every one of the {self.options['n_init']} pomegranate restart(s) failed"
                f"{f' ({failure})' if failure else ''}: {self.n_states} states with "
                f"{self.options['covariance_type']} covariances over {x.shape[1]} features "
                f"may be too many for {len(x)} frames; use fewer states, a larger "
                "covariance_prior, covariance_type='diag' or fewer features"
            )
        self._hmm = best
        self.log_likelihood_ = best_ll
        self.n_iter_ = best_iter
        self.converged_ = best_conv
        self._copy_params()

    # -- parameters ---------------------------------------------------------------------
    def _copy_params(self) -> None:
        import torch

        hmm = self._hmm
        d = hmm.distributions[0].means.shape[0]
        self.means_ = np.stack([dist.means.detach().cpu().numpy() for dist in
                                hmm.distributions]).astype(np.float64)
        covs = [dist.covs.detach().cpu().numpy() for dist in hmm.distributions]
        if self.options["covariance_type"] == "diag":
            covs = [np.diag(c) for c in covs]
        self.covars_ = np.stack(covs).astype(np.float64).reshape(self.n_states, d, d)
        self.transmat_ = torch.exp(hmm.edges.detach()).cpu().numpy().astype(np.float64)
        self.startprob_ = torch.exp(hmm.starts.detach()).cpu().numpy().astype(np.float64)

    def _set_params(self, params: dict[str, FloatArray]) -> None:
        with self._threads():
            self._hmm = self._build(params["means"], params["covars"], params["transmat"],
                                    params["startprob"], self.random_state)
        self._copy_params()

    # -- inference ----------------------------------------------------------------------
    def _predict_array(self, x: FloatArray) -> npt.NDArray[np.int64]:
        with self._threads():
            e = self._emissions(self._tensor(x))
            path = self._hmm.viterbi(emissions=e)[0]
        return np.asarray(path.cpu().numpy(), dtype=np.int64)

    def _proba_array(self, x: FloatArray) -> FloatArray:
        import torch

        with self._threads():
            e = self._emissions(self._tensor(x))
            r = self._hmm.forward(emissions=e)[0] + self._hmm.backward(emissions=e)[0]
            r = torch.exp(r - torch.logsumexp(r, dim=1, keepdim=True))
        return np.asarray(r.cpu().numpy(), dtype=np.float64)

    def _score_array(self, x: FloatArray) -> float:
        import torch

        with self._threads():
            e = self._emissions(self._tensor(x))
            f = self._hmm.forward(emissions=e)[0, -1]
            return float(torch.logsumexp(f + self._hmm.ends, dim=0))


@hookimpl
def faceexpr_state_models() -> list[type[StateModel]]:
    return [PomegranateStateModel]
