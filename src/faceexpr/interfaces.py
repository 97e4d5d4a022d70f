"""The interfaces every backend implements.

:class:`PoseFormat` reads and writes one kind of pose file, :class:`PoseEstimator` turns
video(s) into a pose Dataset, :class:`Triangulator` turns 2D views from several cameras
into 3D, :class:`StateModel` assigns a hidden state to every frame of a feature matrix,
and :class:`Command` adds a subcommand to the ``faceexpr`` program. Backends subclass one
of them and are registered through the plugin hooks in :mod:`faceexpr.hookspecs`.
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np
import numpy.typing as npt

from faceexpr._arrays import finite_segments
from faceexpr._files import atomic_write
from faceexpr._model_file import check_model_params, read_model_file
from faceexpr._options import BackendOption, constructor_options, short_repr
from faceexpr._typing import FloatArray, PathLike
from faceexpr.data import NO_STATE, as_sequences, validate_features
from faceexpr.errors import (
    BackendNotFoundError,
    BackendOptionError,
    FaceexprError,
    FileFormatError,
    InvalidFeaturesError,
    MissingDependencyError,
    NotFittedError,
)

if TYPE_CHECKING:  # imported where used: the plugins load without xarray (fast --help)
    import xarray as xr

_B = TypeVar("_B", bound="Backend")


class Backend(ABC):
    """What all backends share: a name, the optional dependencies they need, and options
    checked against the constructor's signature (:meth:`check_options`)."""

    name: ClassVar[str]
    """The name users pass to ``fe.state_model(name)`` and friends."""
    requires: ClassVar[tuple[str, ...]] = ()
    """Importable module names the backend needs."""
    extra: ClassVar[str | None] = None
    """The ``faceexpr[extra]`` that installs :attr:`requires`."""
    extra_options: ClassVar[bool | None] = None
    """Whether options the constructor does not name pass :meth:`check_options` (they go
    to its ``**kwargs``). ``None`` (the default): when the backend's own ``__init__`` takes
    ``**kwargs``; an ``__init__`` inherited from the interface class (``StateModel`` takes
    ``**options`` only to record what a subclass passes up) does not count."""
    _stage_label: ClassVar[str] = "backend"
    """The stage in messages: ``state model 'hmmlearn' has no option ...``."""

    # -- options --------------------------------------------------------------------------
    @classmethod
    def accepted_options(cls) -> dict[str, BackendOption]:
        """The keyword options of the constructor, in signature order.

        Type hints are resolved with :func:`typing.get_type_hints`, so string annotations
        (``from __future__ import annotations``) count; a hint that cannot be resolved
        accepts any value.
        """
        return constructor_options(cls)[0]

    @classmethod
    def takes_extra_options(cls) -> bool:
        """Whether names the constructor does not declare are accepted (see
        :attr:`extra_options`)."""
        if cls.extra_options is not None:
            return bool(cls.extra_options)
        inherited = any(c.__dict__.get("__init__") is cls.__init__ for c in _INTERFACES)
        return constructor_options(cls)[1] and not inherited

    @classmethod
    def describe_options(cls) -> str:
        """Every accepted option with its type and default, for messages."""
        listing = ", ".join(o.describe() for o in cls.accepted_options().values()) or "none"
        if cls.takes_extra_options():
            listing += ", and any other keyword"
        return listing

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        """Check option names and value types against the constructor's signature.

        Raises
        ------
        BackendOptionError
            One line naming the stage, the backend and the option, what was expected, and
            every accepted option (:meth:`describe_options`): for a name the constructor
            does not take (unless :meth:`takes_extra_options`), a value of another type
            than the annotation, or a required option left out.
        """
        accepted = cls.accepted_options()
        label = _label(cls)
        for key, value in options.items():
            option = accepted.get(key)
            if option is None:
                if cls.takes_extra_options():
                    continue
                close = difflib.get_close_matches(str(key), list(accepted), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise BackendOptionError(f"{label} has no option {key!r}{hint}; accepted: "
                                         f"{cls.describe_options()}")
            if not option.accepts(value):
                raise BackendOptionError(
                    f"{label}: {key} must be {option.expected()}, got {short_repr(value)} "
                    f"({type(value).__name__}); accepted: {cls.describe_options()}")
        for option in accepted.values():
            if option.required and option.name not in options:
                raise BackendOptionError(
                    f"{label} needs option {option.name!r} ({option.expected()}); "
                    f"accepted: {cls.describe_options()}")

    @classmethod
    def from_options(cls: type[_B], options: Mapping[str, Any]) -> _B:
        """Build the backend from checked options (:meth:`check_options`).

        A ``ValueError`` or ``TypeError`` of the constructor (a value out of range) becomes
        a :class:`~faceexpr.errors.BackendOptionError` naming the backend; faceexpr's own
        errors pass unchanged.
        """
        cls.check_options(options)
        try:
            return cls(**options)
        except FaceexprError:
            raise
        except (ValueError, TypeError) as exc:
            raise BackendOptionError(f"{_label(cls)}: {exc}") from exc

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


class PoseFormat(Backend):
    """A pose file format: recognise, read and (optionally) write one kind of file.

    Every method is a class method: a format holds no state. The registry
    (:func:`faceexpr.io.load_pose`, :func:`faceexpr.io.save_pose`) picks a format by name
    or by asking each registered format's :meth:`sniff` about the file.
    """

    suffixes: ClassVar[tuple[str, ...]] = ()
    """File suffixes of the format, lower case with the dot (``(".h5", ".csv")``)."""
    aliases: ClassVar[tuple[str, ...]] = ()
    """Other names the format answers to (``"dlc"`` for ``"deeplabcut"``)."""
    description: ClassVar[str] = ""
    """One line for listings: what writes such files."""
    signature: ClassVar[str] = ""
    """What :meth:`sniff` looks for, shown when a file is not recognised."""
    _stage_label: ClassVar[str] = "pose format"
    write_priority: ClassVar[int] = 0
    """When several formats can write a pose to the same suffix and none is the one the
    pose was read from, the highest priority writes it (faceexpr's own netCDF has 10)."""

    @classmethod
    @abstractmethod
    def sniff(cls, path: Path) -> bool:
        """Whether the content of ``path`` (an existing, non-empty file with one of
        :attr:`suffixes`) is in this format. Read as little as needed; never raise for a
        file of another format."""

    @classmethod
    @abstractmethod
    def read(cls, path: PathLike, **options: Any) -> xr.Dataset:
        """Read ``path`` as a pose (validated by the caller); raise
        :class:`~faceexpr.errors.FileFormatError` naming the file for a malformed one."""

    @classmethod
    def can_write(cls, pose: xr.Dataset) -> bool:
        """Whether :meth:`write` can hold ``pose`` (default: when :meth:`write` exists)."""
        return cls.write is not PoseFormat.write

    @classmethod
    def write(cls, pose: xr.Dataset, path: PathLike) -> None:
        """Write ``pose`` to ``path`` (atomically); formats that only read leave it out."""
        raise NotImplementedError(f"the {cls.name} format cannot be written")


class PoseEstimator(Backend):
    """Tracks landmarks in video(s) and returns a pose Dataset."""

    _stage_label: ClassVar[str] = "pose estimator"

    progress: bool = True
    """Show progress bars; :class:`~faceexpr.pipeline.Pipeline` sets it to its own
    setting unless the options name it."""

    @abstractmethod
    def estimate(self, video: PathLike | Sequence[PathLike]) -> xr.Dataset:
        """Return the pose of ``video``; several synchronised videos give a ``cameras`` dim."""


@dataclass(frozen=True)
class ProjectSettings:
    """What a tool's project file says about a multi-camera recording.

    Read by :meth:`Triangulator.read_project` (e.g. an Anipose ``config.toml``).
    """

    options: dict[str, Any] = field(default_factory=dict)
    """Options of the triangulator that do what the tool would do."""
    cam_regex: str | None = None
    """Pattern whose first group in a file name is the camera name."""
    skeleton: tuple[tuple[str, ...], ...] = ()
    """Chains of landmark names joined in order, for figures."""


class Triangulator(Backend):
    """Turns a 2D pose with a ``cameras`` dim into a 3D pose."""

    _stage_label: ClassVar[str] = "triangulator"

    @abstractmethod
    def triangulate(self, pose2d: xr.Dataset) -> xr.Dataset:
        """Return the 3D pose (dims ``time, landmarks, space`` with ``space = x, y, z``)."""

    @classmethod
    def read_project(cls, path: PathLike) -> ProjectSettings:
        """Read a project file of the wrapped tool; triangulators without one refuse."""
        raise NotImplementedError(f"the {cls.name} triangulator reads no project file "
                                  f"({path})")


class Command(ABC):
    """A subcommand of the ``faceexpr`` program contributed by a plugin.

    ``faceexpr NAME ...`` parses the arguments that :meth:`add_arguments` declares and
    calls :meth:`run`, whose return value is the exit status. Errors derived from
    :class:`~faceexpr.errors.FaceexprError`, ``OSError`` or ``ValueError`` print one line
    and exit with status 1.
    """

    name: ClassVar[str]
    """The subcommand, e.g. ``"calibrate"``."""
    help: ClassVar[str] = ""
    """One line shown by ``faceexpr --help``."""

    @classmethod
    @abstractmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Declare the subcommand's arguments on its own parser."""

    @classmethod
    @abstractmethod
    def run(cls, args: argparse.Namespace) -> int:
        """Do the work; return the exit status."""


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

    _stage_label: ClassVar[str] = "state model"

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

    def _extra_arrays(self) -> dict[str, FloatArray]:
        """Fitted arrays beyond the Gaussian HMM's that :meth:`save` writes and
        :meth:`_set_params` reads back (:data:`~faceexpr._model_file.OPTIONAL_ARRAYS`)."""
        return {}

    def n_parameters(self) -> int:
        """Number of free parameters (for BIC/AIC)."""
        self._check_fitted()
        k, d = self.means_.shape
        cov_type = str(self.options.get("covariance_type", "full"))
        if cov_type == "tied":  # one full covariance shared by every state
            return int((k - 1) + k * (k - 1) + k * d + d * (d + 1) // 2)
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
        import xarray as xr

        x = self._checked(features)
        out = np.full(len(x), NO_STATE, dtype=np.int64)
        for a, b in finite_segments(x):
            out[a:b] = self._predict_array(x[a:b])
        return xr.DataArray(out, dims=("time",), coords={"time": features["time"].values},
                            name="state")

    def predict_proba(self, features: xr.DataArray) -> xr.DataArray:
        """Return state posteriors ``(time, states)``; NaN rows where features are NaN."""
        import xarray as xr

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
        self._check_fitted()
        meta = {"backend": self.name, "n_states": self.n_states,
                "random_state": self.random_state, "options": self.options,
                "feature_names": self.feature_names_}

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:  # a handle, so numpy adds no ".npz" to the name
                arrays: dict[str, Any] = {
                    "meta": np.array(json.dumps(meta)), "means": self.means_,
                    "covars": self.covars_, "transmat": self.transmat_,
                    "startprob": self.startprob_, **self._extra_arrays()}
                np.savez(fh, **arrays)

        atomic_write(path, write)
        return Path(path)

    @classmethod
    def load(cls, path: PathLike) -> StateModel:
        """Read a model written by :meth:`save` (with the backend that wrote it).

        Everything is checked before the model is built, so a damaged or edited file fails
        here rather than at predict time: the archive and its arrays (numbers only, never
        pickles), the metadata, shapes consistent with ``n_states`` and the feature names,
        finite values, probabilities (non-negative, summing to 1), symmetric positive
        definite covariances, and the options (:meth:`Backend.check_options`).

        Raises
        ------
        FileFormatError
            Naming the file and what is wrong with it.
        BackendNotFoundError
            When the backend that wrote the file is not loaded (naming the file).
        MissingDependencyError
            When that backend's dependencies are not installed here (naming the file).
        FileNotFoundError
            When there is no such file.
        """
        path = Path(path)
        meta, params = read_model_file(path)
        try:
            target = _subclass_named(cls, meta["backend"])
        except BackendNotFoundError as exc:
            raise BackendNotFoundError(f"{path}: {exc}") from None
        try:
            target.check_available()
        except MissingDependencyError as exc:
            raise MissingDependencyError(f"{path}: {exc}") from None
        check_model_params(path, meta, params)
        options = {"n_states": meta["n_states"], "random_state": meta["random_state"],
                   **meta["options"]}
        try:
            model = target.from_options(options)
        except BackendOptionError as exc:
            raise FileFormatError(f"{path}: {exc}") from exc
        model.feature_names_ = list(meta["feature_names"])
        try:
            model._set_params(params)
        except FaceexprError:
            raise
        except (ValueError, TypeError, RuntimeError) as exc:
            raise FileFormatError(f"{path}: the {target.name} backend refused the saved "
                                  f"parameters: {exc}") from exc
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


class SummableStateModel(StateModel):
    """A StateModel whose EM splits into an E-step of statistics that add up over
    sequences and an M-step from their sum: what fits one model to a study's sessions on
    a cluster (:mod:`faceexpr.study`), the E-step on the workers, the M-step here.

    The frames each method takes are centred (the study's mean subtracted), as the
    backend's own fit centres them.
    """

    @abstractmethod
    def start_params(self, x: FloatArray, seed: int | None) -> dict[str, FloatArray]:
        """EM's starting parameters from (a sample of) the centred frames ``x``."""

    @abstractmethod
    def e_step(self, x: FloatArray, bounds: npt.NDArray[np.int64],
               params: dict[str, FloatArray]) -> Any:
        """The E-step's statistics of the sequences ``x[bounds[s]:bounds[s + 1]]``: an
        object with ``+`` and a ``log_likelihood``."""

    @abstractmethod
    def m_step(self, stats: Any, params: dict[str, FloatArray]) -> dict[str, FloatArray]:
        """New parameters from summed statistics."""

    @abstractmethod
    def set_centred(self, params: dict[str, FloatArray], stats: Any,
                    centre: FloatArray) -> None:
        """Set the fitted attributes from parameters on frames centred at ``centre`` and
        the statistics of those parameters."""


def _subclass_named(cls: type[StateModel], name: str) -> type[StateModel]:
    """The concrete subclass of ``cls`` (itself included) whose ``name`` is ``name``.

    Registered backends are imported when the registry loads its plugins, so they are
    among the subclasses; :func:`faceexpr.registry.load_state_model` loads the plugins
    first.
    """
    todo: list[type[StateModel]] = [cls]
    while todo:
        current = todo.pop()
        if current.__dict__.get("name") == name and not inspect.isabstract(current):
            return current
        todo += current.__subclasses__()
    raise BackendNotFoundError(
        f"the model file was written by the state model '{name}', which is not loaded; "
        "read it with faceexpr.registry.load_state_model (it loads the plugins) or install "
        "the plugin that provides it")


_INTERFACES: frozenset[type[Backend]] = frozenset(
    {Backend, PoseFormat, PoseEstimator, Triangulator, StateModel})
"""faceexpr's interface classes: their ``__init__``'s ``**kwargs`` declare no options."""


# -- option checks ------------------------------------------------------------------------
def _label(cls: type[Backend]) -> str:
    """``state model 'hmmlearn'``: the stage and the name, for messages."""
    return f"{cls._stage_label} '{getattr(cls, 'name', cls.__name__)}'"
