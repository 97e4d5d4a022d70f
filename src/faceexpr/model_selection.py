"""Choosing the number of states K: information criteria and held-out likelihood.

:func:`select_n_states` fits one model per candidate K (with restarts) and returns a table
of log-likelihood, number of parameters, BIC, AIC and the log-likelihood of held-out
frames, and the K the chosen criterion prefers. ``Pipeline(n_states="auto")`` and
``faceexpr analyze --n-states auto`` use it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from faceexpr.data import as_sequences
from faceexpr.errors import FaceexprError
from faceexpr.interfaces import StateModel
from faceexpr.registry import state_model

Criterion = Literal["bic", "aic", "heldout"]
CRITERIA: tuple[str, ...] = ("bic", "aic", "heldout")


@dataclass
class Selection:
    """What :func:`select_n_states` found.

    Attributes
    ----------
    table
        One row per candidate: ``n_states``, ``log_likelihood``, ``n_parameters``,
        ``n_frames``, ``bic``, ``aic``, ``heldout_log_likelihood`` (per held-out frame;
        NaN without a held-out part).
    best
        The chosen number of states.
    criterion
        What chose it.
    models
        The model fitted on all frames for every candidate.
    """

    table: pd.DataFrame
    best: int
    criterion: str
    models: dict[int, StateModel] = field(default_factory=dict, repr=False)

    @property
    def model(self) -> StateModel:
        """The model with the chosen number of states."""
        return self.models[self.best]


def split_heldout(features: Sequence[xr.DataArray], fraction: float
                  ) -> tuple[list[xr.DataArray], list[xr.DataArray]]:
    """Split every sequence into a training start and a held-out end (``fraction`` of it).

    A contiguous end block, not random frames: neighbouring frames of an HMM are strongly
    dependent, so frames scattered through the training data would not be held out.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"heldout_fraction must be between 0 and 1, got {fraction}")
    train, test = [], []
    for seq in features:
        cut = round(seq.sizes["time"] * (1 - fraction))
        if cut < 2 or seq.sizes["time"] - cut < 2:
            raise FaceexprError(f"a sequence of {seq.sizes['time']} frames is too short to "
                                f"hold out {fraction:.0%} of it")
        train.append(seq.isel(time=slice(0, cut)))
        test.append(seq.isel(time=slice(cut, None)))
    return train, test


def _finite_frames(features: Sequence[xr.DataArray]) -> int:
    return int(sum(np.isfinite(np.asarray(s.values)).all(axis=1).sum() for s in features))


def select_n_states(
    features: xr.DataArray | Sequence[xr.DataArray],
    candidates: Iterable[int] = range(2, 13),
    backend: str = "hmmlearn",
    criterion: Criterion = "bic",
    heldout_fraction: float | None = 0.2,
    random_state: int | None = 0,
    progress: bool = False,
    **model_options: Any,
) -> Selection:
    """Fit a model for every candidate number of states and pick one.

    Parameters
    ----------
    features
        One feature matrix ``(time, features)`` or several (one per recording).
    candidates
        Numbers of states to try.
    backend
        Registered StateModel backend.
    criterion
        ``"bic"`` (lowest Bayesian information criterion, the default), ``"aic"``, or
        ``"heldout"`` (highest log-likelihood per frame of the held-out ends of the
        sequences, from models fitted on the rest).
    heldout_fraction
        End fraction of every sequence held out for ``heldout_log_likelihood``; ``None``
        skips those extra fits (not allowed with ``criterion="heldout"``).
    random_state
        Seed of every fit.
    progress
        Show a progress bar over the candidates.
    **model_options
        Passed to every model (e.g. ``n_init`` restarts, ``covariance_type``).

    Returns
    -------
    Selection
        The table, the chosen K and the fitted models.

    Examples
    --------
    >>> from faceexpr.synthetic.faces import simulate
    >>> import faceexpr as fe
    >>> pipe = fe.Pipeline(progress=False)
    >>> ego = pipe.clean(simulate(600, seed=0).pose3d)
    >>> feats = pipe.features([ego], [fe.features.head_kinematics(ego)])
    >>> select_n_states(feats, [2, 3], heldout_fraction=None).table.columns.tolist()[:4]
    ['n_states', 'log_likelihood', 'n_parameters', 'n_frames']
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    if criterion == "heldout" and not heldout_fraction:
        raise ValueError("criterion='heldout' needs a heldout_fraction")
    ks = sorted({int(k) for k in candidates})
    if not ks or ks[0] < 1:
        raise ValueError(f"candidates must be positive numbers of states, got {ks}")
    seqs = as_sequences(features)
    n_frames = _finite_frames(seqs)
    train, test = split_heldout(seqs, heldout_fraction) if heldout_fraction else ([], [])
    rows, models = [], {}
    for k in tqdm(ks, desc="choosing K", disable=not progress, leave=False):
        model = state_model(backend, n_states=k, random_state=random_state,
                            **model_options).fit(seqs)
        ll, p = model.score(seqs), model.n_parameters()
        heldout = math.nan
        if test:
            part = state_model(backend, n_states=k, random_state=random_state,
                               **model_options).fit(train)
            heldout = part.score(test) / _finite_frames(test)
        rows.append({"n_states": k, "log_likelihood": ll, "n_parameters": p,
                     "n_frames": n_frames, "bic": -2 * ll + p * math.log(n_frames),
                     "aic": -2 * ll + 2 * p, "heldout_log_likelihood": heldout})
        models[k] = model
    table = pd.DataFrame(rows)
    column = "heldout_log_likelihood" if criterion == "heldout" else criterion
    values = table[column].to_numpy()
    pick = int(np.nanargmax(values) if criterion == "heldout" else np.nanargmin(values))
    best = ks[pick]
    table["chosen"] = table["n_states"] == best
    return Selection(table=table, best=best, criterion=criterion, models=models)
