"""Study manifests: real pose files listed in a CSV, read back; every bad manifest refused
with one line naming the manifest, the line and the column."""

from __future__ import annotations

from pathlib import Path

import pytest

from faceexpr.errors import FaceexprError, FileFormatError, MissingFileError
from faceexpr.study.manifest import StudySession, manifest_table, read_manifest
from faceexpr.synthetic.faces import simulate


@pytest.fixture
def study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A study folder (the working folder) with pose files: three 3D Anipose CSVs in
    sessions/, and the two DeepLabCut camera views of one recording with their calibration."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sessions").mkdir()
    for i in (1, 2, 3):
        simulate(120, seed=i).write_anipose_csv(tmp_path / "sessions" / f"s{i}.csv")
    cams = simulate(120, seed=4, n_cameras=2)
    for cam in ("A", "B"):
        cams.write_dlc(tmp_path / "sessions" / f"s4_cam{cam}.h5", camera=cam)
    cams.write_calibration(tmp_path / "calibration.toml")
    return tmp_path


def _write(folder: Path, text: str, name: str = "study.csv", bom: bool = False) -> Path:
    path = folder / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def _error(text: str, folder: Path) -> FaceexprError:
    _write(folder, text)
    with pytest.raises(FaceexprError) as exc:
        read_manifest("study.csv")
    assert "\n" not in str(exc.value)
    return exc.value


def test_round_trip(study: Path) -> None:
    absolute = study / "sessions" / "s3.csv"
    _write(study, " Session , SUBJECT,condition,Files,calibration,fps, Notes ,\n"
                  "first,S1,rest,sessions/s1.csv,,30,\"calm, seated\"\n"
                  "\n"
                  ",S1,task,sessions/s2.csv,,,\n"
                  f"third,S2,,{absolute},,12.5,=cmd()\n"
                  "cams,S2,task, sessions/s4_camB.h5 ; sessions/s4_camA.h5 ;,calibration.toml,,"
                  "\n", bom=True)
    sessions = read_manifest("study.csv")
    assert [s.name for s in sessions] == ["first", "s2", "third", "cams"]
    assert [s.line for s in sessions] == [2, 4, 5, 6]
    assert [s.subject for s in sessions] == ["S1", "S1", "S2", "S2"]
    assert [s.condition for s in sessions] == ["rest", "task", "", "task"]
    assert [s.fps for s in sessions] == [30.0, None, 12.5, None]
    # the extra column keeps its spelling and its text as written, formula included
    assert [s.extra for s in sessions] == [{"Notes": "calm, seated"}, {"Notes": ""},
                                           {"Notes": "=cmd()"}, {"Notes": ""}]
    first, _, third, cams = sessions
    assert first.recording.name == "first"
    assert first.recording.files == (study / "sessions" / "s1.csv",)
    assert first.recording.files[0].is_absolute() and first.recording.calibration is None
    assert third.recording.files == (absolute,)
    # camera views: one recording, cameras in order, with the calibration
    assert cams.recording.name == "cams" and cams.recording.cameras == ("A", "B")
    assert cams.recording.files == (study / "sessions" / "s4_camA.h5",
                                    study / "sessions" / "s4_camB.h5")
    assert cams.recording.calibration == study / "calibration.toml"

    table = manifest_table(sessions)
    assert list(table.columns) == ["session", "subject", "condition", "files", "fps", "Notes"]
    assert table["session"].tolist() == ["first", "s2", "third", "cams"]
    assert table.loc[3, "files"] == (f"{study / 'sessions' / 's4_camA.h5'};"
                                     f"{study / 'sessions' / 's4_camB.h5'}")
    assert table["fps"].dtype == "float64"
    assert table["fps"].isna().tolist() == [False, True, False, True]
    assert table.loc[0, "fps"] == 30.0 and table.loc[0, "Notes"] == "calm, seated"


