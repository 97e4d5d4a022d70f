"""Tests of the figure functions of faceexpr.plot on real pipeline output and small inputs."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from PIL import Image

import faceexpr as fe
from faceexpr import synthetic
from faceexpr.plot._lines import MAX_POINTS, envelope
from faceexpr.plot._states import MAX_COLUMNS
from faceexpr.plot._style import NO_STATE_COLOR, save_figure, state_colors
from faceexpr.plot.dynamics import dwell_times, frequencies, transitions
from faceexpr.plot.ethogram import _scaled_traces, timeline
from faceexpr.plot.head import kinematics, kinematics_by_state
from faceexpr.plot.loadings import component_label
from faceexpr.plot.selection import model_selection

K = 5
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def sim() -> synthetic.SyntheticFace:
    return synthetic.simulate(600, seed=2, n_cameras=1)


@pytest.fixture(scope="module")
def result3d(sim: synthetic.SyntheticFace) -> fe.Result:
    return fe.Pipeline(n_states=K, pca=10, progress=False).run(sim.pose3d)


@pytest.fixture(scope="module")
def result2d(sim: synthetic.SyntheticFace) -> fe.Result:
    return fe.Pipeline(n_states=K, pca=10, progress=False).run(sim.view(0))


@pytest.fixture(params=["3d", "2d"])
def result(request: pytest.FixtureRequest) -> fe.Result:
    res: fe.Result = request.getfixturevalue(f"result{request.param}")
    return res


def states_of(values: list[int], fps: float | None = None) -> xr.DataArray:
    n = len(values)
    frame = np.arange(n, dtype=np.int64)
    time = frame / fps if fps else frame.astype(np.float64)
    da = xr.DataArray(np.asarray(values, dtype=np.int64), dims="time", name="state",
                      coords={"time": time, "frame": ("time", frame)})
    if fps is not None:
        da.attrs["fps"] = fps
    return da


def rgba(color: str) -> np.ndarray:
    return np.asarray(to_rgba(color))


def test_modules_do_not_use_pyplot() -> None:
    # pyplot would open windows and keep every figure alive in its global state
    folder = Path(inspect.getfile(fe.plot)).parent
    sources = {f.name: f.read_text() for f in folder.glob("*.py")}
    assert len(sources) >= 8
    assert not [name for name, text in sources.items()
                if re.search(r"matplotlib\.pyplot|import pyplot", text)]


# --------------------------------------------------------------------------- timeline


def test_timeline_real(result: fe.Result) -> None:
    feats, states = result.features[0], result.states[0]
    fig = timeline(feats, states, K, max_features=6, title="session0")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    top, raster = fig.axes
    assert len(top.lines) == 6
    # principal components are labelled with their share of the variance
    ratios = feats.attrs["explained_variance_ratio"]
    assert [t.get_text() for t in top.get_yticklabels()] == [
        component_label(k, ratios[k]) for k in range(6)]
    assert f"6 of {feats.sizes['features']} shown" in top.get_ylabel()
    # the traces are the features, scaled: NaN exactly where the features are NaN
    assert np.array_equal(np.isnan(top.lines[0].get_ydata()),
                          np.isnan(feats.values[:, 0]))
    assert raster.get_xlabel() == "time (s)"
    labels = states.values
    has_missing = bool((labels < 0).any())
    image = raster.images[0]
    data = image.get_array()
    assert data.shape == (K + int(has_missing), labels.size)
    colours = image.to_rgba(data)
    for k in range(K):
        t = int(np.flatnonzero(labels == k)[0])
        assert np.allclose(colours[k, t], rgba(state_colors(K)[k]))
        others = [j for j in range(K) if j != k]
        assert np.all(colours[others, t, 3] == 0)  # other rows are empty there
        assert np.count_nonzero(~np.ma.getmaskarray(data[k])) == np.sum(labels == k)
    if has_missing:
        t = int(np.flatnonzero(labels < 0)[0])
        assert np.allclose(colours[K, t], rgba(NO_STATE_COLOR))
    ticks = [t.get_text() for t in raster.get_yticklabels()]
    assert ticks[:K] == [f"state {k}" for k in range(K)]
    # the background band behind the traces has the state colour of each frame
    band = top.images[0]
    band_rgba = band.to_rgba(band.get_array())[0]
    t = int(np.flatnonzero(labels == 2)[0])
    assert np.allclose(band_rgba[t, :3], rgba(state_colors(K)[2])[:3])


def test_timeline_frames_and_missing_states() -> None:
    states = states_of([0, 0, -1, 1, 1, 2, -1, 0])
    feats = xr.DataArray(np.arange(16, dtype=float).reshape(8, 2), dims=("time", "features"),
                         coords={"features": ["a", "b"]})
    feats[2] = np.nan
    fig = timeline(feats, states, 3)
    top, raster = fig.axes
    assert raster.get_xlabel() == "frame"
    assert [t.get_text() for t in raster.get_yticklabels()] == [
        "state 0", "state 1", "state 2", "no state"]
    image = raster.images[0]
    colours = image.to_rgba(image.get_array())
    assert colours.shape[:2] == (4, 8)
    assert np.allclose(colours[3, 2], rgba(NO_STATE_COLOR))
    assert np.allclose(colours[3, 6], rgba(NO_STATE_COLOR))
    assert np.all(colours[3, [0, 1, 3, 4, 5, 7], 3] == 0)
    assert np.allclose(colours[2, 5], rgba(state_colors(3)[2]))
    # frame numbers span the image: frames 0..7 with half-frame margins
    assert image.get_extent()[:2] == pytest.approx([-0.5, 7.5])
    assert len(top.lines) == 2


def test_timeline_gap_in_frames_is_blank() -> None:
    # frames 0, 1, 2, 5, 6 at 10 fps: the two dropped frames get their own empty columns
    frame = np.array([0, 1, 2, 5, 6])
    states = xr.DataArray(np.array([0, 0, 1, 1, 0]), dims="time", attrs={"fps": 10.0},
                          coords={"time": frame / 10.0, "frame": ("time", frame)})
    feats = xr.DataArray(np.ones((5, 1)), dims=("time", "features"))
    raster = timeline(feats, states, 2).axes[1]
    data = raster.images[0].get_array()
    assert data.shape == (2, 7)
    assert np.ma.getmaskarray(data)[:, 3:5].all()
    assert raster.get_xlabel() == "time (s)"


def test_timeline_bad_input() -> None:
    feats = xr.DataArray(np.ones((4, 2)), dims=("time", "features"))
    with pytest.raises(ValueError, match="4 frames but states have 3"):
        timeline(feats, states_of([0, 1, 0]), 2)
    with pytest.raises(ValueError, match="outside"):
        timeline(feats, states_of([0, 1, 2, 0]), 2)
    with pytest.raises(ValueError, match="empty"):
        timeline(feats.isel(time=slice(0, 0)), states_of([]), 2)


# --------------------------------------------------------------------------- kinematics


@pytest.mark.parametrize(("dim", "n_lines", "unit"), [
    ("3d", [3, 3, 3, 3], "mm"), ("2d", [2, 2, 2, 1], "px")])
def test_kinematics_panels_and_lines(dim: str, n_lines: list[int], unit: str,
                                     request: pytest.FixtureRequest) -> None:
    res: fe.Result = request.getfixturevalue(f"result{dim}")
    kin = res.kinematics[0]
    fig = kinematics(kin, res.states[0], K)
    assert len(fig.axes) == 5  # position, velocity, acceleration, angles + state strip
    assert [len(ax.lines) for ax in fig.axes[:4]] == n_lines
    assert [ax.get_ylabel() for ax in fig.axes[:3]] == [
        f"position ({unit})", f"velocity ({unit}/s)", f"acceleration ({unit}/s²)"]
    assert fig.axes[3].get_ylabel() == "head angle (°)"
    assert np.allclose(fig.axes[1].lines[0].get_ydata(), kin["head_velocity"].values[:, 0],
                       equal_nan=True)
    strip = fig.axes[4].images[0]
    labels = res.states[0].values
    t = int(np.flatnonzero(labels == 3)[0])
    assert np.allclose(strip.to_rgba(strip.get_array())[0, t], rgba(state_colors(K)[3]))
    assert fig.axes[4].get_xlabel() == "time (s)"
    assert len(kinematics(kin).axes) == 4


def test_kinematics_without_fps_is_per_frame() -> None:
    rng = np.random.default_rng(0)
    kin = xr.Dataset(
        {"head_position": (("time", "space"), rng.normal(size=(20, 2))),
         "head_velocity": (("time", "space"), rng.normal(size=(20, 2)))},
        coords={"time": np.arange(20.0), "frame": ("time", np.arange(20)),
                "space": ["x", "y"]},
        attrs={"fps": np.nan, "units": "pixels"},
    )
    fig = kinematics(kin, states_of([0] * 10 + [1] * 9 + [-1]))
    assert len(fig.axes) == 3
    assert fig.axes[1].get_ylabel() == "velocity (px/frame)"
    assert fig.axes[-1].get_xlabel() == "frame"
    with pytest.raises(ValueError, match="20 frames but states have 3"):
        kinematics(kin, states_of([0, 1, 0]), 2)
    with pytest.raises(ValueError, match="none of"):
        kinematics(kin[["head_position"]].rename(head_position="other"))


def test_kinematics_by_state_boxes(result: fe.Result) -> None:
    fig = kinematics_by_state(result.kinematics, result.states, K)
    assert len(fig.axes) == 3
    assert [ax.get_ylabel().split(" (")[0] for ax in fig.axes] == [
        "speed", "angular speed", "|acceleration|"]
    labels = result.states[0].values
    speed = result.kinematics[0]["head_speed"].values
    for ax in fig.axes:
        assert len(ax.patches) == K  # one box per state
        assert [t.get_text() for t in ax.get_xticklabels()] == [str(k) for k in range(K)]
    for k, patch in enumerate(fig.axes[0].patches):
        assert np.allclose(patch.get_facecolor(), rgba(state_colors(K)[k]))
    # box medians are the medians of the frames of each state (NaN left out)
    medians = [line for line in fig.axes[0].lines if len(line.get_xdata()) == 2
               and line.get_ydata()[0] == line.get_ydata()[1]]
    for k in range(K):
        chosen = speed[(labels == k) & np.isfinite(speed)]
        assert any(np.isclose(m.get_ydata()[0], np.median(chosen)) for m in medians)


def test_kinematics_by_state_empty_state_and_variables() -> None:
    kin = xr.Dataset(
        {"head_speed": ("time", [1.0, 2.0, 3.0, np.nan, 5.0, 6.0]),
         "head_velocity": (("time", "space"), np.array([[3.0, 4.0]] * 6))},
        attrs={"fps": 10.0, "units": "mm"},
    )
    states = states_of([0, 0, 2, 2, -1, 2], fps=10.0)
    fig = kinematics_by_state(kin, states, 4, variables=["head_speed", "head_velocity"])
    speed_ax, vel_ax = fig.axes
    assert len(speed_ax.patches) == 2  # states 1 and 3 have no frame: empty slots
    assert len(speed_ax.get_xticks()) == 4
    assert speed_ax.get_ylabel() == "speed (mm/s)"
    assert vel_ax.get_ylabel() == "|velocity| (mm/s)"
    assert any(np.allclose(line.get_ydata(), [5.0, 5.0]) for line in vel_ax.lines)
    with pytest.raises(ValueError, match="no variable 'nope'"):
        kinematics_by_state(kin, states, 4, variables=["nope"])
    with pytest.raises(ValueError, match="1 kinematics Dataset"):
        kinematics_by_state([kin], [states, states], 4)


# --------------------------------------------------------------------------- long recordings

N_LONG = 1_000_000


def test_envelope_keeps_extremes_order_and_gaps() -> None:
    rng = np.random.default_rng(3)
    x = np.arange(10_001, dtype=np.float64) / 30.0
    y = rng.normal(size=x.size)
    y[4000:4500] = np.nan  # longer than a run: must stay a gap
    sx, sy = x[:500], y[:500]
    assert envelope(sx, sy, max_points=500) == (sx, sy)  # short series are drawn as they are
    ex, ey = envelope(x, y, max_points=100)
    assert ex.size <= 100 and ex.size == ey.size
    assert np.all(np.diff(ex) >= 0)  # time order kept
    size = -(-x.size // 50)
    for run in range(-(-x.size // size)):  # every run keeps its lowest and highest sample
        part = slice(run * size, (run + 1) * size)
        seg, got = y[part], ey[2 * run: 2 * run + 2]
        if np.isfinite(seg).any():
            assert sorted(got) == [np.nanmin(seg), np.nanmax(seg)]
            assert set(ex[2 * run: 2 * run + 2]) <= set(x[part])
        else:
            assert np.isnan(got).all()
    inside = (ex > x[4000]) & (ex < x[4499])
    assert inside.any() and np.isnan(ey[inside]).all()
    with pytest.raises(ValueError, match="same length"):
        envelope(x, y[:-1])


def long_states(n: int) -> tuple[xr.DataArray, int, int]:
    """States of n frames at 30 fps in bouts of 10 s, one single-frame bout of state 2 and
    one of -1 (no state)."""
    values = (np.arange(n) // 300 % 2).astype(np.int64)
    lone, missing = n // 3 + 17, 2 * n // 3 + 5
    values[lone], values[missing] = 2, -1
    return states_of(values.tolist(), fps=30.0), lone, missing


def test_timeline_of_a_million_frames_draws_few_points_and_keeps_a_spike() -> None:
    states, lone, missing = long_states(N_LONG)
    rng = np.random.default_rng(0)
    values = np.cumsum(rng.normal(size=(N_LONG, 2)), axis=0) * 0.01
    spike = 654_321
    values[spike, 0] = 1e3  # one frame far out of the 1st-99th percentile range
    values[100_000:110_000, 1] = np.nan
    feats = xr.DataArray(values, dims=("time", "features"), coords={"features": ["a", "b"]})
    fig = timeline(feats, states, 3)
    top, raster = fig.axes
    lines = top.lines
    assert len(lines) == 2 and all(len(line.get_xdata()) <= MAX_POINTS for line in lines)
    # the spike is the highest point of its line, at its own time
    ya = np.asarray(lines[0].get_ydata())
    assert np.nanargmax(ya) == np.flatnonzero(lines[0].get_xdata() == spike / 30.0)[0]
    full = _scaled_traces(values)[:, 0] + 1.0  # the line every frame would give (top lane)
    assert np.nanmax(ya) == full[spike] and np.nanmin(ya) == np.nanmin(full)
    # the 10,000 missing frames stay a gap
    xb, yb = np.asarray(lines[1].get_xdata()), np.asarray(lines[1].get_ydata())
    gap = (xb > 100_000 / 30.0) & (xb < 109_999 / 30.0)
    assert gap.any() and np.isnan(yb[gap]).all()
    # raster and bands: bounded images, and the single-frame bouts still show
    for image in (raster.images[0], top.images[0]):
        assert image.get_array().shape[1] <= MAX_COLUMNS
    data = raster.images[0].get_array()
    left, right = raster.get_xlim()
    extent = raster.images[0].get_extent()
    assert left == pytest.approx(-0.5 / 30.0) and right == pytest.approx((N_LONG - 0.5) / 30)
    def column(frame: int) -> int:
        return int(data.shape[1] * (frame / 30.0 - extent[0]) / (extent[1] - extent[0]))

    assert data[2, column(lone)] == 2  # the one-frame bout of state 2
    assert np.count_nonzero(~np.ma.getmaskarray(data[2])) == 1
    assert data[3, column(missing)] == -1  # the one frame without a state
    assert np.count_nonzero(~np.ma.getmaskarray(data[3])) == 1
    # the band shows each column's majority state: bouts of 10 s alternate 0 and 1
    band = np.asarray(top.images[0].get_array())[0]
    assert set(np.unique(band)) == {0.0, 1.0}


def test_kinematics_of_a_million_frames_draws_few_points_and_keeps_a_spike() -> None:
    states, _, _ = long_states(N_LONG)
    rng = np.random.default_rng(1)
    vel = rng.normal(size=(N_LONG, 3))
    spike = 123_457
    vel[spike, 1] = -50.0
    kin = xr.Dataset(
        {"head_position": (("time", "space"), np.cumsum(vel, axis=0) / 30.0),
         "head_velocity": (("time", "space"), vel)},
        coords={"time": states["time"].values, "frame": ("time", states["frame"].values),
                "space": ["x", "y", "z"]},
        attrs={"fps": 30.0, "units": "mm"},
    )
    fig = kinematics(kin, states, 3)
    lines = [line for ax in fig.axes[:2] for line in ax.lines]
    assert len(lines) == 6 and all(len(line.get_xdata()) <= MAX_POINTS for line in lines)
    vy = fig.axes[1].lines[1]
    ys, xs = np.asarray(vy.get_ydata()), np.asarray(vy.get_xdata())
    assert ys.min() == -50.0 and xs[np.argmin(ys)] == pytest.approx(spike / 30.0)
    assert ys.max() == vel[:, 1].max()  # the envelope keeps the other extreme too
    assert fig.axes[2].images[0].get_array().shape[1] <= MAX_COLUMNS


def test_short_recordings_are_drawn_frame_by_frame() -> None:
    states = states_of([0, 1, 1, 0, 2] * 100, fps=30.0)
    feats = xr.DataArray(np.random.default_rng(5).normal(size=(500, 1)),
                         dims=("time", "features"))
    fig = timeline(feats, states, 3)
    assert len(fig.axes[0].lines[0].get_xdata()) == 500
    assert fig.axes[1].images[0].get_array().shape == (3, 500)
    assert np.array_equal(np.asarray(fig.axes[0].images[0].get_array())[0], states.values)


# --------------------------------------------------------------------------- transitions


def test_transitions_heatmap(result: fe.Result) -> None:
    matrix = result.transitions
    fig = transitions(matrix)
    ax = fig.axes[0]
    assert len(fig.axes) == 2  # heatmap + colour bar
    assert np.allclose(ax.images[0].get_array(), matrix.values)
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == K * K
    assert texts == [f"{v:.2f}" for v in matrix.values.ravel()]
    ticks = [t.label2 for t in ax.xaxis.get_major_ticks()]
    assert [t.get_text() for t in ticks] == [str(k) for k in range(K)]
    assert np.allclose(to_rgba(ticks[1].get_bbox_patch().get_facecolor()),
                       rgba(state_colors(K)[1]))
    with pytest.raises(ValueError, match="square"):
        transitions(matrix.isel(to_state=slice(0, 3)))


def test_transitions_nan_rows() -> None:
    matrix = xr.DataArray([[0.9, 0.1], [np.nan, np.nan]], dims=("from_state", "to_state"))
    texts = [t.get_text() for t in transitions(matrix).axes[0].texts]
    assert texts == ["0.90", "0.10", "–", "–"]


def test_dwell_times_strips_of_few_bouts(result: fe.Result) -> None:
    bouts = result.bouts
    fig = dwell_times(bouts, K, result.fps)
    assert len(fig.axes) == K
    strips = 0
    for k, ax in enumerate(fig.axes):
        mine = bouts[bouts["state"] == k]
        done, cut = mine[~mine["censored"]], mine[mine["censored"]]
        if len(done) < 10:  # few bouts (most states of 600 frames): every bout a point
            strips += 1
            points = [c.get_offsets()[:, 0] for c in ax.collections]
            assert sorted(np.concatenate(points)) == pytest.approx(sorted(mine["seconds"]))
        assert f"{len(done)} complete + {len(cut)} censored" in ax.get_title()
        if len(done):  # the median of the complete bouts only
            assert ax.lines[0].get_xdata()[0] == pytest.approx(done["seconds"].median())
    assert strips > 0
    assert fig.axes[-1].get_xlabel() == "bout duration (s)"


def test_dwell_times_histogram_leaves_censored_bouts_out_of_the_median() -> None:
    lengths = np.arange(1, 13)  # 12 complete bouts of 1..12 frames, 2 censored of 40
    bouts = pd.DataFrame({"state": 0, "n_frames": np.r_[lengths, 40, 40],
                          "censored": np.r_[np.zeros(12, bool), True, True]})
    ax = dwell_times(bouts, 1).axes[0]
    filled = [p for p in ax.patches if p.get_hatch() is None]
    hatched = [p for p in ax.patches if p.get_hatch()]
    assert sum(p.get_height() for p in filled) == 12
    assert sum(p.get_height() for p in hatched) == 2
    assert all(p.get_x() > 30 for p in hatched)
    assert ax.lines[0].get_xdata()[0] == 6.5  # not 7.5, the median of all 14
    labels = [t.get_text() for t in ax.figure.legends[0].get_texts()]
    assert "censored (cut by start/end/gap)" in labels


def test_dwell_times_frames_and_empty_state() -> None:
    bouts = pd.DataFrame({"state": [0, 0, 2], "n_frames": [4, 6, 3]})
    fig = dwell_times(bouts, 3)
    assert [len(ax.patches) for ax in fig.axes] == [0, 0, 0]  # strips, not histograms
    assert [len(ax.collections) for ax in fig.axes] == [1, 0, 1]
    assert list(fig.axes[0].collections[0].get_offsets()[:, 0]) == [4, 6]
    assert fig.axes[0].lines[0].get_xdata()[0] == 5.0
    assert fig.axes[-1].get_xlabel() == "bout duration (frames, fps unknown)"
    assert "no bouts" in [t.get_text() for t in fig.axes[1].texts]
    with_fps = dwell_times(bouts, 3, fps=2.0)
    assert with_fps.axes[0].lines[0].get_xdata()[0] == 2.5
    with pytest.raises(ValueError, match="empty"):
        dwell_times(bouts.iloc[:0], 3)
    with pytest.raises(ValueError, match="outside"):
        dwell_times(bouts, 2)


def test_frequencies_bars(result: fe.Result) -> None:
    freq = result.frequencies
    fig = frequencies(freq)
    absolute, relative = fig.axes
    assert [p.get_height() for p in absolute.patches] == pytest.approx(
        freq["seconds"].tolist())
    assert [p.get_height() for p in relative.patches] == pytest.approx(
        (100 * freq["relative"]).tolist())
    assert absolute.get_ylabel() == "time in state (s)"
    for k, p in enumerate(relative.patches):
        assert np.allclose(p.get_facecolor(), rgba(state_colors(K)[k]))


def test_frequencies_without_fps() -> None:
    freq = pd.DataFrame({"n_frames": [10, 30, 0], "seconds": [np.nan] * 3},
                        index=pd.Index([0, 1, 2], name="state"))
    absolute, relative = frequencies(freq).axes
    assert absolute.get_ylabel() == "time in state (frames)"
    assert [p.get_height() for p in absolute.patches] == [10, 30, 0]
    assert [p.get_height() for p in relative.patches] == pytest.approx([25.0, 75.0, 0.0])
    with pytest.raises(ValueError, match="empty"):
        frequencies(freq.iloc[:0])


# --------------------------------------------------------------------------- selection


def test_model_selection_marks_chosen() -> None:
    table = pd.DataFrame({
        "n_states": [2, 3, 4, 5, 6],
        "log_likelihood_per_frame": [-4.3, -3.2, -2.6, -2.5, -2.45],
        "bic_per_frame": [-4.5, -3.5, -3.0, -3.25, -3.5],
        "icl_per_frame": [-4.6, -3.7, -3.1, -3.4, -3.7],
        "aic_per_frame": [-4.4, -3.3, -2.8, -2.9, -3.0],
        "cv_mean": [-4.5, -3.5, -3.0, -3.1, -3.3],
        "cv_se": [0.2, 0.2, 0.1, 0.3, 0.4],
    })
    fig = model_selection(table, chosen=4)
    assert len(fig.axes) == 2
    crit, held = fig.axes
    assert [line.get_label() for line in crit.lines[:4]] == [
        "training (no penalty)", "BIC", "ICL", "AIC"]
    assert list(crit.lines[1].get_ydata()) == table["bic_per_frame"].tolist()
    # the held-out mean with its standard error, and the one-SE line under the best
    assert list(held.lines[0].get_ydata()) == table["cv_mean"].tolist()
    se_line = [line for line in held.lines if line.get_label() == "best − 1 SE"]
    assert len(se_line) == 1 and se_line[0].get_ydata()[0] == pytest.approx(-3.1)
    assert held.containers  # error bars
    for ax in fig.axes:
        marks = [line for line in ax.lines if line.get_label() == "chosen K = 4"]
        assert len(marks) == 1
        assert list(marks[0].get_xdata()) == [4, 4]
        assert ax.get_xlabel() == "number of states K"


def test_model_selection_skips_missing_columns_and_repeats() -> None:
    table = pd.DataFrame({"n_states": [2, 2, 3, 3], "bic_per_frame": [10.0, 12.0, 8.0, 6.0]})
    fig = model_selection(table)
    assert len(fig.axes) == 1
    assert list(fig.axes[0].lines[0].get_ydata()) == [11.0, 7.0]  # mean per K
    with pytest.raises(ValueError, match="empty"):
        model_selection(table.iloc[:0])
    with pytest.raises(ValueError, match="none of the per-frame columns"):
        model_selection(table[["n_states"]])
    with pytest.raises(ValueError, match="chosen=5"):
        model_selection(table, chosen=5)


# --------------------------------------------------------------------------- saving


def test_save_figures_as_png(result3d: fe.Result, tmp_path: Path) -> None:
    figs = {
        "timeline": timeline(result3d.features[0], result3d.states[0], K),
        "kinematics": kinematics(result3d.kinematics[0], result3d.states[0], K),
        "by_state": kinematics_by_state(result3d.kinematics[0], result3d.states[0], K),
        "transitions": transitions(result3d.transitions),
        "dwell": dwell_times(result3d.bouts, K),
        "freq": frequencies(result3d.frequencies),
    }
    for name, fig in figs.items():
        (path,) = save_figure(fig, tmp_path / name, dpi=50)
        data = path.read_bytes()
        assert path.suffix == ".png"
        assert len(data) > 1000
        assert data.startswith(PNG_SIGNATURE)


def test_save_figure_draws_what_savefig_draws(result3d: fe.Result, tmp_path: Path) -> None:
    from faceexpr.plot.faces import expressions

    # save_figure lays the figure out itself; the pixels must be savefig's own
    for name, make in (("transitions", lambda: transitions(result3d.transitions)),
                       ("faces", lambda: expressions(result3d.expressions))):
        fig = make()
        assert fig.get_layout_engine() is not None
        (path,) = save_figure(fig, tmp_path / name, dpi=60)
        make().savefig(tmp_path / f"{name}_savefig.png", dpi=60)
        mine = np.asarray(Image.open(path))
        theirs = np.asarray(Image.open(tmp_path / f"{name}_savefig.png"))
        assert mine.shape == theirs.shape and np.array_equal(mine, theirs), name
        # the figure is left as it was: same resolution and layout engine
        assert fig.dpi == Figure().dpi and fig.get_layout_engine() is not None
    # vector formats are still laid out by savefig itself
    png, svg = save_figure(make(), tmp_path / "both", formats=("png", "svg"), dpi=60)
    assert np.array_equal(np.asarray(Image.open(png)), mine)
    assert svg.read_text().lstrip().startswith("<?xml")
