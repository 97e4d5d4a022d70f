"""Figures and the HTML summary page written beside a result's tables.

:func:`write_figures` draws every figure that applies to a :class:`faceexpr.Result`;
:func:`write_report` writes ``report.html``, one page that shows the figures and links
every file of the output folder. :meth:`faceexpr.Result.save` calls both.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from faceexpr._typing import PathLike
from faceexpr.data import DROP_REASONS
from faceexpr.io._common import atomic_write
from faceexpr.schemes import SchemeLike, guess_scheme

if TYPE_CHECKING:  # matplotlib (faceexpr.plot) is imported when figures are drawn
    from matplotlib.figure import Figure

    from faceexpr.analysis import StateMeaning
    from faceexpr.state_cards import StateCard

SESSIONS = "sessions"
"""Folder of a saved result that holds one folder per session (its netCDF file, figures
and labelled video), so that no session name can collide with a result file or with
another session's files."""


class Result(Protocol):
    """What the figures and the page read of a result (:class:`faceexpr.Result` has it).

    A protocol, so that this module serves :mod:`faceexpr.pipeline` without importing it.
    """

    @property
    def sessions(self) -> list[str]: ...
    @property
    def poses(self) -> list[xr.Dataset]: ...
    @property
    def egocentric(self) -> list[xr.Dataset]: ...
    @property
    def kinematics(self) -> list[xr.Dataset]: ...
    @property
    def features(self) -> list[xr.DataArray]: ...
    @property
    def states(self) -> list[xr.DataArray]: ...
    @property
    def selection(self) -> pd.DataFrame | None: ...
    @property
    def n_states(self) -> int: ...
    @property
    def fps(self) -> float | None: ...
    @property
    def expressions(self) -> xr.DataArray: ...
    @property
    def frequencies(self) -> pd.DataFrame: ...
    @property
    def bouts(self) -> pd.DataFrame: ...
    @property
    def dwell_times(self) -> pd.DataFrame: ...
    @property
    def transitions(self) -> xr.DataArray: ...
    @property
    def diagnostics(self) -> Sequence[Any]: ...
    @property
    def stability(self) -> Any: ...
    @property
    def loadings(self) -> xr.DataArray | None: ...
    @property
    def meaning(self) -> StateMeaning: ...
    def state_cards(self) -> list[StateCard]: ...
    def summary(self) -> dict[str, Any]: ...


@dataclass
class FigureFile:
    """One figure written to disk, with what the report says about it."""

    name: str
    title: str
    caption: str
    paths: list[Path] = field(default_factory=list)


