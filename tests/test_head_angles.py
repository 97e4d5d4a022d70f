"""Head angles are named and computed in the face's own frame, whatever the data's axes.

The synthetic face's world frame has x to the face's left, y up and z out of its front, so
a rotation about world x is pitch, about y yaw and about z roll. The same recording
re-expressed in a lab frame whose y axis is depth (z up) must give the same angles.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy.spatial.transform import Rotation

from faceexpr.data import make_pose
from faceexpr.features import head_kinematics
from faceexpr.preprocess import egocentric, face_axes, head_angles
from faceexpr.schemes import FACE21, LandmarkScheme
from faceexpr.synthetic import neutral_face, simulate

# landmarks that no expression among the first three prototypes moves
RIGID = ["lefteye1", "righteye1", "lear", "rear", "nose1", "nose2", "nose3", "nose4"]
# a lab frame with z up and y pointing away from the face (depth): x stays the face's left
Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
AXIS_ANGLE = {0: "pitch", 1: "yaw", 2: "roll"}
N = 400


@pytest.fixture(scope="module")
def still() -> xr.Dataset:
    """Expressions and head translation, but no head rotation."""
    return simulate(N, n_expressions=3, head_rotation_deg=0.0, noise_mm=0.2, dropout=0.0,
                    seed=11).pose3d


def truth_angle() -> np.ndarray:
    t = np.arange(N)
    return np.asarray(15.0 * np.sin(2 * np.pi * t / 130.0) + 5.0 * np.sin(2 * np.pi * t / 37.0))


def rotated(pose: xr.Dataset, axis: int, frame: np.ndarray | None = None,
            names: list[str] | None = None) -> xr.Dataset:
    """``pose`` turned about one world axis by :func:`truth_angle`, in another frame."""
    rotvec = np.zeros((N, 3))
    rotvec[:, axis] = np.radians(truth_angle())
    rot = Rotation.from_rotvec(rotvec).as_matrix()
    pos = np.einsum("tij,tlj->tli", rot, pose["position"].values)
    if frame is not None:
        pos = pos @ frame.T
    return make_pose(pos, names or [str(n) for n in pose["landmarks"].values], fps=30.0,
                     units="mm")


def corr(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


@pytest.mark.parametrize("frame", [None, Z_UP], ids=["face_frame", "depth_is_y"])
@pytest.mark.parametrize("axis", [0, 1, 2], ids=["pitch", "yaw", "roll"])
def test_one_axis_rotation_is_named_after_the_face_axis(still: xr.Dataset, axis: int,
                                                        frame: np.ndarray | None) -> None:
    out = egocentric(rotated(still, axis, frame), align_landmarks=RIGID)
    assert list(out["angle"].values) == ["pitch", "yaw", "roll"]
    assert out.attrs["head_angle_frame"] == "face (rear→lear / chin→nose1)"
    angles = out["head_angles"]
    want = AXIS_ANGLE[axis]
    got = angles.sel(angle=want).values
    assert corr(got, truth_angle()) > 0.99
    # same amplitude (degrees), and the other two angles hardly move
    assert np.nanstd(got) == pytest.approx(truth_angle().std(), rel=0.05)
    for other in set(AXIS_ANGLE.values()) - {want}:
        assert np.nanstd(angles.sel(angle=other).values) < 0.1 * truth_angle().std()


def test_simulated_head_motion_in_a_depth_is_y_frame() -> None:
    sim = simulate(600, n_expressions=3, seed=3, noise_mm=0.3, dropout=0.01)
    true = Rotation.from_matrix(sim.head_rotation).as_euler("YXZ", degrees=True)[:, [1, 0, 2]]
    names = [str(n) for n in sim.pose3d["landmarks"].values]
    for frame in (np.eye(3), Z_UP):
        pose = make_pose(sim.pose3d["position"].values @ frame.T, names, fps=30.0)
        angles = egocentric(pose, align_landmarks=RIGID)["head_angles"]
        for j, name in enumerate(["pitch", "yaw", "roll"]):
            assert corr(angles.sel(angle=name).values, true[:, j]) > 0.95, (frame, name)
    # what the data's y axis (depth here) turns about is the face's roll, not its yaw
    pose = make_pose(sim.pose3d["position"].values @ Z_UP.T, names, fps=30.0)
    plain = egocentric(pose, align_landmarks=RIGID, scheme=LandmarkScheme(
        "plain", FACE21.landmarks, FACE21.skeleton, FACE21.reference))
    assert plain.attrs["head_angle_frame"] == "data axes"
    assert list(plain["angle"].values) == ["rot_x", "rot_y", "rot_z"]
    assert abs(corr(plain["head_angles"].sel(angle="rot_y").values, true[:, 2])) > 0.95
    assert abs(corr(plain["head_angles"].sel(angle="rot_z").values, true[:, 1])) > 0.95


def test_without_a_face_frame_angles_are_named_after_the_data_axes(
        still: xr.Dataset) -> None:
    # unknown landmark names: no scheme, so no face frame
    names = [f"p{i}" for i in range(still.sizes["landmarks"])]
    rigid = [names[FACE21.landmarks.index(n)] for n in RIGID]
    out = egocentric(rotated(still, 1, Z_UP, names), reference="p12", align_landmarks=rigid)
    assert out.attrs["head_angle_frame"] == "data axes"
    assert list(out["angle"].values) == ["rot_x", "rot_y", "rot_z"]
    assert out["head_angles"].attrs["frame"] == "data axes"
    # turning about the face's up axis is turning about the data's z axis here
    assert abs(corr(out["head_angles"].sel(angle="rot_z").values, truth_angle())) > 0.99
    # a known scheme missing one landmark of its pairs (the left ear) has no frame either
    kept = [n for n in FACE21.landmarks if n != "lear"]
    pose = rotated(still, 1).sel(landmarks=kept)
    out = egocentric(pose, align_landmarks=[n for n in RIGID if n != "lear"])
    assert out.attrs["head_angle_frame"] == "data axes"


def test_kinematics_keep_the_frame(still: xr.Dataset) -> None:
    kin = head_kinematics(egocentric(rotated(still, 0), align_landmarks=RIGID))
    assert kin.attrs["head_angle_frame"] == "face (rear→lear / chin→nose1)"
    assert list(kin["angle"].values) == ["pitch", "yaw", "roll"]


def test_a_given_template_sets_the_face_frame(still: xr.Dataset) -> None:
    names, face = neutral_face()
    # the face frame of the neutral face is the simulation's world frame, up to the
    # 1.1° by which chin→nose1 leans back from vertical
    axes = face_axes(face, names, FACE21)
    assert axes is not None
    np.testing.assert_allclose(axes[0], [1, 0, 0], atol=1e-12)
    assert np.degrees(np.arccos(axes[1] @ [0, 1, 0])) == pytest.approx(1.08, abs=0.01)
    template = xr.DataArray(face - face[names.index("nose1")], dims=("landmarks", "space"),
                            coords={"landmarks": names, "space": ["x", "y", "z"]})
    # recorded in the z-up frame and aligned to a template in that frame: same angles
    tmpl_z_up = template.copy(data=template.values @ Z_UP.T)
    a = egocentric(rotated(still, 1), align_landmarks=RIGID, template=template)
    b = egocentric(rotated(still, 1, Z_UP), align_landmarks=RIGID, template=tmpl_z_up)
    np.testing.assert_allclose(b["head_angles"].values, a["head_angles"].values, atol=1e-6)
    # the template's neutral orientation is zero: yaw is the truth itself, not an offset
    np.testing.assert_allclose(a["head_angles"].sel(angle="yaw").values, truth_angle(),
                               atol=1.0)


def test_head_angles_signs_and_missing_frames() -> None:
    # positive pitch lowers the nose, positive yaw turns the face to its left, positive
    # roll lowers its right ear (right-hand rule about left, up, front)
    own = Rotation.from_euler("x", 10.0, degrees=True).as_matrix()[None]
    rot = np.concatenate([np.transpose(own, (0, 2, 1)), np.full((1, 3, 3), np.nan)])
    angles, names = head_angles(rot, np.eye(3))
    assert names == ["pitch", "yaw", "roll"]
    np.testing.assert_allclose(angles[0], [10.0, 0, 0], atol=1e-9)
    assert np.isnan(angles[1]).all()
    nose_down = own[0] @ [0, 0, 1.0]
    assert nose_down[1] < 0
    # the same head rotation seen in z-up data axes, with the face frame in those axes
    seen = Z_UP @ own[0] @ Z_UP.T
    back, _ = head_angles(seen.T[None], Z_UP.T)  # rows: the face's axes in data axes
    np.testing.assert_allclose(back[0], angles[0], atol=1e-9)
    plain, plain_names = head_angles(seen.T[None], None, ["x", "y", "z"])
    assert plain_names == ["rot_x", "rot_y", "rot_z"]
    np.testing.assert_allclose(plain[0], angles[0], atol=1e-9)  # x is the same axis


def test_kinematics_figure_names_the_angles(still: xr.Dataset) -> None:
    from faceexpr.plot.head import kinematics

    for pose, names, label in (
            (rotated(still, 1), ["pitch", "yaw", "roll"], "head angle (°)"),
            (rotated(still, 1, Z_UP, [f"p{i}" for i in range(21)]),
             ["rot_x", "rot_y", "rot_z"], "rotation, data axes (°)")):
        reference = "nose1" if names[0] == "pitch" else "p12"
        fig = kinematics(head_kinematics(egocentric(pose, reference)))
        ax = fig.axes[-1]
        legend = ax.get_legend()
        assert legend is not None
        assert [t.get_text() for t in legend.get_texts()] == names
        assert ax.get_ylabel() == label
        # the legends right of the panels lie on the figure
        fig.draw_without_rendering()
        renderer = fig._get_renderer()  # type: ignore[attr-defined]
        for each in fig.axes:
            box = each.get_tightbbox(renderer)
            assert box is not None and box.x1 <= fig.bbox.x1 + 1 and box.x0 >= -1
