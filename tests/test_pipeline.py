"""The whole pipeline on synthetic faces with known states, and what Result.save writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import faceexpr as fe
from faceexpr.analysis import state_agreement
from faceexpr.io import from_netcdf
from faceexpr.synthetic import SyntheticFace, simulate


@pytest.mark.parametrize("dims", [2, 3])
def test_recovers_true_states(sim3d: SyntheticFace, dims: int) -> None:
    pose = sim3d.pose3d if dims == 3 else sim3d.view(0)
    result = fe.Pipeline(n_states=5, model_options={"n_init": 3}, progress=False).run(pose)
    assert state_agreement(sim3d.states, result.states[0]) >= 0.9
    expr = result.expressions
    assert expr.dims == ("states", "landmarks", "space")
    assert expr.sizes["space"] == dims
    assert np.allclose(expr.sel(landmarks="nose1").values, 0)  # the egocentric origin
    assert result.frequencies["n_frames"].sum() == (result.states[0].values >= 0).sum()
    np.testing.assert_allclose(result.transitions.sum("to_state").values, 1)


def test_multiple_recordings_fit_one_model() -> None:
    a, b = simulate(1500, seed=11), simulate(1200, seed=12)
    result = fe.Pipeline(n_states=5, model_options={"n_init": 3}, progress=False).run(
        [a.pose3d, b.pose3d], names=["a", "b"])
    assert result.sessions == ["a", "b"]
    assert [s.size for s in result.states] == [1500, 1200]
    table = result.state_table()
    assert list(table["session"].unique()) == ["a", "b"]
    for sim, states in zip((a, b), result.states):
        assert state_agreement(sim.states, states) > 0.9


def test_save_writes_every_table(sim3d: SyntheticFace, tmp_path: Path) -> None:
    result = fe.Pipeline(n_states=5, progress=False).run(sim3d.pose3d, names=["s"])
    out = result.save(tmp_path / "out")
    names = {p.name for p in out.iterdir()}
    assert {"states.csv", "frequencies.csv", "dwell_times.csv", "bouts.csv", "transitions.csv",
            "transition_counts.csv", "kinematics_by_state.csv", "expressions.csv",
            "expressions.nc", "sessions", "model.npz", "summary.json"} <= names
    states = pd.read_csv(out / "states.csv")
    np.testing.assert_array_equal(states["state"], result.states[0].values)
    freq = pd.read_csv(out / "frequencies.csv", index_col="state")
    np.testing.assert_allclose(freq["relative"].sum(), 1.0)
    trans = pd.read_csv(out / "transitions.csv", index_col=0)
    assert trans.shape == (5, 5)
    expr = from_netcdf(out / "expressions.nc")["expression"]
    np.testing.assert_allclose(expr.values, result.expressions.values)
    session = from_netcdf(out / "sessions" / "s" / "s.nc")
    np.testing.assert_array_equal(session["state"].values, result.states[0].values)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_states"] == 5 and summary["dims"] == 3
    model = fe.StateModel.load(out / "model.npz")
    np.testing.assert_array_equal(model.predict(result.features[0]).values,
                                  result.states[0].values)
    # a second save refuses to overwrite unless asked, and leaves no temporary folder
    with pytest.raises(fe.FaceexprError, match="exists and is not empty"):
        result.save(out)
    result.save(out, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_failed_save_leaves_nothing(sim3d: SyntheticFace, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    pose = sim3d.pose3d.isel(time=slice(0, 400))
    result = fe.Pipeline(n_states=3, pca=3, progress=False).run(pose)

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(type(result.model), "save", broken)
    with pytest.raises(OSError, match="disk full"):
        result.save(tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_multi_camera_pose_needs_a_triangulator(sim3d: SyntheticFace) -> None:
    assert sim3d.pose2d is not None
    with pytest.raises(fe.InvalidPoseError, match="give a triangulator"):
        fe.Pipeline(n_states=3, progress=False).run(sim3d.pose2d)


def test_missing_reference_landmark(sim3d: SyntheticFace) -> None:
    with pytest.raises(fe.InvalidPoseError, match=r"lacks landmark\(s\) \['nosetip'\]"):
        fe.Pipeline(n_states=3, reference="nosetip", progress=False).run(sim3d.pose3d)


def test_reference_comes_from_the_landmark_scheme() -> None:
    pose = simulate(200, seed=1).pose3d
    pipe = fe.Pipeline(progress=False)
    assert pipe.reference_of(pose) == "nose1"
    renamed = pose.assign_coords(landmarks=[f"p{i}" for i in range(pose.sizes["landmarks"])])
    with pytest.raises(fe.InvalidPoseError, match="name one with reference="):
        pipe.clean(renamed)
    ego = fe.Pipeline(reference="p3", progress=False).clean(renamed)
    assert np.allclose(ego["position"].sel(landmarks="p3").values, 0)


def test_float32_precision_halves_memory_and_keeps_the_states(sim3d: SyntheticFace) -> None:
    pose = sim3d.pose3d
    r32 = fe.Pipeline(n_states=5, progress=False).run(pose)
    r64 = fe.Pipeline(n_states=5, progress=False, precision="float64").run(pose)
    assert r32.poses[0]["position"].dtype == np.float32
    assert r32.egocentric[0]["position"].dtype == np.float32
    assert r64.egocentric[0]["position"].dtype == np.float64
    assert r32.egocentric[0]["position"].nbytes * 2 == r64.egocentric[0]["position"].nbytes
    # float32's rounding (1e-7 relative) is far below the tracking noise: same positions to
    # 1e-4 mm and the same states
    diff = abs(r32.egocentric[0]["position"] - r64.egocentric[0]["position"])
    assert float(diff.max()) < 1e-4
    assert state_agreement(r32.states[0], r64.states[0]) > 0.99
    assert state_agreement(sim3d.states, r32.states[0]) > 0.9
    with pytest.raises(fe.ParameterError, match="precision must be"):
        fe.Pipeline(precision="float16").check()  # type: ignore[arg-type]


def test_float32_never_turns_a_huge_value_into_infinity() -> None:
    from faceexpr.data import with_precision

    pose = fe.make_pose(np.full((4, 2, 3), 1e39), ["a", "b"],
                        confidence=np.full((4, 2), 0.5))
    out = with_precision(pose, np.float32)
    assert out["position"].dtype == np.float64 and np.isfinite(out["position"]).all()
    assert out["confidence"].dtype == np.float32
    assert with_precision(out, np.float64)["confidence"].dtype == np.float64
