"""The three stage interfaces every backend implements.

:class:`PoseEstimator` turns video(s) into a pose Dataset, :class:`Triangulator` turns
2D views from several cameras into 3D, :class:`StateModel` assigns a hidden state to every
frame of a feature matrix. Backends subclass one of them and are registered through the
plugin hooks in :mod:`faceexpr.hookspecs`.
"""

from __future__ import annotations

import importlib.util
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import xarray as xr

from faceexpr.data import NO_STATE, validate_features
from faceexpr.errors import (
    InvalidFeaturesError,
    MissingDependencyError,
    NotFittedError,
)

PathLike = str | os.PathLike[str]
FloatArray = npt.NDArray[np.float64]


class Backend(ABC):
    """What all backends share: a name and the optional dependencies they need."""

    name: ClassVar[str]
    """The name users pass to ``fe.state_model(name)`` and friends."""
    requires: ClassVar[tuple[str, ...]] = ()
    """Importable module names the backend needs."""
    extra: ClassVar[str | None] = None
    """The ``faceexpr[extra]`` that installs :attr:`requires`."""

    @classmethod
    def missing_dependencies(cls) -> list[str]:
        """Return the required modules that cannot be imported here."""
        return [m for m in cls.requires if importlib.util.find_spec(m) is None]

    @classmethod
    def is_available(cls) -> bool:
        """Whether every required module is installed."""
        return not cls.missing_dependencies()

    @classmethod
    def check_available(cls) -> None:
        """Raise :class:`MissingDependencyError` naming the extra to install."""
        missing = cls.missing_dependencies()
        if missing:
            hint = f'pip install "faceexpr[{cls.extra}]"' if cls.extra else "install them"
            raise MissingDependencyError(
                f"backend '{cls.name}' needs {', '.join(missing)}, which is not installed: {hint}"
            )


class PoseEstimator(Backend):
    """Tracks landmarks in video(s) and returns a pose Dataset."""

    @abstractmethod
    def estimate(self, video: PathLike | Sequence[PathLike]) -> xr.Dataset:
        """Return the pose of ``video``; several synchronised videos give a ``cameras`` dim."""


class Triangulator(Backend):
    """Turns a 2D pose with a ``cameras`` dim into a 3D pose."""

    @abstractmethod
    def triangulate(self, pose2d: xr.Dataset) -> xr.Dataset:
        """Return the 3D pose (dims ``time, landmarks, space`` with ``space = x, y, z``)."""


def as_sequences(features: xr.DataArray | Sequence[xr.DataArray]) -> list[xr.DataArray]:
    """Return ``features`` as a list of validated feature matrices with the same columns."""
    seqs = [features] if isinstance(features, xr.DataArray) else list(features)
    if not seqs:
        raise InvalidFeaturesError("no feature sequences given")
    seqs = [validate_features(s) for s in seqs]
    names = list(seqs[0]["features"].values)
    for i, s in enumerate(seqs[1:], start=1):
        if list(s["features"].values) != names:
            raise InvalidFeaturesError(
                f"sequence {i} has different feature columns than sequence 0"
            )
    return seqs


def true_runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Return ``(start, stop)`` of the runs of True in a 1D boolean array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def finite_segments(values: FloatArray) -> list[tuple[int, int]]:
    """Return ``(start, stop)`` of the runs of rows with no NaN."""
    return true_runs(np.asarray(np.isfinite(values).all(axis=1)))


