"""Figures and report.html written by Result.save, for 2D and 3D results."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

import faceexpr as fe
from faceexpr.pipeline import Result
from faceexpr.synthetic import simulate

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ALWAYS = ["expressions", "expressions_relative", "frequencies", "transitions", "dwell_times",
          "kinematics_by_state"]


class Links(HTMLParser):
    """Collects the targets of img src, a href and video src in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key in ("src", "href") and value and not value.startswith(("#", "data:")):
                self.targets.append(value)


def links(page: Path) -> list[str]:
    parser = Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.targets


@pytest.fixture(scope="module", params=[2, 3], ids=["2d", "3d"])
def result(request: pytest.FixtureRequest) -> Result:
    sim = simulate(900, seed=2, n_cameras=1)
    a, b = (sim.view(0), sim.pose3d) if request.param == 2 else (sim.pose3d, sim.pose3d)
    halves = [a.isel(time=slice(0, 450)), b.isel(time=slice(450, None))] \
        if request.param == 3 else [a]
    return fe.Pipeline(n_states=4, progress=False).run(halves, names=["one", "two"][:len(halves)])


def test_save_writes_every_figure_and_a_report_linking_everything(result: Result,
                                                                  tmp_path: Path) -> None:
    out = result.save(tmp_path / "out")
    expected = ALWAYS + [f"sessions/{s}/{kind}" for s in result.sessions
                         for kind in ("timeline", "kinematics")]
    for name in expected:
        data = (out / f"{name}.png").read_bytes()
        assert data.startswith(PNG_SIGNATURE), name
        assert len(data) > 5000, name  # a drawn figure, not an empty canvas
    assert not (out / "model_selection.png").exists()  # one K only
    targets = links(out / "report.html")
    for name in expected:
        assert f"{name}.png" in targets
    for csv in out.glob("*.csv"):
        assert csv.name in targets
    assert all((out / t).exists() for t in targets), "the report links a missing file"
    page = (out / "report.html").read_text(encoding="utf-8")
    assert f"<td>{result.n_states}</td>" in page
    assert not list(tmp_path.glob(".*")), "temporary folders left behind"


def test_svg_and_no_figures(result: Result, tmp_path: Path) -> None:
    out = result.save(tmp_path / "svg", formats=("png", "svg"))
    assert (out / "expressions.svg").read_text().lstrip().startswith("<?xml")
    assert "expressions.svg" in links(out / "report.html")
    bare = result.save(tmp_path / "bare", figures=False)
    assert not list(bare.glob("*.png")) and not (bare / "report.html").exists()
    assert (bare / "states.csv").exists()


def test_model_selection_figure_when_several_k_were_compared(result: Result,
                                                             tmp_path: Path) -> None:
    table = pd.DataFrame({"n_states": [2, 3, 4, 5],
                          "log_likelihood_per_frame": [-9.0, -7, -6, -5.9],
                          "bic_per_frame": [-30.0, -25, -20, -22],
                          "cv_mean": [-10.0, -8, -7, -7.5], "cv_se": [0.5, 0.5, 0.4, 0.6]})
    result.selection = table
    try:
        out = result.save(tmp_path / "sel")
    finally:
        result.selection = None
    assert (out / "model_selection.png").read_bytes().startswith(PNG_SIGNATURE)
    assert "model_selection.png" in links(out / "report.html")


def test_a_failing_figure_leaves_no_output(result: Result, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown session 'nope'"):
        result.save(tmp_path / "fail", videos={"nope": tmp_path / "missing.mp4"})
    assert not (tmp_path / "fail").exists()
    assert not list(tmp_path.iterdir())