def test_video_column_and_defaults(study: Path) -> None:
    # a manifest in a sub-folder: paths are relative to it, not to the working folder
    (study / "meta").mkdir()
    _write(study / "meta", "video\n../sessions/s1.csv\n../sessions/s2.csv", name="m.csv")
    sessions = read_manifest(study / "meta" / "m.csv")
    assert [s.name for s in sessions] == ["s1", "s2"]
    assert all(s.subject == s.condition == "" and s.fps is None and s.extra == {}
               for s in sessions)
    assert sessions[1].recording.files[0].resolve() == study / "sessions" / "s2.csv"
    assert isinstance(sessions[0], StudySession)
    assert list(manifest_table(sessions).columns) == ["session", "subject", "condition",
                                                      "files", "fps"]


def test_short_rows_and_an_empty_trailing_column(study: Path) -> None:
    _write(study, "files,subject,condition,\nsessions/s1.csv\nsessions/s2.csv,S9,,\n")
    sessions = read_manifest("study.csv")
    assert [(s.subject, s.condition) for s in sessions] == [("", ""), ("S9", "")]


@pytest.mark.parametrize(("text", "message"), [
    ("session,files,fps\na,sessions/s1.csv,30\nb,sessions/s2.csv,\nc,sessions/s3.csv,thirty\n",
     "study.csv: line 4: column fps must be a positive number, got 'thirty'"),
    ("files,fps\nsessions/s1.csv,0\n",
     "study.csv: line 2: column fps must be a positive number, got '0'"),
    ("files,fps\nsessions/s1.csv,-30\n",
     "study.csv: line 2: column fps must be a positive number, got '-30'"),
    ("files,fps\nsessions/s1.csv,nan\n",
     "study.csv: line 2: column fps must be a positive number, got 'nan'"),
    ("files,fps\nsessions/s1.csv,inf\n",
     "study.csv: line 2: column fps must be a positive number, got 'inf'"),
    ("session,subject\na,S1\n",
     "study.csv: the header has no files or video column (it has: session, subject)"),
    ("session;subject;files\na;S1;sessions/s1.csv\n",
     "study.csv: the header has no files or video column (it has: session;subject;files); "
     "the manifest must be comma separated"),
    ("", "study.csv: the manifest is empty (expected a header line naming the columns, "
         "e.g. session,subject,condition,files)"),
    ("\n \n,,\n", "study.csv: the manifest is empty (expected a header line naming the "
                  "columns, e.g. session,subject,condition,files)"),
    ("session,files\n",
     "study.csv: the manifest lists no sessions (line 1 is the header and no row follows)"),
    ("session,files\na,sessions/s1.csv\nb,sessions/s2.csv,30\n",
     "study.csv: line 3: the row has 3 fields but the header has 2 (quote a value that "
     "holds a comma)"),
    ("session,files\na,sessions/s1.csv\nb, \n",
     "study.csv: line 3: column files is empty (expected a pose file or video, or the camera "
     "views of one recording separated by ';')"),
    ("session,video\na,;\n",
     "study.csv: line 2: column video is empty (expected a pose file or video, or the camera "
     "views of one recording separated by ';')"),
    ("session,files,Files\na,sessions/s1.csv,sessions/s2.csv\n",
     "study.csv: the header has the column 'Files' twice (columns 2 and 3; names are "
     "case-insensitive)"),
    ("files,video\nsessions/s1.csv,sessions/s2.csv\n",
     "study.csv: the header has both a files and a video column (video is another name for "
     "files): keep one"),
    ("session,files\na,sessions/s1.csv\nb,sessions/s2.csv\nc,sessions/./s1.csv\n",
     "study.csv: line 4: column files: the file sessions/./s1.csv is listed on line 2 too; "
     "each file belongs to one session"),
    ("files,calibration\nsessions/s4_camA.h5;sessions/s4_camA.h5,calibration.toml\n",
     "study.csv: line 2: column files lists the file sessions/s4_camA.h5 twice"),
    ("session,files\nsame,sessions/s1.csv\nSAME,sessions/s2.csv\n",
     "study.csv: line 3: column session: session 'SAME' has the name of the session on "
     "line 2 ('same'); names that differ only in case or in characters other than letters, "
     "digits, '_', '-' and '.' are the same output folder: give each session its own name"),
    ("files\nsessions/s4_camA.h5;sessions/s4_camB.h5\n",
     "study.csv: line 2: the manifest has no calibration column, but the row has 2 files: "
     "the camera views of one recording need the cameras' calibration"),
    ("files,calibration\nsessions/s4_camA.h5;sessions/s4_camB.h5,\n",
     "study.csv: line 2: column calibration is empty, but the row has 2 files: the camera "
     "views of one recording need the cameras' calibration"),
    ("files,calibration\nsessions/s4_camA.h5;sessions/s4_camB.h5,sessions\n",
     "study.csv: line 2: calibration sessions is a folder, not a file"),
    ("files\nsessions\n", "study.csv: line 2: file sessions is a folder, not a file"),
    ("files,\nsessions/s1.csv,oops\n",
     "study.csv: line 2: field 2 has a value, but column 2 has no name in the header"),
    ("files\n\"sessions/s1.csv\n",
     "study.csv: line 2: not valid CSV (unexpected end of data)"),
    ("files\nsessions/s1\0.csv\n",
     "study.csv: line 2: holds a NUL byte (not a text CSV file?)"),
])
def test_bad_manifests(study: Path, text: str, message: str) -> None:
    got = _error(text, study)
    assert isinstance(got, FileFormatError)
    assert str(got).startswith(message), got


