"""Tests of faceexpr.preprocess: masking, gap filling, smoothing and egocentric alignment."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import xarray as xr
from scipy.ndimage import median_filter
from scipy.spatial.transform import Rotation

from faceexpr.data import make_pose
from faceexpr.errors import InvalidPoseError
from faceexpr.preprocess import (
    egocentric,
    face_axes,
    interpolate_gaps,
    kabsch_rotations,
    mask_low_confidence,
    smooth,
)
from faceexpr.schemes import FACE21
from faceexpr.synthetic import neutral_face, simulate

# landmarks no expression among the first five prototypes moves
RIGID = ["lefteye1", "righteye1", "lear", "rear", "nose1", "nose2", "nose3", "nose4"]


def history(ds: xr.Dataset) -> list[dict[str, object]]:
    return [json.loads(r) for r in ds.attrs["faceexpr_history"]]


def rigidly_moved(ds: xr.Dataset, rot: np.ndarray, shift: np.ndarray,
                  scale: float = 1.0) -> xr.Dataset:
    pos = scale * (ds["position"].values @ rot.T) + shift
    return make_pose(pos, [str(n) for n in ds["landmarks"].values],
                     ds["confidence"].values, fps=ds.attrs["fps"])


# --- mask_low_confidence --------------------------------------------------------------


def test_mask_low_confidence_exact_pattern() -> None:
    pos = np.arange(12, dtype=float).reshape(3, 2, 2)
    conf = np.array([[0.9, 0.2], [0.5, np.nan], [0.49, 1.0]])
    out = mask_low_confidence(make_pose(pos, ["a", "b"], conf), threshold=0.5)
    keep = np.array([[True, False], [True, False], [False, True]])
    expected = np.where(keep[..., None], pos, np.nan)
    np.testing.assert_array_equal(out["position"].values, expected)
    np.testing.assert_array_equal(out["confidence"].values, np.where(keep, conf, np.nan))
    rec = history(out)[-1]
    assert rec["step"] == "mask_low_confidence"
    assert rec["threshold"] == 0.5
    assert rec["masked_fraction"] == pytest.approx(0.5)


def test_mask_low_confidence_does_not_mutate_and_checks_threshold() -> None:
    pos = np.ones((2, 1, 2))
    ds = make_pose(pos, ["a"], [[0.1], [0.9]])
    mask_low_confidence(ds, 0.5)
    np.testing.assert_array_equal(ds["position"].values, pos)
    assert ds.attrs["faceexpr_history"] == []
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="threshold must be in"):
            mask_low_confidence(ds, bad)
    with pytest.raises(InvalidPoseError):
        mask_low_confidence(ds["position"])  # type: ignore[arg-type]


# --- interpolate_gaps -------------------------------------------------------------------


def gappy_pose(fps: float | None) -> tuple[xr.Dataset, np.ndarray]:
    """One landmark, x = 2f + 1, y = 5 - 0.5 f, with gaps of several lengths."""
    f = np.arange(20, dtype=float)
    truth = np.stack([2 * f + 1, 5 - 0.5 * f], axis=1)[:, None, :]
    pos = truth.copy()
    pos[[0, 1]] = np.nan  # leading
    pos[[4, 5]] = np.nan  # gap of 2
    pos[9:15] = np.nan  # gap of 6
    pos[17, 0, 0] = np.nan  # gap of 1 in x only
    pos[19] = np.nan  # trailing
    return make_pose(pos, ["a"], fps=fps), truth


@pytest.mark.parametrize("fps", [None, 30.0, 7.0])
def test_interpolate_gaps_fills_short_gaps_exactly(fps: float | None) -> None:
    ds, truth = gappy_pose(fps)
    out = interpolate_gaps(ds, max_gap=5)
    got = out["position"].values
    filled = [2, 3, 4, 5, 6, 7, 8, 15, 16, 17, 18]
    np.testing.assert_allclose(got[filled], truth[filled], rtol=0, atol=1e-12)
    for i in (0, 1, *range(9, 15), 19):
        assert np.isnan(got[i]).all(), i
    assert history(out)[-1] == {"step": "interpolate_gaps", "max_gap": 5}
    # the input is untouched
    assert np.isnan(ds["position"].values[4]).all()
    # the confidence is not invented for filled frames
    assert np.isnan(out["confidence"].values[4, 0])


def test_interpolate_gaps_limit_is_inclusive_and_none_fills_all() -> None:
    ds, truth = gappy_pose(30.0)
    got6 = interpolate_gaps(ds, max_gap=6)["position"].values
    np.testing.assert_allclose(got6[9:15], truth[9:15], atol=1e-12)
    got1 = interpolate_gaps(ds, max_gap=1)["position"].values
    assert np.isnan(got1[4:6]).all()
    np.testing.assert_allclose(got1[17], truth[17], atol=1e-12)
    gotall = interpolate_gaps(ds, max_gap=None)["position"].values
    np.testing.assert_allclose(gotall[2:19], truth[2:19], atol=1e-12)
    assert np.isnan(gotall[[0, 1, 19]]).all()


def test_interpolate_gaps_same_whatever_the_time_unit() -> None:
    a = interpolate_gaps(gappy_pose(None)[0], 5)["position"].values
    b = interpolate_gaps(gappy_pose(30.0)[0], 5)["position"].values
    np.testing.assert_array_equal(a, b)


def test_interpolate_gaps_uses_frame_numbers() -> None:
    # frames 0, 1, 2, 10: the missing row at frame 2 lies 1/9 of the way from 1 to 10
    pos = np.array([0.0, 10.0, np.nan, 100.0])[:, None, None] * np.ones((1, 1, 2))
    ds = make_pose(pos, ["a"], frame=[0, 1, 2, 10], fps=30.0)
    got = interpolate_gaps(ds, 5)["position"].values[2, 0]
    np.testing.assert_allclose(got, [20.0, 20.0])


def test_interpolate_gaps_bad_max_gap() -> None:
    ds, _ = gappy_pose(None)
    with pytest.raises(ValueError, match="max_gap"):
        interpolate_gaps(ds, max_gap=0)


# --- smooth ----------------------------------------------------------------------------------


def series_pose(x: np.ndarray) -> xr.Dataset:
    pos = np.stack([x, -2 * x], axis=1)[:, None, :]
    return make_pose(pos, ["a"], fps=30.0)


def test_median_removes_single_frame_spike() -> None:
    x = np.full(21, 5.0)
    x[10] = 500.0
    out = smooth(series_pose(x), "median", window=5)["position"].values
    np.testing.assert_array_equal(out[:, 0, 0], np.full(21, 5.0))
    np.testing.assert_array_equal(out[:, 0, 1], np.full(21, -10.0))


def test_savgol_keeps_quadratic() -> None:
    t = np.arange(30, dtype=float)
    x = 0.5 * t**2 - 3 * t + 2
    out = smooth(series_pose(x), "savgol", window=7, polyorder=2)["position"].values
    np.testing.assert_allclose(out[:, 0, 0], x, atol=1e-9)
    np.testing.assert_allclose(out[:, 0, 1], -2 * x, atol=1e-9)
    # a linear-only filter does change it
    out1 = smooth(series_pose(x), "savgol", window=7, polyorder=1)["position"].values
    assert np.abs(out1[:, 0, 0] - x).max() > 0.5


@pytest.mark.parametrize("method", ["median", "savgol"])
def test_nan_never_spreads(method: str) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=25)
    x[10] = np.nan
    out = smooth(series_pose(x), method, window=5)["position"].values[:, 0, 0]  # type: ignore[arg-type]
    assert np.isnan(out).sum() == 1 and np.isnan(out[10])
    if method == "median":
        np.testing.assert_allclose(out[:10], median_filter(x[:10], 5, mode="nearest"))
        np.testing.assert_allclose(out[11:], median_filter(x[11:], 5, mode="nearest"))
    # each segment is filtered on its own: the same as smoothing the segment alone
    left = smooth(series_pose(x[:10]), method, window=5)["position"].values[:, 0, 0]  # type: ignore[arg-type]
    right = smooth(series_pose(x[11:]), method, window=5)["position"].values[:, 0, 0]  # type: ignore[arg-type]
    np.testing.assert_allclose(out[:10], left, atol=1e-12)
    np.testing.assert_allclose(out[11:], right, atol=1e-12)
    assert not np.allclose(out[:10], x[:10])  # something was filtered


def test_segments_shorter_than_window_are_kept() -> None:
    x = np.array([1.0, 9.0, 2.0, np.nan, 4.0, 0.0, 8.0, 3.0, 7.0, 1.0, 6.0])
    out = smooth(series_pose(x), "median", window=5)["position"].values[:, 0, 0]
    np.testing.assert_array_equal(out[:3], x[:3])
    np.testing.assert_array_equal(out[4:], median_filter(x[4:], 5, mode="nearest"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"window": 4}, "odd number >= 3, got 4"),
        ({"window": 1}, "odd number >= 3, got 1"),
        ({"method": "savgol", "window": 3, "polyorder": 3}, "polyorder"),
        ({"method": "mean"}, "method must be"),
    ],
)
def test_smooth_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        smooth(series_pose(np.zeros(10)), **kwargs)  # type: ignore[arg-type]


# --- kabsch_rotations ---------------------------------------------------------------------


@pytest.mark.parametrize("d", [2, 3])
def test_kabsch_recovers_random_rotations(d: int) -> None:
    rng = np.random.default_rng(7)
    n_frames, n_points = 50, 8
    target = rng.normal(size=(n_points, d)) * 10
    if d == 3:
        rots = Rotation.random(n_frames, random_state=3).as_matrix()
    else:
        a = rng.uniform(-np.pi, np.pi, n_frames)
        rots = np.stack([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]).transpose(2, 0, 1)
    # source = R^T target + offset, so R @ (p - centroid) = q - centroid'
    source = np.einsum("tji,lj->tli", rots, target) + rng.normal(size=(n_frames, 1, d)) * 50
    got = kabsch_rotations(source, target)
    assert got.shape == (n_frames, d, d)
    np.testing.assert_allclose(got, rots, atol=1e-10)
    np.testing.assert_allclose(np.linalg.det(got), 1.0, atol=1e-10)


def test_kabsch_never_reflects() -> None:
    rng = np.random.default_rng(2)
    target = rng.normal(size=(6, 3))
    mirrored = target * np.array([1.0, 1.0, -1.0])
    got = kabsch_rotations(mirrored[None], target)[0]
    np.testing.assert_allclose(np.linalg.det(got), 1.0, atol=1e-10)
    np.testing.assert_allclose(got @ got.T, np.eye(3), atol=1e-10)


def test_kabsch_nan_for_too_few_points() -> None:
    rng = np.random.default_rng(4)
    target = rng.normal(size=(5, 3))
    source = np.repeat(target[None], 4, axis=0)
    source[1, :3] = np.nan  # 2 valid points < 3
    source[2, :2, 0] = np.nan  # 3 valid points: fine
    source[3] = np.nan
    got = kabsch_rotations(source, target)
    assert np.isnan(got[1]).all() and np.isnan(got[3]).all()
    np.testing.assert_allclose(got[[0, 2]], np.stack([np.eye(3)] * 2), atol=1e-10)
    # a missing template point is ignored in every frame
    tmpl = target.copy()
    tmpl[4] = np.nan
    np.testing.assert_allclose(kabsch_rotations(source[:1], tmpl)[0], np.eye(3), atol=1e-10)
    # min_points raises the bar
    assert np.isnan(kabsch_rotations(source, target, min_points=4)[2]).all()


def reference_kabsch(source: np.ndarray, target: np.ndarray,
                     min_points: int | None = None) -> np.ndarray:
    """Kabsch frame by frame, written plainly, to check the batched version against."""
    n_frames, _, d = source.shape
    out = np.full((n_frames, d, d), np.nan)
    for t in range(n_frames):
        ok = np.isfinite(source[t]).all(1) & np.isfinite(target).all(1)
        if ok.sum() < (min_points or d):
            continue
        p = source[t, ok] - source[t, ok].mean(0)
        q = target[ok] - target[ok].mean(0)
        u, _, vt = np.linalg.svd(q.T @ p)
        if np.linalg.det(u @ vt) < 0:
            u[:, -1] *= -1.0
        out[t] = u @ vt
    return out


def reference_egocentric(pos: np.ndarray, ref: int, n_iter: int = 3,
                         scale: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """egocentric() without a template, frame by frame: positions and rotations."""
    rel = pos - pos[:, ref][:, None]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN landmarks
        tmpl = np.nanmedian(rel, axis=0)
        rot = reference_kabsch(rel, tmpl)
        for _ in range(n_iter):
            tmpl = np.nanmean(np.stack([f @ r.T for r, f in zip(rot, rel)]), axis=0)
            rot = reference_kabsch(rel, tmpl)
        out = np.stack([f @ r.T for r, f in zip(rot, rel)])
        if scale:
            def size(f: np.ndarray) -> float:
                return float(np.sqrt(np.nanmean(np.sum((f - np.nanmean(f, 0)) ** 2, 1))))
            out = np.stack([f * size(tmpl) / size(f) for f in out])
    return out, rot


def gappy(pos: np.ndarray, seed: int) -> np.ndarray:
    """NaN frames, frames with too few points, scattered missing values, a lost landmark."""
    rng = np.random.default_rng(seed)
    pos = pos.copy()
    pos[rng.random(pos.shape[:2]) < 0.1] = np.nan
    pos[20:25] = np.nan  # whole frames lost
    pos[40, 2:] = np.nan  # the reference and one more point: no rotation in 3D
    pos[41, :, 0] = np.nan  # one coordinate missing everywhere in this frame
    pos[:, -1] = np.nan  # a landmark never seen: no template point
    return pos


@pytest.mark.parametrize("d", [2, 3])
def test_kabsch_matches_per_frame_reference(d: int) -> None:
    rng = np.random.default_rng(11)
    target = rng.normal(size=(9, d)) * 20
    source = gappy(rng.normal(size=(300, 9, d)) * 20, 12)  # includes reflections
    source[50:60] = target * np.r_[np.ones(d - 1), -1.0] + 5.0  # mirrored: flipped axis
    tmpl = target.copy()
    tmpl[3] = np.nan
    for tgt in (target, tmpl):
        for min_points in (None, 5):
            want = reference_kabsch(source, tgt, min_points)
            got = kabsch_rotations(source, tgt, min_points)
            assert np.array_equal(np.isnan(got), np.isnan(want))
            assert np.isnan(got[20:25]).all()
            assert np.nanmax(np.abs(got - want)) < 1e-9
    # the flipped frames were really fitted: a proper rotation, not a reflection
    np.testing.assert_allclose(np.linalg.det(kabsch_rotations(source[50:60], target)), 1.0)


@pytest.mark.parametrize("d", [2, 3])
def test_egocentric_matches_per_frame_reference(sim600, clean_sim, d: int) -> None:  # type: ignore[no-untyped-def]
    pose = sim600.pose3d if d == 3 else clean_sim.view(0)
    names = [str(n) for n in pose["landmarks"].values]
    pos = gappy(pose["position"].values, 5)
    ds = make_pose(pos, names, fps=30.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the lost landmark
        got = egocentric(ds)
    want_pos, want_rot = reference_egocentric(pos, names.index("nose1"), scale=d == 2)
    rot = got["head_rotation"].values
    assert np.array_equal(np.isnan(rot), np.isnan(want_rot))
    assert np.isnan(rot[20:25]).all() and (d == 2 or np.isnan(rot[40]).all())
    assert np.nanmax(np.abs(rot - want_rot)) < 1e-9
    out = got["position"].values
    assert np.array_equal(np.isnan(out), np.isnan(want_pos))
    assert np.nanmax(np.abs(out - want_pos)) < 1e-9


# --- egocentric -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim600():  # type: ignore[no-untyped-def]
    return simulate(600, n_expressions=5, seed=3, noise_mm=0.3, dropout=0.01)


@pytest.fixture(scope="module")
def clean_sim():  # type: ignore[no-untyped-def]
    return simulate(400, n_expressions=2, mean_dwell_s=2.0, seed=5, noise_mm=0.0, dropout=0.0,
                    n_cameras=1, noise_px=0.0)


def template3d() -> xr.DataArray:
    names, face = neutral_face()
    return xr.DataArray(face - face[names.index("nose1")], dims=("landmarks", "space"),
                        coords={"landmarks": names, "space": ["x", "y", "z"]})


def test_egocentric_reference_is_origin(sim600) -> None:  # type: ignore[no-untyped-def]
    out = egocentric(sim600.pose3d, "nose1")
    ref = out["position"].sel(landmarks="nose1").values
    finite = np.isfinite(sim600.pose3d["position"].sel(landmarks="nose1").values).all(1)
    assert finite.sum() > 500
    assert (ref[finite] == 0.0).all()
    np.testing.assert_array_equal(
        out["head_position"].values, sim600.pose3d["position"].sel(landmarks="nose1").values)
    assert out["head_rotation"].shape == (600, 3, 3)
    assert list(out["angle"].values) == ["pitch", "yaw", "roll"]
    assert out.attrs["head_angle_frame"] == "face (rear→lear / chin→nose1)"
    assert out.attrs["egocentric_reference"] == "nose1"
    assert history(out)[-1]["step"] == "egocentric"
    assert "head_scale" not in out  # 3D is metric


def test_egocentric_recovers_true_head_motion(clean_sim) -> None:  # type: ignore[no-untyped-def]
    out = egocentric(clean_sim.pose3d, align_landmarks=RIGID, template=template3d())
    # the rotation is the inverse of the simulated head rotation
    np.testing.assert_allclose(
        out["head_rotation"].values, np.transpose(clean_sim.head_rotation, (0, 2, 1)),
        atol=1e-9)
    # the true rotation written in the template's face frame (left, up, front rows)
    axes = face_axes(template3d().values, neutral_face()[0], FACE21)
    assert axes is not None
    in_face = axes[None] @ clean_sim.head_rotation @ axes.T[None]
    true_angles = Rotation.from_matrix(in_face).as_euler("YXZ", degrees=True)[:, [1, 0, 2]]
    np.testing.assert_allclose(out["head_angles"].values, true_angles, atol=1e-7)
    # rigid landmarks land exactly on the neutral face
    tmpl = template3d()
    np.testing.assert_allclose(out["position"].sel(landmarks=RIGID).values,
                               np.broadcast_to(tmpl.sel(landmarks=RIGID).values, (400, 8, 3)),
                               atol=1e-9)
    # the head position is the world position of nose1
    names, face = neutral_face()
    nose = face[names.index("nose1")]
    expected = np.einsum("tij,j->ti", clean_sim.head_rotation, nose) + clean_sim.head_position
    np.testing.assert_allclose(out["head_position"].values, expected, atol=1e-9)


def test_egocentric_neutral_frames_match_neutral_face(clean_sim) -> None:  # type: ignore[no-untyped-def]
    out = egocentric(clean_sim.pose3d, align_landmarks=RIGID, template=template3d())
    states = clean_sim.states.values
    # frames at least 20 frames into a neutral bout: the expression has eased away
    run = np.zeros(len(states), dtype=int)
    for t in range(len(states)):
        run[t] = run[t - 1] + 1 if t and states[t] == states[t - 1] else 1
    calm = (states == 0) & (run > 20)
    assert calm.sum() > 10
    np.testing.assert_allclose(out["position"].values[calm],
                               np.broadcast_to(template3d().values, (calm.sum(), 21, 3)),
                               atol=1e-3)
    # and in expressive frames some landmark is well away from it
    expressive = states != 0
    dev = np.abs(out["position"].values[expressive] - template3d().values).max()
    assert dev > 3.0


def test_egocentric_invariant_to_rigid_motion_with_template(sim600) -> None:  # type: ignore[no-untyped-def]
    rot = Rotation.from_euler("xyz", [20, -35, 50], degrees=True).as_matrix()
    moved = rigidly_moved(sim600.pose3d, rot, np.array([100.0, -50.0, 30.0]))
    a = egocentric(sim600.pose3d, template=template3d())
    b = egocentric(moved, template=template3d())
    np.testing.assert_allclose(b["position"].values, a["position"].values, atol=1e-6)
    np.testing.assert_allclose(b["head_rotation"].values, a["head_rotation"].values @ rot.T,
                               atol=1e-9)


def test_egocentric_invariant_up_to_one_rotation_without_template(sim600) -> None:  # type: ignore[no-untyped-def]
    rot = Rotation.from_euler("zyx", [-60, 25, 10], degrees=True).as_matrix()
    moved = rigidly_moved(sim600.pose3d, rot, np.array([-20.0, 400.0, 5.0]))
    a = egocentric(sim600.pose3d)["position"].values.reshape(-1, 3)
    b = egocentric(moved)["position"].values.reshape(-1, 3)
    ok = np.isfinite(a).all(1) & np.isfinite(b).all(1)
    assert np.array_equal(ok, np.isfinite(a).all(1))
    # the estimated template is only defined up to a rotation: find the one rotation
    s = kabsch_rotations(a[ok][None], b[ok])[0]
    np.testing.assert_allclose(a[ok] @ s.T, b[ok], atol=1e-5)


def test_head_angles_spread_matches_simulation(sim600) -> None:  # type: ignore[no-untyped-def]
    # pitch, yaw, roll: about the face's x (left), y (up), z (front) axes
    true = Rotation.from_matrix(sim600.head_rotation).as_euler("YXZ", degrees=True)[:, [1, 0, 2]]
    rigid = egocentric(sim600.pose3d, align_landmarks=RIGID)["head_angles"].values
    np.testing.assert_allclose(np.nanstd(rigid, 0), true.std(0), rtol=0.05)
    # the deviation from the truth is a near-constant offset (template orientation)
    assert (np.nanstd(rigid - true, 0) < 0.5).all()
    every = egocentric(sim600.pose3d)["head_angles"].values
    np.testing.assert_allclose(np.nanstd(every, 0), true.std(0), rtol=0.25)


def test_egocentric_2d_scale_removal(clean_sim) -> None:  # type: ignore[no-untyped-def]
    view = clean_sim.view(0)
    first = egocentric(view)
    assert "head_scale" in first and list(first["angle"].values) == ["roll"]
    assert first["head_rotation"].shape == (400, 2, 2)
    template = first["position"].mean("time")
    a = egocentric(view, template=template)
    # a global scaling and a per-frame scaling (moving towards the camera) both vanish
    for factor in (2.5, np.linspace(0.5, 2.0, 400)[:, None, None]):
        pos = view["position"].values * factor + 13.0
        scaled = make_pose(pos, [str(n) for n in view["landmarks"].values],
                           view["confidence"].values, fps=30.0)
        b = egocentric(scaled, template=template)
        np.testing.assert_allclose(b["position"].values, a["position"].values, atol=1e-9)
        np.testing.assert_allclose(b["head_scale"].values,
                                   a["head_scale"].values * np.ravel(factor), rtol=1e-9)
    # without scale removal the size is kept
    c = egocentric(view, template=template, scale=False)
    assert "head_scale" not in c
    pos = view["position"].values * 2.0
    d = egocentric(make_pose(pos, [str(n) for n in view["landmarks"].values], fps=30.0),
                   template=template, scale=False)
    np.testing.assert_allclose(d["position"].values, 2.0 * c["position"].values, atol=1e-9)


def test_egocentric_2d_roll() -> None:
    rng = np.random.default_rng(0)
    face = rng.normal(size=(6, 2)) * 20
    face -= face[0]
    roll = np.linspace(-30, 30, 10)
    a = np.radians(roll)
    rots = np.stack([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]).transpose(2, 0, 1)
    pos = np.einsum("tij,lj->tli", rots, face) + 100.0
    names = [f"p{i}" for i in range(6)]
    ds = make_pose(pos, names)
    tmpl = xr.DataArray(face, dims=("landmarks", "space"),
                        coords={"landmarks": names, "space": ["x", "y"]})
    out = egocentric(ds, "p0", template=tmpl)
    np.testing.assert_allclose(out["head_angles"].values[:, 0], roll, atol=1e-9)
    np.testing.assert_allclose(out["position"].values, np.broadcast_to(face, pos.shape),
                               atol=1e-9)
    np.testing.assert_allclose(out["head_scale"].values, 1.0, atol=1e-12)


def test_egocentric_without_align(sim600) -> None:  # type: ignore[no-untyped-def]
    out = egocentric(sim600.pose3d, "chin", align=False)
    pos = sim600.pose3d["position"].values
    ref = sim600.pose3d["position"].sel(landmarks="chin").values
    np.testing.assert_array_equal(out["position"].values, pos - ref[:, None, :])
    assert "head_rotation" not in out and "head_angles" not in out


@pytest.mark.filterwarnings("ignore:All-NaN slice:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")
def test_egocentric_errors(sim600, clean_sim) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidPoseError, match=r"lacks landmark\(s\) \['tail'\]"):
        egocentric(sim600.pose3d, "tail")
    with pytest.raises(InvalidPoseError, match=r"lacks landmark\(s\) \['paw'\]"):
        egocentric(sim600.pose3d, align_landmarks=["nose2", "paw"])
    with pytest.raises(InvalidPoseError, match="cameras"):
        egocentric(clean_sim.pose2d)
    with pytest.raises(InvalidPoseError, match="at least 3 align_landmarks"):
        egocentric(sim600.pose3d, align_landmarks=["nose1", "nose2"])
    pos = np.full((5, 4, 3), np.nan)
    pos[:, 0] = 1.0
    with pytest.raises(InvalidPoseError, match="could not be estimated on any frame"):
        egocentric(make_pose(pos, ["nose1", "a", "b", "c"]))
