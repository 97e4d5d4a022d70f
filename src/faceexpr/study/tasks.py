"""The work a study does per session, as functions a dask worker runs.

Each takes what it needs (the session, the pipeline, a folder) and returns something small
(moments, counts, sufficient statistics, tables); the session's frames go to zarr stores
in its folder, never back to the client, so the client's memory does not grow with the
study and a worker holds one session at a time. Every store is written to a temporary
name and moved into place when complete: a worker killed mid-write leaves no store that
looks finished.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from faceexpr._files import atomic_write
from faceexpr._typing import FloatArray

if TYPE_CHECKING:
    import xarray as xr

    from faceexpr.interfaces import StateModel
    from faceexpr.pipeline import Pipeline
    from faceexpr.study.group import SessionTables
    from faceexpr.study.manifest import StudySession

PREPARED = "prepared.zarr"
"""A session's landmark features (before standardisation and PCA), frames and shots."""
FEATURES = "features.zarr"
"""A session's model features (standardised, projected)."""
STATES = "states.csv"
KEY = "prepared.json"
"""What preparing a session produced and from what (its files and settings)."""


@dataclass(frozen=True)
class Moments:
    """Count, mean and scatter about the mean of the finite feature rows of a session."""

    count: int
    mean: FloatArray
    scatter: FloatArray

    def __add__(self, other: Moments) -> Moments:
        n = self.count + other.count
        if n == 0:
            return self
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.count / n)
        scatter = (self.scatter + other.scatter
                   + np.outer(delta, delta) * (self.count * other.count / n))
        return Moments(n, mean, scatter)

    @property
    def variance(self) -> FloatArray:
        """Population variance of every column (0 with no rows)."""
        return np.diag(self.scatter) / max(self.count, 1)


@dataclass(frozen=True)
class Prepared:
    """What the client learns from preparing one session."""

    name: str
    n_frames: int
    columns: list[str]
    moments: Moments
    fps: float | None
    dims: int
    coverage: dict[str, Any]


def _write_store(ds: xr.Dataset, path: Path) -> None:
    """``ds`` as a zarr store at ``path``, moved into place only when complete."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        ds.to_zarr(tmp, mode="w", consolidated=False)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _open(path: Path) -> xr.Dataset:
    import xarray as xr

    ds: xr.Dataset = xr.open_zarr(path, consolidated=False).load()
    return ds


def _moments(x: FloatArray) -> Moments:
    rows = x[np.isfinite(x).all(axis=1)].astype(np.float64)
    d = x.shape[1]
    if not len(rows):
        return Moments(0, np.zeros(d), np.zeros((d, d)))
    mean = rows.mean(axis=0)
    dev = rows - mean
    return Moments(len(rows), mean, dev.T @ dev)


def _session_pipeline(pipeline: Pipeline, session: StudySession) -> Pipeline:
    """The pipeline with the session's frame rate given to the reader."""
    if session.fps is None:
        return pipeline
    return replace(pipeline, estimator_options={**pipeline.estimator_options,
                                                "fps": session.fps})


def _cleaned(pipeline: Pipeline, session: StudySession) -> xr.Dataset:
    from faceexpr.data import with_precision

    pipe = _session_pipeline(pipeline, session)
    pose = pipe.load([session.recording])[0]
    return with_precision(pose, pipeline.precision)


def template_of(session: StudySession, pipeline: Pipeline) -> xr.DataArray | None:
    """The face every session is aligned to: the first session's mean aligned face (as
    :meth:`~faceexpr.pipeline.Pipeline.run` does), or None without alignment."""
    if not pipeline.align:
        return None
    ready = pipeline.clean(_cleaned(pipeline, session), recording=session.recording,
                           to_egocentric=False)
    face: xr.DataArray = pipeline._aligned(ready, None)["position"].mean("time")
    return face.load()


