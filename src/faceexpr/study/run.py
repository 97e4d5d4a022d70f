"""A study: many sessions, one model, per-session and group results.

:class:`Study` runs every per-session stage (tracking or reading, triangulation,
cleaning, alignment, features, labelling) as a task per session, on a dask cluster or
in this process (:mod:`.cluster`), with the sessions' frames in zarr stores in the output
folder (:mod:`.tasks`). The model is fitted by EM as map–reduce: every iteration, each
session's E-step runs where its data are and returns sufficient statistics, and the
M-step here sums them; for the same start this is the one-process fit (the same sums).
Backends without such statistics are fitted in this process on the gathered features,
and the summary says so.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from faceexpr._files import atomic_write
from faceexpr._typing import FloatArray, PathLike
from faceexpr.errors import FaceexprError, ParameterError, one_line
from faceexpr.study import tasks

if TYPE_CHECKING:
    import pandas as pd

    from faceexpr.interfaces import StateModel
    from faceexpr.pipeline import Pipeline
    from faceexpr.study.manifest import StudySession

__all__ = ["Study", "StudyResult"]

SESSIONS = "sessions"
"""The output folder's folder of per-session stores and tables."""


@dataclass
class StudyResult:
    """What a study produced; the per-session frames stay in the output folder."""

    out: Path
    model: StateModel
    sessions: list[str]
    """The sessions that were analysed."""
    failed: dict[str, str]
    """Sessions skipped (``keep_going``), with why."""
    reused: list[str]
    """Sessions whose preparation a ``resume`` took from an earlier run."""
    tables: dict[str, pd.DataFrame]
    log_likelihood: float
    n_iter: int
    selection: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    def states(self, session: str) -> pd.DataFrame:
        """The frame-by-frame states of one session (frame, time, state, probability)."""
        import pandas as pd

        if session not in self.sessions:
            raise FaceexprError(f"no session {session!r} in this study "
                                f"(it has {', '.join(self.sessions[:5])}...)")
        return pd.read_csv(self.out / SESSIONS / session / tasks.STATES)


class _Runner:
    """Runs one function per session, on the cluster or here, and collects failures."""

    def __init__(self, client: Any, progress: bool) -> None:
        self.client = client
        self.progress = progress

    def persist(self, fn: Callable[..., Any], jobs: dict[str, tuple[Any, ...]]
                ) -> dict[str, Any]:
        """``fn(*args)`` per session, kept where it was computed: dask futures (which
        :meth:`map` passes to its tasks, so they run where their data are, and which
        dask recomputes if a worker dies), or the values themselves here."""
        if self.client is None:
            return {name: fn(*args) for name, args in jobs.items()}
        return {name: self.client.submit(fn, *args, pure=False)
                for name, args in jobs.items()}

    def map(self, what: str, fn: Callable[..., Any], jobs: dict[str, tuple[Any, ...]],
            failures: dict[str, str] | None) -> dict[str, Any]:
        """``fn(*args)`` for every session's ``args``; a failure raises, or with
        ``failures`` is recorded there and the session left out."""
        from tqdm.auto import tqdm

        out: dict[str, Any] = {}
        bar = tqdm(total=len(jobs), desc=what, unit="session", leave=False,
                   disable=not self.progress or len(jobs) < 2)

        def failed(name: str, exc: BaseException) -> None:
            message = one_line(exc)
            if failures is None:
                raise FaceexprError(f"session {name}: {what} failed: {message}") from exc
            failures[name] = f"{what}: {message}"

        try:
            if self.client is None:
                for name, args in jobs.items():
                    try:
                        out[name] = fn(*args)
                    except Exception as exc:
                        failed(name, exc)
                    bar.update()
            else:
                from distributed import as_completed

                futures = {self.client.submit(fn, *args, pure=False): name
                           for name, args in jobs.items()}
                for future in as_completed(list(futures)):  # type: ignore[no-untyped-call]
                    name = futures[future]
                    try:
                        out[name] = future.result()
                    except Exception as exc:
                        failed(name, exc)
                    bar.update()
        finally:
            bar.close()
        # the sessions' order, whatever order they finished in (sums are then the same)
        return {name: out[name] for name in jobs if name in out}


CHUNK_FRAMES = 250_000
"""Modelled frames per E-step task (consecutive sessions joined): fewer, larger tasks
than one per session, so that a task's overhead (tens of ms on a loaded machine) does
not outweigh its work (about 10 ms per session of 30 min on 3 components). The chunks
depend on the sessions only, not on the workers: every run sums the same statistics in
the same order."""


