"""What a principal component is: explained variance, loadings in mm, and their figures."""

from __future__ import annotations

import re

import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.quiver import Quiver

from faceexpr.data import make_features
from faceexpr.errors import InvalidFeaturesError
from faceexpr.features import (
    Standardizer,
    component_loadings,
    feature_matrix,
    head_kinematics,
    reduce_pca,
)
from faceexpr.plot.ethogram import timeline
from faceexpr.plot.faces import face_frame
from faceexpr.plot.loadings import component_label, loadings
from faceexpr.preprocess import egocentric
from faceexpr.schemes import FACE21
from faceexpr.synthetic import expression_displacements, neutral_face, simulate

RIGID = ["lefteye1", "righteye1", "lear", "rear", "nose1", "nose2", "nose3", "nose4"]


class Fitted:
    """Egocentric pose, standardized features with head speed, and their PCA."""

    def __init__(self, pose: xr.Dataset, n_components: int, **ego: object) -> None:
        self.ego = egocentric(pose, **ego)  # type: ignore[arg-type]
        kin = head_kinematics(self.ego)
        self.raw = feature_matrix(self.ego, kinematics=kin)
        self.scaler = Standardizer().fit([self.raw])
        self.pcs, self.pca = reduce_pca([self.scaler.transform(self.raw)], n_components)
        self.loadings = component_loadings(self.pca, self.scaler.names_, self.scaler.scale_)
        self.mean_face = self.ego["position"].mean("time")
        self.mean_face.attrs["units"] = self.ego.attrs.get("units", "")


@pytest.fixture(scope="module")
def smile() -> Fitted:
    # one expression (smile) besides neutral, no head rotation: PC1 is the smile
    sim = simulate(900, n_expressions=2, head_rotation_deg=0.0, noise_mm=0.2, dropout=0.0,
                   seed=4)
    return Fitted(sim.pose3d, 6, align_landmarks=RIGID)


@pytest.fixture(scope="module")
def faces2d() -> Fitted:
    sim = simulate(400, n_expressions=3, n_cameras=1, seed=6)
    return Fitted(sim.view(0), 5)


def inside_figure(fig: Figure) -> None:
    """Every axes (labels, ticks, titles, legends) and figure text lies on the figure."""
    fig.draw_without_rendering()
    renderer = fig._get_renderer()  # type: ignore[attr-defined]
    box = fig.bbox
    parts = [ax.get_tightbbox(renderer) for ax in fig.axes]
    parts += [t.get_window_extent(renderer) for t in fig.texts]  # the suptitle too
    parts += [leg.get_window_extent(renderer) for leg in fig.legends]
    for b in parts:
        assert b is not None
        assert b.x0 >= box.x0 - 1 and b.x1 <= box.x1 + 1, (b, box)
        assert b.y0 >= box.y0 - 1 and b.y1 <= box.y1 + 1, (b, box)


def test_reduce_pca_keeps_the_explained_variance(smile: Fitted) -> None:
    ratio = smile.pcs[0].attrs["explained_variance_ratio"]
    assert isinstance(ratio, list) and all(isinstance(r, float) for r in ratio)
    np.testing.assert_allclose(ratio, smile.pca.explained_variance_ratio_)
    # standardized noise-only columns weigh as much as the moving ones: 16 % for pc1
    assert len(ratio) == 6 and ratio[0] > 0.12 and sorted(ratio, reverse=True) == ratio
    assert smile.pcs[0].attrs["fps"] == 30.0  # the input's attrs are kept


def test_loadings_rebuild_the_landmarks_in_mm(smile: Fitted) -> None:
    # all components of a small problem: the loadings give back every coordinate
    cols = [n for n in smile.scaler.names_ if n.endswith(("_x", "_y", "_z"))][:6]
    raw = smile.raw.sel(features=cols)
    scaler = Standardizer().fit([raw])
    pcs, pca = reduce_pca([scaler.transform(raw)], 6)
    load = component_loadings(pca, scaler.names_, scaler.scale_)
    scores = pcs[0].values / np.sqrt(pca.explained_variance_)  # in SD of each score
    rebuilt = scaler.mean_ + np.einsum("tk,kf->tf", scores,
                                       load.values.reshape(6, -1)[:, :len(cols)])
    np.testing.assert_allclose(rebuilt, raw.values, atol=1e-9)


def test_pc1_is_the_smile(smile: Fitted) -> None:
    load = smile.loadings
    assert load.dims == ("components", "landmarks", "space")
    assert list(load["space"].values) == ["x", "y", "z"]
    assert "head_speed" not in load["landmarks"].values  # a kinematic column, left out
    assert "nose1" not in load["landmarks"].values  # the reference: constant, dropped
    names, _ = neutral_face()
    truth = xr.DataArray(expression_displacements(2)[1], dims=("landmarks", "space"),
                         coords={"landmarks": names, "space": ["x", "y", "z"]})
    want = truth.sel(landmarks=load["landmarks"]).values.ravel()
    pc1 = load.isel(components=0).values.ravel()
    cosine = abs(pc1 @ want) / np.linalg.norm(pc1) / np.linalg.norm(want)
    assert cosine > 0.98
    # in mm: a smile is on in about half the frames, so one SD of the score moves the
    # mouth corners by about half the prototype's 2 x (7, 6, -3) mm
    corner = np.linalg.norm(load.isel(components=0).sel(landmarks="llip").values)
    full = 2 * np.linalg.norm([7.0, 6.0, -3.0])
    assert 0.35 * full < corner < 0.65 * full
    assert load.attrs["explained_variance_ratio"][0] == pytest.approx(
        smile.pca.explained_variance_ratio_[0])
    assert load.attrs["other_share"][0] < 0.01  # pc1 is not head speed
    # over all components, head speed (the one other column) is shared out exactly once
    n = smile.raw.sizes["features"]
    _, full = reduce_pca([smile.scaler.transform(smile.raw)], n)
    every = component_loadings(full, smile.scaler.names_, smile.scaler.scale_)
    assert sum(every.attrs["other_share"]) == pytest.approx(1.0, abs=1e-9)


