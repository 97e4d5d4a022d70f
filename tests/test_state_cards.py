"""State cards: named face measures per state, FACS geometric proxies, the report section.

Synthetic faces with known prototypes give the truth: the smile raises and widens the
mouth corners, the surprise raises the brows and drops the lower lip, and so on. The
cards are computed from the true states (so the numbers test the measures, not the
fitting) on 3D faces (y up) and on their 2D camera view (image y down).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.spatial.transform import Rotation

import faceexpr as fe
from faceexpr.analysis import dwell_times
from faceexpr.data import make_pose
from faceexpr.errors import InvalidStatesError, ParameterError
from faceexpr.features import head_kinematics
from faceexpr.preprocess import egocentric
from faceexpr.report import write_report
from faceexpr.schemes import FACE21, IBUG68
from faceexpr.state_cards import (
    GEOMETRY,
    PROXY_RULES,
    StateCard,
    cards_table,
    face_directions,
    state_cards,
)
from faceexpr.synthetic import SyntheticFace, simulate
from faceexpr.synthetic.faces import (
    EXPRESSION_NAMES,
    expression_displacements,
    neutral_face,
    sticky_chain,
)

FACE_KEYS = ["mouth_opening", "mouth_width", "lip_corner_height", "brow_height", "brow_gap"]


@pytest.fixture(scope="module")
def sim() -> SyntheticFace:
    """The first five prototypes: neutral, smile, surprise, frown, pucker."""
    return simulate(3000, n_expressions=5, n_cameras=1, seed=1)


def cards_of(pose: xr.Dataset, states: xr.DataArray, k: int, **options: object,
             ) -> list[StateCard]:
    ego = egocentric(pose, "nose1" if "nose1" in pose["landmarks"] else "nose_bridge_0")
    return state_cards(ego, head_kinematics(ego), states, k, 30.0, **options)  # type: ignore[arg-type]


def by_name(cards: list[StateCard], sim: SyntheticFace) -> dict[str, StateCard]:
    return dict(zip(sim.expressions, cards))


def key_z(card: StateCard, key: str) -> tuple[float, float]:
    m = card.measure(key)
    assert m is not None, key
    return m.difference, m.z


def prototype_changes(sim: SyntheticFace) -> tuple[float, float]:
    """The smile's lip-corner height and mouth width against the all-frames mean, from the
    prototypes' displacements (mm) and the true shares of the states."""
    names, face = neutral_face()
    disp = 2.0 * expression_displacements(len(sim.expressions))  # expression_scale 2
    lip, rlip, nose = (names.index(n) for n in ("llip", "rlip", "nose2"))
    corners = (disp[:, lip, 1] + disp[:, rlip, 1]) / 2 - disp[:, nose, 1]
    width = (np.linalg.norm(face[lip] + disp[:, lip] - face[rlip] - disp[:, rlip], axis=-1)
             - np.linalg.norm(face[lip] - face[rlip]))
    share = np.bincount(sim.states.values, minlength=len(disp)) / sim.states.size
    smile = sim.expressions.index("smile")
    return (float(corners[smile] - share @ corners), float(width[smile] - share @ width))


def proxies(card: StateCard) -> set[str]:
    return {p.code for p in card.proxies}


# --- the acceptance test: prototypes in 3D and in 2D ------------------------------------


