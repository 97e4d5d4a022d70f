"""The work a study does per session, as functions a dask worker runs.

Each takes what it needs (the session, the pipeline, a folder) and returns something small
(moments, counts, sufficient statistics, tables); the session's frames go to zarr stores
in its folder, never back to the client, so the client's memory does not grow with the
study and a worker holds one session at a time. Every store is written to a temporary
name and moved into place when complete: a worker killed mid-write leaves no store that
looks finished.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, replace
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


def open_store(path: Path) -> xr.Dataset:
    """A zarr store of this module, read into memory."""
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
            folder: Path, key: str | None = None) -> Prepared:
    """Read (or track) one session, clean it, make it egocentric, compute its landmark
    features and write them to ``folder``/:data:`PREPARED`, then :data:`KEY` (so that a
    session counts as prepared only once both are complete) with ``key`` (default:
    :func:`session_key`)."""
    import xarray as xr

    from faceexpr.data import get_fps, segment_bounds
    from faceexpr.features import feature_matrix, head_kinematics

    pose = _cleaned(pipeline, session)
    ego = pipeline.clean(pose, template, session.recording)
    kin = head_kinematics(ego)
    feats = feature_matrix(ego, kinematics=kin, kinematic_features=pipeline.kinematic_features,
                           drop_constant=False)
    x = np.asarray(feats.values, dtype=np.float64)
    fps = get_fps(ego)
    columns = [str(c) for c in feats["features"].values]
    coords: dict[str, Any] = {"time": np.asarray(ego["time"].values, dtype=np.float64)}
    if "segment" in ego.coords:  # the shots of a video (segment_bounds reads them)
        coords["segment"] = ("time", np.asarray(ego["segment"].values, dtype=np.int64))
    ds = xr.Dataset({"x": (("time", "column"), x),
                     "frame": ("time", np.asarray(ego["frame"].values, dtype=np.int64))},
                    coords=coords, attrs={"columns": json.dumps(columns), "session": session.name,
                           "fps": float("nan") if fps is None else float(fps)})
    folder.mkdir(parents=True, exist_ok=True)
    _write_store(ds, folder / PREPARED)
    n = len(x)
    visible = int(np.isfinite(x).all(axis=1).sum())
    coverage = {"session": session.name, "frames": n, "frames_with_landmarks": visible,
                "shots": len(segment_bounds(ego)) if n else 0}
    out = Prepared(session.name, n, columns, _moments(x), fps,
                   int(ego.sizes.get("space", 3)), coverage)
    save_prepared(folder, session_key(session, pipeline) if key is None else key, out)
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

    prepared = open_store(folder / PREPARED)
    have = json.loads(prepared.attrs["columns"])
    idx = [have.index(c) for c in columns]
    x = (np.asarray(prepared["x"].values)[:, idx] - mean) / scale
    if components is not None:
        x = x @ components.T
    ds = xr.Dataset({"x": (("time", "feature"), x), "frame": prepared["frame"]},
                    coords=prepared.coords, attrs=dict(prepared.attrs))
    _write_store(ds, folder / FEATURES)
    rows, _ = modelled(ds, min_run)
    picked = (offset + np.arange(len(rows))) % sample_step == 0
    return Projected(str(prepared.attrs["session"]), len(rows), rows[picked], _moments(rows))


def runs(ds: xr.Dataset, min_run: int) -> list[tuple[int, int]]:
    """The runs of finite frames of a features store, within one shot each, that have at
    least ``min_run`` frames: the sequences the model fits."""
    from faceexpr._arrays import finite_segments
    from faceexpr.data import segment_bounds

    x = np.asarray(ds["x"].values)
    return [(a + s, a + e) for a, b in segment_bounds(ds)
            for s, e in finite_segments(x[a:b]) if e - s >= min_run]


def modelled(ds: xr.Dataset, min_run: int) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """The modelled frames of a features store laid end to end and where each run
    starts (bounds)."""
    x = np.asarray(ds["x"].values)
    pieces = runs(ds, min_run)
    if not pieces:
        return np.zeros((0, x.shape[1])), np.zeros(1, dtype=np.int64)
    rows = np.concatenate([x[a:b] for a, b in pieces])
    bounds = np.concatenate([[0], np.cumsum([b - a for a, b in pieces])]).astype(np.int64)
    return np.ascontiguousarray(rows, dtype=np.float64), bounds


def modelled_frames(folders: list[Path], min_run: int, centre: FloatArray
                    ) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """The modelled frames of some sessions, centred and laid end to end, and where each
    run starts: what every EM iteration's E-step reads (kept in the worker's memory
    between iterations; 1.3 MB per session of 30 min on 3 components)."""
    rows, bounds = [], [np.zeros(1, dtype=np.int64)]
    offset = 0
    for folder in folders:
        x, b = modelled(open_store(folder / FEATURES), min_run)
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
    labelled_frames: int


def label(folder: Path, model: StateModel) -> Labelled:
    """The session's Viterbi states and posteriors shot by shot, written to
    ``folder``/:data:`STATES` (frame, time, state, probability); its tables for the
    group results."""
    import pandas as pd

    from faceexpr.data import make_features, segment_bounds
    from faceexpr.pipeline import Pipeline
    from faceexpr.study.group import session_tables

    ds = open_store(folder / FEATURES)
    features = make_features(np.asarray(ds["x"].values), list(model.feature_names_ or []),
                             time=ds["time"].values)
    # shot by shot, as the pipeline labels a recording (the store has its frames, shots
    # and frame rate, NaN when unknown)
    (states,), (post,) = Pipeline._predict(model, [features], [ds])
    ll = sum(model.score(features.isel(time=slice(a, b))) for a, b in segment_bounds(ds))
    p = np.asarray(post.values)
    known = np.isfinite(p).all(axis=1)
    prob = np.full(len(p), np.nan)
    prob[known] = p[known].max(axis=1)
    labels = np.asarray(states.values)
    table = pd.DataFrame({"frame": ds["frame"].values, "time": ds["time"].values,
                          "state": labels, "probability": prob})
    atomic_write(folder / STATES, lambda tmp: table.to_csv(tmp, index=False))
    fps = float(ds.attrs["fps"])
    return Labelled(str(ds.attrs["session"]), session_tables(states, model.n_states,
                                                         fps if math.isfinite(fps) else None),
                    float(ll), int((labels >= 0).sum()))


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


def _file_digest(path: Path, h: Any) -> None:
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)


def session_key(session: StudySession, pipeline: Pipeline) -> str:
    """What a session's preparation depends on: its files' contents, its settings and
    the pipeline's (a ``resume`` reuses a session only when this is unchanged)."""
    import faceexpr

    h = hashlib.sha256()
    config = {k: v for k, v in asdict(pipeline).items()
              if k not in ("progress", "n_jobs", "stability")}
    h.update(json.dumps({"faceexpr": faceexpr.__version__, "pipeline": config,
                         "fps": session.fps, "name": session.name}, sort_keys=True,
                        default=str).encode())
    rec = session.recording
    for f in (*rec.files, *([rec.calibration] if rec.calibration else [])):
        h.update(str(Path(f).name).encode())
        _file_digest(Path(f), h)
    return h.hexdigest()


def reusable(session: StudySession, pipeline: Pipeline, folder: Path
             ) -> tuple[str, Prepared | None]:
    """The session's :func:`session_key` and what an earlier run prepared in ``folder``
    with that key (None when there is nothing to reuse)."""
    key = session_key(session, pipeline)
    return key, saved_prepared(folder, key)