def prepare(session: StudySession, pipeline: Pipeline, template: xr.DataArray | None,
            folder: Path, key: str) -> Prepared:
    """Read (or track) one session, clean it, make it egocentric, compute its landmark
    features and write them to ``folder``/:data:`PREPARED`, then :data:`KEY` (so that a
    session counts as prepared only once both are complete)."""
    import xarray as xr

    from faceexpr.data import get_fps, segment_bounds
    from faceexpr.features import feature_matrix, head_kinematics

    pose = _cleaned(pipeline, session)
    ego = pipeline.clean(pose, template, session.recording)
    kin = head_kinematics(ego)
    feats = feature_matrix(ego, kinematics=kin, kinematic_features=pipeline.kinematic_features,
                           drop_constant=False)
    x = np.asarray(feats.values, dtype=np.float64)
    shot = np.zeros(len(x), dtype=np.int64)
    for j, (a, b) in enumerate(segment_bounds(ego)):
        shot[a:b] = j
    fps = get_fps(ego)
    columns = [str(c) for c in feats["features"].values]
    ds = xr.Dataset({"x": (("time", "column"), x), "shot": ("time", shot),
                     "frame": ("time", np.asarray(ego["frame"].values, dtype=np.int64))},
                    coords={"time": np.asarray(ego["time"].values, dtype=np.float64)},
                    attrs={"columns": json.dumps(columns), "session": session.name,
                           "fps": float("nan") if fps is None else float(fps)})
    folder.mkdir(parents=True, exist_ok=True)
    _write_store(ds, folder / PREPARED)
    n = len(x)
    visible = int(np.isfinite(x).all(axis=1).sum())
    coverage = {"session": session.name, "frames": n, "frames_with_landmarks": visible,
                "shots": int(shot.max() + 1) if n else 0}
    out = Prepared(session.name, n, columns, _moments(x), fps,
                   int(ego.sizes.get("space", 3)), coverage)
    save_prepared(folder, key, out)
    return out


@dataclass(frozen=True)
class Projected:
    """What the client learns from projecting one session onto the model's features."""

    name: str
    n_frames: int
    """Frames the model fits (finite, in runs long enough for its order)."""
    sample: FloatArray
    """The frames of the k-means sample that fall in this session."""
    moments: Moments


def project(folder: Path, columns: list[str], mean: FloatArray, scale: FloatArray,
            components: FloatArray | None, sample_step: int, offset: int,
            min_run: int) -> Projected:
    """Standardise (``(x - mean) / scale``) and project (``components``) the session's
    features, write them to ``folder``/:data:`FEATURES`, and return the frames of the
    study's k-means sample (every ``sample_step``-th modelled frame of the study, counting
    from ``offset`` here)."""
    import xarray as xr

    prepared = _open(folder / PREPARED)
    have = json.loads(prepared.attrs["columns"])
    idx = [have.index(c) for c in columns]
    x = (np.asarray(prepared["x"].values)[:, idx] - mean) / scale
    if components is not None:
        x = x @ components.T
    ds = xr.Dataset({"x": (("time", "feature"), x), "shot": prepared["shot"],
                     "frame": prepared["frame"]}, coords={"time": prepared["time"]},
                    attrs=dict(prepared.attrs))
    _write_store(ds, folder / FEATURES)
    rows, _ = _modelled(x, np.asarray(prepared["shot"].values), min_run)
    picked = (offset + np.arange(len(rows))) % sample_step == 0
    return Projected(str(prepared.attrs["session"]), len(rows), rows[picked], _moments(rows))


def _runs(x: FloatArray, shot: npt.NDArray[np.int64], min_run: int) -> list[tuple[int, int]]:
    """The runs of finite frames within one shot that have at least ``min_run`` frames."""
    from faceexpr._arrays import finite_segments

    out = []
    cuts = np.flatnonzero(np.diff(shot)) + 1
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(x)]):
        out += [(a + s, a + e) for s, e in finite_segments(x[a:b]) if e - s >= min_run]
    return out


def _modelled(x: FloatArray, shot: npt.NDArray[np.int64], min_run: int
              ) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """The modelled frames laid end to end and where each run starts (bounds)."""
    runs = _runs(x, shot, min_run)
    if not runs:
        return np.zeros((0, x.shape[1])), np.zeros(1, dtype=np.int64)
    rows = np.concatenate([x[a:b] for a, b in runs])
    bounds = np.concatenate([[0], np.cumsum([b - a for a, b in runs])]).astype(np.int64)
    return np.ascontiguousarray(rows, dtype=np.float64), bounds


