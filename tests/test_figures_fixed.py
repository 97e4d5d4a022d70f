"""Figures fixed: nothing clipped, labelled 3D faces, censored bouts, face intervals."""

from __future__ import annotations

import dataclasses

import matplotlib.axis
import matplotlib.text
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

import faceexpr as fe
from faceexpr import analysis
from faceexpr.data import make_pose
from faceexpr.plot._style import NEUTRAL_COLOR
from faceexpr.plot.dynamics import dwell_times, transitions
from faceexpr.plot.faces import expressions
from faceexpr.report import _figure_plan
from faceexpr.schemes import guess_scheme
from faceexpr.synthetic import SyntheticFace
from faceexpr.synthetic.faces import simulate

K = 5


def texts_outside(fig: Figure) -> list[str]:
    """Describe every drawn, non-empty text of ``fig`` that reaches outside the figure.

    The figure is drawn (with Agg, as when saved), then every visible Text artist with
    text is compared with the figure's box, 1 pixel of tolerance. Tick labels of ticks
    outside the view limits are skipped: matplotlib keeps them around, at stale places,
    but does not draw them.
    """
    canvas = FigureCanvasAgg(fig)  # figures made without pyplot have a no-op canvas
    canvas.draw()
    renderer = canvas.get_renderer()
    drawn: set[int] = set()
    for ax in fig.axes:
        for axis in ax._axis_map.values():
            lo, hi = sorted(axis.get_view_interval())
            tol = 1e-9 * max(abs(lo), abs(hi), 1.0)
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if lo - tol <= tick.get_loc() <= hi + tol:
                    drawn.update((id(tick.label1), id(tick.label2)))
    tick_labels = {id(label) for tick in fig.findobj(matplotlib.axis.Tick)
                   for label in (tick.label1, tick.label2)}
    box = fig.bbox
    out = []
    for text in fig.findobj(matplotlib.text.Text):
        if id(text) in tick_labels and id(text) not in drawn:
            continue
        if not text.get_visible() or not text.get_text().strip():
            continue
        e = text.get_window_extent(renderer)
        if (e.x0 < box.x0 - 1 or e.y0 < box.y0 - 1 or e.x1 > box.x1 + 1
                or e.y1 > box.y1 + 1):
            out.append(f"{text.get_text()!r} at {np.round(e.extents).tolist()} outside "
                       f"{np.round(box.extents).tolist()}")
    return out


@pytest.fixture(scope="module")
def sim() -> SyntheticFace:
    return simulate(600, seed=2, n_cameras=1)


@pytest.fixture(scope="module", params=["3d", "2d"])
def result(request: pytest.FixtureRequest, sim: SyntheticFace) -> fe.Result:
    data = sim.pose3d if request.param == "3d" else sim.view(0)
    res = fe.Pipeline(n_states=K, progress=False).run(data)
    # a model-selection table, so that the plan holds that figure too
    ll = np.array([-4.0, -3.0, -2.5, -2.4])
    table = pd.DataFrame({"n_states": [3, 4, 5, 6], "bic": [9.0, 7.0, 6.0, 6.5],
                          "aic": [8.0, 6.0, 5.0, 5.2], "log_likelihood": 600 * ll,
                          "log_likelihood_per_frame": ll,
                          "bic_per_frame": [9.0, 7.0, 6.0, 6.5],
                          "aic_per_frame": [8.0, 6.0, 5.0, 5.2]})
    return dataclasses.replace(res, selection=table)


# --------------------------------------------------------------------------- clipping


def test_the_helper_finds_a_clipped_text() -> None:
    fig = Figure(figsize=(2, 2), layout="constrained")
    ax = fig.add_subplot()
    ax.set_xlim(0.15, 0.85)  # ticks at 0 and 1 exist but are not drawn
    fig.text(0.5, 0.5, "inside")
    fig.text(1.05, 0.5, "outside")
    fig.text(1.05, 0.3, "hidden", visible=False)
    fig.text(1.05, 0.1, " ")
    (found,) = texts_outside(fig)
    assert found.startswith("'outside'")