def _chunks(projected: dict[str, tasks.Projected]) -> list[list[str]]:
    """Consecutive sessions in groups of about :data:`CHUNK_FRAMES` modelled frames."""
    out: list[list[str]] = [[]]
    size = 0
    for name, p in projected.items():
        if out[-1] and size + p.n_frames > CHUNK_FRAMES:
            out.append([])
            size = 0
        out[-1].append(name)
        size += p.n_frames
    return out


@dataclass
class Study:
    """Analyse many sessions as one study (see the module's description).

    Parameters
    ----------
    pipeline
        Every stage's settings, as for one recording; ``n_states="auto"`` chooses K by
        ``criterion`` ``"icl"``, ``"bic"`` or ``"aic"``.
    client
        A ``distributed.Client`` (:func:`~faceexpr.study.cluster.connect`), or None to run
        every task in this process.
    keep_going
        Leave out a session that fails (reported in the summary and ``study.csv``)
        instead of stopping.
    resume
        Reuse the sessions an earlier run into the same folder prepared with the same
        files and settings.
    """

    pipeline: Pipeline
    client: Any = None
    keep_going: bool = False
    resume: bool = False

    def run(self, sessions: Sequence[StudySession] | PathLike, out: PathLike,
            overwrite: bool = False) -> StudyResult:
        """Run the study into the folder ``out`` (see the module's description)."""
        from faceexpr.study.manifest import read_manifest

        if not isinstance(sessions, Sequence) or isinstance(sessions, str):
            sessions = read_manifest(sessions)
        sessions = list(sessions)
        if not sessions:
            raise FaceexprError("the study has no sessions")
        self._check()
        out = Path(out)
        if out.exists() and not self.resume:
            if not overwrite:
                raise FaceexprError(f"{out} exists; give overwrite=True (--overwrite) to "
                                    "replace it, or resume=True (--resume) to reuse it")
            shutil.rmtree(out)
        fresh = not out.exists()
        (out / SESSIONS).mkdir(parents=True, exist_ok=True)
        runner = _Runner(self.client, self.pipeline.progress)
        failures: dict[str, str] | None = {} if self.keep_going else None
        try:
            prepared, reused = self._prepare(sessions, out, runner, failures)
        except FaceexprError as exc:
            kept = sorted(p.parent.name for p in (out / SESSIONS).glob(f"*/{tasks.KEY}"))
            if not kept:
                if fresh:
                    shutil.rmtree(out, ignore_errors=True)  # nothing worth keeping
                raise
            raise FaceexprError(
                f"{exc} ({len(kept)} prepared session(s) are kept in {out}: rerun with "
                "resume=True (--resume) to reuse them, or keep_going=True (--keep-going) "
                "to leave the failing session out)") from exc
        names = list(prepared)
        if not names:
            raise FaceexprError(f"every one of the {len(sessions)} sessions failed; the "
                                f"first: {next(iter((failures or {}).values()), '')}")
        columns, mean, scale, components, ratio = self._transforms(prepared)
        min_run = 1 + max(int(self.pipeline.ar_order), 1)
        total = sum(p.moments.count for p in prepared.values())
        from faceexpr._defaults import KMEANS_FRAMES

        step = max(1, -(-total // KMEANS_FRAMES))
        offsets = np.cumsum([0] + [p.moments.count for p in prepared.values()])
        projected = runner.map("features", tasks.project, {
            n: (out / SESSIONS / n, columns, mean, scale, components, step, int(o), min_run)
            for n, o in zip(names, offsets)}, None)
        fps = next((p.fps for p in prepared.values() if p.fps), None)
        model, ll, n_iter, selection, notes = self._fit(out, projected, runner, fps, min_run,
                                                        components, columns)
        labelled = runner.map("labelling", tasks.label,
                              {n: (out / SESSIONS / n, model) for n in names},
                              None)
        tables = self._tables(sessions, prepared, labelled, failures or {}, reused, model)
        result = StudyResult(out, model, names, dict(failures or {}), reused, tables, ll,
                             n_iter, selection, notes)
        self._write(result, sessions, ratio)
        return result

    # -- steps ------------------------------------------------------------------------
    def _check(self) -> None:
        self.pipeline.check()
        if self.pipeline.n_states == "auto" and self.pipeline.criterion not in (
                "icl", "bic", "aic"):
            raise ParameterError(
                f"a study chooses the number of states by icl, bic or aic, not "
                f"{self.pipeline.criterion!r}: cross-validation over a study's sessions is "
                "not available; give criterion='icl' (--criterion icl)")

    def _prepare(self, sessions: list[StudySession], out: Path, runner: _Runner,
                 failures: dict[str, str] | None
                 ) -> tuple[dict[str, tasks.Prepared], list[str]]:
        done: dict[str, tasks.Prepared] = {}
        keys: dict[str, str | None] = {s.name: None for s in sessions}  # prepare hashes
        if self.resume:
            # the files are hashed where they are read, on the workers
            for name, (key, saved) in runner.map("checking", tasks.reusable, {
                    s.name: (s, self.pipeline, out / SESSIONS / s.name)
                    for s in sessions}, None).items():
                keys[name] = key
                if saved is not None:
                    done[name] = saved
        todo = [s for s in sessions if s.name not in done]
        reused = list(done)
        if todo:
            template = None
            if self.pipeline.align:
                # the first session that can be read sets the face every one is aligned to
                for s in sessions:
                    got = runner.map("template", tasks.template_of,
                                     {s.name: (s, self.pipeline)}, failures)
                    if s.name in got:
                        template = got[s.name]
                        break
                else:
                    return {}, reused
            made = runner.map("preparing", tasks.prepare, {
                s.name: (s, self.pipeline, template, out / SESSIONS / s.name, keys[s.name])
                for s in todo if failures is None or s.name not in failures}, failures)
            done.update(made)
        dims = {p.dims for p in done.values()}
        if len(dims) > 1:
            raise FaceexprError("all sessions must be 2D or all 3D, got a mix")
        return {s.name: done[s.name] for s in sessions if s.name in done}, reused

    def _transforms(self, prepared: dict[str, tasks.Prepared]
                    ) -> tuple[list[str], FloatArray, FloatArray, FloatArray | None,
                               list[float]]:
        """Columns, standardisation and PCA from the sessions' pooled moments."""
        first = next(iter(prepared.values()))
        for p in prepared.values():
            if p.columns != first.columns:
                raise FaceexprError(
                    f"session {p.name} has other feature columns than {first.name}: every "
                    "session of a study needs the same landmarks")
        total = first.moments
        for p in list(prepared.values())[1:]:
            total = total + p.moments
        if total.count < 2:
            raise FaceexprError("no session has frames with every landmark visible")
        # a column constant in every session (the reference landmark) carries nothing
        keep = np.flatnonzero(total.variance > 0)
        columns = [first.columns[i] for i in keep]
        mean = total.mean[keep]
        std = np.sqrt(total.variance[keep])
        scale = std if self.pipeline.standardize else np.ones(len(keep))
        cov = total.scatter[np.ix_(keep, keep)] / total.count / np.outer(scale, scale)
        components, ratio = None, []
        pca = self.pipeline.pca
        if pca:
            values, vectors = np.linalg.eigh(cov)
            order = np.argsort(values)[::-1]
            values, vectors = np.maximum(values[order], 0.0), vectors[:, order]
            share = values / values.sum()
            n = (int(min(pca, len(keep))) if pca >= 1
                 else int(np.searchsorted(np.cumsum(share), pca) + 1))
            components = vectors[:, :n].T
            # one sign per component: its largest loading positive
            signs = np.sign(components[np.arange(n), np.abs(components).argmax(axis=1)])
            components = components * signs[:, None]
            ratio = [float(r) for r in share[:n]]
        return columns, mean, scale, components, ratio

    def _model(self, n_states: int, fps: float | None, variance: float | None) -> StateModel:
        from faceexpr.registry import state_model

        return state_model(self.pipeline.state_model, n_states=n_states,
                           **self.pipeline.model_options_for(n_states, fps, variance))

    def _fit(self, out: Path, projected: dict[str, tasks.Projected], runner: _Runner,
             fps: float | None, min_run: int, components: FloatArray | None,
             columns: list[str]) -> tuple[StateModel, float, int, pd.DataFrame | None,
                                          list[str]]:
        import pandas as pd

        from faceexpr.interfaces import SummableStateModel
        from faceexpr.model_selection import Selection, criteria, pick

        parts = list(projected.values())
        moments = parts[0].moments
        for part in parts[1:]:
            moments = moments + part.moments
        n_frames = moments.count
        centre = moments.mean
        sample = np.concatenate([part.sample for part in parts]) - centre
        variance = float(moments.variance.mean())
        names = ([f"pc{i + 1}" for i in range(len(components))] if components is not None
                 else columns)
        ks = ([int(self.pipeline.n_states)] if self.pipeline.n_states != "auto"
              else [int(k) for k in self.pipeline.candidates])
        notes: list[str] = []
        rows = []
        fits: dict[int, tuple[StateModel, float, int]] = {}
        for k in ks:
            model = self._model(k, fps, variance)
            if isinstance(model, SummableStateModel):
                ll, n_iter, entropy = self._em(model, out, projected, runner, centre, sample,
                                               min_run)
            else:
                if not notes:
                    notes.append(f"the {model.name} backend has no sufficient statistics: "
                                 "its EM ran in one process on the gathered features")
                ll, n_iter, entropy = self._gathered(model, out, projected, min_run, names)
            model.feature_names_ = list(names)
            rows.append({"n_states": k, "log_likelihood": ll,
                         "n_parameters": model.n_parameters(), "n_frames": n_frames,
                         "posterior_entropy": entropy,
                         **criteria(ll, model.n_parameters(), n_frames, entropy)})
            fits[k] = (model, ll, n_iter)
        if len(ks) == 1:
            model, ll, n_iter = fits[ks[0]]
            return model, ll, n_iter, None, notes
        table = pd.DataFrame(rows)
        best = pick(table, self.pipeline.criterion)
        if best is None:
            raise FaceexprError(f"no candidate could be scored by {self.pipeline.criterion}")
        edge = Selection(table=table, best=best, criterion=self.pipeline.criterion,
                         candidates=ks).edge_message()
        if edge:
            notes.append(edge)
        model, ll, n_iter = fits[best]
        return model, ll, n_iter, table.set_index("n_states"), notes

    def _em(self, model: Any, out: Path, projected: dict[str, tasks.Projected],
            runner: _Runner, centre: FloatArray, sample: FloatArray, min_run: int
            ) -> tuple[float, int, float]:
        """Map–reduce EM, best of the model's restarts."""
        from faceexpr._progress import em_progress, restart_label

        n_init = int(model.options.get("n_init", 1))
        tol, n_iter = float(model.options.get("tol", 1e-3)), int(model.options["n_iter"])
        folders = {n: out / SESSIONS / n for n in projected}

        quiet = _Runner(runner.client, False)  # the EM bar shows the progress
        frames = quiet.persist(tasks.modelled_frames, {
            f"chunk {j}": ([folders[n] for n in chunk], min_run, centre)
            for j, chunk in enumerate(_chunks(projected))})
        # the model (its options and priors, a few kB) goes with every task rather than
        # scattered once: scattered data has no lineage, and is lost with the workers
        # that hold it, where a task's arguments are not

        def statistics(params: dict[str, FloatArray]) -> Any:
            got = quiet.map("E-step", tasks.e_step, {
                n: (f, model, params) for n, f in frames.items()}, None)
            parts = list(got.values())
            total = parts[0]
            for s in parts[1:]:
                total = total + s
            return total

        best: tuple[float, Any, Any, list[float]] | None = None
        for i in range(n_init):
            seed = None if model.random_state is None else int(model.random_state) + i
            params = model.start_params(sample, seed)
            history: list[float] = []
            label = restart_label(model.name, model.n_states, i, n_init)
            with em_progress(n_iter, label, runner.progress) as bar:
                for _ in range(n_iter):
                    stats = statistics(params)
                    params = model.m_step(stats, params)
                    history.append(stats.log_likelihood)
                    bar.update(stats.log_likelihood)
                    if len(history) > 1 and history[-1] - history[-2] < tol:
                        break
                stats = statistics(params)
            if best is None or stats.log_likelihood > best[0]:
                best = (stats.log_likelihood, params, stats, history)
        assert best is not None  # n_init >= 1
        ll, params, stats, history = best
        model.set_centred(params, stats, centre)
        model.log_likelihood_ = ll
        model.history_ = history
        model.n_iter_ = len(history)
        return ll, len(history), float(getattr(stats, "entropy", 0.0))

    def _gathered(self, model: StateModel, out: Path, projected: dict[str, tasks.Projected],
                  min_run: int, names: list[str]) -> tuple[float, int, float]:
        """Fit a backend without sufficient statistics here, on every session's frames."""
        from faceexpr.data import make_features
        from faceexpr.model_selection import posterior_entropy

        feats = []
        for n in projected:
            ds = tasks.open_store(out / SESSIONS / n / tasks.FEATURES)
            x = np.asarray(ds["x"].values)
            feats += [make_features(x[a:b], names) for a, b in tasks.runs(ds, min_run)]
        model.fit(feats)
        return (model.score(feats), int(getattr(model, "n_iter_", 0)),
                posterior_entropy(model, feats))

    def _tables(self, sessions: list[StudySession], prepared: dict[str, tasks.Prepared],
                labelled: dict[str, tasks.Labelled], failures: dict[str, str],
                reused: list[str], model: StateModel) -> dict[str, pd.DataFrame]:
        import pandas as pd

        from faceexpr.study.group import group_tables
        from faceexpr.study.manifest import manifest_table

        table = manifest_table(sessions)
        status: list[str] = []
        error: list[str] = []
        frames: list[float] = []
        lab: list[float] = []
        ll: list[float] = []
        for s in sessions:
            if s.name in labelled:
                status.append("reused" if s.name in reused else "done")
                error.append("")
                frames.append(prepared[s.name].n_frames)
                lab.append(labelled[s.name].labelled_frames)
                ll.append(labelled[s.name].log_likelihood)
            else:
                status.append("failed")
                error.append(failures.get(s.name, ""))
                frames.append(np.nan)
                lab.append(np.nan)
                ll.append(np.nan)
        table["status"], table["error"] = status, error
        table["frames"], table["labelled_frames"], table["log_likelihood"] = frames, lab, ll
        per = {n: lbl.tables for n, lbl in labelled.items()}
        freq = pd.concat([t.frequencies.assign(session=n) for n, t in per.items()])
        out = {"study": table, "frequencies": freq}
        out.update(group_tables(per, table, model.n_states))
        return out

    def _write(self, result: StudyResult, sessions: list[StudySession],
               ratio: list[float]) -> None:
        from faceexpr.pipeline import _csv
        from faceexpr.study.group import group_html

        out = result.out
        result.model.save(out / "model.npz")
        for name, table in result.tables.items():
            _csv(table, out / f"{name}.csv", index=name not in ("study",))
        if result.selection is not None:
            _csv(result.selection, out / "model_selection.csv")
        model = result.model
        n = 0 if self.client is None else len(self.client.scheduler_info()["workers"])
        where = ("this process" if self.client is None else
                 f"a dask cluster of {n} worker{'s' if n != 1 else ''}")
        summary = {
            "sessions": len(sessions), "analysed": len(result.sessions),
            "reused": result.reused,
            "failed": [{"session": s.name, "line": s.line, "error": result.failed[s.name]}
                       for s in sessions if s.name in result.failed],
            "ran_on": where, "state_model": model.name, "n_states": model.n_states,
            "options": {k: v for k, v in model.options.items() if k != "progress"},
            "log_likelihood": result.log_likelihood, "n_iter": result.n_iter,
            "n_parameters": model.n_parameters(),
            "explained_variance_ratio": ratio, "notes": result.notes,
        }
        text = json.dumps(summary, indent=2, default=str)
        atomic_write(out / "summary.json", lambda tmp: tmp.write_text(text))
        html = _report(summary, result, group_html(result.tables))
        atomic_write(out / "report.html", lambda tmp: tmp.write_text(html))


def _report(summary: dict[str, Any], result: StudyResult, groups: str) -> str:
    """A one-page study report: what ran, the sessions, failures and the group tables."""
    from html import escape

    study = result.tables["study"]
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in (
            r["session"], r["subject"], r["condition"], r["status"],
            "" if r["frames"] != r["frames"] else int(r["frames"]), r["error"])) + "</tr>"
        for _, r in study.iterrows())
    notes = "".join(f"<li>{escape(n)}</li>" for n in summary["notes"])
    failed = len(summary["failed"])
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>faceexpr study</title><style>body{font-family:sans-serif;margin:2em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
        "</style></head><body><h1>faceexpr study</h1>"
        f"<p>{summary['analysed']} of {summary['sessions']} sessions analysed on "
        f"{escape(summary['ran_on'])}"
        + (f"; <strong>{failed} failed and were left out</strong>" if failed else "")
        + f". Model: {escape(summary['state_model'])}, {summary['n_states']} states, "
        f"log-likelihood {summary['log_likelihood']:.6g} after {summary['n_iter']} EM "
        f"iterations.</p>" + (f"<ul>{notes}</ul>" if notes else "")
        + "<h2>Sessions</h2><table><tr><th>session</th><th>subject</th><th>condition</th>"
        f"<th>status</th><th>frames</th><th>error</th></tr>{rows}</table>"
        + groups + "</body></html>")