@pytest.mark.parametrize("dims", [3, 2])
def test_the_smile_card_has_corners_up_and_a_wider_mouth(sim: SyntheticFace,
                                                         dims: int) -> None:
    pose = sim.pose3d if dims == 3 else sim.view(0)
    cards = by_name(cards_of(pose, sim.states, 5), sim)
    smile = cards["smile"]
    corners, corners_z = key_z(smile, "lip_corner_height")
    width, width_z = key_z(smile, "mouth_width")
    # against the average frame, which the frown and the pucker pull the other way
    expect_corners, expect_width = prototype_changes(sim)
    scale = 1.0 if dims == 3 else 1.3  # 2D: template pixels, about 1.3 px per mm
    assert corners == pytest.approx(scale * expect_corners, rel=0.1)
    assert width == pytest.approx(scale * expect_width, rel=0.1)
    assert corners_z > 1.5 and width_z > 1.5
    assert {m.key for m in smile.largest(2)} == {"lip_corner_height", "mouth_width"}
    assert "lip-corner height +" in smile.headline()
    assert proxies(smile) == {"AU12"}
    # the other prototypes, each with its own geometric signature
    assert proxies(cards["surprise"]) == {"AU1+2", "AU26"}
    assert proxies(cards["frown"]) == {"AU4", "AU15"}
    assert proxies(cards["pucker"]) == {"AU18"}
    assert proxies(cards["neutral"]) == set()
    assert key_z(cards["frown"], "brow_gap")[1] < -1.0  # brows drawn together
    assert key_z(cards["surprise"], "brow_height")[0] > 10.0
    assert key_z(cards["frown"], "lip_corner_height")[0] < -5.0
    # all frames are in one state: the shares add up, the dwell is near the 1 s mean
    assert sum(c.share for c in cards.values()) == pytest.approx(1.0)
    assert all(0.3 < c.median_dwell_s < 1.5 for c in cards.values())


def test_2d_heights_point_up_the_face_although_image_y_points_down(
        sim: SyntheticFace) -> None:
    ego = egocentric(sim.view(0), "nose1")
    names = [str(n) for n in ego["landmarks"].values]
    left, up = face_directions(ego["position"].mean("time").values, names)
    assert left is not None and up is not None
    assert up[1] < -0.99 and left[0] > 0.99  # image: up is -y, the face's left is +x
    ego3 = egocentric(sim.pose3d, "nose1")
    left3, up3 = face_directions(ego3["position"].mean("time").values, names)
    assert left3 is not None and up3 is not None
    assert up3[1] > 0.99 and left3[0] > 0.99 and abs(float(left3 @ up3)) < 1e-12


def test_every_prototype_and_the_dwell(sim: SyntheticFace) -> None:
    sim9 = simulate(3000, n_expressions=9, seed=1)
    cards = by_name(cards_of(sim9.pose3d, sim9.states, 9), sim9)
    assert proxies(cards["jaw_drop"]) == {"AU26"}  # not AU15 / AU18: the jaw explains them
    assert key_z(cards["jaw_drop"], "mouth_opening")[0] > 25.0
    assert key_z(cards["left_smirk"], "lip_corner_height")[0] > 5.0  # one corner up
    truth = dwell_times(sim9.states, 9, fps=30.0)
    for k, card in enumerate(cards.values()):
        assert card.median_dwell_frames == truth["median_frames"][k]
        assert card.n_bouts == truth["n_bouts"][k]


# --- iBUG 68 ----------------------------------------------------------------------------


def face68() -> np.ndarray:
    """A neutral 68-point face in mm (x to the face's left, y up, z to the front)."""
    p: dict[str, tuple[float, float, float]] = {}
    for i, a in enumerate(np.linspace(-0.55 * np.pi, 0.55 * np.pi, 17)):
        p[f"jaw_{i}"] = (70 * np.sin(a), -10 - 56 * np.cos(a), -40 * (1 - np.cos(a)))
    for i, x in enumerate(np.linspace(-50, -12, 5)):  # right brow: outer to inner
        p[f"rbrow_{i}"] = (x, 50 + 6 * np.sin(np.pi * i / 4), 5)
    for i, x in enumerate(np.linspace(12, 50, 5)):  # left brow: inner to outer
        p[f"lbrow_{i}"] = (x, 50 + 6 * np.sin(np.pi * i / 4), 5)
    for i in range(4):
        p[f"nose_bridge_{i}"] = (0, 40 - 40 * i / 3, 14 + 20 * i / 3)
    for i, x in enumerate(np.linspace(-11, 11, 5)):
        p[f"nose_base_{i}"] = (x, 4 - abs(x) / 5, 22)
    eye = [(-44, 35), (-34, 38.5), (-24, 38.5), (-14, 34), (-24, 31.5), (-34, 31.5)]
    for i, (x, y) in enumerate(eye):
        p[f"reye_{i}"] = (x, y, 0)
    for i, j in enumerate([3, 2, 1, 0, 5, 4]):  # left eye: inner corner first
        p[f"leye_{i}"] = (-eye[j][0], eye[j][1], 0)
    outer = [(-23, -27), (-15, -22), (-6, -20), (0, -20), (6, -20), (15, -22), (23, -27),
             (15, -32), (6, -34), (0, -34), (-6, -34), (-15, -32)]
    for i, (x, y) in enumerate(outer):
        p[f"mouth_outer_{i}"] = (x, y, 20)
    inner = [(-18, -27), (-8, -26), (0, -26), (8, -26), (18, -27), (8, -28), (0, -28),
             (-8, -28)]
    for i, (x, y) in enumerate(inner):
        p[f"mouth_inner_{i}"] = (x, y, 21)
    return np.array([p[n] for n in IBUG68.landmarks], dtype=np.float64)


