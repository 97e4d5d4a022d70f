"""Tests of faceexpr.io.openface: OpenFace 2.x FeatureExtraction / FaceLandmarkVidMulti CSVs.

The synthetic files follow OpenFace's ``RecorderCSV.cpp``: ``", "`` between fields, columns
``frame, face_id, timestamp, confidence, success``, gaze and eye landmarks, head pose,
``x_i``/``y_i`` then ``X_i``/``Y_i``/``Z_i``, shape parameters and action units, numbers
written with OpenFace's fixed precision.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import xarray as xr

import faceexpr as fe
from faceexpr.analysis import state_agreement
from faceexpr.backends.openface.format import (
    OpenFaceFormat,
    from_openface_csv,
    sniff_csv,
    to_openface_csv,
)
from faceexpr.data import make_pose
from faceexpr.errors import FileFormatError, InvalidPoseError
from faceexpr.io import detect_format, load_pose, save_pose
from faceexpr.registry import pose_format
from faceexpr.schemes import FACE21, IBUG68, IBUG68_TO_FACE21
from faceexpr.synthetic import simulate

FloatArray = npt.NDArray[np.float64]

N = 68
N_EYE = 56
AU_R = ["AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU14",
        "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU45"]
AU_C = sorted([*AU_R, "AU28"])
GAZE = ["gaze_0_x", "gaze_0_y", "gaze_0_z", "gaze_1_x", "gaze_1_y", "gaze_1_z",
        "gaze_angle_x", "gaze_angle_y"]
POSE = ["pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz"]
PDM = ["p_scale", "p_rx", "p_ry", "p_rz", "p_tx", "p_ty", *(f"p_{i}" for i in range(34))]


def write_openface(
    path: Path,
    xy: FloatArray,
    *,
    xyz: FloatArray | None = None,
    frames: npt.ArrayLike | None = None,
    face_ids: npt.ArrayLike | None = None,
    timestamps: npt.ArrayLike | None = None,
    confidence: npt.ArrayLike | None = None,
    success: npt.ArrayLike | None = None,
    pose: FloatArray | None = None,
    aus: FloatArray | None = None,
    sep: str = ", ",
    fps: float = 30.0,
) -> dict[str, FloatArray]:
    """Write a FeatureExtraction-style CSV (all output groups on); return its columns.

    ``xy`` is ``(rows, 68, 2)`` pixels, ``xyz`` ``(rows, 68, 3)`` mm (default derived from
    ``xy``). The returned values are those the file holds (rounded as OpenFace rounds).
    """
    rows = xy.shape[0]
    rng = np.random.default_rng(rows)
    if xyz is None:
        xyz = np.concatenate([xy / 5.0, np.full((rows, N, 1), 400.0)], axis=-1)
    frame = np.arange(1, rows + 1) if frames is None else np.asarray(frames)
    values: dict[str, tuple[npt.ArrayLike, str]] = {
        "frame": (frame, "d"),
        "face_id": (np.zeros(rows, int) if face_ids is None else face_ids, "d"),
        "timestamp": ((frame - 1) / fps if timestamps is None else timestamps, ".3f"),
        "confidence": (np.full(rows, 0.98) if confidence is None else confidence, ".2f"),
        "success": (np.ones(rows, int) if success is None else success, "d"),
    }
    values.update({g: (rng.normal(0, 0.3, rows), ".6f") for g in GAZE})
    values.update({f"eye_lmk_{a}_{i}": (rng.normal(300, 20, rows), ".1f")
                   for a in "xyXYZ" for i in range(N_EYE)})
    if pose is None:
        pose = np.column_stack([rng.normal(0, 20, (rows, 2)), rng.normal(500, 20, rows),
                                rng.normal(0, 0.1, (rows, 3))])
    values.update({name: (pose[:, k], ".1f" if k < 3 else ".3f")
                   for k, name in enumerate(POSE)})
    values.update({f"{a}_{i}": (xy[:, i, k], ".1f") for k, a in enumerate("xy")
                   for i in range(N)})
    values.update({f"{a}_{i}": (xyz[:, i, k], ".1f") for k, a in enumerate("XYZ")
                   for i in range(N)})
    values.update({p: (rng.normal(0, 1, rows), ".3f") for p in PDM})
    if aus is None:
        aus = np.column_stack([rng.uniform(0, 5, (rows, len(AU_R))),
                               rng.integers(0, 2, (rows, len(AU_C)))])
    names = [f"{au}_r" for au in AU_R] + [f"{au}_c" for au in AU_C]
    values.update({name: (aus[:, k], ".2f" if name.endswith("_r") else ".1f")
                   for k, name in enumerate(names)})

    cells = [[format(v, fmt) for v in np.asarray(col)] for col, fmt in values.values()]
    lines = [sep.join(values)] + [sep.join(row) for row in zip(*cells)]
    path.write_text("\n".join(lines) + "\n")
    return {name: np.array([float(c) for c in col]) for name, col in zip(values, cells)}


def random_faces(rows: int, seed: int = 0) -> FloatArray:
    rng = np.random.default_rng(seed)
    return np.asarray(rng.uniform(100, 500, (rows, N, 2)))


def landmarks_of(columns: dict[str, FloatArray], axes: str) -> FloatArray:
    return np.stack([np.stack([columns[f"{a}_{i}"] for a in axes], axis=-1)
                     for i in range(N)], axis=1)


def same_but_source(a: xr.Dataset, b: xr.Dataset) -> None:
    b = b.copy()
    b.attrs["source_files"] = a.attrs["source_files"]
    xr.testing.assert_identical(a, b)


# --- reading and writing --------------------------------------------------------------


@pytest.mark.parametrize("dims", [2, 3])
def test_round_trip(tmp_path: Path, dims: int) -> None:
    success = np.ones(30, int)
    success[[4, 5, 17]] = 0
    confidence = np.round(np.linspace(0.5, 0.99, 30), 2)
    path = tmp_path / "video.csv"
    cols = write_openface(path, random_faces(30), confidence=confidence, success=success)
    assert path.read_text().startswith(
        "frame, face_id, timestamp, confidence, success, gaze_0_x, gaze_0_y")

    ds = from_openface_csv(path, dims=dims)  # type: ignore[arg-type]
    ok = success == 1
    expected = landmarks_of(cols, "xy" if dims == 2 else "XYZ")
    np.testing.assert_allclose(ds["position"].values[ok], expected[ok], rtol=0, atol=1e-9)
    assert np.isnan(ds["position"].values[~ok]).all()
    np.testing.assert_array_equal(ds["confidence"].values[ok],
                                  np.repeat(confidence[ok, None], N, axis=1))
    assert np.isnan(ds["confidence"].values[~ok]).all()
    assert list(ds["landmarks"].values) == list(IBUG68.landmarks)
    assert list(ds["space"].values) == (["x", "y"] if dims == 2 else ["x", "y", "z"])
    np.testing.assert_array_equal(ds["frame"].values, np.arange(30))  # 0-based
    assert ds.attrs["fps"] == 30.0
    np.testing.assert_allclose(ds["time"].values, np.arange(30) / 30.0)
    assert ds.attrs["units"] == ("pixels" if dims == 2 else "mm")
    assert ds.attrs["source_software"] == "OpenFace"
    assert ds.attrs["openface_face_id"] == 0
    # head pose and action units, NaN where OpenFace did not track the face
    np.testing.assert_allclose(ds["head_translation"].values[ok],
                               np.column_stack([cols[c] for c in POSE[:3]])[ok])
    np.testing.assert_allclose(ds["head_rotation"].sel(head_angle="ry").values[ok],
                               cols["pose_Ry"][ok])
    assert list(ds["au"].values) == [f"{a}_r" for a in AU_R] + [f"{a}_c" for a in AU_C]
    np.testing.assert_allclose(ds["action_units"].sel(au="AU12_r").values[ok],
                               cols["AU12_r"][ok])
    for name in ("head_translation", "head_rotation", "action_units"):
        assert np.isnan(ds[name].values[~ok]).all()
    np.testing.assert_allclose(ds["openface_timestamp"].values, cols["timestamp"])

    out = tmp_path / "again.csv"
    to_openface_csv(ds, out)
    header = out.read_text().splitlines()[0].split(", ")
    first = "x_0" if dims == 2 else "X_0"
    assert header[:11] == ["frame", "face_id", "timestamp", "confidence", "success", *POSE]
    assert header[11] == first and "AU45_c" == header[-1]
    assert ("Z_67" in header) == (dims == 3) and ("y_67" in header) == (dims == 2)
    line = out.read_text().splitlines()[5]  # frame 5: success 0, written as OpenFace does
    assert line.startswith("5, 0, 0.133, 0.0, 0, 0.0, 0.0")  # stored timestamp
    back = load_pose(out)
    same_but_source(ds, back)


def test_writes_any_single_view_pose(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    position = rng.normal(size=(6, 3, 2))
    position[2] = np.nan  # a frame with nothing: success 0
    position[3, 1] = np.nan  # one unknown landmark of a tracked frame: left empty
    pose = make_pose(position, ["a", "b", "c"], frame=np.arange(10, 16))
    path = tmp_path / "p.csv"
    to_openface_csv(pose, path)
    lines = path.read_text().splitlines()
    assert lines[0] == ("frame, face_id, timestamp, confidence, success, "
                        "x_0, x_1, x_2, y_0, y_1, y_2")
    assert lines[3].startswith("13, 0, 0.0, 0.0, 0, 0.0")
    assert ", , " in lines[4]
    back = from_openface_csv(path)
    np.testing.assert_array_equal(back["position"].values, position)
    np.testing.assert_array_equal(back["frame"].values, np.arange(10, 16))
    assert list(back["landmarks"].values) == ["lm_0", "lm_1", "lm_2"]
    assert np.isnan(back.attrs["fps"])  # timestamps of a pose without a frame rate are 0
    with pytest.raises(InvalidPoseError, match="from 1"):
        to_openface_csv(make_pose(position, ["a", "b", "c"], frame=np.arange(-1, 5)), path)
    with pytest.raises(InvalidPoseError, match="cameras"):
        to_openface_csv(make_pose(rng.normal(size=(4, 2, 3, 2)), ["a", "b", "c"],
                                  cameras=["c1", "c2"]), path)


def test_without_spaces_face_id_or_extras(tmp_path: Path) -> None:
    # Older OpenFace 2.0 files have no face_id column; some writers leave out the spaces.
    text = ("frame,timestamp,confidence,success,x_0,x_1,y_0,y_1\n"
            "1,0.000,0.9,1,10.5,20,30,40\n"
            "2,0.040,0.8,1,11.5,21,31,41\n")
    path = tmp_path / "old.csv"
    path.write_text(text)
    ds = load_pose(path)
    np.testing.assert_array_equal(ds["position"].values[1], [[11.5, 31], [21, 41]])
    np.testing.assert_array_equal(ds["confidence"].values[:, 0], [0.9, 0.8])
    assert ds.attrs["fps"] == 25.0
    assert not {"head_translation", "action_units"} & set(ds.data_vars)


def test_load_pose_recognises_openface(tmp_path: Path) -> None:
    assert pose_format("openface") is OpenFaceFormat
    path = tmp_path / "video.csv"
    write_openface(path, random_faces(5))
    assert detect_format(path) is OpenFaceFormat
    assert sniff_csv(path.read_text().splitlines()[0])
    assert sniff_csv("frame,face_id,timestamp,confidence,success,X_0,Y_0,Z_0")
    assert not sniff_csv("frame, x_0, y_0")
    assert not sniff_csv("scorer,me,me")
    assert not sniff_csv("nose_x,nose_y,nose_z,nose_error,nose_ncams,nose_score,fnum")
    ds = load_pose(path)
    assert ds.attrs["source_software"] == "OpenFace"
    assert ds.sizes["space"] == 2
    assert load_pose(path, format="OpenFace", dims=3).sizes["space"] == 3
    assert load_pose(path, fps=50.0).attrs["fps"] == 50.0


def test_save_pose_keeps_openface_format(tmp_path: Path) -> None:
    path = tmp_path / "video.csv"
    write_openface(path, random_faces(8))
    ds = load_pose(path, dims=3)
    save_pose(ds, tmp_path / "saved.csv")
    assert (tmp_path / "saved.csv").read_text().startswith("frame, face_id, timestamp")
    same_but_source(ds, load_pose(tmp_path / "saved.csv"))


def test_min_confidence(tmp_path: Path) -> None:
    path = tmp_path / "video.csv"
    write_openface(path, random_faces(4), confidence=[0.9, 0.3, 0.75, 0.8])
    ds = from_openface_csv(path, min_confidence=0.78)
    assert np.isnan(ds["position"].values[[1, 2]]).all()
    assert np.isfinite(ds["position"].values[[0, 3]]).all()
    with pytest.raises(ValueError, match="min_confidence"):
        from_openface_csv(path, min_confidence=2)


# --- several faces ----------------------------------------------------------------------


def test_multiple_faces(tmp_path: Path) -> None:
    # FaceLandmarkVidMulti: face 1 is not tracked in frames 3 and 4 (no rows there).
    frames = [1, 1, 2, 2, 3, 4, 5, 5]
    faces = [0, 1, 1, 0, 0, 0, 1, 0]
    xy = random_faces(len(frames))
    path = tmp_path / "multi.csv"
    write_openface(path, xy, frames=frames, face_ids=faces)
    with pytest.raises(FileFormatError,
                       match=r"multi\.csv: the file holds several faces \(face_id \[0, 1\]\); "
                             r"choose one with face_id="):
        from_openface_csv(path)
    with pytest.raises(FileFormatError, match=r"no face_id 2; the file holds face_id \[0, 1\]"):
        load_pose(path, face_id=2)
    zero = from_openface_csv(path, face_id=0)
    np.testing.assert_allclose(zero["position"].values, xy[[0, 3, 4, 5, 7]], atol=0.05)
    one = from_openface_csv(path, face_id=1)
    assert one.attrs["openface_face_id"] == 1
    np.testing.assert_array_equal(one["frame"].values, [0, 1, 2, 3, 4])  # gaps filled
    assert np.isnan(one["position"].values[2:4]).all()
    assert np.isnan(one["confidence"].values[2:4]).all()
    np.testing.assert_allclose(one["position"].values[[0, 1, 4]], xy[[1, 2, 6]], atol=0.05)
    assert one.attrs["fps"] == 30.0
    out = tmp_path / "one.csv"
    to_openface_csv(one, out)
    assert out.read_text().splitlines()[1].startswith("1, 1, ")
    same_but_source(one, from_openface_csv(out))


def test_duplicate_frame_of_one_face(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    write_openface(path, random_faces(4), frames=[1, 2, 3, 2], face_ids=[0, 0, 0, 0])
    with pytest.raises(FileFormatError,
                       match=r"dup\.csv: frame 2 appears twice for face_id 0 \(lines 3 and 5\)"):
        from_openface_csv(path)


# --- frame rate -------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [30.0, 25.0, 30000 / 1001, 60000 / 1001, 120.0])
def test_fps_from_video_timestamps(tmp_path: Path, rate: float) -> None:
    path = tmp_path / "v.csv"
    write_openface(path, random_faces(300), fps=rate)
    assert from_openface_csv(path).attrs["fps"] == rate


def test_fps_from_a_clock(tmp_path: Path) -> None:
    # A webcam: the clock's timestamps jitter and do not start at 0.
    rng = np.random.default_rng(4)
    stamps = 1.234 + np.arange(200) / 14.7 + rng.normal(0, 0.004, 200)
    path = tmp_path / "webcam.csv"
    write_openface(path, random_faces(200), timestamps=stamps)
    ds = from_openface_csv(path)
    assert ds.attrs["fps"] == pytest.approx(14.7, rel=1e-3)
    np.testing.assert_allclose(ds["openface_timestamp"].values, stamps, atol=5e-4)
    assert from_openface_csv(path, fps=15.0).attrs["fps"] == 15.0


def test_no_fps_for_image_folders(tmp_path: Path) -> None:
    path = tmp_path / "images.csv"
    write_openface(path, random_faces(5), timestamps=np.zeros(5))
    ds = from_openface_csv(path)
    assert np.isnan(ds.attrs["fps"])
    np.testing.assert_array_equal(ds["time"].values, np.arange(5))


# --- bad files --------------------------------------------------------------------------

HEADER = "frame, face_id, timestamp, confidence, success, x_0, x_1, y_0, y_1\n"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("frame, face_id, timestamp, confidence, success, x_0, x_1, y_0\n"
         "1, 0, 0.0, 0.9, 1, 1, 2, 3\n",
         r"missing landmark column\(s\) 'y_1' \(expected x_0\.\.x_1, y_0\.\.y_1\)"),
        ("frame, confidence, success, x_0, x_2, y_0, y_2\n1, 0.9, 1, 1, 2, 3, 4\n",
         r"missing landmark column\(s\) 'x_1', 'y_1'"),
        (HEADER + "1, 0, 0.0, 0.9, 1, 1, 2, 3, 4\n2, 0, 0.033, 0.9, 1, 1, abc, 3, 4\n",
         r"column 'x_1', row 2 \(line 3\): cannot read 'abc' as a number"),
        (HEADER + "1, 0, 0.0, 0.9, 1, 1, 2, 3, 4\n\n2, 0, 0.033, high, 1, 1, 2, 3, 4\n",
         r"column 'confidence', row 2 \(line 4\): cannot read 'high' as a number"),
        (HEADER + "0, 0, 0.0, 0.9, 1, 1, 2, 3, 4\n",
         r"column 'frame', row 1 \(line 2\): frame numbers must be whole numbers from 1"),
        (HEADER + "1, 0, 0.0, 0.9, 1, 1, 2, 3, 4\n2.5, 0, 0.0, 0.9, 1, 1, 2, 3, 4\n",
         r"column 'frame', row 2 \(line 3\)"),
        (HEADER + "1, -1, 0.0, 0.9, 1, 1, 2, 3, 4\n", r"column 'face_id', row 1 \(line 2\)"),
        (HEADER, r"no rows"),
        ("frame, face_id, timestamp, confidence, success, gaze_0_x\n1, 0, 0.0, 0.9, 1, 0.1\n",
         r"no landmark columns: neither 'x_0', 'y_0', \.\.\. \(2D"),
        ("face, confidence, x_0, y_0\n0, 0.9, 1, 2\n",
         r"no 'frame' column \(single-image output of FaceLandmarkImg"),
        ("frame, success, pose_Tx, pose_Ty, x_0, y_0\n1, 1, 1, 2, 3, 4\n",
         r"has column 'pose_Tx' but lacks \['pose_Tz', 'pose_Rx'"),
    ],
)
def test_bad_openface_csv(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "of.csv"
    path.write_text(text)
    with pytest.raises(FileFormatError, match=r"of\.csv: .*" + match):
        from_openface_csv(path)


def test_wrong_dims(tmp_path: Path) -> None:
    path = tmp_path / "of.csv"
    path.write_text(HEADER + "1, 0, 0.0, 0.9, 1, 1, 2, 3, 4\n")
    with pytest.raises(FileFormatError, match=re.escape("no 3D landmark columns ('X_0', "
                                                        "'Y_0', 'Z_0', ...); it has 2D ones, "
                                                        "use dims=2")):
        from_openface_csv(path, dims=3)
    with pytest.raises(ValueError, match="dims"):
        from_openface_csv(path, dims=4)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        from_openface_csv(tmp_path / "none.csv")


# --- the pipeline on an OpenFace file ---------------------------------------------------


def test_pipeline_runs_on_openface_file(tmp_path: Path) -> None:
    """Synthetic faces as OpenFace would track them: 68 iBUG points from the 21 of FACE21.

    The 19 FACE21 landmarks with an iBUG counterpart go to that slot; every other slot gets
    a fixed blend of two FACE21 landmarks, so all 68 points move with the face.
    """
    n_frames = 1500
    sim = simulate(n_frames, n_expressions=3, n_cameras=1, dropout=0.0, seed=5)
    face = sim.view(0)["position"].values  # (T, 21, 2) pixels
    names21 = list(FACE21.landmarks)
    slot = {IBUG68.landmarks.index(v): names21.index(k) for k, v in IBUG68_TO_FACE21.items()}
    xy = np.empty((n_frames, N, 2))
    for i in range(N):
        if i in slot:
            xy[:, i] = face[:, slot[i]]
        else:
            a, b = i % 21, (7 * i + 3) % 21
            xy[:, i] = 0.6 * face[:, a] + 0.4 * face[:, b]
    rng = np.random.default_rng(0)
    success = (rng.random(n_frames) > 0.01).astype(int)
    path = tmp_path / "session.csv"
    cols = write_openface(path, xy, success=success,
                          confidence=np.round(rng.uniform(0.85, 0.98, n_frames), 2))

    pipeline = fe.Pipeline(n_states=3, reference="nose_bridge_0", progress=False)
    result = pipeline.run(path)
    assert result.sessions == ["session"]
    states = result.states[0]
    assert states.sizes["time"] == n_frames
    assert result.fps == 30.0
    assert result.expressions.sizes["landmarks"] == N
    # the HMM finds the expressions (the 21-landmark view itself scores about 0.9 here)
    assert state_agreement(sim.states, states) >= 0.8
    # and the file gives exactly what the same pose given in memory gives
    ok = success == 1
    position = np.where(ok[:, None, None], landmarks_of(cols, "xy"), np.nan)
    confidence = np.where(ok[:, None], cols["confidence"][:, None], np.nan) * np.ones(N)
    pose = make_pose(position, IBUG68.landmarks, confidence, fps=30.0)
    expected = pipeline.run(pose).states[0]
    np.testing.assert_array_equal(states.values, expected.values)


# --- action-unit intensities per state --------------------------------------------------


def ibug_from_face21(face: FloatArray) -> FloatArray:
    """68 iBUG points from FACE21 ones: a landmark's counterpart where it has one, else a
    fixed blend of two FACE21 landmarks (so every point moves with the face)."""
    names21 = list(FACE21.landmarks)
    slot = {IBUG68.landmarks.index(v): names21.index(k) for k, v in IBUG68_TO_FACE21.items()}
    out = np.empty((*face.shape[:-2], N, face.shape[-1]))
    for i in range(N):
        a, b = i % 21, (7 * i + 3) % 21
        out[..., i, :] = face[..., slot[i], :] if i in slot else 0.6 * face[..., a, :] \
            + 0.4 * face[..., b, :]
    return out


def test_action_unit_intensities_reach_the_state_cards(tmp_path: Path) -> None:
    """OpenFace's AUxx_r columns travel with the pose to the state cards and the report:
    the state that is the smile has the highest AU12 intensity, and its landmarks show
    the geometric signature of AU12 too."""
    from faceexpr.report import write_report
    from faceexpr.state_cards import state_cards

    n_frames = 1500
    sim = simulate(n_frames, n_expressions=3, n_cameras=1, dropout=0.0, seed=5)
    truth = sim.states.values  # neutral, smile, surprise
    rng = np.random.default_rng(1)
    aus = np.column_stack([rng.uniform(0, 1, (n_frames, len(AU_R))),
                           rng.integers(0, 2, (n_frames, len(AU_C)))])
    aus[:, AU_R.index("AU12")] = np.where(truth == 1, 3.5, 0.2) + rng.uniform(0, 0.5, n_frames)
    aus[:, AU_R.index("AU26")] = np.where(truth == 2, 3.0, 0.1)
    path = tmp_path / "session.csv"
    cols = write_openface(path, ibug_from_face21(sim.view(0)["position"].values), aus=aus)

    result = fe.Pipeline(n_states=3, reference="nose_bridge_0", progress=False).run(path)
    ego = result.egocentric[0]
    assert [str(a) for a in ego["au"].values][:len(AU_R)] == [f"{a}_r" for a in AU_R]
    np.testing.assert_allclose(ego["action_units"].sel(au="AU12_r").values, cols["AU12_r"])
    cards = state_cards(result.egocentric, result.kinematics, result.states, 3, result.fps)
    labels = result.states[0].values
    for card in cards:
        assert [m.key for m in card.action_units] == sorted(f"{a}_r" for a in AU_R)
        au12 = card.measure("AU12_r")
        assert au12 is not None and au12.kind == "action_unit" and au12.units == ""
        assert au12.state_mean == pytest.approx(cols["AU12_r"][labels == card.state].mean())
        assert au12.overall_mean == pytest.approx(cols["AU12_r"].mean())
    smile = max(cards, key=lambda c: c.measure("AU12_r").state_mean)  # type: ignore[union-attr]
    assert smile.measure("AU12_r").state_mean > 3.0  # type: ignore[union-attr]
    assert "AU12" in {p.code for p in smile.proxies}
    assert all("AU12" not in {p.code for p in c.proxies} for c in cards if c is not smile)
    corners = smile.measure("lip_corner_height")
    assert corners is not None and corners.difference > 5.0  # pixels, corners up the face

    page = write_report(result, tmp_path, []).read_text(encoding="utf-8")
    section = page.split(f"id='state-{smile.state}'")[1].split("</section>")[0]
    assert "OpenFace action units (intensity 0–5): AU12 +" in section
    assert "<th>AU26</th>" in section