class StateModel(Backend):
    """A hidden-state model of a feature time series (scikit-learn conventions).

    Subclasses implement :meth:`_fit_arrays`, :meth:`_predict_array`,
    :meth:`_proba_array`, :meth:`_score_array`, :meth:`_get_params` and
    :meth:`_set_params`. This base class handles xarray in and out, several sequences,
    frames with NaN features (they are left out of fitting and get state ``-1`` and NaN
    posteriors), feature-name checks and save/load.

    Fitted attributes (backend-neutral, numpy): ``means_`` ``(K, D)``, ``covars_``
    ``(K, D, D)`` (full matrices, also for diagonal models), ``transmat_`` ``(K, K)``,
    ``startprob_`` ``(K,)``, ``feature_names_`` (list of D str).
    """

    def __init__(self, n_states: int = 9, *, random_state: int | None = 0, **options: Any):
        if int(n_states) < 1:
            raise ValueError(f"n_states must be >= 1, got {n_states}")
        self.n_states = int(n_states)
        self.random_state = random_state
        self.options = dict(options)
        self.feature_names_: list[str] | None = None
        self.means_: FloatArray
        self.covars_: FloatArray
        self.transmat_: FloatArray
        self.startprob_: FloatArray

    # -- what a backend implements ------------------------------------------------------
    @abstractmethod
    def _fit_arrays(self, segments: list[FloatArray]) -> None:
        """Fit to finite segments (each ``(T_i, D)``) and set the fitted attributes."""

    @abstractmethod
    def _predict_array(self, x: FloatArray) -> npt.NDArray[np.int64]:
        """Return the Viterbi state path of one finite segment."""

    @abstractmethod
    def _proba_array(self, x: FloatArray) -> FloatArray:
        """Return posteriors ``(T, K)`` of one finite segment."""

    @abstractmethod
    def _score_array(self, x: FloatArray) -> float:
        """Return the log-likelihood of one finite segment."""

    @abstractmethod
    def _set_params(self, params: dict[str, FloatArray]) -> None:
        """Restore fitted parameters (``means``, ``covars``, ``transmat``, ``startprob``)."""

    def n_parameters(self) -> int:
        """Number of free parameters (for BIC/AIC)."""
        self._check_fitted()
        k, d = self.means_.shape
        cov_type = str(self.options.get("covariance_type", "full"))
        n_cov = d * (d + 1) // 2 if cov_type == "full" else d
        return int((k - 1) + k * (k - 1) + k * d + k * n_cov)

    # -- public API ---------------------------------------------------------------------
    def fit(self, features: xr.DataArray | Sequence[xr.DataArray]) -> StateModel:
        """Fit the model to one feature matrix or several (one per session/video).

        Frames with any NaN feature are left out; the finite runs around them are fitted as
        separate sequences.
        """
        seqs = as_sequences(features)
        segments: list[FloatArray] = []
        for s in seqs:
            x = np.asarray(s.values, dtype=np.float64)
            segments += [x[a:b] for a, b in finite_segments(x) if b - a >= 2]
        n_frames = sum(len(s) for s in segments)
        if n_frames < self.n_states:
            raise InvalidFeaturesError(
                f"only {n_frames} frames have finite features; need at least n_states="
                f"{self.n_states}"
            )
        self.feature_names_ = [str(n) for n in seqs[0]["features"].values]
        self._fit_arrays(segments)
        return self

    def predict(self, features: xr.DataArray) -> xr.DataArray:
        """Return the most likely state of every frame (Viterbi); ``-1`` where features are NaN."""
        x = self._checked(features)
        out = np.full(len(x), NO_STATE, dtype=np.int64)
        for a, b in finite_segments(x):
            out[a:b] = self._predict_array(x[a:b])
        return xr.DataArray(out, dims=("time",), coords={"time": features["time"].values},
                            name="state")

    def predict_proba(self, features: xr.DataArray) -> xr.DataArray:
        """Return state posteriors ``(time, states)``; NaN rows where features are NaN."""
        x = self._checked(features)
        out = np.full((len(x), self.n_states), np.nan)
        for a, b in finite_segments(x):
            out[a:b] = self._proba_array(x[a:b])
        return xr.DataArray(out, dims=("time", "states"),
                            coords={"time": features["time"].values,
                                    "states": np.arange(self.n_states)},
                            name="posterior")

    def score(self, features: xr.DataArray | Sequence[xr.DataArray]) -> float:
        """Return the total log-likelihood of the finite frames of ``features``."""
        total = 0.0
        for s in as_sequences(features):
            x = self._checked(s)
            total += sum(self._score_array(x[a:b]) for a, b in finite_segments(x))
        return total

    def save(self, path: PathLike) -> Path:
        """Write the fitted model to ``path`` (``.npz``; options as JSON inside).

        The file appears only when complete (see :func:`faceexpr.io._common.atomic_write`).
        """
        from faceexpr.io._common import atomic_write

        self._check_fitted()
        meta = {"backend": self.name, "n_states": self.n_states,
                "random_state": self.random_state, "options": self.options,
                "feature_names": self.feature_names_}

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:  # a handle, so numpy adds no ".npz" to the name
                np.savez(fh, meta=np.array(json.dumps(meta)), means=self.means_,
                         covars=self.covars_, transmat=self.transmat_,
                         startprob=self.startprob_)

        atomic_write(path, write)
        return Path(path)

    @classmethod
    def load(cls, path: PathLike) -> StateModel:
        """Read a model written by :meth:`save` (with the backend that wrote it)."""
        with np.load(Path(path), allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            params = {k: np.asarray(z[k], dtype=np.float64)
                      for k in ("means", "covars", "transmat", "startprob")}
        target: type[StateModel] = cls
        if cls.__dict__.get("name") != meta["backend"]:
            from faceexpr.registry import state_model_class

            target = state_model_class(meta["backend"])
        model = target(meta["n_states"], random_state=meta["random_state"], **meta["options"])
        model.feature_names_ = list(meta["feature_names"])
        model._set_params(params)
        return model

    # -- helpers ------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if self.feature_names_ is None:
            raise NotFittedError(f"the {self.name} state model is not fitted; call fit() first")

    def _checked(self, features: xr.DataArray) -> FloatArray:
        self._check_fitted()
        features = validate_features(features)
        names = [str(n) for n in features["features"].values]
        if names != self.feature_names_:
            missing = sorted(set(self.feature_names_ or []) - set(names))
            extra = sorted(set(names) - set(self.feature_names_ or []))
            raise InvalidFeaturesError(
                "features do not match those the model was fitted on"
                + (f"; missing {missing}" if missing else "")
                + (f"; unexpected {extra}" if extra else "")
                + ("; same names in another order" if not missing and not extra else "")
            )
        return np.asarray(features.values, dtype=np.float64)

    def __repr__(self) -> str:
        opts = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}(n_states={self.n_states}{opts})"