OPEN = [*(f"mouth_inner_{i}" for i in (5, 6, 7)), *(f"mouth_outer_{i}" for i in range(7, 12)),
        *(f"jaw_{i}" for i in range(5, 12))]
LIDS = ["reye_1", "reye_2", "leye_1", "leye_2"]
CORNERS = {"mouth_outer_0": -1, "mouth_inner_0": -1, "mouth_outer_6": 1, "mouth_inner_4": 1}


def simulate68(n: int, dims: int, seed: int = 0) -> tuple[xr.Dataset, xr.DataArray]:
    """68-point faces: neutral, mouth open 10 mm, eyes closed 6 mm, smile (corners 5 mm up
    and 4 mm out), with head rotation and noise; 2D is an image (y down, 3 px per mm)."""
    rng = np.random.default_rng(seed)
    names = list(IBUG68.landmarks)
    states = sticky_chain(rng, n, 4, 30.0)
    shift = np.zeros((4, 68, 3))
    shift[1, [names.index(m) for m in OPEN], 1] = -10.0
    shift[2, [names.index(m) for m in LIDS], 1] = -6.0
    for m, side in CORNERS.items():
        shift[3, names.index(m)] = (4.0 * side, 5.0, 0.0)
    local = face68()[None] + shift[states] + rng.normal(0, 0.3, (n, 68, 3))
    rot = Rotation.from_euler("yxz", rng.normal(0, 4, (n, 3)), degrees=True).as_matrix()
    world = np.einsum("tij,tlj->tli", rot, local) + rng.normal(0, 5, (n, 1, 3))
    if dims == 2:
        world = np.stack([320 + 3 * world[..., 0], 240 - 3 * world[..., 1]], axis=-1)
    pose = make_pose(world, names, fps=30.0, units="mm" if dims == 3 else "pixels")
    return pose, xr.DataArray(states, dims="time", attrs={"fps": 30.0})


@pytest.mark.parametrize("dims", [3, 2])
def test_ibug68_measures_match_the_known_changes(dims: int) -> None:
    pose, states = simulate68(2400, dims)
    cards = cards_of(pose, states, 4)
    share = np.bincount(states.values, minlength=4) / states.size
    scale = 1.0 if dims == 3 else 3.0  # 2D: pixels at the template's scale
    # 2D alignment divides by the face's size, which the expressions change a little
    rel = 0.03 if dims == 3 else 0.1

    def expected(change: float, k: int) -> float:  # state mean minus the all-frames mean
        return float(scale * change * (1 - share[k]))

    opening = cards[1].measure("mouth_opening")
    assert opening is not None and opening.units == ("mm" if dims == 3 else "px")
    assert opening.difference == pytest.approx(expected(10.0, 1), rel=rel)
    eyes = cards[2].measure("eye_opening")
    assert eyes is not None and eyes.difference == pytest.approx(expected(-6.0, 2), rel=rel)
    corners = cards[3].measure("lip_corner_height")
    assert corners is not None
    assert corners.difference == pytest.approx(expected(5.0, 3), rel=rel)
    width = cards[3].measure("mouth_width")
    assert width is not None and width.difference == pytest.approx(expected(8.0, 3), rel=rel)
    assert [proxies(c) for c in cards] == [set(), {"AU26"}, {"AU43/45"}, {"AU12"}]
    assert [m.key for m in cards[0].measures][:6] == [m.key for m in GEOMETRY["ibug68"].measures]


# --- fewer landmarks, unknown schemes, bad input ----------------------------------------


