"""Hostile pose files, generated: every registered format reads a broken file as a valid
pose or refuses it with a :class:`~faceexpr.errors.FaceexprError`, nothing else.

Each registered format writes a genuine file of a synthetic face (its 3D pose, or the 2D
view of its camera); hypothesis then breaks it: cuts it at a byte, replaces it with
random bytes, changes header cells, puts NaN, infinities, huge numbers or text in cells,
duplicates rows and columns, reorders frames (for the HDF5 formats, on the table or
Dataset before writing it). The default profile runs a few examples per case;
``HYPOTHESIS_PROFILE=fuzz`` (``nox -s fuzz``) runs many.
"""

from __future__ import annotations

import contextlib
import functools
import io
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import event, given, settings
from hypothesis import strategies as st

from faceexpr.cli import main
from faceexpr.data import validate_pose
from faceexpr.errors import FaceexprError
from faceexpr.io import load_pose
from faceexpr.registry import pose_formats
from faceexpr.synthetic import simulate

EXAMPLES = settings().max_examples  # of the profile conftest.py loaded
CLI_EXAMPLES = max(1, EXAMPLES // 6)  # a CLI run fits a model: seconds, not milliseconds

# What a tool's own files say they come from, for formats that write only those.
_SOFTWARE = {"openface": "OpenFace"}


@dataclass(frozen=True)
class Genuine:
    """A file a registered format wrote, and what it was made from."""

    format: str
    suffix: str
    data: bytes
    pose: xr.Dataset

    @property
    def hdf5(self) -> bool:
        return self.data.startswith(b"\x89HDF")


def _poses() -> list[xr.Dataset]:
    sim = simulate(60, seed=0, n_cameras=1)
    return [sim.pose3d, sim.view(0)]


def _genuine_files(folder: Path) -> dict[str, Genuine]:
    """One genuine file per registered format and suffix that can write a synthetic pose."""
    files: dict[str, Genuine] = {}
    poses = _poses()
    for name, fmt in pose_formats().items():
        for pose in poses:
            pose = pose.copy()
            pose.attrs["source_software"] = _SOFTWARE.get(name, pose.attrs["source_software"])
            if not fmt.can_write(pose):
                continue
            for suffix in fmt.suffixes:
                key = f"{name}{suffix}"
                if key in files:
                    continue
                path = folder / f"genuine{suffix}"
                fmt.write(pose, path)
                files[key] = Genuine(name, suffix, path.read_bytes(), pose)
                path.unlink()
    return files


_GENUINE = _genuine_files(Path(tempfile.mkdtemp(prefix="faceexpr-fuzz-")))
CASES = sorted(_GENUINE)


def test_every_registered_format_has_a_genuine_file() -> None:
    assert {g.format for g in _GENUINE.values()} == set(pose_formats())


# -- mutations of text (CSV) files -----------------------------------------------------

_CELLS = st.one_of(
    st.sampled_from(["nan", "NaN", "inf", "-inf", "1e308", "-1e308", "1e999", "", " ",
                     "abc", "0x10", "1,5", '"', '""', "-0", "1.5", "-1", "2", "9" * 400,
                     "\x00", "\n", "True"]),
    st.floats().map(repr),
    st.integers().map(str),
    st.text(max_size=20),
)


def _header_rows(text: str) -> int:
    return 3 if text.startswith("scorer") else 1


@st.composite
def _text_mutation(draw: st.DrawFn, data: bytes) -> bytes:
    """Apply one to three edits to the lines and cells of a CSV file."""
    text = data.decode("utf-8")
    n_header = _header_rows(text)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for _ in range(draw(st.integers(1, 3))):
        if len(lines) <= n_header:
            break
        op = draw(st.sampled_from(["header", "cell", "dup_row", "dup_col", "swap", "reverse",
                                   "drop_row", "drop_cell", "blank"]))
        row = draw(st.integers(n_header, len(lines) - 1))
        cells = lines[row].split(",")
        col = draw(st.integers(0, len(cells) - 1))
        if op == "header":
            head = draw(st.integers(0, n_header - 1))
            header = lines[head].split(",")
            header[min(col, len(header) - 1)] = draw(st.one_of(
                st.text(max_size=12), st.sampled_from(lines[head].split(","))))
            lines[head] = ",".join(header)
        elif op == "cell":
            cells[col] = draw(_CELLS)
            lines[row] = ",".join(cells)
        elif op == "dup_row":
            lines.insert(row, lines[row])
        elif op == "dup_col":
            lines = [",".join([*c[:col + 1], *c[col:]]) if len(c := line.split(",")) > col
                     else line for line in lines]
        elif op == "swap":
            other = draw(st.integers(n_header, len(lines) - 1))
            lines[row], lines[other] = lines[other], lines[row]
        elif op == "reverse":
            lines[n_header:] = lines[n_header:][::-1]
        elif op == "drop_row":
            del lines[row]
        elif op == "drop_cell":
            del cells[col]
            lines[row] = ",".join(cells)
        else:
            lines.insert(row, draw(st.sampled_from(["", " ", ",,,", "#"])))
    return ("\n".join(lines) + "\n").encode("utf-8")


# -- mutations of HDF5 files, on the table or Dataset before writing -----------------

_VALUES = st.sampled_from([np.nan, np.inf, -np.inf, 1e308, -1e308, -1.0, 2.0, 0.0, 1e-320])


@functools.cache
def _table(case: str) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"g{_GENUINE[case].suffix}"
        path.write_bytes(_GENUINE[case].data)
        df = pd.read_hdf(path)  # our own genuine file: safe to read with pandas
    assert isinstance(df, pd.DataFrame)
    return df


@functools.cache
def _dataset(case: str) -> xr.Dataset:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "g.nc"
        path.write_bytes(_GENUINE[case].data)
        # plain xarray: the attributes stay as they are stored
        with xr.open_dataset(path, engine="h5netcdf", decode_timedelta=False) as opened:
            return opened.load()


@st.composite
def _frame_mutation(draw: st.DrawFn, case: str) -> Callable[[Path], None]:
    """Edit a DeepLabCut table, then write it as pandas would (table or fixed)."""
    df = _table(case).copy()
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["cell", "label", "dup_col", "dup_row", "reorder",
                                   "index", "drop_col"]))
        row = draw(st.integers(0, len(df) - 1))
        col = draw(st.integers(0, df.shape[1] - 1))
        if op == "cell":
            df.iloc[row, col] = draw(_VALUES)
        elif op == "label":
            labels = list(df.columns)
            level = draw(st.integers(0, 2))
            label = list(labels[col])
            label[level] = draw(st.one_of(st.text(max_size=8),
                                          st.sampled_from([str(t[level]) for t in labels])))
            labels[col] = tuple(label)
            df.columns = pd.MultiIndex.from_tuples(labels, names=df.columns.names)
        elif op == "dup_col":
            df = pd.concat([df, df.iloc[:, [col]]], axis=1)
        elif op == "dup_row":
            df = pd.concat([df.iloc[: row + 1], df.iloc[row:]])
        elif op == "reorder":
            df = df.iloc[draw(st.permutations(range(len(df))))]
        elif op == "index":
            index = df.index.to_numpy().copy()
            index[row] = draw(st.integers(-(2**62), 2**62))
            df.index = pd.Index(index)
        else:
            df = df.drop(columns=df.columns[col])
    table = draw(st.booleans())

    def write(path: Path) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # PyTables' performance notes
                df.to_hdf(path, key="df_with_missing", mode="w",
                          format="table" if table else "fixed")
        except (TypeError, ValueError):  # pandas refuses e.g. duplicated columns
            path.write_bytes(_GENUINE[case].data)
    return write


