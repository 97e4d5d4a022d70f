"""The expressions figure: panels, skeleton, orientation and the displacement view."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from matplotlib.colors import to_hex
from mpl_toolkits.mplot3d import Axes3D

from faceexpr import analysis
from faceexpr.plot import state_colors
from faceexpr.plot.faces import expressions, face_frame
from faceexpr.schemes import FACE21, skeleton_edges
from faceexpr.synthetic import expression_displacements, neutral_face


def true_faces(dims: int, rotation: np.ndarray | None = None) -> xr.DataArray:
    """The 5 prototype faces (mm), optionally rotated, as a (states, landmarks, space) array."""
    names, face = neutral_face()
    faces = face + 2 * expression_displacements(5)
    if rotation is not None:
        faces = faces @ rotation.T
    if dims == 2:
        faces = faces[..., :2] * [1, -1]  # an image: y down
    return xr.DataArray(faces, dims=("states", "landmarks", "space"),
                        coords={"landmarks": names, "space": list("xyz"[:dims])},
                        attrs={"units": "mm" if dims == 3 else "pixels"})


N_EDGES = len(skeleton_edges(FACE21, FACE21.landmarks))


@pytest.mark.parametrize("dims", [2, 3])
def test_one_panel_per_state_with_the_skeleton_in_the_state_colour(dims: int) -> None:
    fig = expressions(true_faces(dims), frequencies=[0.1, 0.2, 0.3, 0.25, 0.15])
    axes = fig.axes
    assert len(axes) == 5
    assert all(isinstance(ax, Axes3D) == (dims == 3) for ax in axes)
    for k, ax in enumerate(axes):
        assert len(ax.lines) == N_EDGES
        assert {to_hex(line.get_color()) for line in ax.lines} == {state_colors(5)[k].lower()}
    assert axes[2].get_title() == "state 2 · 30%"
    # shared axes: every panel has the same limits
    assert len({ax.get_xlim() for ax in axes}) == 1
    assert len({ax.get_ylim() for ax in axes}) == 1


def test_image_faces_are_drawn_with_y_down_and_names_are_used() -> None:
    fig = expressions(true_faces(2), state_names=list("abcde"))
    assert all(ax.yaxis_inverted() for ax in fig.axes)
    assert [ax.get_title() for ax in fig.axes] == list("abcde")
    fig = expressions(true_faces(2), invert_y=False)
    assert not any(ax.yaxis_inverted() for ax in fig.axes)


def test_3d_faces_are_turned_upright_whatever_the_frame() -> None:
    # a face lying on its side and turned away: the figure still shows chin below nose1
    rot = np.array([[0.0, -1, 0], [0, 0, -1], [1, 0, 0]])
    fig = expressions(true_faces(3, rot))
    ax = fig.axes[0]
    x, _, z = (np.asarray(v) for v in ax.collections[0]._offsets3d)
    idx = {n: i for i, n in enumerate(FACE21.landmarks)}
    assert z[idx["nose1"]] - z[idx["chin"]] > 80  # about 106 mm apart, vertical
    assert x[idx["lear"]] - x[idx["rear"]] > 140  # face's left to the viewer's right


def test_face_frame_is_a_rotation_and_none_without_orientation_pairs() -> None:
    names, face = neutral_face()
    frame = face_frame(face, names, FACE21)
    assert frame is not None
    np.testing.assert_allclose(frame @ frame.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(frame) == pytest.approx(1.0)
    np.testing.assert_allclose(frame[0], [1, 0, 0], atol=1e-12)  # rear -> lear is +x
    assert face_frame(face, names, [["nose1", "chin"]]) is None
    assert face_frame(face, names[:5], FACE21) is None


def test_relative_view_magnifies_displacements_from_the_mean_face() -> None:
    faces = true_faces(2)
    fig = expressions(faces, relative=True, gain=4)
    ax = fig.axes[1]  # smile
    mean = faces.values.mean(axis=0)
    drawn = ax.collections[-1].get_offsets()  # the state's points, drawn last
    np.testing.assert_allclose(drawn, mean + 4 * (faces.values[1] - mean))
    quiver = [c for c in ax.collections if c.__class__.__name__ == "Quiver"]
    assert len(quiver) == 1
    assert "×4" in fig.get_suptitle()


def test_chains_given_as_lists_and_states_without_frames() -> None:
    faces = true_faces(2)
    faces[3] = np.nan
    fig = expressions(faces, scheme=[["lefteye1", "lefteye2"], ["nose1", "missing", "chin"]])
    assert len(fig.axes[0].lines) == 1  # edges naming unknown landmarks are skipped
    assert fig.axes[3].get_title() == "state 3 (no frames)"
    assert len(expressions(faces, scheme=None).axes[0].lines) == 0


def test_result_expressions_carry_units(sim3d) -> None:  # type: ignore[no-untyped-def]
    pose = sim3d.view(0)
    means = analysis.state_means(pose, sim3d.states, 5)
    assert means.attrs["units"] == "pixels"


@pytest.mark.parametrize(
    ("faces", "message"),
    [
        (xr.DataArray(np.zeros((2, 3)), dims=("states", "landmarks")), "missing"),
        (xr.DataArray(np.zeros((2, 3, 4)), dims=("states", "landmarks", "space")), "2 or 3"),
        (xr.DataArray(np.zeros((0, 3, 2)), dims=("states", "landmarks", "space")), "no states"),
    ],
)
def test_bad_input_is_named(faces: xr.DataArray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        expressions(faces)


def test_wrong_number_of_frequencies() -> None:
    with pytest.raises(ValueError, match="3 frequencies for 5 states"):
        expressions(true_faces(2), frequencies=[0.2, 0.3, 0.5])


def test_chain_given_as_a_string_is_rejected() -> None:
    with pytest.raises(ValueError, match="chain 0 is the string"):
        expressions(true_faces(2), scheme=["nose1"])
