"""Crafted DeepLabCut .h5 files must not run code when faceexpr reads them."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tables

import faceexpr as fe
from faceexpr.backends.deeplabcut import from_dlc_file, to_dlc_file
from faceexpr.cli import main
from faceexpr.errors import FileFormatError
from faceexpr.io.hdf5 import UnsafePickleError, check_pickles, restricted_loads
from faceexpr.synthetic import simulate


class _Payload:
    """Unpickling it touches a marker file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(self.marker),))  # type: ignore[return-value]


def _genuine(path: Path) -> Path:
    to_dlc_file(simulate(40, n_cameras=1, seed=0).view(0), path)
    return path


def _poisoned_attrs(path: Path, marker: Path) -> Path:
    """A genuine table-format DeepLabCut file whose group attribute ``info`` is a payload."""
    _genuine(path)
    with tables.open_file(str(path), "a") as h5:
        h5.get_node("/df_with_missing")._v_attrs.info = _Payload(marker)
    return path


def _object_column(path: Path, marker: Path) -> Path:
    """A fixed-format table with an object column holding a payload."""
    df = pd.DataFrame({"x": [1.0, 2.0], "y": [_Payload(marker), 3]})
    df.to_hdf(path, key="df_with_missing", mode="w", format="fixed")
    return path


@pytest.mark.parametrize("make", [_poisoned_attrs, _object_column])
def test_crafted_h5_runs_nothing(make: object, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "code-ran"
    # the payload is real: pandas' own reader runs it
    evil = make(tmp_path / "evil.h5", marker)  # type: ignore[operator]
    pd.read_hdf(evil)
    assert marker.exists()
    marker.unlink()

    with pytest.raises(UnsafePickleError, match=r"evil\.h5: refused: .*could run code"):
        fe.io.load_pose(evil)
    assert main(["analyze", str(evil), "--out", str(tmp_path / "out"), "--quiet"]) == 1
    assert "could run code" in capsys.readouterr().err
    assert not marker.exists()
    assert not (tmp_path / "out").exists()


def test_genuine_files_still_read(tmp_path: Path) -> None:
    path = _genuine(tmp_path / "ok.h5")
    check_pickles(path)  # pandas' own pickled metadata is plain values
    pose = fe.io.load_pose(path)
    assert pose.sizes["time"] == 40


def test_object_columns_are_refused(tmp_path: Path) -> None:
    # pandas stores an object column as a pickled numpy array: refused before reading
    path = tmp_path / "strings.h5"
    pd.DataFrame({"x": [1.0, 2.0], "y": ["a", "b"]}).to_hdf(path, key="df_with_missing",
                                                          format="fixed")
    with pytest.raises(FileFormatError, match=r"strings\.h5: refused: .*block1_values"):
        from_dlc_file(path)


def test_restricted_loads_admits_values_and_refuses_globals() -> None:
    value = {"names": ["scorer"], "n": (1, 2.5, None, True)}
    assert restricted_loads(pickle.dumps(value, protocol=0)) == value
    assert restricted_loads(pickle.dumps(value)) == value
    with pytest.raises(UnsafePickleError, match=r"(posix|os)\.system"):
        restricted_loads(b"cos\nsystem\n(S'true'\ntR.")
    with pytest.raises(UnsafePickleError):
        restricted_loads(pickle.dumps(np.float64(1.0)))