_ATTRS = st.one_of(
    st.sampled_from([-1.0, 0.0, np.inf, -np.inf, np.nan, 1e308, 5e-324, "abc", "30", True,
                     np.array([30.0, 25.0]), "faceexpr.json:[[[[", "faceexpr.json:" + "[" * 5000,
                     "faceexpr.json:{\"a\": 1e999}", "faceexpr.json:nope", 2, 99]),
    st.floats(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=30),
)


@st.composite
def _dataset_mutation(draw: st.DrawFn, ds: xr.Dataset) -> xr.Dataset:
    """Edit a netCDF Dataset: values, attributes, labels, frame order, dtypes, dims."""
    for _ in range(draw(st.integers(1, 3))):
        names = sorted(map(str, ds.variables))
        data_vars = sorted(map(str, ds.data_vars))
        labelled = [d for d in map(str, ds.dims) if d in ds.coords]
        ops = ["attr", *(["value", "as_text", "drop"] if names else []),
               *(["transpose"] if data_vars else []), *(["label"] if labelled else []),
               *(["reorder", "dup_frames"] if ds.sizes.get("time") else [])]
        op = draw(st.sampled_from(ops))
        if op == "value":
            name = draw(st.sampled_from(data_vars or names))
            var = ds[name]
            values = np.array(var.values, dtype=np.float64 if var.dtype.kind in "fiu"
                              else var.dtype)
            if values.size and values.dtype.kind == "f":
                values.ravel()[draw(st.integers(0, values.size - 1))] = draw(_VALUES)
                ds = ds.assign({name: (var.dims, values, var.attrs)}) if name in ds.data_vars \
                    else ds.assign_coords({name: (var.dims, values, var.attrs)})
        elif op == "attr":
            key = draw(st.sampled_from(["fps", "schema_version", "source_files",
                                        "faceexpr_history", "time_unit", "ds_type", "units",
                                        "source_software"]))
            ds.attrs[key] = draw(_ATTRS)
        elif op == "label":
            dim = draw(st.sampled_from(labelled))
            labels = ds[dim].values.copy()
            if len(labels) > 1:
                labels[draw(st.integers(1, len(labels) - 1))] = labels[0]
                ds = ds.assign_coords({dim: labels})
        elif op == "reorder":
            ds = ds.isel(time=draw(st.permutations(range(ds.sizes["time"]))))
        elif op == "dup_frames":
            k = draw(st.integers(0, ds.sizes["time"] - 1))
            ds = ds.isel(time=[*range(k + 1), *range(k, ds.sizes["time"])])
        elif op == "as_text":
            name = draw(st.sampled_from(names))
            var = ds[name]
            text = var.values.astype(str)
            ds = ds.assign_coords({name: (var.dims, text)}) if name in ds.coords else \
                ds.assign({name: (var.dims, text)})
        elif op == "transpose":
            name = draw(st.sampled_from(data_vars))
            ds[name] = ds[name].transpose(*reversed(ds[name].dims))
        else:
            name = draw(st.sampled_from(names))
            ds = ds.drop_vars(name)
    return ds


