"""The whole job in one object: landmarks → egocentric face → states → tables.

>>> import faceexpr as fe
>>> from faceexpr.synthetic.faces import simulate
>>> sim = simulate(600, seed=0)
>>> result = fe.Pipeline(n_states=5).run(sim.pose3d)
>>> result.frequencies.shape
(5, 5)
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import shutil
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from faceexpr import _defaults, analysis
from faceexpr._files import (
    OutputLocation,
    check_output,
    make_parents,
    signals_interrupt,
    temporary_path,
)
from faceexpr._model_file import (
    FITTED_ARRAYS,
    FITTED_FORMAT,
    FITTED_JSON,
    FITTED_PIPELINE_FIELDS,
    read_fitted,
)
from faceexpr._typing import PathLike
from faceexpr.data import (
    drop_counts,
    get_fps,
    n_spatial_dims,
    segment_bounds,
    validate_pose,
    with_history,
    with_precision,
)
from faceexpr.diagnostics import Diagnostic, diagnose
from faceexpr.diagnostics import table as diagnostics_table
from faceexpr.errors import (
    FaceexprError,
    FileFormatError,
    InvalidFeaturesError,
    InvalidPoseError,
    MissingFileError,
    ParameterError,
    one_line,
)
from faceexpr.features import (
    Standardizer,
    component_loadings,
    drop_constant_columns,
    feature_matrix,
    head_kinematics,
    mean_variance,
    project_pca,
    reduce_pca,
)
from faceexpr.interfaces import PoseEstimator, StateModel
from faceexpr.io import to_netcdf
from faceexpr.model_selection import (
    EdgeOfRangeWarning,
    Selection,
    check_n_jobs,
    effective_frames,
    select_n_states,
    sticky_priors,
)
from faceexpr.preprocess import egocentric, interpolate_gaps, mask_low_confidence, smooth
from faceexpr.recording import Recording, session_name, unique_names
from faceexpr.registry import (
    load_state_model,
    pose_estimator,
    state_model,
    state_model_class,
    triangulator,
)
from faceexpr.report import SESSIONS, write_figures, write_report
from faceexpr.schemes import LandmarkScheme, SchemeLike, guess_scheme, skeleton_chains
from faceexpr.state_cards import StateCard, cards_table
from faceexpr.state_cards import state_cards as make_state_cards
from faceexpr.state_stability import Stability
from faceexpr.state_stability import stability as refit_stability

PoseInput = xr.Dataset | str | os.PathLike[str] | Recording
"""A recording as :meth:`Pipeline.run` takes it: a pose, a pose file or video, or a
:class:`~faceexpr.recording.Recording`."""


def _as_list(inputs: PoseInput | Sequence[PoseInput]) -> list[xr.Dataset | Recording]:
    """The inputs as Datasets and Recordings: a path is a one-file Recording."""
    single = (xr.Dataset, str, os.PathLike, Recording)
    items = [inputs] if isinstance(inputs, single) else list(inputs)
    return [Recording(session_name(i, j), (Path(os.fspath(i)),))
            if isinstance(i, (str, os.PathLike)) else i for j, i in enumerate(items)]


def check_output_folder(out: PathLike, overwrite: bool, inputs: Sequence[PathLike] = (),
                        size: int = 0) -> OutputLocation:
    """Check, before any work, that a result can be saved to the folder ``out``.

    See :func:`faceexpr._files.check_output`: the folder must not be the working folder,
    hold an input, exist non-empty without ``overwrite``, have a name longer than the file
    system allows, lie under a folder that cannot be written, or need more than the free
    space (``size`` bytes, estimated).
    """
    return check_output(out, overwrite=overwrite, inputs=inputs, kind="folder", size=size)


def estimated_size(files: Sequence[PathLike], figures: bool = True) -> int:
    """Bytes a result of the pose files ``files`` takes, roughly: the tables and netCDF
    files hold a few copies of the poses (text inputs are larger than their arrays)."""
    total = 0
    for f in files:
        try:
            total += os.stat(f).st_size
        except OSError:
            continue
    return 2 * total + (5_000_000 if figures else 0)


def _csv(table: pd.DataFrame, path: Path, index: bool = True) -> None:
    """Write ``table`` as CSV with text cells that a spreadsheet would run as a formula
    (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return) prefixed by ``'``."""
    def defuse(value: object) -> object:
        if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
            return "'" + value
        return value

    safe = table.copy()
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column].dtype):
            safe[column] = safe[column].map(defuse)
    if index:
        safe.index = safe.index.map(
            lambda v: tuple(map(defuse, v)) if isinstance(v, tuple) else defuse(v))
    safe.columns = safe.columns.map(
        lambda v: tuple(map(defuse, v)) if isinstance(v, tuple) else defuse(v))
    safe.to_csv(path, index=index)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@dataclass
