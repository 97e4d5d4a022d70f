"""A fitted model labels new recordings with the same states, without refitting.

``Result.save`` keeps the alignment template, the feature columns, the standardisation,
the PCA and the state model; ``Result.load(folder).apply(...)`` and ``faceexpr apply``
label other recordings with them. The synthetic faces share their expression prototypes
across seeds (``simulate`` draws only the state sequence, the head motion and the noise
from the seed), so a second seed is a second recording of the same face.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

import faceexpr as fe
from faceexpr.cli import main
from faceexpr.errors import (
    FileFormatError,
    InvalidPoseError,
    MissingFileError,
)
from faceexpr.synthetic.faces import SyntheticFace, simulate

FRAMES = 1500


def _majority(truth: np.ndarray, states: np.ndarray, k: int) -> list[int]:
    """The true expression most frames of every state show."""
    return [int(np.bincount(truth[states == s], minlength=k).argmax()) for s in range(k)]


@pytest.fixture(scope="module")
def monday() -> SyntheticFace:
    return simulate(FRAMES, seed=1)


@pytest.fixture(scope="module")
def friday() -> SyntheticFace:
    return simulate(FRAMES, seed=11)


@pytest.fixture(scope="module")
def fitted(monday: SyntheticFace) -> fe.Result:
    # every transform a saved result can hold: standardisation and 10 components
    return fe.Pipeline(n_states=5, standardize=True, pca=10, progress=False).run(
        monday.pose3d, names=["monday"])


@pytest.fixture(scope="module")
def saved(fitted: fe.Result, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fitted.save(tmp_path_factory.mktemp("fit") / "monday", figures=False)


def test_the_prototypes_do_not_depend_on_the_seed() -> None:
    # what makes a second seed a second recording of the same expressions: without noise
    # and head motion every frame of expression k is the same face, whatever the seed
    still = {"noise_mm": 0.0, "head_rotation_deg": 0.0, "head_translation_mm": 0.0,
             "dropout": 0.0, "expression_jitter": 0.0, "ease": 0.0}
    a, b = simulate(1500, seed=1, **still), simulate(1500, seed=2, **still)
    assert not np.array_equal(a.states.values, b.states.values)
    for k in range(5):
        face_a = a.pose3d["position"].values[a.states.values == k]
        face_b = b.pose3d["position"].values[b.states.values == k]
        np.testing.assert_allclose(face_a, face_a[:1].repeat(len(face_a), 0), atol=1e-9)
        np.testing.assert_allclose(face_a[0], face_b[0], atol=1e-9)


def test_a_new_recording_gets_the_same_states(fitted: fe.Result, saved: Path,
                                              monday: SyntheticFace,
                                              friday: SyntheticFace) -> None:
    applied = fe.Result.load(saved).apply(friday.pose3d, names=["friday"], progress=False)
    truth = friday.states.values
    states = applied.states[0].values
    assert adjusted_rand_score(truth, states) >= 0.9  # measured 0.941
    # state k is the same expression on Monday and on Friday
    k = fitted.n_states
    assert _majority(truth, states, k) == _majority(monday.states.values,
                                                    fitted.states[0].values, k)
    # nothing was refitted: the very model, template and transforms
    np.testing.assert_array_equal(applied.model.means_, fitted.model.means_)
    assert applied.selection is None and applied.stability is None
    assert applied.applied_from is not None and applied.applied_from.folder == saved


def test_save_load_apply_on_the_same_data_gives_the_same_states(
        fitted: fe.Result, saved: Path, monday: SyntheticFace) -> None:
    again = fe.Result.load(saved).apply(monday.pose3d, progress=False)
    np.testing.assert_array_equal(again.states[0].values, fitted.states[0].values)
    np.testing.assert_array_equal(again.posteriors[0].values, fitted.posteriors[0].values)
    np.testing.assert_array_equal(again.egocentric[0]["position"].values,
                                  fitted.egocentric[0]["position"].values)


def test_the_2d_round_trip_aligns_the_first_recording_to_the_saved_template(
        tmp_path: Path) -> None:
    # in 2D the alignment also removes the face's size, relative to the template's: the
    # fit aligns its first recording to the very template it saves
    pose = simulate(900, seed=3, n_cameras=1).view(0)
    result = fe.Pipeline(n_states=4, progress=False).run(pose)
    folder = result.save(tmp_path / "fit2d", figures=False)
    again = fe.Result.load(folder).apply(pose, progress=False)
    np.testing.assert_array_equal(again.states[0].values, result.states[0].values)
    assert json.loads((folder / "pipeline.json").read_text())["units"] == "pixels"


def test_in_memory_and_saved_models_agree(fitted: fe.Result, saved: Path,
                                          friday: SyntheticFace) -> None:
    direct = fitted.apply(friday.pose3d, progress=False)
    loaded = fe.Result.load(saved).apply(friday.pose3d, progress=False)
    np.testing.assert_array_equal(direct.states[0].values, loaded.states[0].values)


def test_the_saved_model_is_json_and_arrays(saved: Path, fitted: fe.Result) -> None:
    meta = json.loads((saved / "pipeline.json").read_text())
    assert meta["format"] == "faceexpr fitted pipeline" and meta["format_version"] == 1
    assert meta["landmarks"] == list(fe.FACE21.landmarks)
    assert (meta["space"], meta["units"], meta["fps"]) == (["x", "y", "z"], "mm", 30.0)
    assert meta["pipeline"]["reference"] == "nose1"
    assert meta["pipeline"]["n_states"] == 5
    assert meta["pipeline"]["confidence_threshold"] == fitted.pipeline.confidence_threshold
    # the reference landmark's three columns are constant: left out as in the fit
    assert len(meta["feature_names"]) == 60 and "nose1_x" not in meta["feature_names"]
    with np.load(saved / "transforms.npz", allow_pickle=False) as arrays:
        assert arrays["template"].shape == (21, 3)
        assert arrays["pca_components"].shape == (10, 60)
        assert arrays["standardizer_scale"].min() > 0
        assert fitted.transforms is not None and fitted.transforms.template is not None
        np.testing.assert_array_equal(arrays["template"],
                                      fitted.transforms.template.values)


def test_shots_are_cleaned_and_labelled_one_by_one(fitted: fe.Result,
                                                   friday: SyntheticFace) -> None:
    pose = friday.pose3d
    half = FRAMES // 2
    cut = pose.assign_coords(segment=("time", np.repeat([0, 1], [half, FRAMES - half])))
    whole = fitted.apply(cut, progress=False)
    first = fitted.apply(pose.isel(time=slice(0, half)), progress=False)
    second = fitted.apply(pose.isel(time=slice(half, None)), progress=False)
    joined = np.concatenate([first.states[0].values, second.states[0].values])
    np.testing.assert_array_equal(whole.states[0].values, joined)
    assert whole.coverage()["shots"].tolist() == [2]


def test_other_landmark_names_are_refused(fitted: fe.Result, friday: SyntheticFace) -> None:
    renamed = friday.pose3d.assign_coords(landmarks=[f"p{i}" for i in range(21)])
    with pytest.raises(InvalidPoseError, match=r"other landmarks than the model was fitted "
                       r"on \(21 here, 21 there\): missing 21 \(lefteye1, lefteye2, "
                       r"righteye1, righteye2 and 17 more\); extra 21 \(p0, p1"):
        fitted.apply(renamed, names=["renamed"], progress=False)
    fewer = friday.pose3d.drop_sel(landmarks=["chin"])
    with pytest.raises(InvalidPoseError, match=r"missing 1 \(chin\)$"):
        fitted.apply(fewer, progress=False)


def test_2d_and_3d_and_units_are_refused(fitted: fe.Result, saved: Path) -> None:
    model = fe.Result.load(saved)
    flat = simulate(200, seed=4, n_cameras=1).view(0)
    with pytest.raises(InvalidPoseError, match=r"recording 'session0': 2D landmarks \(x, y\)"
                       r", but the model in .*monday was fitted on 3D landmarks \(x, y, z\)"):
        model.apply(flat, progress=False)
    pixels = simulate(200, seed=4).pose3d
    pixels.attrs["units"] = "pixels"
    with pytest.raises(InvalidPoseError, match=r"landmarks in 'pixels', but the model in "
                       r".* was fitted on landmarks in 'mm'"):
        model.apply(pixels, progress=False)
    fit2d = fe.Pipeline(n_states=3, progress=False).run(flat)
    with pytest.raises(InvalidPoseError, match=r"3D landmarks \(x, y, z\), but the model was "
                       r"fitted on 2D landmarks \(x, y\)"):
        fit2d.apply(pixels, progress=False)


def test_kinematics_need_the_fit_s_time_unit(friday: SyntheticFace) -> None:
    pipe = fe.Pipeline(n_states=3, kinematic_features=("head_speed",), progress=False)
    result = pipe.run(simulate(600, seed=5, n_expressions=3).pose3d)
    pose = friday.pose3d.copy()
    pose.attrs["fps"] = float("nan")
    with pytest.raises(InvalidPoseError, match="head kinematics features are per frame here"):
        result.apply(pose, progress=False)
    assert "head_speed" in result.apply(friday.pose3d, progress=False).transforms.names


def test_an_applied_result_saves_like_a_fit(fitted: fe.Result, saved: Path,
                                            friday: SyntheticFace, tmp_path: Path) -> None:
    applied = fe.Result.load(saved).apply(friday.pose3d, names=["friday"], progress=False)
    out = applied.save(tmp_path / "friday")
    names = {p.name for p in out.iterdir()}
    assert {"states.csv", "frequencies.csv", "report.html", "expressions.png",
            "model.npz", "pipeline.json", "transforms.npz", "summary.json"} <= names
    summary = json.loads((out / "summary.json").read_text())
    assert summary["applied_from"]["folder"] == str(saved)
    steps = {s["step"]: s for s in summary["provenance"]["steps"]}
    assert steps["apply"]["refitted"] is False
    assert steps["egocentric"]["template"] == "the fitted model's template"
    # the saved model of an applied result is the same model: it labels as the first did
    again = fe.Result.load(out).apply(friday.pose3d, progress=False)
    np.testing.assert_array_equal(again.states[0].values, applied.states[0].values)
    with pytest.raises(fe.FaceexprError, match="holds the input"):
        applied.save(saved, overwrite=True)


# -- a damaged or hostile results folder ---------------------------------------------------
@pytest.fixture
def copy(saved: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(saved, tmp_path / "copy"))


def _edit(folder: Path, **changes: Any) -> None:
    meta = json.loads((folder / "pipeline.json").read_text())
    for key, value in changes.items():
        target = meta
        *parents, last = key.split("__")
        for p in parents:
            target = target[p]
        target[last] = value
    (folder / "pipeline.json").write_text(json.dumps(meta))


def _rewrite_arrays(folder: Path, **changes: Any) -> None:
    with np.load(folder / "transforms.npz", allow_pickle=False) as f:
        arrays = dict(f)
    arrays.update(changes)
    with open(folder / "transforms.npz", "wb") as fh:
        np.savez(fh, **arrays)


def test_a_missing_folder_or_file_is_one_clear_line(copy: Path, tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match="no such results folder"):
        fe.Result.load(tmp_path / "nowhere")
    (copy / "transforms.npz").unlink()
    with pytest.raises(MissingFileError, match=r"copy: no transforms.npz \(the alignment"):
        fe.Result.load(copy)
    (copy / "pipeline.json").unlink()
    with pytest.raises(MissingFileError, match=r"no pipeline.json: not a results folder "
                       r"saved with its fitted pipeline"):
        fe.Result.load(copy)


def test_a_missing_state_model_is_named(copy: Path) -> None:
    (copy / "model.npz").unlink()
    with pytest.raises(MissingFileError, match=r"no model.npz \(the state model"):
        fe.Result.load(copy)


@pytest.mark.parametrize(("changes", "message"), [
    ({"format_version": 2}, "format_version must be 1"),
    ({"pipeline__align": "yes"}, "pipeline.align must be true or false, got 'yes'"),
    ({"pipeline__smoothing": "gaussian"}, "pipeline.smoothing must be 'median', 'savgol'"),
    ({"pipeline__reference": "nosetip"}, "reference landmark 'nosetip' is not one of"),
    ({"pipeline__n_states": 4}, "a native model of 5 states, but pipeline.json describes a "
                                "native model of 4"),
    ({"pipeline__max_gap": -1}, "pipeline.max_gap must be an integer >= 0"),
    ({"landmarks": ["a", "a"]}, "landmarks must be a list of distinct landmark names"),
    ({"space": ["x", "y"]}, "feature_names has 'lefteye1_z', which is neither a coordinate "
                            "of the landmarks nor a kinematic feature"),
])
def test_an_edited_description_is_refused(copy: Path, changes: dict[str, Any],
                                          message: str) -> None:
    _edit(copy, **changes)
    with pytest.raises(FileFormatError, match=message):
        fe.Result.load(copy)


def test_broken_json_is_refused(copy: Path) -> None:
    (copy / "pipeline.json").write_text('{"format": ')
    with pytest.raises(FileFormatError, match=r"pipeline.json: not valid JSON"):
        fe.Result.load(copy)
    (copy / "pipeline.json").write_text("[1, 2]")
    with pytest.raises(FileFormatError, match="must be a JSON object, got list"):
        fe.Result.load(copy)


@pytest.mark.parametrize(("changes", "message"), [
    ({"template": np.full((21, 3), np.inf)}, "template has infinite values"),
    ({"template": np.zeros((20, 3))}, r"template has shape \(20, 3\), expected \(21, 3\) "
                                      "for 21 landmarks in 3D and 60 feature columns"),
    ({"standardizer_mean": np.zeros(59)}, r"standardizer_mean has shape \(59,\), expected "
                                          r"\(60,\)"),
    ({"standardizer_scale": np.zeros(60)}, "standardizer_scale must be positive"),
    ({"pca_components": np.ones((10, 59))}, r"pca_components has shape \(10, 59\)"),
    ({"pca_mean": np.full(60, np.nan)}, "pca_mean has non-finite values"),
    ({"template": np.zeros((21, 3), dtype=np.int64)}, "'template' must be a float32 or "
                                                      "float64 array"),
])
def test_edited_arrays_are_refused(copy: Path, changes: dict[str, Any], message: str) -> None:
    _rewrite_arrays(copy, **changes)
    with pytest.raises(FileFormatError, match=message):
        fe.Result.load(copy)


def test_a_truncated_archive_is_refused(copy: Path) -> None:
    data = (copy / "transforms.npz").read_bytes()
    (copy / "transforms.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError, match=r"transforms.npz: not the arrays of a fitted"):
        fe.Result.load(copy)


class _Trap:
    """Unpickling it creates a file: proof that nothing was unpickled when it is absent."""

    marker: Path

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def test_a_pickle_in_the_archive_is_never_loaded(copy: Path, tmp_path: Path) -> None:
    trap = _Trap()
    trap.marker = tmp_path / "unpickled"
    payload = np.empty(1, dtype=object)
    payload[0] = trap
    pickle.dumps(trap)  # it pickles
    _rewrite_arrays(copy, template=payload)
    with pytest.raises(FileFormatError, match="cannot read 'template'"):
        fe.Result.load(copy)
    assert not trap.marker.exists()


def test_another_model_file_is_refused(copy: Path, friday: SyntheticFace) -> None:
    other = fe.Pipeline(n_states=3, pca=4, progress=False).run(friday.pose3d)
    other.model.save(copy / "model.npz")
    with pytest.raises(FileFormatError, match=r"model.npz: a native model of 3 states, but "
                       r"pipeline.json describes a native model of 5"):
        fe.Result.load(copy)
    _edit(copy, pipeline__n_states=3)
    with pytest.raises(FileFormatError, match=r"the state model's 4 features \(pc1, pc2, pc3, "
                       r"pc4\) are not the 10 columns the transforms make"):
        fe.Result.load(copy)


# -- the command line ----------------------------------------------------------------------
def test_analyze_then_apply_on_the_command_line(
        monday: SyntheticFace, friday: SyntheticFace, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    monday.write_anipose_csv(tmp_path / "monday.csv")
    friday.write_anipose_csv(tmp_path / "friday.csv")
    fit = tmp_path / "monday_states"
    assert main(["analyze", str(tmp_path / "monday.csv"), "--n-states", "5", "--out",
                 str(fit), "--quiet", "--no-figures"]) == 0
    capsys.readouterr()
    out = tmp_path / "friday_states"
    assert main(["apply", str(fit), str(tmp_path / "friday.csv"), "--out", str(out),
                 "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert f"1 recording(s), {FRAMES} frames with a state" in printed
    assert f"states of the model in {fit} (not refitted); results written to {out}" in printed
    table = pd.read_csv(out / "states.csv")
    assert adjusted_rand_score(friday.states.values, table["state"]) >= 0.9
    assert {"report.html", "expressions.png", "transitions.csv", "bouts.csv",
            "pipeline.json"} <= {p.name for p in out.iterdir()}
    # the fit's own recording, applied again from the saved folder: the fit's states
    again = tmp_path / "monday_again"
    assert main(["apply", str(fit), str(tmp_path / "monday.csv"), "--out", str(again),
                 "--quiet", "--no-figures"]) == 0
    pd.testing.assert_series_equal(pd.read_csv(again / "states.csv")["state"],
                                   pd.read_csv(fit / "states.csv")["state"])


def test_apply_errors_are_one_line(saved: Path, friday: SyntheticFace, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    renamed = friday.pose3d.assign_coords(landmarks=[f"p{i}" for i in range(21)])
    fe.save_pose(renamed, tmp_path / "renamed.nc")
    cases = [
        (["apply", str(saved), str(tmp_path / "renamed.nc"), "--out", str(tmp_path / "a")],
         f"faceexpr: error: {tmp_path / 'renamed.nc'}: other landmarks than the model in "
         f"{saved} was fitted on"),
        (["apply", str(tmp_path / "nowhere"), str(tmp_path / "renamed.nc"), "--out",
          str(tmp_path / "b")], "no such results folder"),
        (["apply", str(saved), str(tmp_path / "renamed.nc"), "--out", str(saved),
          "--overwrite"], "holds the input"),
        (["apply", str(saved), str(tmp_path / "renamed.nc"), "--out", str(tmp_path / "c"),
          "--estimator-option", "a=1"], "--estimator-option is for a pose estimator"),
    ]
    for argv, message in cases:
        assert main([*argv, "--quiet"]) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "a").exists()


def test_the_landmarks_check_ignores_their_order(fitted: fe.Result,
                                                 friday: SyntheticFace) -> None:
    names = list(friday.pose3d["landmarks"].values)
    shuffled = friday.pose3d.sel(landmarks=names[::-1])
    a = fitted.apply(shuffled, progress=False).states[0].values
    b = fitted.apply(friday.pose3d, progress=False).states[0].values
    assert adjusted_rand_score(a, b) > 0.99


@pytest.mark.parametrize("options", [
    {"align": False}, {"standardize": False, "pca": None}, {"pca": 0.9},
    {"smoothing": "median", "align_landmarks": ["lefteye1", "righteye1", "lear", "rear"]},
])
def test_every_configuration_round_trips(options: dict[str, Any], tmp_path: Path) -> None:
    pose = simulate(600, seed=6, n_expressions=3).pose3d
    result = fe.Pipeline(n_states=3, progress=False, **options).run(pose)
    folder = result.save(tmp_path / "fit", figures=False)
    again = fe.Result.load(folder).apply(pose, progress=False)
    np.testing.assert_array_equal(again.states[0].values, result.states[0].values)
    assert again.features[0].sizes == result.features[0].sizes


def test_feature_columns_the_landmarks_do_not_make_are_refused(copy: Path) -> None:
    meta = json.loads((copy / "pipeline.json").read_text())
    meta["feature_names"][0] = "forehead_x"
    (copy / "pipeline.json").write_text(json.dumps(meta))
    with pytest.raises(FileFormatError, match="feature_names has 'forehead_x', which is "
                       "neither a coordinate of the landmarks nor a kinematic feature"):
        fe.Result.load(copy)