_NUMBERS = st.one_of(st.sampled_from([np.nan, 1e308, -1e308, 1e-300, 0.0, 1e12]),
                     st.floats(allow_infinity=False))


@st.composite
def _values_edit(draw: st.DrawFn, case: str) -> Callable[[Path], None]:
    """Only values changed (NaN, huge, tiny, any finite float): a file that should read,
    to take the pipeline through odd numbers."""
    genuine = _GENUINE[case]
    n = draw(st.integers(1, 5))
    if genuine.hdf5:
        if genuine.format == "deeplabcut":
            df = _table(case).copy()
            for _ in range(n):
                df.iloc[draw(st.integers(0, len(df) - 1)),
                        draw(st.integers(0, df.shape[1] - 1))] = draw(_NUMBERS)
            return lambda path: df.to_hdf(path, key="df_with_missing", mode="w")
        ds = _dataset(case).copy(deep=True)
        values = ds["position"].values
        for _ in range(n):
            values.ravel()[draw(st.integers(0, values.size - 1))] = draw(_NUMBERS)
        return lambda path: ds.to_netcdf(path, engine="h5netcdf")
    text = genuine.data.decode("utf-8")
    lines = text.rstrip("\n").split("\n")
    n_header = _header_rows(text)
    for _ in range(n):
        row = draw(st.integers(n_header, len(lines) - 1))
        cells = lines[row].split(",")
        col = draw(st.integers(1, len(cells) - 1))
        cells[col] = repr(draw(_NUMBERS)) if draw(st.booleans()) else ""
        lines[row] = ",".join(cells)
    edited = ("\n".join(lines) + "\n").encode("utf-8")
    return lambda path: path.write_bytes(edited)


