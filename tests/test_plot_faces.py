"""The expressions figure: panels, skeleton, orientation and the displacement view."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from matplotlib.colors import to_hex
from matplotlib.lines import Line2D
from mpl_toolkits.mplot3d import Axes3D
from mpl_toolkits.mplot3d.art3d import Line3D

from faceexpr import analysis
from faceexpr.plot import state_colors
from faceexpr.plot._style import NEUTRAL_COLOR
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


EDGES = skeleton_edges(FACE21, FACE21.landmarks)
N_EDGES = len(EDGES)


def segments(line: Line2D) -> np.ndarray:
    """``(n, 2, dims)`` ends of the segments of a line broken by NaN rows."""
    points = (np.column_stack(line.get_data_3d()) if isinstance(line, Line3D)
              else np.asarray(line.get_xydata()))
    assert np.isnan(points[2::3]).all()  # every segment is followed by a break
    return points.reshape(-1, 3, points.shape[1])[:, :2]


@pytest.mark.parametrize("dims", [2, 3])
def test_one_panel_per_state_with_the_skeleton_in_the_state_colour(dims: int) -> None:
    fig = expressions(true_faces(dims), frequencies=[0.1, 0.2, 0.3, 0.25, 0.15])
    axes = fig.axes
    assert len(axes) == 5
    assert all(isinstance(ax, Axes3D) == (dims == 3) for ax in axes)
    for k, ax in enumerate(axes):
        (line,) = ax.lines  # the whole skeleton is one line
        assert to_hex(line.get_color()) == state_colors(5)[k].lower()
        # every edge joins the two landmarks it names, as drawn by the points
        points = (np.column_stack(ax.collections[0]._offsets3d) if dims == 3
                  else ax.collections[0].get_offsets())
        np.testing.assert_allclose(segments(line), points[np.array(EDGES)])
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


def test_relative_view_in_3d_draws_an_arrow_from_every_mean_landmark() -> None:
    fig = expressions(true_faces(3), relative=True)
    ax = fig.axes[1]
    mean, arrows, face = ax.lines  # grey mean face, arrows, then the state's face on top
    assert to_hex(mean.get_color()) == NEUTRAL_COLOR.lower()
    assert to_hex(face.get_color()) == state_colors(5)[1].lower()
    mean_points, face_points = (np.column_stack(c._offsets3d) for c in ax.collections)
    ends = segments(arrows)
    assert len(ends) == len(FACE21.landmarks)
    np.testing.assert_allclose(ends[:, 0], mean_points)
    np.testing.assert_allclose(ends[:, 1], face_points)
    assert np.ptp(ends[:, 1] - ends[:, 0]) > 1.0  # the smile moves the landmarks


def test_chains_given_as_lists_and_states_without_frames() -> None:
    faces = true_faces(2)
    faces[3] = np.nan
    fig = expressions(faces, scheme=[["lefteye1", "lefteye2"], ["nose1", "missing", "chin"]])
    (line,) = fig.axes[0].lines
    assert len(segments(line)) == 1  # edges naming unknown landmarks are skipped
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