class Pipeline:
    """Configuration of a full analysis; :meth:`run` applies it to one or more recordings.

    Parameters
    ----------
    n_states
        Number of hidden states (expressions) K, or ``"auto"``: fit every K of
        ``candidates`` and keep the one ``criterion`` prefers
        (:func:`faceexpr.model_selection.select_n_states`; the table is
        :attr:`Result.selection`).
    candidates, criterion
        Numbers of states tried by ``n_states="auto"``, and what chooses among them:
        ``"icl"`` (BIC plus the posterior entropy, the default), ``"bic"``, ``"aic"`` or
        ``"cv"`` (blocked cross-validation with the one-standard-error rule)
        (:mod:`faceexpr.model_selection`).
    cv_folds
        Contiguous cross-validation folds of ``n_states="auto"``.
    state_model
        Registered StateModel backend name (``fe.backends()`` lists them); the default
        ``"native"`` is faceexpr's own engine (the same Gaussian HMM as ``"hmmlearn"``,
        several times faster).
    model_options
        Extra options of the state model (e.g. ``covariance_type``, ``covariance_prior``,
        ``stickiness``); they override the pipeline's own.
    n_init
        Restarts of the state model (from different seeds; the best is kept), where the
        backend takes them. The CLI's ``--n-init`` has the same default.
    dwell_time
        Expected time in one expression, in seconds: sets the sticky transition prior
        (:func:`~faceexpr.model_selection.sticky_priors`: as much weight as one bout of
        this length per state) where the backend takes priors; ``None`` for none.
        Without a frame rate 30 frames/s is assumed (and said in the diagnostics).
    ar_order
        Autoregressive order of the state model where the backend takes it (``native``,
        ``dynamax``): 1 (the default) models each expression as a slow drift about its
        face, ``x_t ~ N(W_k x_{t-1} + b_k, Σ_k)``, so that the drift of real recordings
        (lag-1 autocorrelation 0.985–0.998) is not taken for more states; 0 is the
        Gaussian HMM of the classic recipe.
    covariance_prior
        The state model's covariance prior ψ as a fraction of the features' mean variance
        (ψ = this × the mean variance of the features, in their units) where the backend
        takes one: every state's covariance is held off zero as if it had seen one more
        frame of that variance. ``None`` leaves the backend's own; ``model_options``
        naming ``covariance_prior`` sets ψ itself.
    estimator, estimator_options
        Registered PoseEstimator that reads every input that is not a Dataset (default
        ``"file"``: the inputs are pose files of any registered format; its options
        include ``format`` and the reader's, e.g. ``fps``).
    triangulator, triangulator_options
        Triangulator applied to poses with a ``cameras`` dim (needed for them).
    confidence_threshold
        Positions with a lower tracker confidence become missing.
    max_gap
        Longest run of missing frames filled by linear interpolation.
    smoothing, smoothing_window
        ``"median"``, ``"savgol"`` or ``None`` (off) and its window in frames.
    reference
        Egocentric origin landmark (moves with the head only); ``"auto"``: the reference of
        the landmark scheme the names belong to (``nose1`` for the 21-landmark face).
    align, align_landmarks
        Remove head rotation (and, in 2D, size) by Procrustes alignment, on these
        landmarks (default all).
    kinematic_features
        Head-kinematics variables appended as features (e.g. ``("head_speed",)``).
    standardize
        Z-score features before modelling (pooled over recordings); off by default: in
        their own units the landmarks that move most weigh most, and the still ones'
        noise is not blown up to unit variance.
    pca
        Number of principal components (or fraction of variance) to model; ``None``
        models the standardized coordinates. Aligned coordinates carry exact linear
        constraints and mostly noise dimensions; a few components keep the expressions
        and make full-covariance HMMs stable.
    random_state
        Seed of the state model and PCA.
    stability
        Refits on moving-block bootstrap resamples for :attr:`Result.stability` (besides
        the two halves and two other seeds); 0 skips it.
    progress
        Show progress bars.
    n_jobs
        Worker processes of ``n_states="auto"``'s fits (see
        :func:`~faceexpr.model_selection.select_n_states`; ``None``: one per core on long
        recordings, else 1).
    precision
        Float type of the poses, egocentric poses and landmark features held in memory
        (``Result.poses`` included). ``"float32"`` (the default) keeps 7 significant
        digits, 0.1 µm at 1 m or 1e-4 px at 2000 px, far below any tracker's error, in half
        the memory; principal components and the state model always compute in float64.
    """

    n_states: int | Literal["auto"] = _defaults.N_STATES
    candidates: Sequence[int] = _defaults.CANDIDATES
    criterion: Literal["cv", "bic", "icl", "aic"] = _defaults.CRITERION
    cv_folds: int = _defaults.CV_FOLDS
    state_model: str = _defaults.STATE_MODEL
    model_options: dict[str, Any] = field(default_factory=dict)
    n_init: int = _defaults.N_INIT
    dwell_time: float | None = _defaults.DWELL_TIME_S
    ar_order: int = _defaults.AR_ORDER
    covariance_prior: float | None = _defaults.COVARIANCE_PRIOR
    estimator: str = "file"
    estimator_options: dict[str, Any] = field(default_factory=dict)
    triangulator: str | None = None
    triangulator_options: dict[str, Any] = field(default_factory=dict)
    confidence_threshold: float | None = _defaults.CONFIDENCE_THRESHOLD
    max_gap: int | None = _defaults.MAX_GAP
    smoothing: Literal["median", "savgol"] | None = None
    smoothing_window: int = 5
    reference: str = "auto"
    align: bool = True
    align_landmarks: Sequence[str] | None = None
    kinematic_features: Sequence[str] = ()
    standardize: bool = _defaults.STANDARDIZE
    pca: int | float | None = _defaults.PCA
    random_state: int | None = _defaults.RANDOM_STATE
    progress: bool = True
    n_jobs: int | None = None
    precision: Literal["float32", "float64"] = "float32"
    stability: int = _defaults.STABILITY

    def load(self, inputs: PoseInput | Sequence[PoseInput]) -> list[xr.Dataset]:
        """Read or track every input with the registered ``estimator``; Datasets pass
        through validated.

        The estimator gets ``progress`` from the pipeline unless ``estimator_options``
        names it; a recording of several cameras passes its ``cam_regex`` too.
        """
        items = _as_list(inputs)
        if not items:
            raise FaceexprError("no input recordings given")
        poses = []
        estimator: PoseEstimator | None = None
        for item in items:
            if isinstance(item, xr.Dataset):
                poses.append(validate_pose(item))
                continue
            if estimator is None:
                options = {"progress": self.progress, **self.estimator_options}
                if item.cameras:
                    options.setdefault("cam_regex", item.cam_regex)
                estimator = pose_estimator(self.estimator, **options)
            poses.append(estimator.estimate(item.source))
        return poses

    def reference_of(self, pose: xr.Dataset) -> str:
        """The egocentric reference landmark: ``reference``, or the known scheme's."""
        if self.reference != "auto":
            return self.reference
        landmarks = [str(n) for n in pose["landmarks"].values]
        scheme = guess_scheme(landmarks)
        if scheme is None or scheme.reference not in landmarks:
            raise InvalidPoseError(
                f"cannot choose the egocentric reference landmark of {landmarks[:5]}...: "
                "they are not a known landmark scheme; name one with reference=... "
                "(--reference), a landmark that moves with the head only")
        return scheme.reference

    def clean(self, pose: xr.Dataset, template: xr.DataArray | None = None,
              recording: Recording | None = None, to_egocentric: bool = True) -> xr.Dataset:
        """Triangulate (if several cameras), mask, fill gaps, smooth, make egocentric.

        ``template`` is the face ``(landmarks, space)`` to align to; :meth:`run` aligns
        every recording to the first one's mean aligned face so all share one head frame
        (and :meth:`FittedModel.apply` new ones to the same face). A ``recording``'s
        project options and calibration reach the triangulator (``triangulator_options``
        override the project's). ``to_egocentric=False`` stops before the egocentric step.
        """
        if "cameras" in pose.dims:
            if self.triangulator is None:
                raise InvalidPoseError(
                    "the pose has several camera views ('cameras' dim); give a triangulator "
                    "(e.g. triangulator='anipose' with a calibration) to make it 3D")
            options = dict(self.triangulator_options)
            if recording is not None:
                project = recording.project.options if recording.project else {}
                options = {**project, **options}
                if recording.calibration is not None:
                    options.setdefault("calibration", str(recording.calibration))
            pose = triangulator(self.triangulator, **options).triangulate(pose)
        shots = segment_bounds(pose)
        if len(shots) > 1:  # gaps are filled and smoothed within a shot, never across a cut
            pose = xr.concat([self._filtered(pose.isel(time=slice(a, b))) for a, b in shots],
                             dim="time", data_vars="minimal", coords="minimal",
                             compat="override", combine_attrs="override")
        else:
            pose = self._filtered(pose)
        return self._aligned(pose, template) if to_egocentric else pose

    def _aligned(self, pose: xr.Dataset, template: xr.DataArray | None) -> xr.Dataset:
        """The cleaned ``pose`` made egocentric (aligned to ``template`` where given)."""
        return egocentric(pose, self.reference_of(pose), align=self.align,
                          align_landmarks=self.align_landmarks, template=template)

    def _clean_all(self, poses: Sequence[xr.Dataset], recordings: Sequence[Recording | None],
                   template: xr.DataArray | None, bar: Any
                   ) -> tuple[list[xr.Dataset], xr.DataArray | None]:
        """Every recording cleaned and aligned to one ``template``.

        Without a template (a fit) it is the first recording's mean aligned face, and the
        first recording is aligned to it again like the others: a saved model then aligns
        any recording, these included, exactly as it aligned these.
        """
        egos = []
        for pose, recording in zip(poses, recordings):
            if template is None and self.align:
                ready = self.clean(pose, recording=recording, to_egocentric=False)
                template = self._aligned(ready, None)["position"].mean("time")
                egos.append(self._aligned(ready, template))
            else:
                egos.append(self.clean(pose, template, recording))
            bar.update()
        return egos, template

    def _filtered(self, pose: xr.Dataset) -> xr.Dataset:
        """Mask low confidence, fill short gaps and smooth (one shot of a recording)."""
        if self.confidence_threshold is not None:
            pose = mask_low_confidence(pose, self.confidence_threshold)
        if self.max_gap:
            pose = interpolate_gaps(pose, self.max_gap)
        if self.smoothing:
            pose = smooth(pose, self.smoothing, self.smoothing_window)
        return pose

    def features(self, egos: Sequence[xr.Dataset],
                 kinematics: Sequence[xr.Dataset]) -> list[xr.DataArray]:
        """Feature matrices with the same columns for every recording."""
        return self._features(egos, kinematics).features

    def _features(self, egos: Sequence[xr.Dataset], kinematics: Sequence[xr.Dataset],
                  fitted: _Features | None = None) -> _Features:
        """The feature matrices and the transforms that made them: fitted here, or the
        ``fitted`` ones (the columns, standardisation and PCA of a saved model)."""
        feats = [feature_matrix(e, kinematics=k, kinematic_features=self.kinematic_features,
                                drop_constant=False) for e, k in zip(egos, kinematics)]
        if fitted is not None:
            return _refeatured(feats, fitted, egos)
        # drop columns constant in every recording (the reference landmark) together
        feats = drop_constant_columns(feats)
        n_frames = _finite_frames(feats)
        if feats[0].sizes["features"] == 0 or n_frames < 2:
            what = (f"{n_frames} frame(s) with every landmark visible" if n_frames < 2 else
                    "no landmark moves relative to the head in any frame (a still image "
                    "or a constant file)")
            raise InvalidFeaturesError(
                f"nothing to model in {_sources(egos)}: {what}; states need a time series "
                "of a moving face")
        names = [str(n) for n in feats[0]["features"].values]
        scaler = None
        if self.standardize:
            scaler = Standardizer().fit(feats)
            feats = [scaler.transform(f) for f in feats]
        pca = None
        if self.pca:
            # PCA cannot have more components than frames or features
            n_max = min(feats[0].sizes["features"], n_frames)
            n = min(self.pca, n_max) if self.pca >= 1 else self.pca
            feats, pca = reduce_pca(feats, n, random_state=self.random_state)
        return _Features(feats, names, scaler, pca, _loadings(pca, names, scaler, egos[0]))

    def dwell_frames(self, fps: float | None) -> float | None:
        """The expected dwell time in frames (30 frames/s without ``fps``), or None."""
        if self.dwell_time is None:
            return None
        return max(float(self.dwell_time) * (fps or 30.0), 1.0)

    def model_options_for(self, n_states: int | None, fps: float | None,
                          variance: float | None = None) -> dict[str, Any]:
        """The state model's options: the seed, ``n_init``, ``ar_order``, the covariance
        prior (``covariance_prior`` × the features' mean ``variance``, when given) and the
        sticky prior of ``dwell_time`` for ``n_states`` where the backend takes them
        (None: left to :func:`~faceexpr.model_selection.select_n_states`), then
        ``model_options``."""
        accepted = state_model_class(self.state_model).accepted_options()
        options: dict[str, Any] = {"random_state": self.random_state}
        if "n_init" in accepted:
            options["n_init"] = int(self.n_init)
        if "ar_order" in accepted:
            options["ar_order"] = int(self.ar_order)
        if (self.covariance_prior is not None and variance is not None and variance > 0
                and "covariance_prior" in accepted):
            options["covariance_prior"] = float(self.covariance_prior) * float(variance)
        dwell = self.dwell_frames(fps)
        if n_states is not None and dwell is not None and "stickiness" in accepted:
            options.update(sticky_priors(dwell, n_states))
        return {**options, **self.model_options}

    def check_enough_frames(self, feats: Sequence[xr.DataArray],
                            n_states: Sequence[int]) -> None:
        """Refuse numbers of states the frames cannot support, before any fitting.

        A state's full covariance over D features needs at least D + 1 frames to be
        non-singular (a diagonal one 2), so K states need ``K (D + 1)`` frames with finite
        features (``2 K`` diagonal).
        """
        d = feats[0].sizes["features"]
        full = str(self.model_options.get("covariance_type", "full")) == "full"
        per_state = d + 1 if full else 2
        n = _finite_frames(feats)
        too_many = [k for k in n_states if k * per_state > n]
        if not too_many:
            return
        fits = n // per_state
        kind = "full" if full else "diagonal"
        raise InvalidFeaturesError(
            f"{max(too_many)} states with {kind} covariances over {d} features need at least "
            f"{max(too_many) * per_state} frames with finite features, and the recording(s) "
            f"have {n}: at most {fits} states fit; use fewer states (n_states, --n-states, "
            "--candidates)" + (", diagonal covariances (--covariance diag)" if full else "")
            + " or fewer features (pca, --pca)")

    def check(self) -> None:
        """Refuse a configuration that cannot work, before anything is read or fitted.

        Raises
        ------
        ParameterError
            Naming the parameter and what it takes: the number of states and candidates,
            criterion, PCA, thresholds and windows, and the state model's options (checked
            by building the model once).
        """
        k = self.n_states
        if k != "auto" and not (isinstance(k, (int, np.integer)) and not isinstance(k, bool)
                                and k >= 1):
            raise ParameterError(f"n_states must be a positive number or 'auto', got "
                                f"{k!r}")
        candidates = list(self.candidates)
        if k == "auto" and (not candidates or not all(
                isinstance(c, (int, np.integer)) and c >= 1 for c in candidates)):
            raise ParameterError(f"candidates must be positive whole numbers of states, got "
                                f"{candidates!r}")
        if self.criterion not in ("cv", "bic", "icl", "aic", "heldout"):
            raise ParameterError(f"criterion must be 'cv', 'bic', 'icl' or 'aic', got "
                                f"{self.criterion!r}")
        for name, value, low in (("cv_folds", self.cv_folds, 2), ("n_init", self.n_init, 1),
                                 ("stability", self.stability, 0),
                                 ("ar_order", self.ar_order, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                    or value < low:
                raise ParameterError(f"{name} must be a whole number >= {low}, got {value!r}")
        dwell = self.dwell_time
        if dwell is not None and not (isinstance(dwell, (int, float, np.number))
                                      and math.isfinite(dwell) and dwell > 0):
            raise ParameterError(f"dwell_time must be a positive number of seconds or None "
                                 f"(--dwell-time), got {dwell!r}")
        psi = self.covariance_prior
        if psi is not None and not (isinstance(psi, (int, float, np.number))
                                    and not isinstance(psi, bool) and math.isfinite(psi)
                                    and psi >= 0):
            raise ParameterError(f"covariance_prior must be a number >= 0 (a fraction of the "
                                 f"features' mean variance; --covariance-prior) or None, got "
                                 f"{psi!r}")
        if self.precision not in ("float32", "float64"):
            raise ParameterError(f"precision must be 'float32' or 'float64', got "
                                 f"{self.precision!r}")
        check_n_jobs(self.n_jobs)
        pca = self.pca
        if pca is not None and not (math.isfinite(pca) and pca >= 0 and (
                pca < 1 or float(pca).is_integer())):
            raise ParameterError(f"pca must be a whole number of components, a fraction of "
                                f"the variance below 1, or None (--pca; 0 there); got {pca!r}")
        c = self.confidence_threshold
        if c is not None and not (math.isfinite(c) and 0 <= c <= 1):
            raise ParameterError(f"confidence_threshold must be between 0 and 1 (--confidence), "
                                 f"got {c!r}")
        if self.max_gap is not None and self.max_gap < 0:
            raise ParameterError(f"max_gap must be >= 0 frames (--max-gap), got "
                                 f"{self.max_gap!r}")
        if self.smoothing is not None and self.smoothing_window < 1:
            raise ParameterError(f"smoothing_window must be >= 1 frame, got "
                                f"{self.smoothing_window!r}")
        taken = {"n_states", "random_state"} & set(self.model_options)
        if taken:
            raise ParameterError(
                f"model_options must not set {sorted(taken)}: give n_states and "
                "random_state (--n-states, --seed) to the pipeline itself")
        n = k if isinstance(k, int) else max(candidates)
        state_model(self.state_model, n_states=n, **self.model_options_for(n, None))

    def _loaded(self, inputs: PoseInput | Sequence[PoseInput], names: Sequence[str] | None
                ) -> tuple[list[xr.Dataset], list[str], list[Recording | None]]:
        """The poses of ``inputs`` (in the pipeline's precision), their unique session
        names and the Recordings among them."""
        items = _as_list(inputs)
        if names is not None and len(names) != len(items):
            raise FaceexprError(f"{len(names)} names for {len(items)} recordings")
        # the file's float64 arrays go as soon as their float32 copies exist
        poses = [with_precision(p, self.precision) for p in self.load(items)]
        if names is None:
            names = [session_name(i, j) for j, i in enumerate(items)]
        recordings = [i if isinstance(i, Recording) else None for i in items]
        dims = {n_spatial_dims(p) for p in poses if "cameras" not in p.dims}
        if len(dims) > 1:
            raise InvalidPoseError("all recordings must be 2D or all 3D, got a mix")
        return poses, unique_names(names), recordings

    @staticmethod
    def _predict(model: StateModel, feats: Sequence[xr.DataArray],
                 egos: Sequence[xr.Dataset]) -> tuple[list[xr.DataArray], list[xr.DataArray]]:
        """The Viterbi states and the posteriors of every recording, shot by shot (no
        transition across a cut)."""
        states, posteriors = [], []
        for f, e in zip(feats, egos):
            bounds = segment_bounds(e)
            s = _per_shot(model.predict, f, bounds)
            s.attrs["fps"] = e.attrs.get("fps", np.nan)
            states.append(s.assign_coords(frame=("time", e["frame"].values)))
            posteriors.append(_per_shot(model.predict_proba, f, bounds))
        return states, posteriors

    def run(self, inputs: PoseInput | Sequence[PoseInput],
            names: Sequence[str] | None = None) -> Result:
        """Run every stage on one recording or several (fitted as one model).

        Parameters
        ----------
        inputs
            Pose Datasets, pose files, (with an estimator) videos, or
            :class:`~faceexpr.recording.Recording` objects.
        names
            Session names (default: :func:`~faceexpr.recording.session_name`: a file's
            stem, a Dataset's source file's stem, else ``session0``…); made unique and
            safe as file names.
        """
        self.check()
        poses, names, recordings = self._loaded(inputs, names)
        bar = tqdm(total=len(poses) + 1, desc="faceexpr", disable=not self.progress,
                   leave=False)
        egos, template = self._clean_all(poses, recordings, None, bar)
        kin = [head_kinematics(e) for e in egos]
        made = self._features(egos, kin)
        made.template = template
        feats = made.features
        # each shot of a video is its own sequence: no transition is learned across a cut
        pieces = [f.isel(time=slice(a, b)) for f, e in zip(feats, egos)
                  for a, b in segment_bounds(e)]
        self.check_enough_frames(pieces, [self.n_states] if isinstance(self.n_states, int)
                                 else list(self.candidates))
        fps = get_fps(egos[0])
        variance = mean_variance(feats)
        selection = None
        if self.n_states == "auto":
            options = self.model_options_for(None, fps, variance)
            with warnings.catch_warnings():
                # the edge of the range becomes a diagnostic of the result
                warnings.simplefilter("ignore", EdgeOfRangeWarning)
                selection = select_n_states(
                    pieces, self.candidates, self.state_model, self.criterion,
                    cv_folds=self.cv_folds, progress=self.progress,
                    n_jobs=check_n_jobs(self.n_jobs), dwell_frames=self.dwell_frames(fps),
                    **options)
            model = selection.model
        else:
            options = self.model_options_for(int(self.n_states), fps, variance)
            # the fit's own bar (EM iterations, log-likelihood) where the backend has one
            accepted = state_model_class(self.state_model).accepted_options()
            if "progress" in accepted and "progress" not in options:
                options["progress"] = self.progress
            model = state_model(self.state_model, n_states=int(self.n_states),
                                **options).fit(pieces)
        states, posteriors = self._predict(model, feats, egos)
        bar.update()
        bar.close()
        result = Result(pipeline=self, sessions=list(names), poses=poses, egocentric=egos,
                        kinematics=kin, features=feats, states=states,
                        posteriors=posteriors, model=model,
                        selection=None if selection is None else selection.table,
                        model_selection=selection, transforms=made,
                        n_effective_frames=effective_frames(feats))
        if self.stability:
            result.check_stability(self.stability)  # its diagnostics included
        else:
            result.diagnostics = result.diagnose()
        return result


def _versions(backend: str) -> dict[str, str | None]:
    """Versions of faceexpr, its core libraries and the state model's libraries."""
    from importlib.metadata import PackageNotFoundError, version

    names = ["faceexpr", "numpy", "scipy", "pandas", "xarray", "scikit-learn",
             *state_model_class(backend).requires]
    out: dict[str, str | None] = {}
    for name in dict.fromkeys(names):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def _per_shot(method: Callable[[xr.DataArray], xr.DataArray], features: xr.DataArray,
              bounds: Sequence[tuple[int, int]]) -> xr.DataArray:
    """``method`` (predict, predict_proba) applied shot by shot and joined along time."""
    if len(bounds) == 1:
        return method(features)
    return xr.concat([method(features.isel(time=slice(a, b))) for a, b in bounds], dim="time")


@dataclass
class _Features:
    """The feature matrices of a run and what made them from the landmark columns."""

    features: list[xr.DataArray]
    names: list[str]
    """Columns before standardisation and PCA."""
    scaler: Standardizer | None = None
    pca: Any = None
    loadings: xr.DataArray | None = None
    """Each component as landmark displacements ``(components, landmarks, space)``."""
    template: xr.DataArray | None = None
    """The face ``(landmarks, space)`` every recording was aligned to (None unaligned)."""


def _loadings(pca: Any, names: Sequence[str], scaler: Standardizer | None,
              ego: xr.Dataset) -> xr.DataArray | None:
    """The PCA's components as landmark displacements (None without PCA or landmarks)."""
    if pca is None:
        return None
    with contextlib.suppress(ValueError, KeyError):  # no landmark columns
        return component_loadings(pca, names, None if scaler is None else scaler.scale_,
                                  space=[str(v) for v in ego["space"].values])
    return None


def _refeatured(feats: Sequence[xr.DataArray], fitted: _Features,
                egos: Sequence[xr.Dataset]) -> _Features:
    """The fitted columns of ``feats``, standardised and projected as the fit was."""
    out = []
    for f, ego in zip(feats, egos):
        have = {str(n) for n in f["features"].values}
        missing = [n for n in fitted.names if n not in have]
        if missing:
            raise InvalidFeaturesError(
                f"{_sources([ego])}: other feature columns than the model's: "
                f"{len(missing)} of its {len(fitted.names)} are missing ({_few(missing)})")
        f = f.sel(features=fitted.names)
        if fitted.scaler is not None:
            f = fitted.scaler.transform(f)
        if fitted.pca is not None:
            f = project_pca(f, fitted.pca)
        out.append(f)
    if _finite_frames(out) == 0:
        raise InvalidFeaturesError(f"nothing to label in {_sources(egos)}: no frame has "
                                   "every landmark visible")
    return _Features(out, list(fitted.names), fitted.scaler, fitted.pca, fitted.loadings,
                     fitted.template)


def _finite_frames(feats: Sequence[xr.DataArray]) -> int:
    """Frames whose every feature is finite, over all recordings."""
    return int(sum(np.isfinite(np.asarray(f.values)).all(axis=1).sum() for f in feats))


def _sources(poses: Sequence[xr.Dataset]) -> str:
    files = [str(f) for p in poses for f in (p.attrs.get("source_files") or [])]
    if not files:
        return "the recording(s)"
    return ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")


@dataclass
class Result:
    """Everything a :class:`Pipeline` run produced, with the summary tables."""

    pipeline: Pipeline
    sessions: list[str]
    poses: list[xr.Dataset]
    egocentric: list[xr.Dataset]
    kinematics: list[xr.Dataset]
    features: list[xr.DataArray]
    states: list[xr.DataArray]
    posteriors: list[xr.DataArray]
    model: StateModel
    selection: pd.DataFrame | None = None
    """Model-selection table when several numbers of states were compared."""
    model_selection: Selection | None = field(default=None, repr=False)
    """The whole selection (table, folds, models) when several K were compared."""
    transforms: _Features | None = field(default=None, repr=False)
    n_effective_frames: float | None = None
    """Independent frames the features are worth, from their autocorrelation."""
    diagnostics: list[Diagnostic] = field(default_factory=list)
    """Coded warnings and notes about the fit (:func:`faceexpr.diagnostics.diagnose`)."""
    stability: Stability | None = None
    """Reproducibility of the states under refits (:meth:`check_stability`)."""
    applied_from: FittedModel | None = field(default=None, repr=False)
    """The fitted model that labelled these recordings (:meth:`FittedModel.apply`), or
    None for a fit."""

    @classmethod
    def load(cls, folder: PathLike) -> FittedModel:
        """The fitted pipeline of a result saved by :meth:`save`, to label new recordings
        with its states (:meth:`FittedModel.apply`); read, never refitted, never
        unpickled."""
        return FittedModel.load(folder)

    @property
    def fitted(self) -> FittedModel:
        """This result's fitted pipeline (template, standardisation, PCA, state model),
        to label other recordings with the same states (:meth:`FittedModel.apply`)."""
        if self.applied_from is not None:
            return self.applied_from
        if self.transforms is None:
            raise FaceexprError("this result holds no transforms (it was not made by "
                                "Pipeline.run), so it cannot label other recordings")
        if self.pipeline.align and self.transforms.template is None:
            raise FaceexprError("this result holds no alignment template, so it cannot "
                                "label other recordings")
        ego = self.egocentric[0]
        reference = str(ego.attrs.get("egocentric_reference")
                        or self.pipeline.reference_of(self.poses[0]))
        pipe = replace(self.pipeline, n_states=self.n_states, reference=reference)
        return FittedModel(pipe, self.model, replace(self.transforms, features=[]),
                           [str(n) for n in ego["landmarks"].values],
                           [str(v) for v in ego["space"].values],
                           str(ego.attrs.get("units", "")), self.fps)

    def apply(self, inputs: PoseInput | Sequence[PoseInput],
              names: Sequence[str] | None = None, **options: Any) -> Result:
        """Label other recordings with this result's states, without refitting:
        ``self.fitted.apply(inputs, names, **options)`` (:meth:`FittedModel.apply`)."""
        return self.fitted.apply(inputs, names, **options)

    def diagnose(self) -> list[Diagnostic]:
        """The diagnostics of this result, computed afresh."""
        return diagnose(self.model, self.features, self.states, self.egocentric,
                        self.kinematics, self.model_selection, self.n_effective_frames,
                        self.fps, self.stability)

    def check_stability(self, n_resamples: int = 10, **options: Any) -> Stability:
        """Refit on ``n_resamples`` moving-block bootstrap resamples, the two halves and
        two other seeds (:func:`faceexpr.state_stability.stability`), keep the result as
        :attr:`stability` and return it."""
        self.stability = refit_stability(
            self.features, self.states, backend=self.model.name, n_states=self.n_states,
            model_options=self.refit_options(), egocentric=self.egocentric,
            n_resamples=n_resamples, random_state=self.pipeline.random_state,
            progress=self.pipeline.progress, **options)
        self.diagnostics = self.diagnose()
        return self.stability

    def refit_options(self) -> dict[str, Any]:
        """The fitted model's options without its seed and progress bar: what a refit
        of the same model (:meth:`check_stability`) takes."""
        return {k: v for k, v in self.model.options.items()
                if k not in ("progress", "random_state")}

    @functools.cached_property
    def meaning(self) -> analysis.StateMeaning:
        """What the states mean, computed once (:func:`faceexpr.analysis.state_meaning`):
        how alike they are, where the two most alike differ, their typical orders and
        the entropy rate of the sequence."""
        seed = self.pipeline.random_state
        return analysis.state_meaning(self, seed=0 if seed is None else int(seed))

    def state_cards(self) -> list[StateCard]:
        """Every state in plain language (:func:`faceexpr.state_cards.state_cards`): named
        face measures against the mean face, head pose and speed, geometric FACS proxies
        and, with OpenFace input, the action units."""
        return list(self._state_cards)

    @functools.cached_property
    def _state_cards(self) -> tuple[StateCard, ...]:
        # computed once: the summary, state_cards.csv and the report all show them
        return tuple(make_state_cards(self.egocentric, self.kinematics, self.states,
                                      self.n_states, self.fps))

    @property
    def loadings(self) -> xr.DataArray | None:
        """Each principal component as landmark displacements (None without PCA)."""
        return None if self.transforms is None else self.transforms.loadings

    @property
    def n_states(self) -> int:
        """Number of states of the fitted model."""
        return self.model.n_states

    @property
    def fps(self) -> float | None:
        """Frame rate of the first recording (None when unknown)."""
        return get_fps(self.egocentric[0])

    @property
    def expressions(self) -> xr.DataArray:
        """Average egocentric face of every state ``(states, landmarks, space)``."""
        return analysis.state_means(self.egocentric, self.states, self.n_states)

    @property
    def frequencies(self) -> pd.DataFrame:
        """Absolute and relative frequency of every state."""
        return analysis.state_frequencies(self.states, self.n_states, fps=self.fps)

    @property
    def bouts(self) -> pd.DataFrame:
        """One row per uninterrupted stay in a state."""
        out = analysis.bouts(self.states, fps=self.fps)
        out["session"] = [self.sessions[i] for i in out["session"]]
        return out

    @property
    def dwell_times(self) -> pd.DataFrame:
        """Bout-length statistics per state."""
        return analysis.dwell_times(self.states, self.n_states, fps=self.fps)

    @property
    def transitions(self) -> xr.DataArray:
        """Transition probabilities between consecutive frames (from_state, to_state)."""
        return analysis.transition_matrix(self.states, self.n_states)

    @property
    def transition_counts(self) -> xr.DataArray:
        """Counts of consecutive-frame state pairs."""
        return analysis.transition_counts(self.states, self.n_states)

    @property
    def kinematics_by_state(self) -> pd.DataFrame:
        """Head kinematics statistics per state."""
        return pd.concat([analysis.kinematics_by_state(k, s, self.n_states)
                          for k, s in zip(self.kinematics, self.states)], keys=self.sessions,
                         names=["session", "state"])

    def state_table(self) -> pd.DataFrame:
        """Frame-by-frame states of every session (session, frame, time, state, p_max)."""
        parts = []
        for name, s, p in zip(self.sessions, self.states, self.posteriors):
            post = np.asarray(p.values)
            prob = np.full(len(post), np.nan)
            known = np.isfinite(post).any(axis=1)
            prob[known] = np.nanmax(post[known], axis=1)
            parts.append(pd.DataFrame({"session": name, "frame": s["frame"].values,
                                       "time": s["time"].values, "state": s.values,
                                       "probability": prob}))
        return pd.concat(parts, ignore_index=True)

    def coverage(self) -> pd.DataFrame:
        """Per session: frames, frames with landmarks, frames with a state, shots, and
        where the pose estimator recorded why (:data:`~faceexpr.data.DROP_REASONS`), the
        frames dropped for each reason."""
        rows = []
        for name, pose, ego, states in zip(self.sessions, self.poses, self.egocentric,
                                           self.states):
            n = int(states.size)
            seen = np.isfinite(np.asarray(ego["position"].values)).any(axis=(-2, -1))
            row: dict[str, Any] = {
                "session": name, "frames": n, "with_landmarks": int(seen.sum()),
                "with_state": int((states.values >= 0).sum()),
                "share_with_state": float((states.values >= 0).mean()) if n else np.nan,
                "shots": len(segment_bounds(ego))}
            counts = drop_counts(pose)
            if counts is not None:
                row.update({f"dropped_{k}": v for k, v in counts.items() if k != "kept"})
            rows.append(row)
        return pd.DataFrame(rows)

    def summary(self) -> dict[str, Any]:
        """What was fitted, on how much data, how well, what to doubt, and how it was
        made: the diagnostics, the selection, the stability and the provenance."""
        model = self.model
        return {
            "sessions": self.sessions, "n_states": self.n_states,
            "state_model": model.name, "model_options": model.options,
            "n_frames": int(sum(s.size for s in self.states)),
            "n_frames_with_state": int(sum((s.values >= 0).sum() for s in self.states)),
            "n_effective_frames": self.n_effective_frames,
            "coverage": self.coverage().to_dict(orient="records"),
            "n_features": len(model.feature_names_ or []),
            "n_parameters": model.n_parameters(),
            "log_likelihood": model.score(self.features),
            "dims": n_spatial_dims(self.egocentric[0]),
            "fps": self.fps,
            "fps_note": None if self.fps else (
                "no frame rate in the input: times are frame numbers, the seconds and "
                "bouts-per-minute columns are empty (give --fps / fps=)"),
            "n_states_chosen_by": None if self.selection is None else self.pipeline.criterion,
            "diagnostics": [d.to_dict() for d in self.diagnostics],
            "selection": None if self.model_selection is None else {
                **self.model_selection.criteria_summary(),
                "cv_folds": self.pipeline.cv_folds,
                "table": self.model_selection.table.to_dict(orient="records")},
            "stability": None if self.stability is None else self.stability.to_dict(),
            "state_cards": [card.to_dict() for card in self.state_cards()],
            "typical_sequences_above_chance": self.meaning.sequences[
                self.meaning.sequences["above_chance"]].to_dict(orient="records")
            if len(self.meaning.sequences) else [],
            "applied_from": None if self.applied_from is None else {
                "folder": None if self.applied_from.folder is None
                else str(self.applied_from.folder),
                "fitted_with_faceexpr": self.applied_from.faceexpr_version},
            "provenance": self.provenance(),
            "history": list(self.egocentric[0].attrs.get("faceexpr_history", [])),
        }

    def provenance(self) -> dict[str, Any]:
        """Every step with its parameters, the seeds and restarts, and the versions of
        faceexpr and of the libraries it ran."""
        pipe, model = self.pipeline, self.model
        made = self.transforms
        fps = self.fps
        steps: list[dict[str, Any]] = [
            {"step": "load", "estimator": pipe.estimator,
             "estimator_options": pipe.estimator_options,
             "files": [f for p in self.poses for f in p.attrs.get("source_files", [])]},
        ]
        if self.applied_from is not None:
            fitted = self.applied_from
            steps.append({"step": "apply", "refitted": False,
                          "model_folder": None if fitted.folder is None else str(fitted.folder),
                          "fitted_with_faceexpr": fitted.faceexpr_version,
                          "fitted_fps": fitted.fps})
        if any("cameras" in p.dims for p in self.poses):
            steps.append({"step": "triangulate", "triangulator": pipe.triangulator,
                          "options": pipe.triangulator_options})
        steps += [
            {"step": "mask_low_confidence", "confidence_threshold": pipe.confidence_threshold},
            {"step": "interpolate_gaps", "max_gap_frames": pipe.max_gap},
            {"step": "smooth", "method": pipe.smoothing,
             "window_frames": pipe.smoothing_window if pipe.smoothing else None},
            {"step": "egocentric", "reference": pipe.reference_of(self.poses[0]),
             "align": pipe.align,
             "align_landmarks": None if pipe.align_landmarks is None
             else list(pipe.align_landmarks),
             "template": None if not pipe.align else (
                 "the fitted model's template" if self.applied_from is not None
                 else "the first recording's mean aligned face"),
             "head_angle_frame": self.egocentric[0].attrs.get("head_angle_frame")},
            {"step": "features", "columns": None if made is None else made.names,
             "kinematic_features": list(pipe.kinematic_features)},
        ]
        scaler = None if made is None else made.scaler
        steps.append({"step": "standardize", "enabled": pipe.standardize,
                      "mean": None if scaler is None else scaler.mean_.tolist(),
                      "scale": None if scaler is None else scaler.scale_.tolist()})
        pca = None if made is None else made.pca
        steps.append({
            "step": "pca", "requested": pipe.pca,
            "n_components": None if pca is None else int(pca.n_components_),
            "explained_variance_ratio": None if pca is None
            else [float(v) for v in pca.explained_variance_ratio_],
            "components": None if pca is None else np.asarray(pca.components_).tolist(),
            "random_state": pipe.random_state})
        if self.model_selection is not None:
            sel = self.model_selection
            steps.append({"step": "select_n_states", "criterion": sel.criterion,
                          "candidates": sel.candidates, "cv_folds": pipe.cv_folds,
                          "chosen": sel.best})
        defaults = {name: opt.default for name, opt in
                    state_model_class(model.name).accepted_options().items()}
        priors = {name: model.options.get(name, defaults.get(name))
                  for name in ("stickiness", "transition_concentration", "covariance_prior")
                  if name in defaults}
        steps.append({
            "step": "state_model", "backend": model.name, "n_states": model.n_states,
            "options": {k: v for k, v in model.options.items() if k != "progress"},
            "priors": priors,
            # how ψ was set: this fraction of the features' mean variance (unless the
            # model options named it)
            "covariance_prior_fraction": (
                None if "covariance_prior" in pipe.model_options else pipe.covariance_prior),
            "features_mean_variance": mean_variance(self.features),
            "dwell_time_s": pipe.dwell_time,
            "dwell_frames": pipe.dwell_frames(fps) if priors else None,
            "fps_assumed_for_prior": None if fps or not priors else 30.0,
            "random_state": model.random_state,
            "n_init": model.options.get("n_init"),
            "restart_log_likelihoods": getattr(model, "restart_log_likelihoods_", None),
            "n_iter": getattr(model, "n_iter_", None),
            "converged": getattr(model, "converged_", None)})
        return {"steps": steps, "versions": _versions(model.name)}

    def save(
        self,
        out: PathLike,
        overwrite: bool = False,
        figures: bool = True,
        formats: Sequence[str] = ("png",),
        videos: Mapping[str, PathLike] | None = None,
        scheme: SchemeLike | str = "auto",
    ) -> Path:
        """Write tables (CSV), arrays (netCDF), the model, figures and ``report.html``.

        Everything is written to a temporary folder beside ``out`` and moved into place
        only when complete, so a failure leaves no half-written result.

        Parameters
        ----------
        out
            Output folder; an existing non-empty folder needs ``overwrite``.
        overwrite
            Replace an existing folder.
        figures
            Draw the figures (:func:`faceexpr.report.write_figures`) and the report page.
        formats
            Figure file formats, e.g. ``("png", "svg")``.
        videos
            Session name → its video: also write a labelled video per session.
        scheme
            Skeleton of the faces in figures and videos (``"auto"``: recognise it, or for
            a result of :meth:`FittedModel.apply` the fit's).

        The folder also holds what labels new recordings with the same states
        (:meth:`Result.load`): ``model.npz`` (the state model), ``pipeline.json`` (the
        cleaning parameters, landmarks, axes, units, frame rate and feature columns) and
        ``transforms.npz`` (the alignment template, standardisation and PCA).
        """
        inputs = [f for pose in self.poses for f in pose.attrs.get("source_files", [])]
        inputs += [os.fspath(v) for v in (videos or {}).values()]
        applied = self.applied_from
        if applied is not None and applied.folder is not None:
            inputs.append(os.fspath(applied.folder / FITTED_JSON))  # never replace the model
            if isinstance(scheme, str) and applied.scheme != "auto":
                scheme = applied.scheme  # the fit's skeleton
        location = check_output_folder(out, overwrite, inputs, size=self._estimated_bytes(
            figures, videos))
        target = location.path
        with signals_interrupt(), make_parents(location):
            tmp = temporary_path(target.parent, "")
            tmp.mkdir()
            tmp.chmod(0o777 & ~_umask())  # a result folder follows the umask
            old: Path | None = None
            try:
                self._write(tmp, scheme)
                if figures:
                    found = write_figures(self, tmp, formats, scheme, videos,
                                          progress=self.pipeline.progress)
                    write_report(self, tmp, found)
                if target.exists():
                    # a fresh name of our own: never an existing folder of someone else's
                    old = temporary_path(target.parent, ".old")
                    target.rename(old)
                tmp.rename(target)
            finally:
                if old is not None and not target.exists():
                    old.rename(target)  # interrupted between the two renames
                shutil.rmtree(tmp, ignore_errors=True)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        return Path(out)

    def _estimated_bytes(self, figures: bool, videos: Mapping[str, PathLike] | None) -> int:
        arrays = sum(int(d.nbytes) for group in (self.egocentric, self.kinematics)
                     for d in group)
        arrays += sum(int(p.nbytes) for p in self.posteriors)
        size = 3 * arrays + (5_000_000 + 400_000 * len(self.sessions) if figures else 0)
        for video in (videos or {}).values() if figures else ():
            with contextlib.suppress(OSError):
                size += 2 * os.stat(video).st_size
        return size

    def _write(self, folder: Path, scheme: SchemeLike | str = "auto") -> None:
        _csv(self.state_table(), folder / "states.csv", index=False)
        _csv(self.frequencies, folder / "frequencies.csv")
        _csv(self.dwell_times, folder / "dwell_times.csv")
        _csv(self.bouts, folder / "bouts.csv", index=False)
        for name, matrix in (("transitions", self.transitions),
                             ("transition_counts", self.transition_counts)):
            _csv(pd.DataFrame(matrix.to_pandas()), folder / f"{name}.csv")
        _csv(self.kinematics_by_state, folder / "kinematics_by_state.csv")
        expr = self.expressions
        _csv(expr.to_dataframe(name="position")["position"].unstack("space"),
             folder / "expressions.csv")
        to_netcdf(expr.to_dataset(name="expression"), folder / "expressions.nc")
        for name, ego, s, p in zip(self.sessions, self.egocentric, self.states,
                                   self.posteriors):
            ds = with_history(ego, "pipeline.states", n_states=self.n_states)
            ds["state"] = s.drop_vars("frame", errors="ignore")
            ds["posterior"] = p
            session = folder / SESSIONS / name
            session.mkdir(parents=True)
            to_netcdf(ds, session / f"{name}.nc")
        self.model.save(folder / "model.npz")
        if self.transforms is not None:
            self.fitted.write(folder, scheme)
        if self.selection is not None:
            _csv(self.selection, folder / "model_selection.csv", index=False)
        if self.model_selection is not None and len(self.model_selection.folds):
            _csv(self.model_selection.folds, folder / "model_selection_folds.csv",
                 index=False)
        if self.stability is not None:
            _csv(self.stability.per_state, folder / "stability.csv")
            _csv(self.stability.refits, folder / "stability_refits.csv", index=False)
        _csv(diagnostics_table(self.diagnostics), folder / "diagnostics.csv", index=False)
        _csv(cards_table(self.state_cards()), folder / "state_cards.csv", index=False)
        meaning = self.meaning
        if meaning.distances is not None and meaning.comparison is not None:
            _csv(meaning.distances.to_frame(), folder / "state_distances.csv", index=False)
            _csv(meaning.distances.merges(), folder / "state_clusters.csv", index=False)
            _csv(meaning.comparison.table, folder / "state_difference.csv")
        _csv(meaning.sequences, folder / "typical_sequences.csv", index=False)
        _csv(meaning.entropy, folder / "entropy_rates.csv")
        _csv(pd.DataFrame(meaning.bout_transitions.to_pandas()),
             folder / "bout_transitions.csv")
        (folder / "summary.json").write_text(json.dumps(self.summary(), indent=2, default=str))


@dataclass
class FittedModel:
    """A fitted pipeline that labels new recordings with a result's states, unrefitted.

    It holds what :meth:`Pipeline.run` learned besides the state model: the cleaning
    parameters, the alignment template (the first recording's mean aligned face), the
    feature columns, the standardisation and the PCA, with the landmarks, axes, units
    and frame rate of the recordings it was fitted on. :meth:`Result.load` reads it from
    a saved result (``pipeline.json``, ``transforms.npz``, ``model.npz``; arrays and JSON,
    never pickles); :attr:`Result.fitted` makes it from a result in memory.

    Examples
    --------
    >>> import faceexpr as fe
    >>> from faceexpr.synthetic.faces import simulate
    >>> result = fe.Pipeline(n_states=3, progress=False).run(
    ...     simulate(900, n_expressions=3, seed=1).pose3d)
    >>> new = result.fitted.apply(simulate(900, n_expressions=3, seed=2).pose3d)
    >>> new.n_states, new.states[0].size
    (3, 900)
    """

    pipeline: Pipeline
    """The pipeline's parameters (``n_states`` the fitted number, ``reference`` the
    landmark it chose)."""
    model: StateModel
    transforms: _Features
    """Feature columns, standardisation, PCA and template (its ``features`` empty)."""
    landmarks: list[str]
    space: list[str]
    units: str
    fps: float | None = None
    scheme: Any = "auto"
    """Skeleton of the faces in figures: ``"auto"``, None or chains of landmark names."""
    folder: Path | None = None
    """The results folder it was read from (None when made in memory)."""
    faceexpr_version: str | None = None
    """The version of faceexpr that fitted it."""

    @classmethod
    def load(cls, folder: PathLike) -> FittedModel:
        """Read the fitted pipeline of a results folder written by :meth:`Result.save`.

        Raises
        ------
        MissingFileError
            When the folder or one of its three files is missing.
        FileFormatError
            Naming the file and what is wrong with it (a damaged or edited folder).
        """
        folder = Path(os.fspath(folder))
        meta, arrays = read_fitted(folder)
        path = folder / FITTED_JSON
        model_path = folder / "model.npz"
        if not model_path.is_file():
            raise MissingFileError(f"{folder}: no model.npz (the state model of the fit)")
        model = load_state_model(model_path)
        saved = meta["pipeline"]
        params = {k: saved[k] for k in FITTED_PIPELINE_FIELDS if k in saved}
        params["kinematic_features"] = tuple(params["kinematic_features"])
        try:
            pipe = Pipeline(**params)
            pipe.check()
        except (FaceexprError, TypeError, ValueError) as exc:
            raise FileFormatError(f"{path}: {one_line(exc)}") from None
        if model.n_states != pipe.n_states or model.name != pipe.state_model:
            raise FileFormatError(
                f"{model_path}: a {model.name} model of {model.n_states} states, but "
                f"{FITTED_JSON} describes a {pipe.state_model} model of {pipe.n_states}")
        names = list(meta["feature_names"])
        scaler = None
        if pipe.standardize:
            scaler = Standardizer()
            scaler.names_ = names
            scaler.mean_ = np.asarray(arrays["standardizer_mean"], dtype=np.float64)
            scaler.scale_ = np.asarray(arrays["standardizer_scale"], dtype=np.float64)
        pca = _saved_pca(arrays, len(names), pipe.random_state) if pipe.pca else None
        columns = names if pca is None else [f"pc{i + 1}" for i in range(pca.n_components_)]
        if model.feature_names_ != columns:
            raise FileFormatError(
                f"{model_path}: the state model's {len(model.feature_names_ or [])} features "
                f"({_few(model.feature_names_ or [])}) are not the {len(columns)} columns "
                f"the transforms make ({_few(columns)})")
        landmarks, space = list(meta["landmarks"]), list(meta["space"])
        template = None
        if pipe.align:
            template = xr.DataArray(arrays["template"], dims=("landmarks", "space"),
                                    coords={"landmarks": landmarks, "space": space},
                                    name="position")
        ego_like = xr.Dataset(coords={"space": space})
        made = _Features([], names, scaler, pca, _loadings(pca, names, scaler, ego_like),
                         template)
        return cls(pipe, model, made, landmarks, space, str(meta["units"]), meta["fps"],
                   meta["scheme"], folder, meta["faceexpr_version"])

    @property
    def dims(self) -> int:
        """2 or 3: the spatial dimensions of the recordings it was fitted on."""
        return len(self.space)

    def _where(self) -> str:
        return "the model" + (f" in {self.folder}" if self.folder is not None else "")

    def check_pose(self, pose: xr.Dataset, name: str = "recording") -> None:
        """Refuse a pose the model cannot label: other landmarks, 2D against 3D, other
        axes or units, or (with kinematic features) a frame rate where the fit had none
        or the reverse. A pose of several camera views is checked for its landmarks
        here and for the rest once triangulated.

        Raises
        ------
        InvalidPoseError
            One line naming the recording (its files, else ``name``) and what differs.
        """
        what = _sources([pose]) if pose.attrs.get("source_files") else name
        names = [str(n) for n in pose["landmarks"].values]
        if set(names) != set(self.landmarks):
            missing = [n for n in self.landmarks if n not in set(names)]
            extra = [n for n in names if n not in set(self.landmarks)]
            parts = [f"{label} {len(group)} ({_few(group)})" for label, group in
                     (("missing", missing), ("extra", extra)) if group]
            raise InvalidPoseError(
                f"{what}: other landmarks than {self._where()} was fitted on "
                f"({len(names)} here, {len(self.landmarks)} there): {'; '.join(parts)}")
        if "cameras" in pose.dims:
            return
        space = [str(v) for v in pose["space"].values]
        if space != self.space:
            raise InvalidPoseError(
                f"{what}: {len(space)}D landmarks ({', '.join(space)}), but "
                f"{self._where()} was fitted on {self.dims}D landmarks "
                f"({', '.join(self.space)})")
        units = str(pose.attrs.get("units", ""))
        if units and self.units and units != self.units:
            raise InvalidPoseError(f"{what}: landmarks in {units!r}, but {self._where()} "
                                   f"was fitted on landmarks in {self.units!r}")
        if self.pipeline.kinematic_features and (get_fps(pose) is None) != (self.fps is None):
            per = ("per second here and per frame in the fit" if self.fps is None
                   else "per frame here (no frame rate: give fps=, --fps) and per second "
                        "in the fit")
            raise InvalidPoseError(f"{what}: the head kinematics features are {per} "
                                   f"({self._where()})")

    def apply(self, inputs: PoseInput | Sequence[PoseInput],
              names: Sequence[str] | None = None, *, progress: bool | None = None,
              estimator: str | None = None,
              estimator_options: Mapping[str, Any] | None = None) -> Result:
        """Label recordings with the fitted states: clean, align to the template,
        standardise and project with the fit's transforms, and predict (Viterbi, shot by
        shot) with the fitted state model; nothing is refitted.

        Parameters
        ----------
        inputs, names
            As :meth:`Pipeline.run` takes them.
        progress
            Show progress bars (default: the pipeline's).
        estimator, estimator_options
            The pose estimator that reads inputs that are not Datasets and its options
            (default: the fit's).

        Returns
        -------
        Result
            With the same tables, figures and report as a fit (:meth:`Result.save`), no
            model selection and no stability check, and :attr:`Result.applied_from`.

        Raises
        ------
        InvalidPoseError, InvalidFeaturesError
            One line naming the recording and what differs from the fit.
        """
        changes: dict[str, Any] = {}
        if progress is not None:
            changes["progress"] = progress
        if estimator is not None:
            changes["estimator"] = estimator
        if estimator_options is not None:
            changes["estimator_options"] = dict(estimator_options)
        pipe = replace(self.pipeline, **changes)
        poses, names, recordings = pipe._loaded(inputs, names)
        # messages name a recording by its files, else by its session name
        labels = [", ".join(map(str, r.files)) if r is not None else f"recording {n!r}"
                  for r, n in zip(recordings, names)]
        for pose, label in zip(poses, labels):
            self.check_pose(pose, label)
        bar = tqdm(total=len(poses) + 1, desc="faceexpr", disable=not pipe.progress,
                   leave=False)
        egos, _ = pipe._clean_all(poses, recordings, self.transforms.template, bar)
        for pose, ego, label in zip(poses, egos, labels):
            if "cameras" in pose.dims:  # what the triangulation made
                self.check_pose(ego, label)
        kin = [head_kinematics(e) for e in egos]
        made = pipe._features(egos, kin, fitted=self.transforms)
        states, posteriors = pipe._predict(self.model, made.features, egos)
        bar.update()
        bar.close()
        result = Result(pipeline=pipe, sessions=names, poses=poses, egocentric=egos,
                        kinematics=kin, features=made.features, states=states,
                        posteriors=posteriors, model=self.model, transforms=made,
                        n_effective_frames=effective_frames(made.features),
                        applied_from=self)
        result.diagnostics = result.diagnose()
        return result

    def write(self, folder: Path, scheme: SchemeLike | str = "auto") -> None:
        """Write ``pipeline.json`` and ``transforms.npz`` into ``folder`` (the state model
        is ``model.npz``, written by :meth:`Result.save`)."""
        pipe, made = self.pipeline, self.transforms
        meta = {
            "format": FITTED_FORMAT[0], "format_version": FITTED_FORMAT[1],
            "faceexpr_version": _versions(self.model.name)["faceexpr"],
            "pipeline": {name: getattr(pipe, name) for name in FITTED_PIPELINE_FIELDS},
            "landmarks": self.landmarks, "space": self.space, "units": self.units,
            "fps": self.fps, "scheme": _scheme_json(scheme, self.landmarks),
            "feature_names": made.names}
        (folder / FITTED_JSON).write_text(json.dumps(meta, indent=2, default=str))
        # each array in its own float type: float32 PCA components give the fit's numbers
        arrays: dict[str, Any] = {}
        if made.template is not None:
            arrays["template"] = np.asarray(made.template.values)
        if made.scaler is not None:
            arrays.update(standardizer_mean=made.scaler.mean_,
                          standardizer_scale=made.scaler.scale_)
        if made.pca is not None:
            pca = made.pca
            arrays.update(pca_components=pca.components_, pca_mean=pca.mean_,
                          pca_explained_variance=pca.explained_variance_,
                          pca_explained_variance_ratio=pca.explained_variance_ratio_,
                          pca_singular_values=pca.singular_values_,
                          pca_noise_variance=np.asarray(pca.noise_variance_))
        savez: Callable[..., None] = np.savez  # names of the caller's choosing, all arrays
        with open(folder / FITTED_ARRAYS, "wb") as fh:  # a handle: numpy adds no suffix
            savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})