def test_session_names_that_are_one_folder(study: Path) -> None:
    message = str(_error("session,files\ns 1,sessions/s1.csv\nb,sessions/s2.csv\ns_1,"
                     "sessions/s3.csv\n", study))
    assert message.startswith("study.csv: line 4: column session: session 's_1' has the "
                              "name of the session on line 2 ('s 1')")


def test_default_names_that_collide(study: Path) -> None:
    (study / "other").mkdir()
    simulate(60, seed=9).write_anipose_csv(study / "other" / "s1.csv")
    message = str(_error("files\nsessions/s1.csv\nother/s1.csv\n", study))
    assert message.startswith("study.csv: line 3: column session: session 's1' has the name "
                              "of the session on line 2 ('s1')")


def test_files_of_two_recordings_in_one_row(study: Path) -> None:
    simulate(60, seed=5, n_cameras=2).write_dlc(study / "sessions" / "s5_camB.h5", camera=1)
    message = str(_error("files,calibration\nsessions/s4_camA.h5;sessions/s5_camB.h5,"
                         "calibration.toml\n", study))
    assert message == ("study.csv: line 2: column files: the files are not the camera views "
                       "of one recording (their names make 2 recordings: s4, s5); list one "
                       "recording per row")


def test_camera_views_without_a_camera_in_the_name(study: Path) -> None:
    message = str(_error("files,calibration\nsessions/s4_camA.h5;sessions/s1.csv,"
                         "calibration.toml\n", study))
    assert message.startswith(f"study.csv: line 2: column files: {study}/sessions/s1.csv: "
                              "cannot tell the camera from the file name: 's1' does not "
                              "match cam_regex 'cam([A-Z])'")


def test_missing_files(study: Path) -> None:
    _write(study, "session,files\na,sessions/s1.csv\nb,sessions/gone.csv\n")
    with pytest.raises(MissingFileError) as exc:
        read_manifest("study.csv")
    assert str(exc.value) == (f"study.csv: line 3: file sessions/gone.csv not found (paths "
                              f"are relative to the manifest's folder, {study})")
    _write(study, f"files\n{study / 'nowhere.csv'}\n")
    with pytest.raises(MissingFileError, match=r"^study.csv: line 2: file \S+nowhere.csv "
                                               r"not found$"):
        read_manifest("study.csv")
    _write(study, "files,calibration\nsessions/s4_camA.h5;sessions/s4_camB.h5,cal.toml\n")
    with pytest.raises(MissingFileError, match=r"^study\.csv: line 2: calibration cal\.toml not "
                                               r"found"):
        read_manifest("study.csv")
    with pytest.raises(MissingFileError, match=r"^absent\.csv: no such file$"):
        read_manifest("absent.csv")


def test_a_manifest_that_is_not_text(study: Path) -> None:
    (study / "study.csv").write_bytes(b"files\nsessions/s1.csv\n\xff\xfe\n")
    with pytest.raises(FileFormatError, match="^study.csv: line 3: not UTF-8 text "
                                              r"\(byte 0xff\); save the manifest as UTF-8"):
        read_manifest("study.csv")
    with pytest.raises(FileFormatError, match=r"^sessions is a folder, not a manifest"):
        read_manifest("sessions")
