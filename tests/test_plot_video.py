"""Synthetic face videos and labelled videos, written and read back through OpenCV and
probed with the ffmpeg binary imageio-ffmpeg bundles (the encoder of labelled videos)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import xarray as xr

from faceexpr.data import DROP_REASONS
from faceexpr.errors import FileFormatError, InvalidPoseError, MissingDependencyError
from faceexpr.io.video import open_writer, read_video_frames
from faceexpr.plot._style import NO_STATE_COLOR, state_colors
from faceexpr.plot.video import DROP_COLOR, SHOT_COLOR, hex_to_bgr, labelled_video
from faceexpr.synthetic import SyntheticFace, simulate
from faceexpr.synthetic.video import landmark_colors, render_face_video

pytest.importorskip("cv2")
imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")

N_FRAMES = 90
RADIUS = 3
# The source (mp4v) and the labelled video (H.264) are lossy and keep a quarter of the
# colour resolution: compare 3×3 means with this tolerance.
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


def probe(path: Path) -> tuple[str, int, tuple[int, int]]:
    """(codec and pixel format line, frame count, (width, height)) of a video, by ffmpeg."""
    run = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
                         capture_output=True, text=True, check=False)
    line = next(ln for ln in run.stderr.splitlines() if "Video:" in ln)
    size = re.search(r", (\d+)x(\d+)", line)
    assert size is not None, line
    n_frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    return line, int(n_frames), (int(size[1]), int(size[2]))


def test_labelled_video_is_h264_in_mp4_that_browsers_play(
    labelled: Path, face_video: Path, tmp_path: Path
) -> None:
    line, n_frames, size = probe(labelled)
    assert "Video: h264" in line and "yuv420p" in line, line
    assert n_frames == N_FRAMES == len(frames_of(face_video))
    assert size == (640, 480)
    data = labelled.read_bytes()
    assert data[4:8] == b"ftyp"  # an MP4 file
    # +faststart: the index (moov) before the frames (mdat), so playback starts at once
    assert 0 < data.find(b"moov") < data.find(b"mdat")
    # the same frames as MPEG-4 part 2 (mp4v, what OpenCV writes) take several times more
    frames = frames_of(labelled)
    mp4v = tmp_path / "mp4v.mp4"
    writer = open_writer(mp4v, 30.0, (640, 480))
    for img in frames:
        writer.write(img)
    writer.release()
    assert "Video: mpeg4" in probe(mp4v)[0]
    assert len(data) < 0.5 * mp4v.stat().st_size, (len(data), mp4v.stat().st_size)
    assert len(data) > 20_000  # not an empty stream: 90 frames of drawn faces


def test_odd_frame_sizes_are_padded_to_even(face_video: Path, pose: xr.Dataset,
                                            tmp_path: Path) -> None:
    # OpenCV's writers crop odd sizes, so the odd source is written losslessly by ffmpeg
    odd = tmp_path / "odd.mkv"
    gen = imageio_ffmpeg.write_frames(str(odd), (321, 241), pix_fmt_in="bgr24",
                                      pix_fmt_out="bgr0", codec="ffv1", quality=None,
                                      macro_block_size=1, ffmpeg_log_level="error")
    gen.send(None)
    source = [np.ascontiguousarray(f[:241, :321]) for f in frames_of(face_video)[:10]]
    for img in source:
        gen.send(img)
    gen.close()
    out = labelled_video(odd, pose.isel(time=slice(0, 10)), tmp_path / "even.mp4",
                         progress=False)
    line, n_frames, size = probe(out)
    assert "Video: h264" in line and "yuv420p" in line and n_frames == 10
    assert size == (322, 242)
    frames = frames_of(out)
    assert frames[3].shape == (242, 322, 3)
    # one pixel added right and bottom: the picture is not scaled or shifted
    assert np.abs(patch(frames[3], 200, 200) - patch(source[3], 200, 200)).max() < 12


def drop_boxes(img: npt.NDArray[np.uint8]) -> tuple[int, int]:
    """Width and top row of the box in the drop colour at the top left (0, 0 if none)."""
    region = img[:120, :300].astype(np.float64)
    near = np.abs(region - np.array(hex_to_bgr(DROP_COLOR))).max(axis=-1) < 30
    cols, rows = np.flatnonzero(near.sum(axis=0) >= 5), np.flatnonzero(near.sum(axis=1) >= 5)
    return (0, 0) if not cols.size else (int(cols[-1] - cols[0] + 1), int(rows[0]))


def test_dropped_frames_say_why_and_shots_are_numbered(
    face_video: Path, pose: xr.Dataset, states: xr.DataArray, tmp_path: Path
) -> None:
    marked = pose.copy(deep=True)
    codes = np.zeros(N_FRAMES, dtype=np.int8)
    reasons = {20: "no-face", 30: "other-person", 40: "low-quality", 50: "too-turned",
               60: "cut"}
    for t, reason in reasons.items():
        codes[t:t + 3] = DROP_REASONS.index(reason)
    marked["dropped"] = ("time", codes, {"flag_meanings": " ".join(DROP_REASONS)})
    marked["position"][codes > 0] = np.nan
    marked = marked.assign_coords(segment=("time", (np.arange(N_FRAMES) >= 45).astype(int)))
    labels = states.copy()
    labels[codes > 0] = -1
    out = labelled_video(face_video, marked, tmp_path / "dropped.mp4", states=labels,
                         n_states=3, progress=False)
    frames = frames_of(out)
    assert probe(out)[1] == N_FRAMES
    widths = {}
    for t, reason in reasons.items():
        width, top = drop_boxes(frames[t + 1])
        assert width > 20, (t, reason)
        assert top > 25  # below the state's box ("no state"), which stays at the top
        widths[reason] = width
        assert np.abs(patch(frames[t + 1], 6, 6) - hex_to_bgr(NO_STATE_COLOR)).max() < TOL
    for t in (10, 25, 35, 70):  # kept frames have no such box
        assert drop_boxes(frames[t]) == (0, 0), t
    # the box holds the reason: its width follows the text's ("cut" narrowest)
    assert widths["cut"] + 50 < widths["other-person"]
    assert widths["cut"] < widths["no-face"] < widths["too-turned"] < widths["other-person"]
    # "shot 0" / "shot 1" at the top right, in the shot colour; the text differs
    shot = np.array(hex_to_bgr(SHOT_COLOR), dtype=np.float64)
    for t in (10, 44, 46, 80):
        assert np.abs(patch(frames[t], 630, 6) - shot).max() < TOL, t
    box = (slice(4, 30), slice(560, 636))
    same = np.abs(frames[10][box].astype(float) - frames[44][box]).mean()
    other = np.abs(frames[44][box].astype(float) - frames[46][box]).mean()
    assert other > 3 * same + 2, (same, other)
    # without states the reason is drawn at the top
    plain = labelled_video(face_video, marked, tmp_path / "plain.mp4", max_frames=25,
                           progress=False)
    width, top = drop_boxes(frames_of(plain)[21])
    assert width == widths["no-face"] and top < 8


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

    bad = pose.assign(dropped=("time", np.full(N_FRAMES, 9, dtype=np.int8)))
    with pytest.raises(InvalidPoseError, match=r"'dropped' code 9 .*no-face"):
        labelled_video(face_video, bad, out, progress=False)
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


def test_missing_imageio_ffmpeg_names_the_extra(
    face_video: Path, pose: xr.Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    with pytest.raises(MissingDependencyError, match=r'H\.264.*pip install "faceexpr\[video\]"'):
        labelled_video(face_video, pose, tmp_path / "y.mp4", progress=False)
    assert_only(tmp_path, set())
