"""The DeepLabCut estimator and project helpers without DeepLabCut: errors, file formats.

Runs where DeepLabCut is not installed. Tests that read a project's ``config.yaml`` need
PyYAML (which DeepLabCut brings) and are skipped without it; those that render a video
need OpenCV. The real training loop is in ``test_deeplabcut_slow.py``.
"""

from __future__ import annotations

import errno
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import faceexpr as fe
from faceexpr.backends.deeplabcut import DEFAULT_CAM_REGEX, DeepLabCutEstimator
from faceexpr.backends.deeplabcut.format import from_dlc_file
from faceexpr.backends.deeplabcut.project import (
    DeepLabCutProjectError,
    MissingFileError,
    face_config_edits,
    image_name,
    labels_table,
    next_steps,
)

HAS_DLC = importlib.util.find_spec("deeplabcut") is not None


# -- registration and missing dependency ------------------------------------------------
def test_registered_with_its_extra() -> None:
    table = fe.backends()
    row = table[(table["stage"] == "pose_estimator") & (table["name"] == "deeplabcut")]
    assert len(row) == 1
    assert row["module"].item() == "faceexpr.backends.deeplabcut.estimator"
    assert bool(row["available"].item()) == HAS_DLC
    if not HAS_DLC:
        assert row["install"].item() == 'pip install "faceexpr[dlc]"'


@pytest.mark.skipif(HAS_DLC, reason="deeplabcut is installed here")
def test_missing_deeplabcut_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(fe.MissingDependencyError) as info:
        fe.pose_estimator("deeplabcut", config=tmp_path / "config.yaml")
    message = str(info.value)
    assert 'pip install "faceexpr[dlc]"' in message
    assert "torch==" in message and "torchvision==" in message
    assert isinstance(info.value, ImportError)


# -- configuration errors ---------------------------------------------------------------
def test_config_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "config.yaml"
    with pytest.raises(MissingFileError) as info:
        DeepLabCutEstimator(config=missing)
    assert isinstance(info.value, fe.FaceexprError)
    assert isinstance(info.value, FileNotFoundError)
    assert info.value.errno == errno.ENOENT
    assert info.value.filename == str(missing)
    assert "DeepLabCut project config not found" in str(info.value)


def test_config_is_required() -> None:
    with pytest.raises(DeepLabCutProjectError, match="needs config="):
        DeepLabCutEstimator()


def test_folder_without_config(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match=r"has no config\.yaml"):
        DeepLabCutEstimator(config=tmp_path)


def test_exported_model_not_found(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match="exported DeepLabCut model not found"):
        DeepLabCutEstimator(config=tmp_path / "model.pt")


