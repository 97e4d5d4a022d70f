"""Tests of faceexpr.state_stability (refits on resamples, halves and seeds) and its figure."""

from __future__ import annotations

import json
import math
import time
import warnings

import numpy as np
import pytest
import xarray as xr

import faceexpr as fe
from faceexpr.errors import ParameterError
from faceexpr.plot.stability import stability as stability_figure
from faceexpr.state_stability import Stability, block_bootstrap, default_block_frames, stability
from faceexpr.synthetic.faces import simulate


@pytest.fixture(scope="module")
def demo() -> tuple[fe.Result, Stability, float]:
    """The 3000-frame demo, its fit, and its stability (with the seconds it took)."""
    sim = simulate(3000, n_expressions=5, seed=2)
    res = fe.Pipeline(n_states=5, progress=False).run(sim.pose3d)
    start = time.perf_counter()
    # the defaults of the pipeline and of Result.check_stability (600-frame blocks: with
    # 300 the weakest state, one expression plus most transition frames, was lost in ~7%
    # of bootstrap refits)
    stab = res.check_stability(10)
    return res, stab, time.perf_counter() - start


def test_demo_states_reappear(demo: tuple[fe.Result, Stability, float]) -> None:
    res, stab, seconds = demo
    print(f"stability of the 3000-frame demo: {seconds:.2f} s")  # shown with -s
    table = stab.per_state
    assert list(table.index) == [0, 1, 2, 3, 4]
    assert table["n_refits"].tolist() == [14] * 5  # 10 bootstrap + 2 halves + 2 seeds
    assert (table["reappearance"] >= 0.9).all(), table
    assert stab.ari > 0.8
    assert (table["jaccard_median"] > 0.9).all()
    # the matched states' mean faces lie within a fraction of a millimetre of the reference
    assert (table["units"] == "mm").all()
    assert (table["mean_face_distance"] < 0.5).all()
    assert stab.block_frames == 600 == default_block_frames(res.states)
    refits = stab.refits
    assert refits["kind"].tolist() == ["bootstrap"] * 10 + ["half"] * 2 + ["seed"] * 2
    assert refits["seed"].tolist() == [0] * 12 + [1, 2]
    assert refits["n_fit_frames"].tolist() == [3000] * 10 + [1500] * 2 + [3000] * 2
    assert (refits["error"] == "").all()
    # a seed refit on the same frames reproduces the reference labels
    assert refits.loc[refits["kind"] == "seed", "ari"].min() > 0.95
    summary = stab.to_dict()
    json.dumps(summary, allow_nan=False)
    assert summary["refits_by_kind"] == {"bootstrap": 10, "half": 2, "seed": 2}
    assert summary["n_failed"] == 0 and summary["block_frames"] == 600
    assert [r["state"] for r in summary["per_state"]] == [0, 1, 2, 3, 4]


def test_demo_is_repeatable(demo: tuple[fe.Result, Stability, float]) -> None:
    res, stab, _ = demo
    again = stability(res.features, res.states, backend="native", n_states=5,
                      model_options=res.refit_options(), n_resamples=3, halves=False,
                      seeds=0, random_state=0)
    np.testing.assert_allclose(again.refits["ari"], stab.refits["ari"][:3])
    assert np.isnan(again.per_state["mean_face_distance"]).all()  # no egocentric poses
    assert (again.per_state["units"] == "").all()


def test_unreproducible_states_are_flagged() -> None:
    # 8 states for 3 expressions in 450 frames: most of them are splits of one fit
    sim = simulate(450, n_expressions=3, seed=1)
    res = fe.Pipeline(n_states=8, progress=False).run(sim.pose3d)
    stab = stability(res.features, res.states, backend="native", n_states=8,
                     n_resamples=10, random_state=0)
    reappearance = stab.per_state["reappearance"]
    assert reappearance.min() < 0.9
    # measured: 0.0 for 4 of the 8 states and at most 0.93; the median ARI about 0.55
    assert (reappearance < 0.5).sum() >= 4
    assert stab.ari < 0.8