def modelled_frames(folders: list[Path], min_run: int, centre: FloatArray
                    ) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """The modelled frames of some sessions, centred and laid end to end, and where each
    run starts: what every EM iteration's E-step reads (kept in the worker's memory
    between iterations; 1.3 MB per session of 30 min on 3 components)."""
    rows, bounds = [], [np.zeros(1, dtype=np.int64)]
    offset = 0
    for folder in folders:
        ds = _open(folder / FEATURES)
        x, b = _modelled(np.asarray(ds["x"].values), np.asarray(ds["shot"].values),
                         min_run)
        rows.append(x - centre)
        bounds.append(b[1:] + offset)
        offset += len(x)
    return np.ascontiguousarray(np.concatenate(rows)), np.concatenate(bounds)


def e_step(frames: tuple[FloatArray, npt.NDArray[np.int64]], model: Any,
           params: dict[str, FloatArray]) -> Any:
    """The E-step's sufficient statistics of one session (``model.e_step``)."""
    return model.e_step(frames[0], frames[1], params)


@dataclass(frozen=True)
class Labelled:
    """What the client learns from labelling one session with the fitted model."""

    name: str
    tables: SessionTables
    log_likelihood: float
    entropy: float
    labelled_frames: int


def label(folder: Path, model: StateModel, fps: float | None) -> Labelled:
    """The session's Viterbi states and posteriors shot by shot, written to
    ``folder``/:data:`STATES` (frame, time, state, probability); its tables for the
    group results."""
    import pandas as pd

    from faceexpr.data import make_features
    from faceexpr.study.group import session_tables

    ds = _open(folder / FEATURES)
    x = np.asarray(ds["x"].values)
    shot = np.asarray(ds["shot"].values)
    times = np.asarray(ds["time"].values)
    names = list(model.feature_names_ or [])
    states = np.full(len(x), -1, dtype=np.int64)
    post = np.full((len(x), model.n_states), np.nan)
    ll = 0.0
    cuts = np.flatnonzero(np.diff(shot)) + 1
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(x)]):
        f = make_features(x[a:b], names, time=times[a:b])
        states[a:b] = model.predict(f).values
        post[a:b] = model.predict_proba(f).values
        ll += model.score(f)
    known = np.isfinite(post).all(axis=1)
    prob = np.full(len(x), np.nan)
    prob[known] = post[known].max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -float(np.where(post[known] > 0, post[known] * np.log(post[known]),
                                  0.0).sum())
    table = pd.DataFrame({"frame": ds["frame"].values, "time": times, "state": states,
                          "probability": prob})
    atomic_write(folder / STATES, lambda tmp: table.to_csv(tmp, index=False))
    import xarray as xr

    da = xr.DataArray(states, dims=("time",), coords={"time": times}, name="state")
    fps = fps if fps is not None and math.isfinite(fps) else None
    da.attrs["fps"] = np.nan if fps is None else fps
    return Labelled(str(ds.attrs["session"]), session_tables(da, model.n_states, fps), ll,
                    entropy, int((states >= 0).sum()))


def saved_prepared(folder: Path, key: str) -> Prepared | None:
    """What an earlier run learnt from preparing the session in ``folder``, if it was
    prepared from the same ``key`` (else None: prepared again)."""
    path = folder / KEY
    if not (path.is_file() and (folder / PREPARED).is_dir()):
        return None
    try:
        saved = json.loads(path.read_text())
        if saved.get("key") != key:
            return None
        m = saved["moments"]
        moments = Moments(int(m["count"]), np.asarray(m["mean"], dtype=np.float64),
                                np.asarray(m["scatter"], dtype=np.float64))
        return Prepared(str(saved["name"]), int(saved["n_frames"]),
                              [str(c) for c in saved["columns"]], moments, saved["fps"],
                              int(saved["dims"]), dict(saved["coverage"]))
    except (ValueError, KeyError, TypeError):
        return None  # damaged or from another version: prepared again


def save_prepared(folder: Path, key: str, p: Prepared) -> None:
    """Record a prepared session (after its store is complete) for ``resume``."""
    text = json.dumps({"key": key, "name": p.name, "n_frames": p.n_frames,
                       "columns": p.columns, "fps": p.fps, "dims": p.dims,
                       "coverage": p.coverage,
                       "moments": {"count": p.moments.count, "mean": p.moments.mean.tolist(),
                                   "scatter": p.moments.scatter.tolist()}})
    atomic_write(folder / KEY, lambda tmp: tmp.write_text(text))