def _saved_pca(arrays: Mapping[str, Any], n_features: int, random_state: int | None) -> Any:
    """A scikit-learn PCA with the saved components (what its ``transform`` uses)."""
    from sklearn.decomposition import PCA

    components = arrays["pca_components"]
    pca = PCA(n_components=int(components.shape[0]), random_state=random_state)
    pca.components_ = components
    pca.mean_ = arrays["pca_mean"]
    pca.explained_variance_ = arrays["pca_explained_variance"]
    pca.explained_variance_ratio_ = arrays["pca_explained_variance_ratio"]
    pca.singular_values_ = arrays["pca_singular_values"]
    pca.noise_variance_ = arrays["pca_noise_variance"][()]
    pca.n_components_ = int(components.shape[0])
    pca.n_features_in_ = n_features
    return pca


def _scheme_json(scheme: SchemeLike | str, landmarks: Sequence[str]) -> Any:
    """The figures' skeleton as JSON: ``"auto"`` where it is recognised from the names."""
    if scheme is None or isinstance(scheme, str):
        return None if scheme is None else "auto"
    if isinstance(scheme, LandmarkScheme) and guess_scheme(landmarks) == scheme:
        return "auto"
    return skeleton_chains(scheme)


def _few(names: Sequence[str], n: int = 4) -> str:
    """The first ``n`` names, then how many more."""
    more = f" and {len(names) - n} more" if len(names) > n else ""
    return ", ".join(names[:n]) + more


def stability(result: Result, n_resamples: int = 10, **options: Any) -> Stability:
    """How reproducible the states of ``result`` are: refits on ``n_resamples``
    moving-block bootstrap resamples, the two halves and two other seeds, states matched
    to the result's (Hungarian on means); kept as ``result.stability``.

    ``options`` go to :func:`faceexpr.state_stability.stability` (``block_frames``,
    ``threshold``, ``halves``, ``seeds``).

    Examples
    --------
    >>> import faceexpr as fe
    >>> from faceexpr.synthetic.faces import simulate
    >>> sim = simulate(900, n_expressions=3)
    >>> result = fe.Pipeline(n_states=3, progress=False).run(sim.pose3d)
    >>> stab = fe.stability(result, n_resamples=4)
    >>> stab.per_state["reappearance"].tolist()
    [1.0, 1.0, 1.0]
    """
    return result.check_stability(n_resamples, **options)