def test_a_face_without_brows_has_no_brow_measures(sim: SyntheticFace) -> None:
    kept = [n for n in FACE21.landmarks if "brow" not in n]
    cards = by_name(cards_of(sim.pose3d.sel(landmarks=kept), sim.states, 5), sim)
    keys = [m.key for m in cards["surprise"].measures if m.kind == "face"]
    assert keys == ["mouth_opening", "mouth_width", "lip_corner_height"]
    assert proxies(cards["surprise"]) == {"AU26"}  # no AU1+2 without brows
    assert proxies(cards["frown"]) == {"AU15"}
    assert proxies(cards["smile"]) == {"AU12"}


def test_unknown_landmarks_get_head_measures_only(sim: SyntheticFace) -> None:
    pose = sim.pose3d.assign_coords(landmarks=[f"p{i}" for i in range(21)])
    cards = cards_of_ref(pose, sim.states)
    assert {m.key for m in cards[0].measures} == {"head_rot_x", "head_rot_y", "head_rot_z",
                                                  "head_speed"}
    assert all(c.proxies == () for c in cards)
    # measures can be given for such a scheme
    mouth = GEOMETRY["face21"].measures[0]
    renamed = type(mouth)(mouth.key, mouth.label, mouth.kind, ((("p16",), ("p17",)),),
                          mouth.description)
    cards = cards_of_ref(pose, sim.states, measures=[renamed])
    assert cards[2].measure("mouth_opening") is None  # no up direction: no heights
    assert cards[2].measure("head_speed") is not None


def cards_of_ref(pose: xr.Dataset, states: xr.DataArray, **options: object,
                 ) -> list[StateCard]:
    ego = egocentric(pose, "p12")
    return state_cards(ego, head_kinematics(ego), states, 5, 30.0, **options)  # type: ignore[arg-type]


def test_several_sessions_and_no_state_frames(sim: SyntheticFace) -> None:
    ego = egocentric(sim.pose3d, "nose1")
    kin = head_kinematics(ego)
    states = sim.states.copy()
    states[100:160] = -1
    halves = [slice(0, 1500), slice(1500, None)]
    split = state_cards([ego.isel(time=h) for h in halves], [kin.isel(time=h) for h in halves],
                        [states.isel(time=h) for h in halves], 5, 30.0)
    whole = state_cards(ego, kin, states, 5, 30.0)
    for a, b in zip(split, whole):
        assert a.n_frames == b.n_frames
        for ma, mb in zip(a.measures, b.measures):
            assert ma.state_mean == pytest.approx(mb.state_mean)
            assert ma.z == pytest.approx(mb.z)
    assert sum(c.n_frames for c in whole) == 3000 - 60
    # the bouts cut by the split and by the gap are left out of the dwell
    truth = dwell_times([states.isel(time=h) for h in halves], 5, fps=30.0)
    assert [c.median_dwell_frames for c in split] == truth["median_frames"].tolist()


def test_without_kinematics_fps_or_a_state(sim: SyntheticFace) -> None:
    ego = egocentric(sim.pose3d, "nose1")
    states = sim.states.where(sim.states != 4, 0)  # state 4 never occurs
    cards = state_cards(ego, None, states, 5)
    assert cards[4].n_frames == 0 and cards[4].share == 0.0
    assert math.isnan(cards[4].measures[0].state_mean)
    assert cards[4].dwell_words() == "typical bout unknown (no bout of known length)"
    assert math.isnan(cards[0].median_dwell_s)
    assert cards[0].dwell_words().startswith("typical bout ")
    assert cards[0].dwell_words().endswith(" frames")
    assert "head_speed" not in {m.key for m in cards[0].measures}


def test_bad_input_is_refused(sim: SyntheticFace) -> None:
    ego = egocentric(sim.pose3d, "nose1")
    with pytest.raises(InvalidStatesError, match=r"state 5 is not one of 0\.\.4"):
        state_cards(ego, None, sim.states.where(sim.states != 4, 5), 5)
    with pytest.raises(InvalidStatesError, match="3000 frames but the states have 10"):
        state_cards(ego, None, sim.states[:10], 5)
    with pytest.raises(InvalidStatesError, match="one each per session"):
        state_cards([ego, ego], None, [sim.states], 5)
    with pytest.raises(ParameterError, match="unknown landmark scheme 'face99'"):
        state_cards(ego, None, sim.states, 5, scheme="face99")


