"""Synthetic face videos and labelled videos, written and read back through OpenCV."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import xarray as xr

from faceexpr.errors import FileFormatError, InvalidPoseError, MissingDependencyError
from faceexpr.io.video import read_video_frames
from faceexpr.plot._style import NO_STATE_COLOR, state_colors
from faceexpr.plot.video import hex_to_bgr, labelled_video
from faceexpr.synthetic import SyntheticFace, simulate
from faceexpr.synthetic.video import landmark_colors, render_face_video

pytest.importorskip("cv2")

N_FRAMES = 90
RADIUS = 3
# mp4v is lossy (and halves the colour resolution): compare 3×3 means with this tolerance.
TOL = 40.0


@pytest.fixture(scope="module")
def sim() -> SyntheticFace:
    return simulate(N_FRAMES, seed=1, n_cameras=1)


@pytest.fixture(scope="module")
def pose(sim: SyntheticFace) -> xr.Dataset:
    return sim.view(0)


@pytest.fixture(scope="module")
def face_video(pose: xr.Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_face_video(pose, tmp_path_factory.mktemp("video") / "face.mp4",
                             radius=RADIUS, seed=3)


@pytest.fixture(scope="module")
def states(pose: xr.Dataset) -> xr.DataArray:
    labels = np.arange(N_FRAMES) // 30
    labels[5:8] = -1
    return xr.DataArray(labels, dims=("time",),
                        coords={"time": pose["time"], "frame": pose["frame"]})


@pytest.fixture(scope="module")
def labelled(face_video: Path, pose: xr.Dataset, states: xr.DataArray) -> Path:
    return labelled_video(face_video, pose, face_video.with_name("labelled.mp4"),
                          states=states, n_states=3, radius=RADIUS, progress=False)


def frames_of(path: Path) -> list[npt.NDArray[np.uint8]]:
    return list(read_video_frames(path))


def patch(img: npt.NDArray[np.uint8], x: float, y: float) -> npt.NDArray[np.float64]:
    """Mean BGR of the 3×3 patch around the pixel at the rounded position."""
    cx, cy = round(x), round(y)
    return np.asarray(img[cy - 1:cy + 2, cx - 1:cx + 2].reshape(-1, 3).mean(axis=0),
                      dtype=np.float64)


def isolated(xy: npt.NDArray[np.float64], min_distance: float) -> list[int]:
    """Landmarks of one frame with no other landmark closer than ``min_distance`` pixels."""
    d = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    return [j for j in range(len(xy)) if np.isfinite(xy[j]).all() and d[j].min() > min_distance]


def test_rendered_video_has_every_frame_and_landmark_colours(
    face_video: Path, pose: xr.Dataset
) -> None:
    frames = frames_of(face_video)
    assert len(frames) == N_FRAMES
    assert {f.shape for f in frames} == {(480, 640, 3)}  # the synthetic camera's size
    colors = np.array(landmark_colors(pose.sizes["landmarks"]), dtype=np.float64)
    assert len({tuple(c) for c in colors}) == len(colors)
    xy = pose["position"].values
    checked = 0
    for t in (0, 31, 62, 89):
        for j in isolated(xy[t], 2 * RADIUS + 3):
            assert np.abs(patch(frames[t], *xy[t, j]) - colors[j]).max() < TOL, (t, j)
            checked += 1
    assert checked >= 40
    # the background is textured mid-grey, not a flat colour
    corner = frames[0][:60, :60].astype(np.float64)
    assert 90 < corner.mean() < 170 and corner.std() > 3


def test_render_skips_nan_landmarks_and_writes_atomically(
    pose: xr.Dataset, tmp_path: Path
) -> None:
    short = pose.isel(time=slice(0, 4)).copy(deep=True)
    short["position"][:, 0] = np.nan
    out = render_face_video(short, tmp_path / "nan.mp4", image_size=(320, 240), fps=10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.mp4"]
    frames = frames_of(out)
    assert len(frames) == 4 and frames[0].shape == (240, 320, 3)
    x, y = pose["position"].values[0, 0]
    if x < 318 and y < 238:  # landmark 0 would be inside the smaller image
        assert np.abs(patch(frames[0], x, y) - landmark_colors(21)[0]).max() > TOL


def test_labelled_video_colours_landmarks_by_state(
    face_video: Path, labelled: Path, pose: xr.Dataset, states: xr.DataArray
) -> None:
    frames = frames_of(labelled)
    source = frames_of(face_video)
    assert len(frames) == N_FRAMES
    assert frames[0].shape == source[0].shape
    xy = pose["position"].values
    palette = [hex_to_bgr(c) for c in state_colors(3)]
    for t in (6, 15, 45, 75):
        k = int(states.values[t])
        expected = np.array(hex_to_bgr(NO_STATE_COLOR) if k < 0 else palette[k], dtype=float)
        lms = isolated(xy[t], 2 * RADIUS + 6)
        assert len(lms) >= 10
        for j in lms:
            assert np.abs(patch(frames[t], *xy[t, j]) - expected).max() < TOL, (t, j, k)
        # the state label's box, top left, is filled with the same colour
        assert np.abs(patch(frames[t], 6, 6) - expected).max() < TOL


def test_labelled_video_draws_the_skeleton(
    face_video: Path, labelled: Path, pose: xr.Dataset
) -> None:
    frames, source = frames_of(labelled), frames_of(face_video)
    xy = pose["position"].values
    names = [str(n) for n in pose["landmarks"].values]
    idx = {n: i for i, n in enumerate(names)}
    # lear-chin and chin-rear are long edges whose midpoints are far from any landmark
    for t in (15, 45, 75):
        for a, b in (("lear", "chin"), ("chin", "rear")):
            mid = (xy[t, idx[a]] + xy[t, idx[b]]) / 2
            assert np.linalg.norm(xy[t] - mid, axis=1).min() > 10
            diff = np.abs(patch(frames[t], *mid) - patch(source[t], *mid)).max()
            assert diff > 25, (t, a, b, diff)
            # away from the face nothing changes beyond codec noise
            far = np.abs(patch(frames[t], 600, 440) - patch(source[t], 600, 440)).max()
            assert far < 12


def test_frames_without_pose_rows_are_copied_unlabelled(
    face_video: Path, pose: xr.Dataset, states: xr.DataArray, tmp_path: Path
) -> None:
    out = labelled_video(face_video, pose.isel(time=slice(0, 60)), tmp_path / "part.mp4",
                         states=states.isel(time=slice(0, 60)), progress=False)
    frames, source = frames_of(out), frames_of(face_video)
    assert len(frames) == N_FRAMES
    xy = pose["position"].values
    state1 = np.array(hex_to_bgr(state_colors(3)[1]), dtype=np.float64)
    assert np.abs(patch(frames[45], 6, 6) - state1).max() < TOL
    own = np.array(landmark_colors(21), dtype=np.float64)
    for t in (60, 80):  # no pose row: no label box, dots as rendered
        assert np.abs(patch(frames[t], 6, 6) - patch(source[t], 6, 6)).max() < 15
        for j in isolated(xy[t], 2 * RADIUS + 6):
            assert np.abs(patch(frames[t], *xy[t, j]) - own[j]).max() < TOL, (t, j)


def test_without_states_landmarks_keep_their_own_colours(
    face_video: Path, pose: xr.Dataset, tmp_path: Path
) -> None:
    out = labelled_video(face_video, pose, tmp_path / "plain.mp4", max_frames=3,
                         progress=False)
    frames, source = frames_of(out), frames_of(face_video)
    assert len(frames) == 3
    xy = pose["position"].values
    own = np.array(landmark_colors(21), dtype=np.float64)
    lms = isolated(xy[1], 2 * RADIUS + 6)
    assert len(lms) >= 10
    for j in lms:
        assert np.abs(patch(frames[1], *xy[1, j]) - own[j]).max() < TOL, j
    assert np.abs(patch(frames[1], 6, 6) - patch(source[1], 6, 6)).max() < 15  # no label


def test_max_frames_cameras_and_chain_schemes(
    face_video: Path, sim: SyntheticFace, tmp_path: Path
) -> None:
    pose2d = sim.pose2d
    assert pose2d is not None
    chains = [["lear", "chin", "rear"], ["nose1", "not_a_landmark"]]
    out = labelled_video(face_video, pose2d, tmp_path / "cam.mp4", camera="A",
                         scheme=chains, max_frames=5, progress=False)
    assert len(frames_of(out)) == 5
    out = labelled_video(face_video, pose2d, tmp_path / "cam0.mp4", camera=0, scheme=None,
                         max_frames=2, progress=False)
    assert len(frames_of(out)) == 2
    two = simulate(N_FRAMES, seed=1, n_cameras=2).pose2d
    assert two is not None
    with pytest.raises(InvalidPoseError, match="camera"):
        labelled_video(face_video, two, tmp_path / "x.mp4", progress=False)
    with pytest.raises(InvalidPoseError, match="'Z'"):
        labelled_video(face_video, two, tmp_path / "x.mp4", camera="Z", progress=False)


def assert_only(folder: Path, names: set[str]) -> None:
    """Nothing but ``names`` in ``folder``: no output and no temporary file was left."""
    assert {p.name for p in folder.iterdir()} == names


def test_errors_leave_no_output(
    face_video: Path, sim: SyntheticFace, pose: xr.Dataset, tmp_path: Path
) -> None:
    out = tmp_path / "out.mp4"
    with pytest.raises(FileNotFoundError, match=r"missing\.mp4"):
        labelled_video(tmp_path / "missing.mp4", pose, out, progress=False)
    assert_only(tmp_path, set())

    with pytest.raises(InvalidPoseError, match="2D"):
        labelled_video(face_video, sim.pose3d, out, progress=False)
    assert_only(tmp_path, set())

    short = render_face_video(pose.isel(time=slice(0, 30)), tmp_path / "short.mp4")
    with pytest.raises(FileFormatError, match=r"90 frames.*only 30 frames"):
        labelled_video(short, pose, out, progress=False)
    assert_only(tmp_path, {"short.mp4"})

    text = tmp_path / "notavideo.mp4"
    text.write_text("this is not a video\n")
    with pytest.raises(FileFormatError, match=r"notavideo\.mp4"):
        labelled_video(text, pose, out, progress=False)
    assert_only(tmp_path, {"short.mp4", "notavideo.mp4"})


def test_missing_opencv_names_the_extra(
    pose: xr.Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "cv2", None)  # makes `import cv2` fail
    with pytest.raises(MissingDependencyError, match=r'pip install "faceexpr\[video\]"'):
        render_face_video(pose, tmp_path / "x.mp4")
    with pytest.raises(MissingDependencyError, match=r'pip install "faceexpr\[video\]"'):
        labelled_video(tmp_path / "x.mp4", pose, tmp_path / "y.mp4")
    assert_only(tmp_path, set())
