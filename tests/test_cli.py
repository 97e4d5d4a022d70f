"""The faceexpr command: results on real file formats, exit codes, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from faceexpr.cli import main
from faceexpr.io.video import read_video_frames
from faceexpr.synthetic import simulate
from faceexpr.synthetic.video import render_face_video


def test_analyze_anipose_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sim = simulate(400, n_expressions=5, seed=5)
    csv = sim.write_anipose_csv(tmp_path / "pose-3d.csv")
    out = tmp_path / "res"
    assert main(["analyze", str(csv), "--n-states", "9", "--out", str(out), "--quiet"]) == 0
    assert "results written to" in capsys.readouterr().out
    states = pd.read_csv(out / "states.csv")
    assert len(states) == 400 and states["state"].max() <= 8
    assert pd.read_csv(out / "frequencies.csv").shape[0] == 9
    assert pd.read_csv(out / "transitions.csv", index_col=0).shape == (9, 9)
    expr = pd.read_csv(out / "expressions.csv")
    assert set(expr.columns) == {"states", "landmarks", "x", "y", "z"} and len(expr) == 9 * 21


def test_analyze_dlc_h5_with_its_video(tmp_path: Path) -> None:
    sim = simulate(120, n_expressions=3, seed=4, n_cameras=1)
    h5 = sim.write_dlc(tmp_path / "face.h5")
    video = render_face_video(sim.view(0), tmp_path / "face.mp4")
    out = tmp_path / "res"
    assert main(["analyze", str(h5), "--n-states", "3", "--out", str(out), "--quiet",
                 "--video", str(video), "--svg"]) == 0
    assert (out / "sessions" / "face" / "face.nc").exists()
    for name in ("expressions", "sessions/face/timeline", "transitions"):
        assert (out / f"{name}.png").exists() and (out / f"{name}.svg").exists()
    video = out / "sessions" / "face" / "labelled.mp4"
    assert sum(1 for _ in read_video_frames(video)) == 120
    assert "sessions/face/labelled.mp4" in (out / "report.html").read_text()


def test_analyze_checks_videos_before_fitting(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    sim = simulate(100, seed=4, n_cameras=1)
    h5 = sim.write_dlc(tmp_path / "face.h5")
    out = tmp_path / "res"
    args = ["analyze", str(h5), "--out", str(out), "--quiet", "--n-states", "3", "--video"]
    assert main([*args, str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4")]) == 1
    assert "one video per input file: got 2 video(s) for 1 file(s)" in capsys.readouterr().err
    assert main([*args, str(tmp_path / "gone.mp4")]) == 1
    assert "gone.mp4: video not found" in capsys.readouterr().err
    assert main(["analyze", str(h5), "--out", str(out), "--quiet", "--n-states", "3",
                 "--no-figures"]) == 0
    assert not list(out.glob("*.png")) and (out / "states.csv").exists()


def test_exit_codes_and_one_line_errors(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("faceexpr: error:") and "missing.csv" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    assert main(["analyze", str(bad), "--out", str(tmp_path / "o")]) == 1
    assert "bad.csv" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    assert main(["analyze"]) == 1  # no files and no study manifest
    assert "give the pose files or videos to analyse, or a study --manifest" in \
        capsys.readouterr().err
    sim = simulate(300, seed=1)
    csv = sim.write_anipose_csv(tmp_path / "p.csv")
    assert main(["analyze", str(csv), "--reference", "nosetip", "--out",
                 str(tmp_path / "o"), "--quiet"]) == 1
    assert "nosetip" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep")
    assert main(["analyze", str(csv), "--out", str(tmp_path / "full"), "--quiet"]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "full" / "x").read_text() == "keep"


def test_demo_reports_ari(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["demo", "--frames", "3000", "--out", str(tmp_path / "d")]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line for line in lines if line.startswith(("2D", "3D"))]
    assert len(rows) == 2
    for row in rows:
        assert float(row.split()[-2]) >= 0.9
    assert (tmp_path / "d" / "2d" / "states.csv").exists()
    assert (tmp_path / "d" / "3d" / "report.html").exists()


def test_backends_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    assert "hmmlearn" in out and "file" in out
