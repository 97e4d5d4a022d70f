"""Similar and different states: distances, clustering, landmark comparisons, figures."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import xarray as xr
from matplotlib.quiver import Quiver
from scipy.signal import lfilter
from scipy.spatial.transform import Rotation
from test_figures_fixed import texts_outside

import faceexpr as fe
import faceexpr.similarity
from faceexpr import analysis
from faceexpr.data import make_pose
from faceexpr.errors import InvalidStatesError
from faceexpr.plot import similarity as plot_similarity
from faceexpr.similarity import cluster, face_distances, gaussian_distances
from faceexpr.synthetic.faces import (
    expression_displacements,
    neutral_face,
    simulate,
    sticky_chain,
)

NAMES, NEUTRAL = neutral_face()


def test_the_examples_hold() -> None:
    assert doctest.testmod(faceexpr.similarity).failed == 0


# --------------------------------------------------------------------------- distances


def test_face_distance_is_the_rms_landmark_distance_and_ignores_missing() -> None:
    faces = np.zeros((3, 4, 3))
    faces[1, 0] = (3.0, 4.0, 0.0)  # one landmark 5 away: RMS sqrt(25 / 4) = 2.5
    faces[2] = np.nan  # a state without frames
    d = face_distances(xr.DataArray(faces, dims=("states", "landmarks", "space"),
                                    attrs={"units": "mm"}))
    assert d.values[0, 1] == pytest.approx(2.5)
    assert d.values[1, 0] == pytest.approx(2.5)
    assert d.values[0, 0] == 0.0
    assert np.isnan(d.values[2]).all() and np.isnan(d.values[:, 2]).all()
    assert d.attrs["units"] == "mm"
    faces[1, 1] = np.nan  # a landmark unknown in one face leaves that pair's mean
    d = face_distances(xr.DataArray(faces, dims=("states", "landmarks", "space")))
    assert d.values[0, 1] == pytest.approx(np.sqrt(25 / 3))


def test_bhattacharyya_distance_has_its_closed_form_and_reads_every_covariance_type() -> None:
    # 1D: means 2 apart at unit variance give 4/8; variances 1 and 4 give ln(2.5/2)/2
    d = gaussian_distances([[0.0], [2.0], [0.0]], [[[1.0]], [[1.0]], [[4.0]]]).values
    assert d[0, 1] == pytest.approx(0.5)
    assert d[0, 2] == pytest.approx(0.5 * np.log(1.25))
    assert np.allclose(d, d.T) and np.all(np.diag(d) == 0)
    rng = np.random.default_rng(0)
    means = rng.normal(size=(3, 4))
    variances = rng.uniform(0.5, 2.0, size=(3, 4))
    full = np.stack([np.diag(v) for v in variances])
    assert np.allclose(gaussian_distances(means, variances), gaussian_distances(means, full))
    tied = np.cov(rng.normal(size=(4, 50)))
    assert np.allclose(gaussian_distances(means, tied),
                       gaussian_distances(means, np.stack([tied] * 3)))
    with pytest.raises(ValueError, match="not positive definite"):
        gaussian_distances(means, np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match="do not fit"):
        gaussian_distances(means, np.ones((2, 4)))


def test_clustering_joins_the_nearest_first_and_a_state_without_frames_last() -> None:
    d = np.array([[0.0, 4, 1, np.nan], [4, 0, 4.5, np.nan], [1, 4.5, 0, np.nan],
                  [np.nan, np.nan, np.nan, 0]])
    z, order = cluster(d)
    assert sorted(z[0, :2].tolist()) == [0, 2] and z[0, 2] == 1.0
    assert 3 in z[-1, :2]  # the state without frames joins last
    assert sorted(order) == [0, 1, 2, 3]
    assert abs(order.index(0) - order.index(2)) == 1  # near states side by side
    assert cluster(np.zeros((1, 1)))[0].shape == (0, 4)


# --------------------------------------------------------------------------- near-copies


def prototype_recording(prototypes: np.ndarray, n_frames: int, seed: int,
                        fps: float = 30.0) -> tuple[xr.Dataset, xr.DataArray]:
    """A 3D face switching between given expression prototypes (displacements in mm):
    a sticky chain of 1 s bouts, changes eased over a few frames, a slow drift of every
    landmark, rigid head motion and 0.4 mm noise."""
    rng = np.random.default_rng(seed)
    states = sticky_chain(rng, n_frames, len(prototypes), fps)
    expr = lfilter([0.8], [1, -0.2], prototypes[states], axis=0)
    drift = lfilter([np.sqrt(1 - 0.95**2)], [1, -0.95],
                    rng.standard_normal((n_frames, *NEUTRAL.shape)), axis=0)
    local = NEUTRAL + expr + 0.2 * drift
    angles = 3.0 * lfilter([np.sqrt(1 - 0.98**2)], [1, -0.98],
                           rng.standard_normal((n_frames, 3)), axis=0)
    rot = Rotation.from_euler("yxz", angles, degrees=True).as_matrix()
    world = np.einsum("tij,tlj->tli", rot, local) + rng.normal(0, 10, 3)
    world += 0.4 * rng.standard_normal(world.shape)
    return (make_pose(world, NAMES, fps=fps, units="mm"),
            xr.DataArray(states, dims="time", attrs={"fps": fps}))


def near_copy_prototypes() -> np.ndarray:
    """Neutral, smile, a smile with the lower lip and chin 6 mm lower (RMS 1.9 mm from
    the smile, against 6 mm between smile and neutral), surprise and frown."""
    disp = 2.0 * expression_displacements(4)
    near = disp[1].copy()
    for name in ("lowlip", "chin"):
        near[NAMES.index(name)] += (0.0, -6.0, 0.0)
    return np.stack([disp[0], disp[1], near, disp[2], disp[3]])


@pytest.mark.parametrize("seed", [0, 2, 3])
def test_near_copy_prototypes_cluster_together_first(seed: int) -> None:
    pose, truth = prototype_recording(near_copy_prototypes(), 1800, seed)
    result = fe.Pipeline(n_states=5, progress=False).run(pose)
    assert analysis.state_agreement(truth, result.states[0]) > 0.9  # states recovered
    true_of = analysis.match_states(truth, result.states[0], 5)  # fitted -> true
    distances = analysis.state_distances(result)
    first = sorted(true_of[distances.linkage[0, :2].astype(int)].tolist())
    assert first == [1, 2]
    # the near-copies are also the nearest pair of fitted Gaussians
    dist = distances.distribution_distance.values.copy()
    np.fill_diagonal(dist, np.inf)
    nearest = np.unravel_index(np.argmin(dist), dist.shape)
    assert sorted(true_of[list(nearest)].tolist()) == [1, 2]
    # in the data's units: about the 1.9 mm the prototypes differ by
    assert distances.units == "mm"
    assert 1.0 < distances.linkage[0, 2] < 3.0
    table = distances.to_frame()
    assert list(table.columns) == ["state_a", "state_b", "mean_distance",
                                   "distribution_distance", "overlap"]
    assert len(table) == 10 and table["mean_distance"].is_monotonic_increasing
    assert (table["state_a"] < table["state_b"]).all()
    assert sorted(true_of[[table.loc[0, "state_a"], table.loc[0, "state_b"]]]) == [1, 2]
    merges = distances.merges()
    assert len(merges) == 4 and merges["distance"].is_monotonic_increasing
    assert set(merges.iloc[-1][["group_a", "group_b"]].str.split("+").sum()) == {
        str(k) for k in range(5)}
    assert sorted(distances.order) == list(range(5))


# --------------------------------------------------------------------------- compare_states


def moving_landmarks(expression: int) -> set[str]:
    disp = expression_displacements(expression + 1)[expression]
    return {NAMES[i] for i in np.flatnonzero(np.abs(disp).sum(axis=1) > 0)}


@pytest.fixture(scope="module")
def recording3d() -> tuple[fe.Result, np.ndarray]:
    """900 frames (30 s) of 4 expressions with a drift and eased changes; the fitted
    states and the true state of each (fitted -> true)."""
    sim = simulate(900, n_expressions=4, seed=2, drift_mm=0.3, ease=0.5)
    result = fe.Pipeline(n_states=4, progress=False).run(sim.pose3d)
    return result, analysis.match_states(sim.states, result.states[0], 4)


@pytest.mark.parametrize("seed", [0, 1, 3, 4])
def test_compare_states_ranks_the_landmarks_that_truly_move_first(seed: int) -> None:
    sim = simulate(900, n_expressions=4, seed=seed, drift_mm=0.3, ease=0.5)
    result = fe.Pipeline(n_states=4, progress=False).run(sim.pose3d)
    fitted = np.argsort(analysis.match_states(sim.states, result.states[0], 4))
    for expression in (1, 2):  # smile (6 landmarks, 3-20 mm), surprise (8, 14-24 mm)
        moving = moving_landmarks(expression)
        comparison = analysis.compare_states(result, int(fitted[0]), int(fitted[expression]))
        assert set(comparison.top(len(moving))) == moving
    # surprise moves every landmark it moves by 14 mm or more: clear of the rest
    table = comparison.table
    assert table["magnitude_lower"].iloc[7] > table["magnitude_upper"].iloc[8]


def test_comparison_holds_differences_in_the_data_units_with_intervals(
        recording3d: tuple[fe.Result, np.ndarray]) -> None:
    result, true_of = recording3d
    fitted = np.argsort(true_of)
    c = analysis.compare_states(result, int(fitted[0]), int(fitted[2]), n_boot=300, seed=1)
    assert (c.a, c.b, c.units, c.n_boot) == (int(fitted[0]), int(fitted[2]), "mm", 300)
    table = c.table
    assert list(table.columns) == ["landmark", "d_x", "d_y", "d_z", "magnitude",
                                   "magnitude_lower", "magnitude_upper"]
    assert table.index.name == "rank" and table.index[0] == 1
    assert table["magnitude"].is_monotonic_decreasing
    assert np.allclose(np.hypot.reduce(table[["d_x", "d_y", "d_z"]].to_numpy(), axis=1),
                       table["magnitude"])
    assert (table["magnitude_lower"] <= table["magnitude"] + 1e-9).all()
    assert (table["magnitude"] <= table["magnitude_upper"] + 1e-9).all()
    # the difference is b's mean face minus a's, as the result's expressions
    faces = result.expressions
    expected = faces.sel(states=c.b) - faces.sel(states=c.a)
    assert np.allclose(c.difference.values, expected.values, atol=1e-4)
    assert c.difference.dims == ("landmarks", "space")
    # the chin drops about 2 x 10 mm in surprise (less where changes ease in)
    chin = table.set_index("landmark").loc["chin"]
    assert chin["d_y"] < -12.0 and chin["magnitude"] > 12.0
    # n_bouts counts bouts, not frames; swapping the states flips the difference
    assert sum(c.n_bouts) < 60
    back = analysis.compare_states(result, c.b, c.a, n_boot=50)
    assert np.allclose(back.difference.values, -c.difference.values)


def test_the_bootstrap_resamples_bouts_not_frames() -> None:
    # one bout per state: nothing to resample, so the interval has no width, however
    # many frames (a frame bootstrap would give an interval as wide as the frames' spread)
    rng = np.random.default_rng(0)
    position = rng.normal(size=(200, 3, 2))
    pose = make_pose(position, ["a", "b", "c"])
    states = xr.DataArray(np.repeat([0, 1], 100), dims="time")
    c = faceexpr.similarity.compare_states(pose, states, 0, 1)
    assert np.allclose(c.table["magnitude_lower"], c.table["magnitude_upper"])
    # many bouts: a real interval
    states = xr.DataArray(np.repeat(np.tile([0, 1], 10), 10), dims="time")
    c = faceexpr.similarity.compare_states(pose, states, 0, 1)
    assert (c.table["magnitude_upper"] - c.table["magnitude_lower"] > 0.05).all()


def test_a_shot_boundary_splits_a_bout_for_the_bootstrap() -> None:
    rng = np.random.default_rng(1)
    pose = make_pose(rng.normal(size=(200, 2, 2)), ["a", "b"])
    states = xr.DataArray(np.repeat([0, 1], 100), dims="time")
    one = faceexpr.similarity.compare_states(pose, states, 0, 1)
    assert one.n_bouts == (1, 1)
    shots = states.assign_coords(segment=("time", np.repeat([0, 1, 2, 3], 50)))
    assert faceexpr.similarity.compare_states(pose, shots, 0, 1).n_bouts == (2, 2)


def test_compare_states_refuses_what_it_cannot_compare(
        recording3d: tuple[fe.Result, np.ndarray]) -> None:
    result, _ = recording3d
    with pytest.raises(InvalidStatesError, match="two different states"):
        analysis.compare_states(result, 1, 1)
    with pytest.raises(InvalidStatesError, match="state 7 has no frames"):
        analysis.compare_states(result, 0, 7)
    with pytest.raises(ValueError, match="n_boot"):
        analysis.compare_states(result, 0, 1, n_boot=0)
    pose = result.egocentric[0]
    with pytest.raises(InvalidStatesError, match="frames"):
        faceexpr.similarity.compare_states(pose, result.states[0][:10], 0, 1)


# --------------------------------------------------------------------------- figures


def test_the_distance_figure_orders_both_heatmaps_by_their_trees(
        recording3d: tuple[fe.Result, np.ndarray]) -> None:
    result, _ = recording3d
    distances = analysis.state_distances(result)
    fig = plot_similarity.state_distances(distances)
    assert texts_outside(fig) == []
    heatmaps = [ax for ax in fig.axes if ax.images]
    assert len(heatmaps) == 2
    order = [int(t.get_text()) for t in heatmaps[0].get_xticklabels()]
    assert order == distances.order
    shown = np.asarray(heatmaps[0].images[0].get_array())
    assert np.allclose(shown, distances.mean_distance.values[np.ix_(order, order)])
    cells = [t for t in heatmaps[0].texts if t.get_text()]
    assert len(cells) == 16
    names = ["calm", "smile", "surprise", "frown"]
    assert texts_outside(plot_similarity.state_distances(distances, state_names=names)) == []


@pytest.mark.parametrize("k", [2, 9])
def test_the_distance_figure_fits_few_or_many_states(k: int) -> None:
    rng = np.random.default_rng(k)
    faces = xr.DataArray(rng.normal(size=(k, 5, 2)), dims=("states", "landmarks", "space"),
                         attrs={"units": "pixels"})
    distances = faceexpr.similarity.state_distances(faces, rng.normal(size=(k, 3)),
                                                    np.stack([np.eye(3)] * k))
    assert texts_outside(plot_similarity.state_distances(distances)) == []


def test_the_difference_figure_draws_arrows_on_the_face(
        recording3d: tuple[fe.Result, np.ndarray]) -> None:
    result, true_of = recording3d
    fitted = np.argsort(true_of)
    c = analysis.compare_states(result, int(fitted[0]), int(fitted[2]), n_boot=50)
    fig = plot_similarity.state_difference(c)
    assert texts_outside(fig) == []
    panels = [ax for ax in fig.axes if ax.get_xlabel()]
    assert len(panels) == 2  # 3D: front and side
    assert "left–right" in panels[0].get_xlabel() and "(mm)" in panels[0].get_xlabel()
    arrows = [a for a in panels[0].get_children() if isinstance(a, Quiver)]
    # every landmark moves a little, but the reference landmark: the origin in both faces
    assert len(arrows) == 1 and arrows[0].N == 20
    assert float(c.table.set_index("landmark").loc[result.egocentric[0].attrs[
        "egocentric_reference"], "magnitude"]) == 0.0
    named = {t.get_text() for t in panels[0].texts}
    assert named == set(c.top(3))
    assert c.top(1)[0] in fig._suptitle.get_text()


def test_the_difference_figure_in_2d_is_one_panel_and_magnifies_small_shifts() -> None:
    sim = simulate(600, n_expressions=3, seed=1, n_cameras=1)
    result = fe.Pipeline(n_states=3, progress=False).run(sim.view(0))
    c = analysis.compare_states(result, 0, 1, n_boot=50)
    assert c.units == "pixels" and "d_z" not in c.table.columns
    fig = plot_similarity.state_difference(c)
    assert texts_outside(fig) == []
    panels = [ax for ax in fig.axes if ax.get_xlabel()]
    assert len(panels) == 1 and panels[0].yaxis_inverted()  # image coordinates
    small = faceexpr.similarity.StateComparison(
        a=c.a, b=c.b, table=c.table, difference=c.difference * 0.01, face_a=c.face_a,
        face_b=c.face_a + c.difference * 0.01, n_bouts=c.n_bouts, level=c.level,
        n_boot=c.n_boot, units=c.units)
    assert "arrows ×" in plot_similarity.state_difference(small)._suptitle.get_text()
    with pytest.raises(ValueError, match="gain"):
        plot_similarity.state_difference(c, gain=-1.0)