@st.composite
def _broken_file(draw: st.DrawFn, case: str) -> Callable[[Path], None]:
    """A writer of a broken version of the genuine file of ``case``."""
    genuine = _GENUINE[case]
    kind = draw(st.sampled_from(["truncate", "random", "edit", "edit_truncate", "values"]))
    if kind == "values":
        return draw(_values_edit(case))
    if kind == "random":
        prefix = draw(st.sampled_from([b"", b"\x89HDF\r\n\x1a\n", genuine.data[:200]]))
        blob = prefix + draw(st.binary(max_size=4096))
        return lambda path: path.write_bytes(blob)
    if kind == "truncate":
        cut = genuine.data[:draw(st.integers(0, len(genuine.data)))]
        return lambda path: path.write_bytes(cut)
    if not genuine.hdf5:
        edited = draw(_text_mutation(genuine.data))
        if kind == "edit_truncate":
            edited = edited[:draw(st.integers(0, len(edited)))]
        return lambda path: path.write_bytes(edited)
    if genuine.format == "deeplabcut":
        write = draw(_frame_mutation(case))
    else:
        ds = draw(_dataset_mutation(_dataset(case).copy(deep=True)))

        def write(path: Path) -> None:
            try:  # invalid_netcdf: h5netcdf stores bools too, as a hostile writer would
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # h5netcdf's note that it is invalid
                    ds.to_netcdf(path, engine="h5netcdf", invalid_netcdf=True)
            except Exception:  # not storable at all: write the genuine file
                path.write_bytes(genuine.data)
    if kind == "edit":
        return write
    cut = draw(st.floats(0, 1))

    def write_cut(path: Path) -> None:
        write(path)
        data = path.read_bytes()
        path.write_bytes(data[:int(len(data) * cut)])
    return write_cut


@contextlib.contextmanager
def _folder() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="faceexpr-fuzz-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _read_or_refuse(path: Path, format: str) -> xr.Dataset | None:
    """The property: a valid pose, or a FaceexprError (anything else fails the test)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # readers warn of odd values
            ds = load_pose(path, format=format)
    except FaceexprError as exc:
        assert str(exc).strip(), "an error without a message"
        return None
    return validate_pose(ds)


# -- the properties --------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
@given(data=st.data())
def test_broken_file_is_a_pose_or_a_faceexpr_error(case: str, data: Any) -> None:
    genuine = _GENUINE[case]
    write = data.draw(_broken_file(case))
    with _folder() as folder:
        path = folder / f"pose{genuine.suffix}"
        write(path)
        _read_or_refuse(path, "auto")
        _read_or_refuse(path, genuine.format)


@pytest.mark.parametrize("case", CASES)
@given(data=st.data())
def test_any_format_on_a_broken_file(case: str, data: Any) -> None:
    """Asking for the wrong format is refused the same way."""
    genuine = _GENUINE[case]
    write = data.draw(_broken_file(case))
    other = data.draw(st.sampled_from(sorted(pose_formats())))
    with _folder() as folder:
        path = folder / f"pose{genuine.suffix}"
        write(path)
        _read_or_refuse(path, other)


@pytest.mark.parametrize("case", CASES)
@settings(max_examples=CLI_EXAMPLES)
@given(data=st.data())
def test_cli_on_a_broken_file_succeeds_or_says_one_line(case: str, data: Any) -> None:
    genuine = _GENUINE[case]
    write = data.draw(_broken_file(case))
    with _folder() as folder:
        path = folder / f"pose{genuine.suffix}"
        out = folder / "out"
        write(path)
        err, stdout = io.StringIO(), io.StringIO()
        # warnings are recorded, not printed: the property is about the error line
        with warnings.catch_warnings(record=True), contextlib.redirect_stderr(err), \
                contextlib.redirect_stdout(stdout):
            status = main(["analyze", str(path), "--out", str(out), "--no-figures",
                           "--quiet", "--n-states", "2"])
        lines = err.getvalue().strip().splitlines()
        event(f"exit status {status}")  # --hypothesis-show-statistics counts them
        if status == 0:
            assert out.is_dir()
        else:
            assert status == 1
            assert len(lines) == 1 and lines[0].startswith("faceexpr: error: "), lines
            assert not out.exists()