def test_unknown_scheme_name(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("Task: x\n")
    with pytest.raises(ValueError, match="unknown scheme 'face99'"):
        DeepLabCutEstimator(config=tmp_path, scheme="face99")


def test_default_camera_pattern() -> None:
    from faceexpr.io.cameras import camera_name

    assert camera_name("s1_camA.mp4", DEFAULT_CAM_REGEX) == "A"
    assert camera_name("s1_cam12.mp4", DEFAULT_CAM_REGEX) == "12"


# -- project configuration helpers --------------------------------------------------------
def test_face_config_edits() -> None:
    edits = face_config_edits(fe.FACE21, n_frames=30)
    assert edits["bodyparts"] == list(fe.FACE21.landmarks)
    assert edits["numframes2pick"] == 30
    pairs = edits["skeleton"]
    assert all(isinstance(p, list) and len(p) == 2 for p in pairs)
    assert len({frozenset(p) for p in pairs}) == len(pairs)  # each edge once
    assert {frozenset(p) for p in pairs} == {frozenset(e) for e in fe.FACE21.edges()}
    assert all(a in fe.FACE21.landmarks and b in fe.FACE21.landmarks for a, b in pairs)


def test_face_config_edits_from_names() -> None:
    edits = face_config_edits(["a", "b"], n_frames=5)
    assert edits == {"bodyparts": ["a", "b"], "skeleton": [], "numframes2pick": 5}
    with pytest.raises(ValueError, match="n_frames"):
        face_config_edits(fe.FACE21, n_frames=0)
    with pytest.raises(ValueError, match="twice"):
        face_config_edits(["a", "a"])
    with pytest.raises(ValueError, match="string"):
        face_config_edits("nose")


def test_image_names_follow_deeplabcut() -> None:
    # extract_frames pads to ceil(log10(number of frames in the video)) digits
    assert image_name(7, 200) == "img007.png"
    assert image_name(7, 1000) == "img007.png"
    assert image_name(7, 1001) == "img0007.png"
    assert image_name(3, 10) == "img3.png"


def test_next_steps_names_the_commands(tmp_path: Path) -> None:
    text = next_steps(tmp_path / "config.yaml")
    for step in ("label_frames", "create_training_dataset", "train_network",
                 "--estimator deeplabcut", f"config={tmp_path / 'config.yaml'}"):
        assert step in text


# -- labelled-data files ----------------------------------------------------------------
def _labels(n_bodyparts: int, frames: list[int], seed: int = 0) -> dict[int, Any]:
    rng = np.random.default_rng(seed)
    return {f: rng.uniform(0, 100, size=(n_bodyparts, 2)) for f in frames}


def test_labels_table_layout() -> None:
    labels = _labels(3, [40, 5])
    table = labels_table(labels, ["a", "b", "c"], "me", "vid_camA", 200)
    assert list(table.index) == [("labeled-data", "vid_camA", "img005.png"),
                                 ("labeled-data", "vid_camA", "img040.png")]
    assert table.columns.names == ["scorer", "bodyparts", "coords"]
    assert list(table.columns)[:2] == [("me", "a", "x"), ("me", "a", "y")]
    np.testing.assert_array_equal(table.loc[("labeled-data", "vid_camA", "img040.png")]
                                  .to_numpy().reshape(3, 2), labels[40])


def test_labels_table_checks_shapes_and_frames() -> None:
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        labels_table({0: np.zeros((3, 2))}, ["a", "b"], "me", "v", 10)
    with pytest.raises(ValueError, match="not in the video"):
        labels_table({10: np.zeros((2, 2))}, ["a", "b"], "me", "v", 10)


def test_labels_file_round_trip(tmp_path: Path) -> None:
    labels = _labels(3, [0, 10, 20])
    labels[10][1] = np.nan  # an unlabelled point
    table = labels_table(labels, ["a", "b", "c"], "me", "vid", 50)
    path = tmp_path / "CollectedData_me.h5"
    table.to_hdf(path, key="df_with_missing", mode="w")
    pose = from_dlc_file(path)
    assert list(pose["landmarks"].values) == ["a", "b", "c"]
    np.testing.assert_array_equal(pose["position"].values,
                                  np.stack([labels[f] for f in (0, 10, 20)]))
    assert np.isnan(pose["confidence"].values[1, 1])
    assert (pose["confidence"].values[0] == 1).all()


# -- with PyYAML: a project on disk -------------------------------------------------------
def _project(tmp_path: Path, bodyparts: list[str]) -> Path:
    lines = ["Task: face", "scorer: tester", "date: Jan1", "multianimalproject: false",
             f"project_path: {tmp_path}", "bodyparts:", *[f"- {b}" for b in bodyparts],
             "TrainingFraction:", "- 0.95", "iteration: 0", "snapshotindex: -1"]
    config = tmp_path / "config.yaml"
    config.write_text("\n".join(lines) + "\n")
    return config


@pytest.fixture
def video(tmp_path: Path) -> tuple[Path, xr.Dataset]:
    pytest.importorskip("cv2")
    from faceexpr.synthetic.video import render_face_video

    pose = fe.synthetic.simulate(30, n_cameras=1, seed=1).view(0)
    return render_face_video(pose, tmp_path / "face_camA.mp4"), pose


def test_write_labels_from_a_pose(tmp_path: Path, video: tuple[Path, xr.Dataset]) -> None:
    pytest.importorskip("yaml")
    from faceexpr.backends.deeplabcut.project import write_labels

    path, pose = video
    config = _project(tmp_path, ["nose1", "chin", "tongue"])
    h5 = write_labels(config, path, pose, frames=[3, 12])
    assert h5 == tmp_path / "labeled-data" / "face_camA" / "CollectedData_tester.h5"
    assert sorted(p.name for p in h5.parent.glob("*.png")) == ["img03.png", "img12.png"]
    assert h5.with_suffix(".csv").is_file()
    back = from_dlc_file(h5)
    assert list(back["landmarks"].values) == ["nose1", "chin", "tongue"]
    np.testing.assert_allclose(back["position"].values[:, :2],
                               pose["position"].sel(landmarks=["nose1", "chin"]).values[[3, 12]])
    assert np.isnan(back["position"].values[:, 2]).all()  # the pose has no tongue

    # Writing again adds frames and replaces those already labelled.
    moved = {12: np.full((3, 2), 5.0), 20: np.full((3, 2), 7.0)}
    write_labels(config, path, moved)
    table = pd.read_hdf(h5, key="df_with_missing")
    assert [i[2] for i in table.index] == ["img03.png", "img12.png", "img20.png"]
    np.testing.assert_array_equal(table.iloc[1].to_numpy(), np.full(6, 5.0))


def test_write_labels_errors(tmp_path: Path, video: tuple[Path, xr.Dataset]) -> None:
    pytest.importorskip("yaml")
    from faceexpr.backends.deeplabcut.project import write_labels

    path, pose = video
    config = _project(tmp_path, ["nose1"])
    with pytest.raises(MissingFileError, match="video not found"):
        write_labels(config, tmp_path / "missing.mp4", {0: np.zeros((1, 2))})
    with pytest.raises(ValueError, match="not in the pose"):
        write_labels(config, path, pose, frames=[99])
    with pytest.raises(ValueError, match="not in the video"):
        write_labels(config, path, {99: np.zeros((1, 2))})
    with pytest.raises(DeepLabCutProjectError, match="none of the project's body parts"):
        write_labels(_project(tmp_path, ["tail"]), path, pose)


def test_estimate_errors_before_running(tmp_path: Path,
                                        video: tuple[Path, xr.Dataset]) -> None:
    pytest.importorskip("yaml")
    path, _ = video
    config = _project(tmp_path, list(fe.FACE21.landmarks))
    est = DeepLabCutEstimator(config=config)
    with pytest.raises(MissingFileError, match="video not found"):
        est.estimate(tmp_path / "missing.mp4")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"no video here")
    with pytest.raises(fe.FileFormatError, match="cannot open this file as a video"):
        est.estimate(broken)
    with pytest.raises(fe.InvalidPoseError, match=r"several files are camera \['A'\]"):
        est.estimate([path, path])
    with pytest.raises(DeepLabCutProjectError, match="no trained snapshot") as info:
        est.estimate(path)
    looked = (tmp_path / "dlc-models-pytorch" / "iteration-0" / "faceJan1-trainset95shuffle1"
              / "train")
    assert str(looked) in str(info.value)
    assert "create_training_dataset" in str(info.value)

    looked.mkdir(parents=True)
    (looked / "snapshot-010.pt").write_bytes(b"")
    (looked / "snapshot-detector-010.pt").write_bytes(b"")
    (looked / "pytorch_config.yaml").write_text(
        "metadata:\n  bodyparts: [nose1, chin]\n  unique_bodyparts: []\n")
    with pytest.raises(DeepLabCutProjectError, match=r"snapshot=1 but shuffle 1 has 1"):
        DeepLabCutEstimator(config=config, snapshot=1).estimate(path)
    with pytest.raises(DeepLabCutProjectError,
                       match=r"does not track the landmarks \['lefteye1', 'lefteye2'"):
        DeepLabCutEstimator(config=config, scheme="face21").estimate(path)
    with pytest.raises(DeepLabCutProjectError, match="no trained snapshot for shuffle 2"):
        DeepLabCutEstimator(config=config, shuffle=2).estimate(path)
    if not HAS_DLC:
        with pytest.raises(fe.MissingDependencyError, match="faceexpr\\[dlc\\]"):
            DeepLabCutEstimator(config=config, scheme=["nose1", "chin"]).estimate(path)


def test_trained_snapshots_order(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    from faceexpr.backends.deeplabcut.project import trained_snapshots

    config = _project(tmp_path, ["a"])
    folder = tmp_path / "dlc-models-pytorch/iteration-0/faceJan1-trainset95shuffle1/train"
    folder.mkdir(parents=True)
    for name in ("snapshot-100.pt", "snapshot-020.pt", "snapshot-best-050.pt",
                 "snapshot-detector-100.pt"):
        (folder / name).write_bytes(b"")
    assert [p.name for p in trained_snapshots(config)] == [
        "snapshot-020.pt", "snapshot-100.pt", "snapshot-best-050.pt"]