def _figure_plan(result: Result, scheme: SchemeLike) -> list[tuple[str, str, str,
                                                                    Callable[[], Figure]]]:
    """(file stem, title, caption, how to draw it) of every figure that applies."""
    from faceexpr.analysis import state_mean_intervals
    from faceexpr.plot import dynamics, ethogram, faces, head, selection
    from faceexpr.plot import loadings as loadings_plot
    from faceexpr.plot import sequences as sequences_plot
    from faceexpr.plot import similarity as similarity_plot
    from faceexpr.plot import stability as stability_plot

    k = result.n_states
    freq = result.frequencies["relative"]
    ci = state_mean_intervals(result.egocentric, result.states, k)
    plan: list[tuple[str, str, str, Callable[[], Figure]]] = [
        ("expressions", "Expressions",
         "Average egocentric face of every state, with its share of the frames; crosses: "
         "95% bootstrap intervals of every landmark (bouts resampled).",
         lambda: faces.expressions(result.expressions, scheme, freq, intervals=ci)),
        ("expressions_relative", "Expressions as displacements",
         "Every state's face (colour) against the overall mean face (grey); differences "
         "magnified ×3 so small expressions show; crosses: 95% bootstrap intervals.",
         lambda: faces.expressions(result.expressions, scheme, freq, relative=True,
                                   intervals=ci)),
        ("frequencies", "State frequencies",
         "Time spent in every state, absolute and relative.",
         lambda: dynamics.frequencies(result.frequencies)),
        ("transitions", "Transitions",
         "Probability of the next frame's state given this frame's state.",
         lambda: dynamics.transitions(result.transitions)),
        ("dwell_times", "Dwell times",
         "Bout durations per state: a histogram, or one point per bout when there are "
         "fewer than 10 complete bouts; bouts cut by the start or end of the recording or "
         "by a gap (censored) are marked (hatched or hollow) and left out of the median.",
         lambda: dynamics.dwell_times(result.bouts, k, result.fps)),
        ("kinematics_by_state", "Head kinematics by state",
         "Distribution of head speed and acceleration in the frames of every state.",
         lambda: head.kinematics_by_state(result.kinematics, result.states, k)),
    ]
    for name, feat, states, kin in zip(result.sessions, result.features, result.states,
                                       result.kinematics):
        plan.append((f"{SESSIONS}/{name}/timeline", f"Timeline: {name}",
                     "Feature time series over the state sequence (bands), and the state "
                     "raster.",
                     partial(ethogram.timeline, feat, states, k, title=name)))
        plan.append((f"{SESSIONS}/{name}/kinematics", f"Head kinematics: {name}",
                     "Head position, velocity and acceleration over time, with the states.",
                     partial(head.kinematics, kin, states, k)))
    loads = result.loadings
    if loads is not None:
        mean_face = result.egocentric[0]["position"].mean("time")
        mean_face.attrs["units"] = result.egocentric[0].attrs.get("units", "")
        plan.insert(2, ("loadings", "What the features are: principal components",
                        "Every principal component the states are fitted on, as landmark "
                        "displacements (arrows, +2 SD of its score) on the mean face, with "
                        "its share of the variance.",
                        partial(loadings_plot.loadings, loads, mean_face, scheme=scheme)))
    table = result.selection
    if table is not None and len(table) > 1:
        plan.append(("model_selection", "Model selection",
                     "Every criterion as a log-likelihood per frame (higher is better): "
                     "in-sample scores penalised by BIC, ICL and AIC (left), and the "
                     "held-out log-likelihood of blocked cross-validation, mean ± standard "
                     "error over contiguous folds (right; the dashed line is one standard "
                     "error below the best: the fewest states above it are chosen).",
                     lambda: selection.model_selection(table, chosen=k)))
    meaning = result.meaning
    if meaning.distances is not None and meaning.comparison is not None:
        dist, cmp = meaning.distances, meaning.comparison
        plan += [
            ("state_distances", "How alike the states are",
             "Distance between the mean faces of every pair of states (RMS over the "
             "landmarks, in the data's units) with their clustering (average linkage).",
             partial(similarity_plot.state_distances, dist)),
            ("state_difference", "Where the two most alike states differ",
             "The mean face of one state and arrows to the other's, the landmarks that "
             "differ most first.",
             partial(similarity_plot.state_difference, cmp, scheme)),
            ("transition_graph", "Transitions between bouts",
             "States as nodes sized by their share of the frames; arrows: probability "
             "that a bout is followed by another state's (0.1 and above).",
             partial(sequences_plot.transition_graph, meaning.bout_transitions, freq,
                     threshold=0.1))]
    if len(meaning.sequences):
        plan.append(("typical_sequences", "Typical sequences",
                     "The most frequent orders of states (bouts, repeats collapsed) against "
                     "their count when the bouts are shuffled.",
                     partial(sequences_plot.ngrams, meaning.sequences, top=8)))
    stab = result.stability
    if stab is not None:
        plan.append(("stability", "Stability of the states",
                     "How often every state reappears (Jaccard overlap of its frames of at "
                     "least the threshold) when the model is refitted on block-bootstrap "
                     "resamples, the two halves and other seeds (left), and the adjusted "
                     "Rand index of every refit's states with these (right).",
                     partial(stability_plot.stability, stab)))
    return plan


def write_figures(
    result: Result,
    folder: PathLike,
    formats: Sequence[str] = ("png",),
    scheme: SchemeLike | str = "auto",
    videos: Mapping[str, PathLike] | None = None,
    progress: bool = False,
) -> list[FigureFile]:
    """Draw every figure that applies to ``result`` into ``folder``.

    Parameters
    ----------
    result
        A pipeline result.
    folder
        An existing folder.
    formats
        File formats, e.g. ``("png", "svg")``.
    scheme
        Skeleton of the faces; ``"auto"`` recognises known landmark schemes.
    videos
        Session name → video file: write ``sessions/<session>/labelled.mp4`` (H.264) with
        the landmarks and the current state drawn on every frame (needs the ``video``
        extra).
    progress
        Show progress bars.

    Returns
    -------
    list of FigureFile
        What was written, in the order the report shows it.
    """
    from faceexpr.plot import save_figure

    folder = Path(folder)
    if isinstance(scheme, str):
        scheme = guess_scheme([str(n) for n in result.egocentric[0]["landmarks"].values])
    plan = _figure_plan(result, scheme)
    written = []
    for name, title, caption, draw in tqdm(plan, desc="figures", disable=not progress,
                                           leave=False):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        paths = save_figure(draw(), folder / name, formats)
        written.append(FigureFile(name, title, caption, paths))
    for session, video in (videos or {}).items():
        written.append(_labelled_video(result, session, video, folder, scheme, progress))
    return written