def test_component_loadings_errors(smile: Fitted) -> None:
    with pytest.raises(InvalidFeaturesError, match="feature names"):
        component_loadings(smile.pca, smile.scaler.names_[:-1])
    with pytest.raises(InvalidFeaturesError, match="scale has"):
        component_loadings(smile.pca, smile.scaler.names_, [1.0, 2.0])
    x = np.random.default_rng(0).normal(size=(20, 2))
    _, pca = reduce_pca([make_features(x, ["speed", "other"])], 2)
    with pytest.raises(InvalidFeaturesError, match="no feature column"):
        component_loadings(pca, ["speed", "other"])


def test_component_label() -> None:
    assert component_label(0, 0.234) == "PC1 (23 %)"
    assert component_label(8, 0.004) == "PC9 (0.4 %)"
    assert component_label(2) == "PC3"


def test_loadings_figure_3d(smile: Fitted) -> None:
    fig = loadings(smile.loadings, smile.mean_face)
    assert len(fig.axes) == 6
    ratios = smile.pca.explained_variance_ratio_
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith(f"PC1 ({100 * ratios[0]:.0f} %)")
    assert all(t.startswith(f"PC{k + 1} (") for k, t in enumerate(titles))
    assert fig.axes[0].get_xlabel() == "face left–right (mm)"
    assert fig.axes[0].get_ylabel() == "face down–up (mm)"
    suptitle = fig.get_suptitle()
    assert "all 6" in suptitle and "+2 SD" in suptitle
    # the arrows are +2 SD of the loadings, projected on the face's left and up axes
    face = smile.mean_face.values
    names = [str(n) for n in smile.mean_face["landmarks"].values]
    axes = face_frame(face, names, FACE21)
    assert axes is not None
    (quiver,) = [c for c in fig.axes[0].collections if isinstance(c, Quiver)]
    gain = float(re.search(r"SD(?: ×([\d.]+))?$", suptitle).group(1) or 1)  # type: ignore[union-attr]
    i = [str(n) for n in smile.loadings["landmarks"].values].index("llip")
    want = 2 * gain * smile.loadings.isel(components=0, landmarks=i).values @ axes[:2].T
    moved = np.hypot(quiver.U, quiver.V) > 0
    assert moved.sum() >= 6
    got = np.stack([quiver.U, quiver.V], axis=1)
    assert np.min(np.linalg.norm(got - want, axis=1)) < 1e-9
    # the smile's pc1 pulls the mouth corners up (face up axis) and apart
    j = int(np.argmin(np.linalg.norm(got - want, axis=1)))
    assert abs(got[j, 1]) > 0.5 * np.linalg.norm(got[j])
    inside_figure(fig)


def test_loadings_figure_options(smile: Fitted, faces2d: Fitted) -> None:
    fig = loadings(smile.loadings, smile.mean_face, n_components=3, view="side", gain=5.0)
    assert len(fig.axes) == 3
    assert fig.axes[0].get_xlabel() == "face back–front (mm)"
    assert "3 of 6" in fig.get_suptitle()
    assert fig.get_suptitle().endswith("+2 SD ×5")
    inside_figure(fig)
    # 2D pixels: image axes, y downwards
    fig = loadings(faces2d.loadings, faces2d.mean_face, n_components=1)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_xlabel() == "x (px)" and ax.yaxis_inverted()
    ratio = faces2d.pca.explained_variance_ratio_[0]
    assert ax.get_title().startswith(f"PC1 ({100 * ratio:.0f} %)")
    inside_figure(fig)
    # no scheme: points only and the data's axes
    fig = loadings(smile.loadings, smile.mean_face, scheme=None, n_components=2,
                   explained=[0.5, 0.25, 0.1, 0.1, 0.03, 0.02])
    assert fig.axes[1].get_title().startswith("PC2 (25 %)")
    assert fig.axes[0].get_xlabel() == "x (mm)"
    with pytest.raises(ValueError, match="no landmark"):
        loadings(smile.loadings, smile.mean_face.assign_coords(
            landmarks=[f"p{i}" for i in range(smile.mean_face.sizes["landmarks"])]))
    with pytest.raises(ValueError, match="dims"):
        loadings(smile.loadings.isel(components=0), smile.mean_face)


def test_timeline_labels_components(smile: Fitted) -> None:
    ratios = smile.pca.explained_variance_ratio_
    fig = timeline(smile.pcs[0], smile.ego["position"].isel(landmarks=0, space=0)
                   .notnull().astype(int).rename("state"), 2, max_features=4)
    top = fig.axes[0]
    labels = [t.get_text() for t in top.get_yticklabels()]
    assert labels == [component_label(k, ratios[k]) for k in range(4)]
    assert labels[0] == f"PC1 ({100 * ratios[0]:.0f} %)"
    assert "4 of 6 shown" in top.get_ylabel()
    assert f"{100 * ratios[:4].sum():.0f} % of variance" in top.get_ylabel()
    inside_figure(fig)
    # features without PCA keep their names and say how many are shown
    fig = timeline(smile.raw, smile.pcs[0]["time"].copy(data=np.zeros(900, int)), 1,
                   max_features=3)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == [
        str(n) for n in smile.raw["features"].values[:3]]
    assert f"3 of {smile.raw.sizes['features']} shown" in fig.axes[0].get_ylabel()