# --- words, table, proxies --------------------------------------------------------------


def test_words_table_and_dict(sim: SyntheticFace, tmp_path: Path) -> None:
    cards = cards_of(sim.pose3d, sim.states, 5)
    smile = cards[EXPRESSION_NAMES.index("smile")]
    corners = smile.measure("lip_corner_height")
    assert corners is not None
    assert corners.words() == (f"lip-corner height +{corners.difference:.1f} mm, "
                               f"+{corners.z:.1f} SD")
    pitch = smile.measure("head_pitch")
    assert pitch is not None and pitch.units == "°" and "° ," not in pitch.words()
    assert smile.proxies[0].label == "AU12 lip-corner puller (geometric proxy)"
    table = cards_table(cards)
    n_rows = sum(len(c.measures) + len(c.proxies) for c in cards)
    assert len(table) == n_rows
    assert set(table["kind"]) == {"face", "head", "facs_proxy"}
    ranked = table.dropna(subset=["rank"]).groupby("state")["rank"].apply(sorted)
    assert all(r == [1, 2, 3] for r in ranked)
    top = table[(table["state"] == smile.state) & (table["rank"] == 1)]
    assert top["quantity"].tolist() == ["lip_corner_height"]
    path = tmp_path / "state_cards.csv"
    table.to_csv(path, index=False)
    back = pd.read_csv(path)
    assert back["z"].to_numpy() == pytest.approx(table["z"].to_numpy(), nan_ok=True)
    record = smile.to_dict()
    assert record["proxies"][0]["code"] == "AU12"
    assert record["headline"] == smile.headline()
    assert all(rule.conditions for rule in PROXY_RULES)


# --- the report's States section --------------------------------------------------------


class Sections(HTMLParser):
    """The page's h2 headings in order, the state cards and their SVG faces."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []
        self.cards: list[str] = []
        self.in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.in_h2 = tag == "h2"
        if tag == "section" and values.get("class") == "state-card":
            self.cards.append(str(values.get("id")))
        if tag in ("table", "svg"):
            self.order.append(tag)

    def handle_data(self, data: str) -> None:
        if self.in_h2:
            self.order.append(data)
            self.in_h2 = False


@pytest.fixture(scope="module", params=[3, 2], ids=["3d", "2d"])
def result(request: pytest.FixtureRequest, sim: SyntheticFace) -> fe.Result:
    pose = sim.pose3d if request.param == 3 else sim.view(0)
    return fe.Pipeline(n_states=5, progress=False).run(pose.isel(time=slice(0, 1500)))


def test_the_report_opens_with_one_card_per_state(result: fe.Result, sim: SyntheticFace,
                                                  tmp_path: Path) -> None:
    page = write_report(result, tmp_path, []).read_text(encoding="utf-8")
    parser = Sections()
    parser.feed(page)
    assert parser.order[:2] == ["Diagnostics", "States"]
    assert parser.order.index("States") < parser.order.index("table")  # before the facts
    assert parser.cards == [f"state-{k}" for k in range(5)]
    svgs = page.split("<svg ")[1:]
    assert len(svgs) == 5
    for svg in svgs:
        root = ET.fromstring("<svg " + svg.split("</svg>")[0] + "</svg>")
        assert len(root.findall(".//{http://www.w3.org/2000/svg}line")) == 2 * len(
            FACE21.edges())
    # the fitted state that is the smile says so
    cards = state_cards(result.egocentric, result.kinematics, result.states, 5, result.fps)
    smiles = [c for c in cards if "AU12" in proxies(c)]
    assert len(smiles) == 1
    section = page.split(f"id='state-{smiles[0].state}'")[1].split("</section>")[0]
    assert "AU12 lip-corner puller (geometric proxy)" in section
    assert "lip-corner height +" in section
    assert "% of the time" in section and "typical bout" in section
    assert "state_cards.csv" not in page  # no file, no link
    cards_table(cards).to_csv(tmp_path / "state_cards.csv", index=False)
    page = write_report(result, tmp_path, []).read_text(encoding="utf-8")
    states_section = page.split("<h2 id='states'>")[1].split("<h2")[0]
    assert "<a href='state_cards.csv'>" in states_section
