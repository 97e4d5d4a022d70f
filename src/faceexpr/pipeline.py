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
import json
import math
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from faceexpr import analysis
from faceexpr._files import (
    OutputLocation,
    check_output,
    make_parents,
    signals_interrupt,
    temporary_path,
)
from faceexpr._typing import PathLike
from faceexpr.data import (
    get_fps,
    n_spatial_dims,
    validate_pose,
    with_history,
    with_precision,
)
from faceexpr.errors import (
    FaceexprError,
    InvalidFeaturesError,
    InvalidPoseError,
    ParameterError,
)
from faceexpr.features import (
    drop_constant_columns,
    feature_matrix,
    head_kinematics,
    reduce_pca,
    standardize,
)
from faceexpr.interfaces import PoseEstimator, StateModel
from faceexpr.io import to_netcdf
from faceexpr.model_selection import check_n_jobs, select_n_states
from faceexpr.preprocess import egocentric, interpolate_gaps, mask_low_confidence, smooth
from faceexpr.recording import Recording, session_name, unique_names
from faceexpr.registry import pose_estimator, state_model, state_model_class, triangulator
from faceexpr.report import SESSIONS, write_figures, write_report
from faceexpr.schemes import SchemeLike, guess_scheme

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
        Numbers of states tried by ``n_states="auto"``, and ``"bic"``, ``"aic"`` or
        ``"heldout"``.
    state_model
        Registered StateModel backend name (``fe.backends()`` lists them); the default
        ``"native"`` is faceexpr's own engine (the same Gaussian HMM as ``"hmmlearn"``,
        several times faster).
    model_options
        Extra options of the state model (e.g. ``covariance_type``, ``n_init``).
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
        Z-score features before modelling (pooled over recordings).
    pca
        Number of principal components (or fraction of variance) to model; ``None``
        models the standardized coordinates. Aligned coordinates carry exact linear
        constraints and mostly noise dimensions; a few components keep the expressions
        and make full-covariance HMMs stable.
    random_state
        Seed of the state model and PCA.
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

    n_states: int | Literal["auto"] = 9
    candidates: Sequence[int] = tuple(range(2, 13))
    criterion: Literal["bic", "aic", "heldout"] = "bic"
    state_model: str = "native"
    model_options: dict[str, Any] = field(default_factory=dict)
    estimator: str = "file"
    estimator_options: dict[str, Any] = field(default_factory=dict)
    triangulator: str | None = None
    triangulator_options: dict[str, Any] = field(default_factory=dict)
    confidence_threshold: float | None = 0.5
    max_gap: int | None = 10
    smoothing: Literal["median", "savgol"] | None = None
    smoothing_window: int = 5
    reference: str = "auto"
    align: bool = True
    align_landmarks: Sequence[str] | None = None
    kinematic_features: Sequence[str] = ()
    standardize: bool = True
    pca: int | float | None = 10
    random_state: int | None = 0
    progress: bool = True
    n_jobs: int | None = None
    precision: Literal["float32", "float64"] = "float32"

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
              recording: Recording | None = None) -> xr.Dataset:
        """Triangulate (if several cameras), mask, fill gaps, smooth, make egocentric.

        ``template`` is the face ``(landmarks, space)`` to align to; recordings after the
        first are aligned to the first one's mean face so all share one head frame. A
        ``recording``'s project options and calibration reach the triangulator
        (``triangulator_options`` override the project's).
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
        if self.confidence_threshold is not None:
            pose = mask_low_confidence(pose, self.confidence_threshold)
        if self.max_gap:
            pose = interpolate_gaps(pose, self.max_gap)
        if self.smoothing:
            pose = smooth(pose, self.smoothing, self.smoothing_window)
        return egocentric(pose, self.reference_of(pose), align=self.align,
                          align_landmarks=self.align_landmarks, template=template)

    def features(self, egos: Sequence[xr.Dataset],
                 kinematics: Sequence[xr.Dataset]) -> list[xr.DataArray]:
        """Feature matrices with the same columns for every recording."""
        feats = [feature_matrix(e, kinematics=k, kinematic_features=self.kinematic_features,
                                drop_constant=False) for e, k in zip(egos, kinematics)]
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
        if self.standardize:
            feats = standardize(feats)
        if self.pca:
            # PCA cannot have more components than frames or features
            n_max = min(feats[0].sizes["features"], n_frames)
            n = min(self.pca, n_max) if self.pca >= 1 else self.pca
            feats, _ = reduce_pca(feats, n, random_state=self.random_state)
        return feats

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
        if self.criterion not in ("bic", "aic", "heldout"):
            raise ParameterError(f"criterion must be 'bic', 'aic' or 'heldout', got "
                                f"{self.criterion!r}")
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
        state_model(self.state_model, n_states=k if isinstance(k, int) else max(candidates),
                    **{"random_state": self.random_state, **self.model_options})

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
        items = _as_list(inputs)
        if names is not None and len(names) != len(items):
            raise FaceexprError(f"{len(names)} names for {len(items)} recordings")
        # the file's float64 arrays go as soon as their float32 copies exist
        poses = [with_precision(p, self.precision) for p in self.load(items)]
        if names is None:
            names = [session_name(i, j) for j, i in enumerate(items)]
        names = unique_names(names)
        recordings = [i if isinstance(i, Recording) else None for i in items]
        dims = {n_spatial_dims(p) for p in poses if "cameras" not in p.dims}
        if len(dims) > 1:
            raise InvalidPoseError("all recordings must be 2D or all 3D, got a mix")
        bar = tqdm(total=len(poses) + 1, desc="faceexpr", disable=not self.progress,
                   leave=False)
        egos = [self.clean(poses[0], recording=recordings[0])]
        bar.update()
        template = egos[0]["position"].mean("time") if self.align else None
        for pose, rec in zip(poses[1:], recordings[1:]):
            egos.append(self.clean(pose, template, rec))
            bar.update()
        kin = [head_kinematics(e) for e in egos]
        feats = self.features(egos, kin)
        self.check_enough_frames(feats, [self.n_states] if isinstance(self.n_states, int)
                                 else list(self.candidates))
        options = {"random_state": self.random_state, **self.model_options}
        selection = None
        if self.n_states == "auto":
            selection = select_n_states(feats, self.candidates, self.state_model,
                                        self.criterion, progress=self.progress,
                                        n_jobs=check_n_jobs(self.n_jobs), **options)
            model = selection.model
        else:
            # the fit's own bar (EM iterations, log-likelihood) where the backend has one
            accepted = state_model_class(self.state_model).accepted_options()
            if "progress" in accepted and "progress" not in options:
                options["progress"] = self.progress
            model = state_model(self.state_model, n_states=int(self.n_states),
                                **options).fit(feats)
        states = []
        for f, e in zip(feats, egos):
            s = model.predict(f)
            s.attrs["fps"] = e.attrs.get("fps", np.nan)
            states.append(s.assign_coords(frame=("time", e["frame"].values)))
        posteriors = [model.predict_proba(f) for f in feats]
        bar.update()
        bar.close()
        return Result(pipeline=self, sessions=list(names), poses=poses, egocentric=egos,
                      kinematics=kin, features=feats, states=states, posteriors=posteriors,
                      model=model, selection=None if selection is None else selection.table)


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

    def summary(self) -> dict[str, Any]:
        """What was fitted, on how much data, and how well."""
        return {
            "sessions": self.sessions, "n_states": self.n_states,
            "state_model": self.model.name, "model_options": self.model.options,
            "n_frames": int(sum(s.size for s in self.states)),
            "n_frames_with_state": int(sum((s.values >= 0).sum() for s in self.states)),
            "n_features": len(self.model.feature_names_ or []),
            "log_likelihood": self.model.score(self.features),
            "dims": n_spatial_dims(self.egocentric[0]),
            "fps": self.fps,
            "n_states_chosen_by": None if self.selection is None else self.pipeline.criterion,
            "history": list(self.egocentric[0].attrs.get("faceexpr_history", [])),
        }

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
            Skeleton of the faces in figures and videos (``"auto"``: recognise it).
        """
        inputs = [f for pose in self.poses for f in pose.attrs.get("source_files", [])]
        inputs += [os.fspath(v) for v in (videos or {}).values()]
        location = check_output_folder(out, overwrite, inputs, size=self._estimated_bytes(
            figures, videos))
        target = location.path
        with signals_interrupt(), make_parents(location):
            tmp = temporary_path(target.parent, "")
            tmp.mkdir()
            tmp.chmod(0o777 & ~_umask())  # a result folder follows the umask
            old: Path | None = None
            try:
                self._write(tmp)
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

    def _write(self, folder: Path) -> None:
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
        if self.selection is not None:
            _csv(self.selection, folder / "model_selection.csv", index=False)
        (folder / "summary.json").write_text(json.dumps(self.summary(), indent=2, default=str))