def test_block_bootstrap_blocks_are_contiguous() -> None:
    rng = np.random.default_rng(5)
    lengths = (250, 97, 40)
    # the value of a frame is 1000 * sequence + its position there
    seqs = [xr.DataArray(1000.0 * i + np.arange(n, dtype=np.float64)[:, None],
                         dims=("time", "features"),
                         coords={"time": np.arange(n) / 30.0, "features": ["f"]})
            for i, n in enumerate(lengths)]
    blocks = block_bootstrap(seqs, 60, rng)
    drawn = [0, 0, 0]
    starts = []
    for block in blocks:
        values = block.values[:, 0].astype(np.int64)
        source, frames = values // 1000, values % 1000
        # one block = consecutive frames of one sequence, never across a join
        assert (source == source[0]).all()
        np.testing.assert_array_equal(np.diff(frames), 1)
        np.testing.assert_allclose(block["time"].values, frames / 30.0)
        assert 1 <= block.sizes["time"] <= 60
        drawn[source[0]] += block.sizes["time"]
        starts.append(int(values[0]))
    # every sequence is rebuilt to its own length; the 40-frame one is one whole block
    assert drawn == list(lengths)
    assert sum(1 for s in starts if s // 1000 == 2) == 1 and 2000 in starts
    # whole blocks start where a whole block fits (the last one of a sequence is cut)
    assert max(s for s in starts if s < 1000) <= 250 - 60
    assert len([s for s in starts if s < 1000]) == math.ceil(250 / 60)
    # the blocks differ between draws (they are resampled, not the original order)
    again = block_bootstrap(seqs, 60, rng)
    assert [int(b.values[0, 0]) for b in again] != starts
    with pytest.raises(ParameterError, match="block_frames"):
        block_bootstrap(seqs, 0, rng)


@pytest.fixture(scope="module")
def small() -> fe.Result:
    return fe.Pipeline(n_states=3, progress=False).run(simulate(300, n_expressions=3,
                                                                seed=4).pose3d)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"n_resamples": -1}, "n_resamples"),
    ({"seeds": -2}, "seeds"),
    ({"seeds": 1.5}, "seeds"),
    ({"threshold": 0.0}, "threshold"),
    ({"threshold": 1.5}, "threshold"),
    ({"threshold": math.nan}, "threshold"),
    ({"block_frames": 1}, "block_frames"),
    ({"n_resamples": 0, "halves": False, "seeds": 0}, "no refit"),
    ({"model_options": {"random_state": 3}}, "random_state"),
    ({"n_states": 0}, "n_states"),
])
def test_validation(small: fe.Result, kwargs: dict[str, object], match: str) -> None:
    options: dict[str, object] = {"backend": "native", "n_states": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        stability(small.features, small.states, **options)  # type: ignore[arg-type]


def test_validation_of_lengths(small: fe.Result) -> None:
    with pytest.raises(ParameterError, match="states"):
        stability(small.features, [*small.states, small.states[0]], backend="native",
                  n_states=3)
    with pytest.raises(ParameterError, match=r"states\[0\] has 299 frames"):
        stability(small.features, [small.states[0][:-1]], backend="native", n_states=3)
    with pytest.raises(ParameterError, match="egocentric"):
        stability(small.features, small.states, backend="native", n_states=3,
                  egocentric=[small.egocentric[0].isel(time=slice(0, 10))])
    with pytest.raises(ValueError, match="outside"):
        stability(small.features, small.states, backend="native", n_states=2)
    with pytest.raises(TypeError, match="n_itr"):
        stability(small.features, small.states, backend="native", n_states=3,
                  model_options={"n_itr": 3})


def test_failed_refit_is_recorded(small: fe.Result) -> None:
    feats = [small.features[0].isel(time=slice(0, 40))]
    labels = [xr.DataArray(np.arange(40) % 21, dims="time")]
    # 21 states: the 20-frame halves are too short to fit; the seed refit still runs
    with pytest.warns(RuntimeWarning, match="2 of 3 refits failed"):
        stab = stability(feats, labels, backend="native", n_states=21, n_resamples=0,
                         halves=True, seeds=1)
    refits = stab.refits
    assert refits["kind"].tolist() == ["half", "half", "seed"]
    assert refits["error"].str.contains("InvalidFeaturesError").tolist() == [True, True,
                                                                            False]
    assert refits["ari"].isna().tolist() == [True, True, False]
    assert (stab.per_state["reappearance"] <= 1 / 3).all()
    assert stab.to_dict()["failed_by_kind"] == {"half": 2}


def _texts_inside(fig: object) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    assert isinstance(fig, Figure)
    FigureCanvasAgg(fig)  # a bare Figure's canvas draws nothing, so no layout would run
    fig.canvas.draw()
    box = fig.bbox
    # tick labels of ticks beyond the axis limits are visible artists that are not drawn
    hidden = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not low - 1e-9 <= tick.get_loc() <= high + 1e-9:
                    hidden |= {id(tick.label1), id(tick.label2)}
    texts = [t for t in fig.findobj(Text)
             if t.get_visible() and t.get_text() and id(t) not in hidden]
    assert texts
    for t in texts:
        ext = t.get_window_extent()
        assert ext.x0 >= box.x0 - 1 and ext.y0 >= box.y0 - 1, t.get_text()
        assert ext.x1 <= box.x1 + 1 and ext.y1 <= box.y1 + 1, t.get_text()


def test_figure(demo: tuple[fe.Result, Stability, float]) -> None:
    from matplotlib.patches import Rectangle

    from faceexpr.plot._style import state_colors

    _, stab, _ = demo
    fig = stability_figure(stab)
    left, right = fig.axes
    bars = [p for p in left.patches if isinstance(p, Rectangle)]
    assert len(bars) == 5
    np.testing.assert_allclose([b.get_height() for b in bars],
                               100 * stab.per_state["reappearance"])
    assert [b.get_facecolor()[:3] for b in bars] == [
        tuple(int(c[i:i + 2], 16) / 255 for i in (1, 3, 5)) for c in state_colors(5)]
    assert left.get_ylabel() == "reappears in refits (%)"
    assert any(list(line.get_ydata()) == [90.0, 90.0] for line in left.get_lines())
    points = sum(len(line.get_xdata()) for line in right.get_lines()
                 if line.get_marker() == "o")
    assert points == 14
    _texts_inside(fig)


def test_figure_with_many_states_and_failures() -> None:
    import pandas as pd

    k = 17
    per_state = pd.DataFrame({"reappearance": np.linspace(0, 1, k)},
                             index=pd.Index(np.arange(k), name="state"))
    refits = pd.DataFrame({"kind": ["bootstrap"] * 30 + ["half"] * 2 + ["seed"] * 5,
                           "ari": [math.nan] * 3 + list(np.linspace(-0.2, 1, 34)),
                           "error": ["ValueError: short"] * 3 + [""] * 34})
    stab = Stability(per_state=per_state, refits=refits, ari=0.4, threshold=0.5,
                     block_frames=100)
    fig = stability_figure(stab)
    assert len(fig.axes[0].patches) == k
    _texts_inside(fig)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig.canvas.draw()