def _labelled_video(result: Result, session: str, video: PathLike, folder: Path,
                    scheme: SchemeLike, progress: bool) -> FigureFile:
    from faceexpr.plot.video import labelled_video

    if session not in result.sessions:
        raise ValueError(f"video given for unknown session {session!r}; sessions are "
                         f"{result.sessions}")
    i = result.sessions.index(session)
    out = folder / SESSIONS / session / "labelled.mp4"
    out.parent.mkdir(parents=True, exist_ok=True)
    labelled_video(video, result.poses[i], out, states=result.states[i],
                   n_states=result.n_states, scheme=scheme, progress=progress)
    caption = f"{Path(video).name} with the landmarks and the current state."
    pose = result.poses[i]
    if "dropped" in pose.variables and pose.sizes["time"]:
        codes = pose["dropped"].values
        why = ", ".join(f"{reason.replace('-', ' ')} {(codes == k).mean():.0%}"
                        for k, reason in enumerate(DROP_REASONS) if k and (codes == k).any())
        caption += (f" Landmarks in {(codes == 0).mean():.0%} of the frames"
                    + (f" (no landmarks: {why})." if why else "."))
    return FigureFile(f"{SESSIONS}/{session}/labelled", f"Labelled video: {session}",
                      caption, [out])


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
figure { margin: 1em 0; } img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
code { background: #f4f4f4; padding: 0 0.2em; }
ul.diagnostics li.warning { color: #8a1c00; } ul.diagnostics li { margin: 0.3em 0; }
p.note { color: #555; font-size: 0.9em; }
"""


def write_report(result: Result, folder: PathLike, figures: Sequence[FigureFile],
                 title: str = "faceexpr report") -> Path:
    """Write ``report.html`` in ``folder``: summary, tables, figures and links to all files.

    The page uses relative links only, so the folder can be moved or shared as a whole.
    """
    folder = Path(folder)
    summary = result.summary()
    esc = html.escape
    steps = {s["step"]: s for s in summary.get("provenance", {}).get("steps", [])}
    model_step = steps.get("state_model", {})
    pca_step = steps.get("pca", {})
    explained = pca_step.get("explained_variance_ratio")
    facts = {
        "Sessions": ", ".join(summary["sessions"]),
        "States": summary["n_states"],
        "State model": summary["state_model"],
        "Frames (with a state)": f"{summary['n_frames']} ({summary['n_frames_with_state']})",
        "Features": summary["n_features"],
        "Dimensions": f"{summary['dims']}D",
        "Frame rate": f"{summary['fps']:g} fps" if summary["fps"] else "unknown",
        "Log-likelihood": f"{summary['log_likelihood']:.1f}",
        "Free parameters": summary.get("n_parameters"),
        "Effective frames": "" if summary.get("n_effective_frames") is None
        else f"{summary['n_effective_frames']:.0f} (frames / autocorrelation time)",
        "Chosen by": summary.get("n_states_chosen_by") or "given",
        "Seed, restarts": f"{model_step.get('random_state')}, {model_step.get('n_init')}",
        "Priors": ", ".join(f"{k} {v:.3g}" for k, v in (model_step.get("priors") or {})
                            .items() if isinstance(v, (int, float))),
        "PCA": "off" if not explained else
        f"{len(explained)} components, {sum(explained):.0%} of the variance",
    }
    parts = [f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
             f"<title>{esc(title)}</title><link rel='icon' href='data:,'>"  # no favicon request
             f"<style>{_STYLE}</style></head><body>",
             f"<h1>{esc(title)}</h1>"]
    parts += _diagnostics_html(result.diagnostics)
    parts += _state_cards_html(result, folder)
    parts.append("<table>")
    parts += [f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>" for k, v in facts.items()]
    parts.append("</table>")
    parts += _coverage_html(summary.get("coverage") or [])
    no_fps = "" if summary["fps"] else (
        "<p class='note'>The input has no frame rate: times are frame numbers and the "
        "columns in seconds and per minute are empty (give <code>--fps</code>).</p>")
    parts += ["<h2>State frequencies</h2>", no_fps, _html_table(result.frequencies),
              "<h2>Dwell times</h2>",
              "<p class='note'>Bouts cut by the start or end of a recording, or by frames "
              "without a state (censored), are counted but left out of the statistics.</p>",
              _html_table(result.dwell_times)]
    parts += _meaning_html(result.meaning, summary.get("units") or "")
    if result.stability is not None:
        parts += ["<h2>Stability</h2>",
                  f"<p>Median adjusted Rand index over {len(result.stability.refits)} "
                  f"refits: {result.stability.ari:.3f}.</p>",
                  _html_table(result.stability.per_state)]
    def link(path: Path) -> str:  # relative, so the folder can be moved as a whole
        return Path(os.path.relpath(path, folder)).as_posix()

    for fig in figures:
        parts.append(f"<h2 id='{esc(fig.name)}'>{esc(fig.title)}</h2>")
        main = link(fig.paths[0])
        if main.endswith(".mp4"):  # H.264 in MP4 (faststart): browsers play it as it loads
            parts.append(f"<video controls preload='metadata' style='max-width:100%'>"
                         f"<source src='{esc(main)}' type='video/mp4'>"
                         f"<a href='{esc(main)}'>{esc(main)}</a></video>")
        else:
            parts.append(f"<figure><a href='{esc(main)}'><img src='{esc(main)}' "
                         f"alt='{esc(fig.title)}'></a>")
        others = " ".join(f"<a href='{esc(link(p))}'>{esc(p.suffix[1:])}</a>"
                          for p in fig.paths[1:])
        parts.append(f"<figcaption>{esc(fig.caption)} {others}</figcaption></figure>"
                     if not main.endswith(".mp4") else f"<p>{esc(fig.caption)}</p>")
    parts += _provenance_html(summary.get("provenance", {}))
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                   if p.is_file() and p.suffix in {".csv", ".nc", ".npz", ".json"})
    parts += ["<h2>Files</h2>", "<ul>"]
    parts += [f"<li><a href='{esc(n)}'><code>{esc(n)}</code></a></li>" for n in files]
    parts += ["</ul>", "</body></html>\n"]
    out = folder / "report.html"
    text = "\n".join(parts)
    atomic_write(out, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return out


def _state_cards_html(result: Result, folder: Path) -> list[str]:
    """The "States" section: one card per state with its mean face (inline SVG), share of
    the time, typical bout, the three measures that differ most from the average frame,
    its FACS geometric proxies and, where the input has them, OpenFace action units.

    The faces are drawn as inline SVG, not figure files: a few hundred bytes each, sharp
    at any zoom, and nothing to write, link or keep in step with the figures.
    """
    import numpy as np

    from faceexpr.plot._style import NEUTRAL_COLOR, state_colors
    from faceexpr.schemes import skeleton_edges
    from faceexpr.state_cards import (
        MIN_CHANGE,
        Z_SUPPORT,
        Z_THRESHOLD,
        face_directions,
        front_view,
        mean_face,
    )

    esc = html.escape
    names = [str(n) for n in result.egocentric[0]["landmarks"].values]
    scheme = guess_scheme(names)
    cards = result.state_cards()
    overall = mean_face(result.egocentric)
    faces = np.asarray(result.expressions.transpose("states", "landmarks", "space").values)
    left, up = face_directions(overall, names, scheme)
    drawn = front_view(np.concatenate([overall[None], faces]), left, up)  # (1 + K, L, 2)
    seen = drawn[np.isfinite(drawn).all(axis=-1)]
    lo, hi = (seen.min(axis=0), seen.max(axis=0)) if len(seen) else (np.zeros(2), np.ones(2))
    span = float(max(hi - lo)) or 1.0
    size, pad = 150.0, 8.0
    offset = (span - (hi - lo)) / 2  # centre the narrower extent

    def svg_face(points: Any, colour: str, width: float, opacity: float = 1.0) -> str:
        xy = [(pad + (p[0] - lo[0] + offset[0]) / span * (size - 2 * pad),
               pad + (hi[1] - p[1] + offset[1]) / span * (size - 2 * pad)) for p in points]
        ok = [bool(np.isfinite(v).all()) for v in xy]
        lines = "".join(f"<line x1='{xy[a][0]:.1f}' y1='{xy[a][1]:.1f}' x2='{xy[b][0]:.1f}' "
                        f"y2='{xy[b][1]:.1f}'/>" for a, b in skeleton_edges(scheme, names)
                        if ok[a] and ok[b])
        dots = "".join(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='{width:.1f}'/>"
                       for (x, y), good in zip(xy, ok) if good)
        return (f"<g stroke='{colour}' fill='{colour}' stroke-width='{width:.1f}' "
                f"opacity='{opacity:g}' stroke-linecap='round'>{lines}{dots}</g>")

    units = cards[0].measures[0].units if cards and cards[0].measures else ""
    link = (" Every measure of every state: <a href='state_cards.csv'>"
            "<code>state_cards.csv</code></a>." if (folder / "state_cards.csv").exists() else "")
    out = ["<h2 id='states'>States</h2>",
           "<p class='note'>Each state's mean face (colour) over the mean face of all frames "
           "(grey), seen from the front; its share of the frames with a state and its "
           "typical bout (median of the bouts of known length); the three measures that "
           "differ most from the average frame, in the data's units"
           + (f" ({esc(units)})" if units else "") + " and in standard deviations (SD) of "
           "all frames. FACS action units are named where the landmarks move as that "
           f"action unit moves them (|z| ≥ {Z_THRESHOLD:g} SD and at least "
           f"{MIN_CHANGE:.0%} of the face's size; AU12 also the mouth wider by "
           f"{Z_SUPPORT:g} SD): a geometric proxy, not FACS coding." + link + "</p>",
           "<div class='state-cards' style='display:flex;flex-wrap:wrap;gap:12px;"
           "margin-bottom:1.5em'>"]
    colours = state_colors(max(result.n_states, 1))
    for card in cards:
        colour = colours[card.state]
        svg = (f"<svg xmlns='http://www.w3.org/2000/svg' width='{size:g}' height='{size:g}' "
               f"viewBox='0 0 {size:g} {size:g}' role='img'><title>Mean face of state "
               f"{card.state}</title>{svg_face(drawn[0], NEUTRAL_COLOR, 0.8, 0.5)}"
               f"{svg_face(drawn[1 + card.state], colour, 1.4)}</svg>")
        largest = "".join(f"<li>{esc(m.words())}</li>" for m in card.largest())
        proxies = ("".join(f"<li>{esc(p.words())}</li>" for p in card.proxies)
                   or "<li>none</li>")
        share = f"{card.share:.0%}" if np.isfinite(card.share) else "no"
        out += [f"<section class='state-card' id='state-{card.state}' style='border:1px "
                f"solid #ccc;border-top:6px solid {colour};padding:0.4em 0.8em;width:320px;"
                "font-size:0.9em'>",
                f"<h3 style='margin:0.2em 0'>State {card.state}</h3>", svg,
                f"<p>{share} of the time ({card.n_frames} frames, {card.n_bouts} bouts); "
                f"{esc(card.dwell_words())}.</p>",
                f"<p>Most different from the average frame:</p><ul>{largest}</ul>",
                f"<p>FACS geometric proxies (not FACS coding):</p><ul>{proxies}</ul>"]
        if card.action_units:
            ranked = sorted(card.action_units,
                            key=lambda m: -abs(m.z) if np.isfinite(m.z) else 0.0)
            rows = "".join(f"<tr><th>{esc(m.label)}</th><td>{m.state_mean:.2f}</td>"
                           f"<td>{m.overall_mean:.2f}</td><td>{m.z:+.1f}</td></tr>"
                           for m in ranked)
            out += ["<p>OpenFace action units (intensity 0–5): "
                    + esc("; ".join(m.words() for m in ranked[:3])) + "</p>",
                    "<details><summary>every action unit</summary><table><tr><th>AU</th>"
                    "<th>state</th><th>all frames</th><th>z</th></tr>"
                    f"{rows}</table></details>"]
        out.append("</section>")
    return [*out, "</div>"]


def _meaning_html(meaning: StateMeaning, units: str) -> list[str]:
    """Which states are alike and where the closest two differ; which orders of states
    occur more often than chance; how predictable the sequence is."""
    esc = html.escape
    out: list[str] = []
    dist, cmp = meaning.distances, meaning.comparison
    if dist is not None and cmp is not None:
        units = dist.units or units
        pair = dist.to_frame().iloc[0]
        a, b = int(pair["state_a"]), int(pair["state_b"])
        top = cmp.table.head(3)
        where = "; ".join(
            f"{row.landmark} {row.magnitude:.2f} [{row.magnitude_lower:.2f}, "
            f"{row.magnitude_upper:.2f}]" for row in top.itertuples())
        out += ["<h2>Similar and different states</h2>",
                f"<p>The most alike states are {a} and {b}: mean faces "
                f"{pair['mean_distance']:.2f} {esc(units)} apart (RMS over the landmarks), "
                f"distribution distance {pair['distribution_distance']:.2f} (overlap "
                f"{pair['overlap']:.2f}). They differ most at {esc(where)} {esc(units)} "
                "(95% bootstrap intervals, bouts resampled).</p>",
                "<p class='note'>The states merged by similarity of their mean faces "
                "(average linkage):</p>", _html_table(dist.merges().set_index("step"))]
    table = meaning.sequences
    out.append("<h2>Typical sequences</h2>")
    above = table[table["above_chance"]] if len(table) else table
    if len(above):
        out += ["<p>Orders of states (bouts, repeats collapsed) that occur more often "
                "than when the same bouts are shuffled (no state next to itself; "
                "Benjamini–Hochberg, 5% false discovery rate):</p>", "<ul>"]
        for row in above.itertuples():
            out.append(f"<li>{esc(str(row.ngram).replace('-', '→'))}: {row.count} times, "
                       f"{row.expected:.1f} expected by chance (p = {row.p_value:.3f}, "
                       f"q = {row.q_value:.3f})</li>")
        out.append("</ul>")
    else:
        out.append("<p>No order of states occurs more often than chance (bouts shuffled, "
                   "5% false discovery rate).</p>")
    ent = meaning.entropy
    if "bout" in ent.index:
        bout = ent.loc["bout"].to_dict()
        bits, most, share = (float(bout[c]) for c in ("entropy_bits", "max_bits", "relative"))
        out.append(f"<p>Entropy rate of the bout sequence: {bits:.2f} of at most "
                   f"{most:.2f} bits per bout ({share:.0%}; lower is more "
                   "predictable).</p>")
    return out


def _coverage_html(coverage: Sequence[Mapping[str, Any]]) -> list[str]:
    """Frames with landmarks and a state per session, the shots, and why frames were
    dropped, where the pose estimator recorded it (shown only then, or with cuts)."""
    if not any(row.get("shots", 1) > 1 or any(k.startswith("dropped_") for k in row)
               for row in coverage):
        return []
    table = pd.DataFrame(list(coverage))
    table.columns = [str(c).replace("dropped_", "dropped: ").replace("_", " ")
                     for c in table.columns]
    return ["<h2>Coverage</h2>",
            "<p class='note'>Frames per session with landmarks and with a state, the shots "
            "(each fitted as its own sequence, so no transition crosses a cut), and why "
            "the other frames have no landmarks.</p>",
            _html_table(table.set_index("session"))]


def _diagnostics_html(diagnostics: Sequence[Any]) -> list[str]:
    """The diagnostics as the first section of the page (warnings first)."""
    esc = html.escape
    if not diagnostics:
        return ["<h2>Diagnostics</h2>", "<p>No warnings.</p>"]
    out = ["<h2>Diagnostics</h2>", "<ul class='diagnostics'>"]
    for d in diagnostics:
        out.append(f"<li class='{esc(d.severity)}'><strong>{esc(d.severity)}</strong> "
                   f"<code>{esc(d.code)}</code>: {esc(d.message)}</li>")
    return [*out, "</ul>"]


def _provenance_html(provenance: Mapping[str, Any]) -> list[str]:
    """Every step with its parameters, and the versions (large arrays only summarised)."""
    esc = html.escape

    def shown(value: Any) -> str:
        if isinstance(value, list) and value and isinstance(value[0], list):
            return f"{len(value)} x {len(value[0])} array (in summary.json)"
        if isinstance(value, list) and len(value) > 12:
            head = ", ".join(f"{v:.3g}" if isinstance(v, float) else str(v)
                             for v in value[:6])
            return f"[{head}, … {len(value)} values] (in summary.json)"
        if isinstance(value, list):
            return ", ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in value)
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    rows = []
    for step in provenance.get("steps", []):
        params = "; ".join(f"{k}: {shown(v)}" for k, v in step.items() if k != "step")
        rows.append(f"<tr><th>{esc(str(step.get('step')))}</th>"
                    f"<td style='text-align:left'>{esc(params)}</td></tr>")
    versions = ", ".join(f"{k} {v}" for k, v in provenance.get("versions", {}).items())
    return ["<h2>Provenance</h2>", "<table>", *rows, "</table>",
            f"<p>Versions: {esc(versions)}</p>"]


def _html_table(table: pd.DataFrame) -> str:
    return table.to_html(float_format=lambda v: f"{v:.3g}", border=0, na_rep="")
