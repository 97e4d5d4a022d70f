"""Saving a result loses nothing that is not its own and writes no spreadsheet formulas."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import faceexpr as fe
from faceexpr.cli import main
from faceexpr.synthetic import simulate


@pytest.fixture(scope="module")
def result() -> fe.Result:
    pose = simulate(200, seed=1).pose3d
    names = [("=HYPERLINK(1)" if n == "chin" else str(n)) for n in pose["landmarks"].values]
    pose = pose.assign_coords(landmarks=names)  # a landmark name from a hostile file
    return fe.Pipeline(n_states=2, reference="nose1", progress=False).run(pose)


def test_formula_cells_are_defused(result: fe.Result, tmp_path: Path) -> None:
    out = result.save(tmp_path / "out", figures=False)
    for csv in out.glob("*.csv"):
        text = csv.read_text()
        assert ",=" not in text and not text.startswith("=") and "\n=" not in text, csv.name
    faces = pd.read_csv(out / "expressions.csv")
    assert "'=HYPERLINK(1)" in set(faces["landmarks"])
    states = pd.read_csv(out / "states.csv")
    assert (states["state"] >= 0).all()  # numbers stay numbers
    assert (states["time"].diff().dropna() > 0).all()


def test_overwrite_never_removes_an_unrelated_sibling(result: fe.Result,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "out"
    result.save(out, figures=False)
    sibling = tmp_path / ".out.old"
    sibling.mkdir()
    (sibling / "keep.txt").write_text("mine")
    result.save(out, overwrite=True, figures=False)
    assert (sibling / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.old", "out"]


def test_output_folder_holding_an_input_is_refused(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    pose = data / "s1.csv"
    simulate(200, seed=1).write_anipose_csv(pose)
    before = sorted(p.name for p in data.iterdir())
    assert main(["analyze", str(pose), "--out", str(data), "--overwrite", "--n-states", "2",
                 "--no-figures", "--quiet"]) == 1
    assert "holds the input" in capsys.readouterr().err
    assert sorted(p.name for p in data.iterdir()) == before
    run = fe.Pipeline(n_states=2, progress=False).run(pose)
    with pytest.raises(fe.FaceexprError, match="holds the input"):
        run.save(data, overwrite=True, figures=False)
    assert pose.is_file()