def test_no_figure_of_the_report_clips_a_text(result: fe.Result) -> None:
    scheme = guess_scheme([str(n) for n in result.egocentric[0]["landmarks"].values])
    plan = _figure_plan(result, scheme)  # what write_figures draws, in its order
    assert len(plan) >= 9
    clipped = {stem: texts for stem, _, _, draw in plan if (texts := texts_outside(draw()))}
    assert clipped == {}


@pytest.mark.parametrize("k", [1, 2, 5, 9, 12])
def test_transitions_keep_the_state_labels_inside_for_any_k(k: int) -> None:
    # K = 9 pushed "from state" off the left edge
    matrix = xr.DataArray(np.full((k, k), 1.0 / k), dims=("from_state", "to_state"),
                          coords={"from_state": np.arange(k), "to_state": np.arange(k)})
    assert texts_outside(transitions(matrix)) == []


def test_faces_with_intervals_and_many_states_clip_nothing(result: fe.Result) -> None:
    ci = analysis.state_mean_intervals(result.egocentric, result.states, K, n_boot=20)
    freq = result.frequencies["relative"]
    for relative in (False, True):
        fig = expressions(result.expressions, frequencies=freq, relative=relative,
                          intervals=ci)
        assert texts_outside(fig) == []


@pytest.mark.parametrize("k", [1, 2, 9])
def test_faces_and_their_legend_fit_few_or_many_panels(k: int) -> None:
    # one panel is narrower than the legend and the title were in one row
    pose, states = bout_data(6, seed=0)
    labels = np.minimum(states.values, k - 1)
    labels[labels.size // 2:] = np.arange(labels.size - labels.size // 2) % k
    states = states.copy(data=labels)
    means = analysis.state_means(pose, states, k)
    ci = analysis.state_mean_intervals(pose, states, k, n_boot=10)
    for relative in (False, True):
        fig = expressions(means, scheme=None, frequencies=np.full(k, 1 / k),
                          relative=relative, intervals=ci)
        assert texts_outside(fig) == []


def test_dwell_times_without_fps_clip_nothing() -> None:
    rng = np.random.default_rng(1)
    labels = np.repeat(rng.integers(0, 7, 400), rng.integers(1, 30, 400))
    labels[rng.random(labels.size) < 0.01] = -1  # gaps: censored bouts in the legend
    fig = dwell_times(analysis.bouts(xr.DataArray(labels, dims="time")), 7)
    assert len(fig.legends[0].get_texts()) == 3
    assert texts_outside(fig) == []
    # one panel: narrower than the legend in one row
    one = pd.DataFrame({"state": 0, "n_frames": np.arange(1, 31), "censored": np.arange(30) < 5})
    fig = dwell_times(one, 1)
    assert len(fig.legends[0].get_texts()) == 3
    assert texts_outside(fig) == []


# --------------------------------------------------------------------------- censored bouts

#        start  gap after  gap   before   complete  complete  end
CUT = [0, 0, 1, 1, -1, -1, 2, 0, 0, 1, 2, 2]


def test_bouts_cut_by_start_end_or_gap_are_censored() -> None:
    table = analysis.bouts([xr.DataArray(CUT, dims="time"), xr.DataArray([1], dims="time")])
    assert table["state"].tolist() == [0, 1, 2, 0, 1, 2, 1]
    assert table["censored"].tolist() == [True, True, True, False, False, True, True]
    assert table["censored"].dtype == bool


def test_dwell_statistics_use_complete_bouts_only() -> None:
    dwell = analysis.dwell_times(xr.DataArray(CUT, dims="time"), 4, fps=2.0)
    assert dwell["n_bouts"].tolist() == [2, 2, 2, 0]
    assert dwell["n_censored"].tolist() == [1, 1, 2, 0]
    assert dwell["mean_frames"].tolist()[:2] == [2.0, 1.0]  # not 2.0 and 1.5
    assert dwell["max_frames"].tolist()[:2] == [2.0, 1.0]
    assert dwell.loc[1, "median_s"] == 0.5
    # every bout of state 2 is censored: its length is unknown
    assert dwell.loc[2, ["mean_frames", "median_frames", "max_frames", "mean_s"]].isna().all()


def test_dwell_figure_draws_censored_bouts_hollow() -> None:
    fig = dwell_times(analysis.bouts(xr.DataArray(CUT, dims="time")), 3)
    ax = fig.axes[0]
    complete, cut = ax.collections
    assert complete.get_offsets()[:, 0].tolist() == [2.0]
    assert cut.get_offsets()[:, 0].tolist() == [2.0]
    assert complete.get_facecolor()[0][3] == 1.0
    assert len(cut.get_facecolor()) == 0 or cut.get_facecolor()[0][3] == 0.0  # hollow
    assert ax.lines[0].get_xdata()[0] == 2.0
    assert "1 complete + 1 censored bouts" in ax.get_title()
    assert "0 complete + 2 censored" in fig.axes[2].get_title()
    assert not fig.axes[2].lines  # no median of bouts of unknown length
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["complete bouts", "censored (cut by start/end/gap)",
                      "median of complete bouts"]
    assert fig.axes[-1].get_xlabel() == "bout duration (frames, fps unknown)"


# --------------------------------------------------------------------------- intervals


def bout_data(n_bouts: int, seed: int, bout_sd: float = 1.0) -> tuple[xr.Dataset,
                                                                        xr.DataArray]:
    """Two states alternating in bouts of 5-15 frames; every bout's landmarks are offset
    by its own N(0, bout_sd) (frames of a bout are alike), frames add a little noise.
    The true mean of every coordinate is 0 for state 0 and 10 for state 1."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(5, 16, 2 * n_bouts)
    labels = np.repeat(np.arange(2 * n_bouts) % 2, lengths)
    offsets = rng.normal(0.0, bout_sd, (2 * n_bouts, 30, 2))
    position = np.repeat(offsets, lengths, axis=0) + 10.0 * labels[:, None, None]
    position += rng.normal(0.0, 0.1, position.shape)
    pose = make_pose(position, [f"p{i}" for i in range(30)], units="mm")
    return pose, xr.DataArray(labels, dims="time")


def test_intervals_have_the_dims_and_contain_the_means() -> None:
    pose, states = bout_data(40, seed=0)
    ci = analysis.state_mean_intervals(pose, states, 3)
    assert ci.dims == ("states", "landmarks", "space", "bound")
    assert ci["bound"].values.tolist() == ["lower", "upper"]
    assert ci.shape == (3, 30, 2, 2)
    assert ci.attrs["units"] == "mm"
    assert ci.attrs["level"] == 0.95
    means = analysis.state_means(pose, states, 3)
    lower, upper = ci.sel(bound="lower"), ci.sel(bound="upper")
    assert bool(((lower <= means) & (means <= upper)).sel(states=[0, 1]).all())
    assert bool(ci.sel(states=2).isnull().all())  # no frames
    # the same seed, the same intervals
    again = analysis.state_mean_intervals(pose, states, 3)
    np.testing.assert_array_equal(again.values, ci.values)


def test_intervals_cover_the_true_mean_as_bouts_vary() -> None:
    pose, states = bout_data(40, seed=3)
    ci = analysis.state_mean_intervals(pose, states, 2, n_boot=400)
    truth = xr.DataArray([0.0, 10.0], dims="states")
    inside = (ci.sel(bound="lower") <= truth) & (truth <= ci.sel(bound="upper"))
    coverage = float(inside.mean())
    # 120 intervals at 95%; resampling frames instead of bouts would give intervals
    # about sqrt(10) times too narrow, covering well under half
    assert 0.85 <= coverage <= 1.0


def test_intervals_shrink_with_more_bouts() -> None:
    widths = []
    for n_bouts in (10, 160):
        pose, states = bout_data(n_bouts, seed=1)
        ci = analysis.state_mean_intervals(pose, states, 2)
        widths.append(float((ci.sel(bound="upper") - ci.sel(bound="lower")).mean()))
    assert widths[1] < widths[0] / 2.5  # sqrt(16) = 4 in theory


def test_one_bout_gives_a_zero_width_interval_and_bad_arguments_raise() -> None:
    pose, _ = bout_data(2, seed=0)
    states = xr.DataArray(np.zeros(pose.sizes["time"], dtype=np.int64), dims="time")
    ci = analysis.state_mean_intervals(pose, states, 1, n_boot=5)
    np.testing.assert_allclose(ci.sel(bound="lower"), ci.sel(bound="upper"))
    with pytest.raises(ValueError, match="level"):
        analysis.state_mean_intervals(pose, states, 1, level=1.5)
    with pytest.raises(ValueError, match="n_boot"):
        analysis.state_mean_intervals(pose, states, 1, n_boot=0)


# --------------------------------------------------------------------------- faces


def test_3d_faces_have_axis_labels_with_units(result: fe.Result) -> None:
    fig = expressions(result.expressions)
    units = "mm" if result.expressions.sizes["space"] == 3 else "pixels"
    for ax in fig.axes:
        assert units in ax.get_xlabel()
        assert units in ax.get_ylabel()
    if units == "mm":
        ax = fig.axes[0]
        assert "up (mm)" in ax.get_zlabel()  # turned upright: the face's directions
        unturned = expressions(result.expressions, orient=False).axes[0]
        assert (unturned.get_xlabel(), unturned.get_zlabel()) == ("x (mm)", "z (mm)")
    else:
        assert fig.axes[0].get_xlabel() == "x (pixels)"


def test_legend_names_the_grey_mean_face(result: fe.Result) -> None:
    freq = result.frequencies["relative"]
    fig = expressions(result.expressions, frequencies=freq, relative=True)
    (legend,) = fig.legends
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == ["state's face (displacements ×3)", "mean face (all frames)"]
    grey = legend.legend_handles[1]
    assert isinstance(grey, Line2D)
    assert to_hex(grey.get_color()) == NEUTRAL_COLOR.lower()
    plain = expressions(result.expressions, relative=True).legends[0]
    assert "mean of the state faces" in [t.get_text() for t in plain.get_texts()]


def test_intervals_are_drawn_as_a_cross_on_every_landmark() -> None:
    pose, states = bout_data(20, seed=0)
    means = analysis.state_means(pose, states, 2)
    ci = analysis.state_mean_intervals(pose, states, 2, n_boot=50)
    fig = expressions(means, scheme=None, intervals=ci, invert_y=False)
    assert fig.legends[0].get_texts()[-1].get_text() == "95% CI (bootstrap over bouts)"
    (bars,) = fig.axes[1].lines  # no skeleton: the only line is the bars'
    ends = np.asarray(bars.get_xydata()).reshape(-1, 3, 2)[:, :2]  # (30 * 2, 2 ends, xy)
    assert len(ends) == 60
    lo, hi = ci.sel(states=1, bound="lower").values, ci.sel(states=1, bound="upper").values
    face = means.sel(states=1).values
    np.testing.assert_allclose(ends[0::2, 0, 0], lo[:, 0])  # along x: lower x to upper x
    np.testing.assert_allclose(ends[0::2, 1, 0], hi[:, 0])
    np.testing.assert_allclose(ends[0::2, :, 1], face[:, [1, 1]])  # at the face's y
    np.testing.assert_allclose(ends[1::2, 0, 1], lo[:, 1])  # along y
    # displacement view: the bars grow with the displacements
    rel = expressions(means, scheme=None, intervals=ci, invert_y=False, relative=True,
                      gain=4)
    (rel_bars,) = rel.axes[1].lines  # no skeleton, and 2D arrows are a quiver
    rel_ends = np.asarray(rel_bars.get_xydata()).reshape(-1, 3, 2)[:, :2]
    np.testing.assert_allclose(np.diff(rel_ends[0::2, :, 0], axis=1),
                               4 * np.diff(ends[0::2, :, 0], axis=1))
    with pytest.raises(ValueError, match="bound"):
        expressions(means, intervals=ci.sel(bound="lower"))
