"""Pose file formats as plugins: listing, detection, ambiguity, saving, schema versions and
the deprecated names of the readers and writers.

Every file here is written by faceexpr's own writers (or by plain xarray/h5netcdf) from a
small synthetic face; nothing is mocked.
"""

from __future__ import annotations

import importlib
import json
import warnings
from pathlib import Path
from typing import Any, ClassVar

import h5netcdf
import numpy as np
import pytest
import xarray as xr

import faceexpr as fe
from faceexpr.backends.openface import to_openface_csv
from faceexpr.errors import BackendNotFoundError, FileFormatError, InvalidPoseError
from faceexpr.io import detect_format, load_pose, save_pose
from faceexpr.io.netcdf import SCHEMA_VERSION, from_netcdf, to_netcdf
from faceexpr.registry import DEFAULT_PLUGINS, pose_format, pose_formats
from faceexpr.synthetic import SyntheticFace, simulate

BUILTIN_FORMATS = ("deeplabcut", "anipose", "openface", "netcdf")


@pytest.fixture(scope="module")
def sim() -> SyntheticFace:
    return simulate(60, seed=4, n_cameras=1)


@pytest.fixture(scope="module")
def files(sim: SyntheticFace, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One file per built-in format, each written by faceexpr's writer of that format."""
    folder = tmp_path_factory.mktemp("formats")
    view, pose3d = sim.view(0), sim.pose3d
    out = {"h5": folder / "dlc.h5", "dlc_csv": folder / "dlc.csv",
           "anipose_csv": folder / "anipose.csv", "openface_csv": folder / "openface.csv",
           "nc": folder / "pose.nc"}
    fe.pose_format("deeplabcut").write(view, out["h5"])
    fe.pose_format("deeplabcut").write(view, out["dlc_csv"])
    fe.pose_format("anipose").write(pose3d, out["anipose_csv"])
    to_openface_csv(openface_pose(view), out["openface_csv"])
    to_netcdf(pose3d, out["nc"])
    return out


def openface_pose(view: xr.Dataset) -> xr.Dataset:
    """A 2D pose as if it had been read from OpenFace (what the OpenFace writer keeps)."""
    pose = view.copy()
    pose.attrs["source_software"] = "OpenFace"
    return pose


# -- 1. listing and names -------------------------------------------------------------------
def test_backends_lists_every_builtin_format() -> None:
    table = fe.backends()
    formats = table[table["stage"] == "pose_format"].set_index("name")
    for name in BUILTIN_FORMATS:
        assert name in formats.index, name
        assert bool(formats.loc[name, "available"]), name
        assert formats.loc[name, "module"].startswith(f"faceexpr.backends.{name}"), name
    assert set(BUILTIN_FORMATS) <= set(pose_formats())
    # the formats are registered as plugins by module name, like third-party ones
    for name in BUILTIN_FORMATS:
        assert f"faceexpr.backends.{name}" in DEFAULT_PLUGINS
        assert fe.get_plugin_manager().get_plugin(f"faceexpr.backends.{name}") is not None


def test_format_names_aliases_and_case() -> None:
    dlc = pose_format("deeplabcut")
    assert dlc.name == "deeplabcut"
    assert pose_format("dlc") is dlc
    assert pose_format("DLC") is dlc
    assert pose_format(" DeepLabCut ") is dlc
    assert fe.pose_format("Dlc") is dlc
    assert pose_format("NetCDF") is pose_format("netcdf")
    with pytest.raises(BackendNotFoundError, match="registered") as info:
        pose_format("no-such-format")
    for name in BUILTIN_FORMATS:
        assert name in str(info.value)


# -- 2. detection of real files -------------------------------------------------------------
@pytest.mark.parametrize(("key", "expected"), [
    ("h5", "deeplabcut"), ("dlc_csv", "deeplabcut"), ("anipose_csv", "anipose"),
    ("openface_csv", "openface"), ("nc", "netcdf"),
])
def test_detect_format_of_files_written_by_the_builtin_writers(
        files: dict[str, Path], sim: SyntheticFace, key: str, expected: str) -> None:
    path = files[key]
    assert detect_format(path) is pose_format(expected)
    assert detect_format(str(path)) is pose_format(expected)
    pose = load_pose(path)
    reference = sim.pose3d if key in ("anipose_csv", "nc") else sim.view(0)
    assert pose.sizes["space"] == reference.sizes["space"]
    assert pose.sizes["time"] == reference.sizes["time"]
    assert list(pose["landmarks"].values) == list(reference["landmarks"].values) \
        or key == "openface_csv"  # OpenFace numbers its landmarks instead of naming them
    np.testing.assert_allclose(pose["position"].values, reference["position"].values,
                               rtol=1e-5, atol=1e-3)


def test_detection_ignores_the_case_of_the_suffix(files: dict[str, Path],
                                                  tmp_path: Path) -> None:
    upper = tmp_path / "POSE.CSV"
    upper.write_bytes(files["anipose_csv"].read_bytes())
    assert detect_format(upper) is pose_format("anipose")


# -- 3. a third-party format registered at run time ----------------------------------------
class GreedyJsonFormat(fe.PoseFormat):
    """A JSON pose format whose sniff also claims DeepLabCut CSVs (a sloppy plugin)."""

    name: ClassVar[str] = "test-greedy-json"
    suffixes: ClassVar[tuple[str, ...]] = (".json", ".csv")
    description: ClassVar[str] = "test format"
    signature: ClassVar[str] = "JSON text, or a CSV starting with scorer"

    @classmethod
    def sniff(cls, path: Path) -> bool:
        head = path.read_text(encoding="utf-8", errors="replace")[:64].lstrip()
        return head.startswith("{") or head.startswith("scorer")

    @classmethod
    def read(cls, path: Any, **options: Any) -> xr.Dataset:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return fe.make_pose(np.array(data["position"], dtype=np.float64), data["landmarks"],
                            fps=data["fps"], source_software=cls.name,
                            source_files=[str(path)])

    @classmethod
    def write(cls, pose: xr.Dataset, path: Any) -> None:
        Path(path).write_text(json.dumps({
            "position": pose["position"].values.tolist(),
            "landmarks": [str(n) for n in pose["landmarks"].values],
            "fps": pose.attrs["fps"]}), encoding="utf-8")


class GreedyJsonPlugin:
    @fe.hookimpl
    def faceexpr_pose_formats(self) -> list[type[fe.PoseFormat]]:
        return [GreedyJsonFormat]


def test_runtime_format_makes_detection_ambiguous_until_unregistered(
        files: dict[str, Path], sim: SyntheticFace, tmp_path: Path) -> None:
    path = files["dlc_csv"]
    assert detect_format(path) is pose_format("deeplabcut")
    name = fe.register(GreedyJsonPlugin(), name="test-greedy-json-plugin")
    try:
        assert pose_format("test-greedy-json") is GreedyJsonFormat
        table = fe.backends()
        assert "test-greedy-json" in set(table[table["stage"] == "pose_format"]["name"])
        with pytest.raises(FileFormatError) as info:
            detect_format(path)
        message = str(info.value)
        assert "deeplabcut" in message and "test-greedy-json" in message
        assert "format=" in message
        with pytest.raises(FileFormatError, match="test-greedy-json"):
            load_pose(path)
        # naming the format reads the file whatever the other plugins claim
        pose = load_pose(path, format="deeplabcut")
        np.testing.assert_allclose(pose["position"].values, sim.view(0)["position"].values,
                                   rtol=1e-5, atol=1e-3)
        # the plugin's own files go through save_pose/load_pose like any format's
        own = tmp_path / "pose.json"
        save_pose(sim.view(0), own)
        assert detect_format(own) is GreedyJsonFormat
        back = load_pose(own)
        assert back.attrs["source_software"] == "test-greedy-json"
        np.testing.assert_allclose(back["position"].values, sim.view(0)["position"].values)
    finally:
        fe.unregister(name)
    assert detect_format(path) is pose_format("deeplabcut")
    with pytest.raises(BackendNotFoundError):
        pose_format("test-greedy-json")


# -- 4. unknown files -----------------------------------------------------------------------
def test_unknown_suffix_lists_every_format_and_why(tmp_path: Path) -> None:
    path = tmp_path / "pose.xyz"
    path.write_text("1 2 3\n")
    with pytest.raises(FileFormatError) as info:
        detect_format(path)
    message = str(info.value)
    assert "pose.xyz" in message
    for name, cls in pose_formats().items():
        assert f"{name}: reads {', '.join(cls.suffixes)}, not .xyz" in message, name


def test_unrecognised_csv_names_each_signature(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(FileFormatError) as info:
        load_pose(path)
    message = str(info.value)
    for name, cls in pose_formats().items():
        if ".csv" in cls.suffixes:
            assert f"{name}: expected {cls.signature}" in message, name
        else:
            assert f"{name}: reads " in message, name


def test_netcdf_without_landmarks_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "other.nc"
    xr.Dataset({"signal": ("time", np.arange(5.0))}).to_netcdf(path, engine="h5netcdf")
    with pytest.raises(FileFormatError) as info:
        load_pose(path)
    message = str(info.value)
    assert f"netcdf: expected {pose_format('netcdf').signature}" in message
    assert "'landmarks'" in message


def test_empty_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        detect_format(tmp_path / "missing.csv")
    empty = tmp_path / "empty.csv"
    empty.touch()
    with pytest.raises(FileFormatError, match="empty"):
        load_pose(empty)


# -- 5. saving --------------------------------------------------------------------------------
def test_save_pose_chooses_the_format_by_suffix_and_content(sim: SyntheticFace,
                                                            tmp_path: Path) -> None:
    cases = [
        (sim.pose3d, "p3.csv", "anipose"),
        (sim.view(0), "p2.csv", "deeplabcut"),
        (openface_pose(sim.view(0)), "of.csv", "openface"),
        (sim.view(0), "p2.h5", "deeplabcut"),
    ]
    for pose, name, expected in cases:
        path = tmp_path / name
        save_pose(pose, path)
        assert detect_format(path) is pose_format(expected), name
        back = load_pose(path)
        assert back.sizes["space"] == pose.sizes["space"], name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(c[1] for c in cases)


def test_save_pose_nc_is_faceexpr_netcdf(sim: SyntheticFace, tmp_path: Path) -> None:
    # netcdf and movement both write .nc: faceexpr's own netCDF unless asked for movement
    path = tmp_path / "pose.nc"
    save_pose(sim.pose3d, path)
    assert detect_format(path) is pose_format("netcdf")
    with h5netcdf.File(path, "r") as f:
        assert "landmarks" in f.dimensions


def test_refused_writes_leave_nothing(sim: SyntheticFace, tmp_path: Path) -> None:
    with pytest.raises(FileFormatError) as info:
        save_pose(sim.pose3d, tmp_path / "pose.xyz")
    message = str(info.value)
    assert ".xyz" in message
    writable = {s for c in pose_formats().values() if c.can_write(sim.pose3d)
                for s in c.suffixes}
    assert {".csv", ".nc"} <= writable
    for suffix in writable:
        assert suffix in message, suffix
    # an explicit format that cannot hold the pose
    with pytest.raises(InvalidPoseError, match="deeplabcut"):
        save_pose(sim.pose3d, tmp_path / "pose.csv", format="deeplabcut")  # 3D
    with pytest.raises(InvalidPoseError, match="anipose"):
        save_pose(sim.view(0), tmp_path / "pose.csv", format="anipose")  # 2D
    with pytest.raises(InvalidPoseError, match="openface"):
        save_pose(sim.view(0), tmp_path / "pose.csv", format="openface")  # not from OpenFace
    # no format of the suffix can hold it
    with pytest.raises(InvalidPoseError, match="deeplabcut"):
        save_pose(sim.pose3d, tmp_path / "pose.h5")
    # several cameras: a csv cannot hold them
    with pytest.raises(InvalidPoseError):
        save_pose(sim.pose2d, tmp_path / "views.csv")
    with pytest.raises(FileFormatError, match="unknown format"):
        save_pose(sim.pose3d, tmp_path / "pose.csv", format="no-such-format")
    assert list(tmp_path.iterdir()) == []


def test_refused_write_keeps_an_existing_file(sim: SyntheticFace, tmp_path: Path) -> None:
    path = tmp_path / "pose.csv"
    path.write_text("precious")
    with pytest.raises(InvalidPoseError):
        save_pose(sim.pose3d, path, format="deeplabcut")
    assert path.read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir()] == ["pose.csv"]


# -- 6. schema version of netCDF files -----------------------------------------------------
def test_netcdf_files_carry_the_schema_version(sim: SyntheticFace, tmp_path: Path) -> None:
    assert SCHEMA_VERSION == 1
    path = tmp_path / "pose.nc"
    to_netcdf(sim.pose3d, path)
    with h5netcdf.File(path, "r") as f:
        assert int(f.attrs["schema_version"]) == 1
    with xr.open_dataset(path, engine="h5netcdf") as raw:
        assert int(raw.attrs["schema_version"]) == 1
    for ds in (load_pose(path), from_netcdf(path), load_pose(path, format="netcdf")):
        assert "schema_version" not in ds.attrs
        assert ds.attrs["fps"] == sim.pose3d.attrs["fps"]
    # written anew (once) when saved again
    again = tmp_path / "again.nc"
    to_netcdf(load_pose(path), again)
    with h5netcdf.File(again, "r") as f:
        assert int(f.attrs["schema_version"]) == 1
    assert "schema_version" not in sim.pose3d.attrs  # the caller's Dataset is untouched


def _rewrite_version(path: Path, version: int) -> None:
    with h5netcdf.File(path, "a") as f:
        f.attrs["schema_version"] = version


def test_other_schema_version_is_refused(sim: SyntheticFace, tmp_path: Path) -> None:
    path = tmp_path / "future.nc"
    to_netcdf(sim.pose3d, path)
    _rewrite_version(path, 2)
    with pytest.raises(FileFormatError, match="reads version 1") as info:
        load_pose(path)
    assert "future.nc" in str(info.value)
    assert "upgrade faceexpr" in str(info.value)
    with pytest.raises(FileFormatError, match="reads version 1"):
        from_netcdf(path)
    # a file rewritten by xarray itself is refused the same way
    other = tmp_path / "xarray.nc"
    with xr.open_dataset(path, engine="h5netcdf") as raw:
        ds = raw.load()
    ds.attrs["schema_version"] = 0
    ds.to_netcdf(other, engine="h5netcdf")
    with pytest.raises(FileFormatError, match="reads version 1") as info:
        load_pose(other)
    assert "upgrade" not in str(info.value)  # an older file: upgrading would not help


def test_schema_version_message_shows_the_number(sim: SyntheticFace, tmp_path: Path) -> None:
    path = tmp_path / "future.nc"
    to_netcdf(sim.pose3d, path)
    _rewrite_version(path, 2)
    with pytest.raises(FileFormatError, match="schema version 2, but this faceexpr "
                                              "reads version 1"):
        load_pose(path)


def test_netcdf_without_schema_version_still_loads(sim: SyntheticFace,
                                                   tmp_path: Path) -> None:
    path = tmp_path / "plain.nc"
    sim.pose3d.drop_attrs(deep=False).assign_attrs(fps=30.0).to_netcdf(path,
                                                                       engine="h5netcdf")
    with h5netcdf.File(path, "r") as f:
        assert "schema_version" not in f.attrs
    pose = load_pose(path)
    assert "schema_version" not in pose.attrs
    np.testing.assert_allclose(pose["position"].values, sim.pose3d["position"].values)


# -- 7. deprecated names --------------------------------------------------------------------
MOVED_MODULES = [
    ("faceexpr.calibration", "faceexpr.backends.anipose.calibration", "calibrate"),
    ("faceexpr.dlc_project", "faceexpr.backends.deeplabcut.project", "create_face_project"),
    ("faceexpr.synthetic_video", "faceexpr.synthetic.video", "render_face_video"),
    ("faceexpr.synthetic_board", "faceexpr.synthetic.boards", "render_board_views"),
    ("faceexpr.io.anipose", "faceexpr.backends.anipose.format", "from_anipose_csv"),
    ("faceexpr.io.anipose_config", "faceexpr.backends.anipose.config", "read_anipose_config"),
    ("faceexpr.io.deeplabcut", "faceexpr.backends.deeplabcut.format", "to_dlc_file"),
    ("faceexpr.io.openface", "faceexpr.backends.openface.format", "from_openface_csv"),
]


@pytest.mark.parametrize(("old", "new", "attr"), MOVED_MODULES,
                         ids=[m[0] for m in MOVED_MODULES])
def test_moved_modules_still_work_with_a_warning(old: str, new: str, attr: str) -> None:
    new_module = importlib.import_module(new)
    assert hasattr(new_module, attr), f"{new} has no {attr}"
    old_module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")) as record:
        value = getattr(old_module, attr)
    assert value is getattr(new_module, attr)
    assert record[0].filename == __file__  # the warning points at the caller's line
    with pytest.warns(DeprecationWarning):
        namespace: dict[str, Any] = {}
        exec(f"from {old} import {attr}", namespace)
    assert namespace[attr] is getattr(new_module, attr)
    with warnings.catch_warnings(), pytest.raises(AttributeError):
        warnings.simplefilter("ignore", DeprecationWarning)
        old_module.no_such_name_anywhere  # noqa: B018


IO_NAMES = [
    ("from_anipose_csv", "faceexpr.backends.anipose"),
    ("to_anipose_csv", "faceexpr.backends.anipose"),
    ("AniposeConfig", "faceexpr.backends.anipose"),
    ("read_anipose_config", "faceexpr.backends.anipose"),
    ("from_dlc_file", "faceexpr.backends.deeplabcut"),
    ("to_dlc_file", "faceexpr.backends.deeplabcut"),
    ("from_openface_csv", "faceexpr.backends.openface"),
    ("to_openface_csv", "faceexpr.backends.openface"),
]


@pytest.mark.parametrize(("name", "new"), IO_NAMES, ids=[n for n, _ in IO_NAMES])
def test_moved_io_names_still_work_with_a_warning(name: str, new: str) -> None:
    with pytest.warns(DeprecationWarning, match=f"{new}.{name}") as record:
        value = getattr(fe.io, name)
    assert value is getattr(importlib.import_module(new), name)
    assert record[0].filename == __file__
    assert name not in fe.io.__all__
    with pytest.raises(AttributeError):
        fe.io.no_such_reader  # noqa: B018


def test_dlc_project_attribute_of_the_package() -> None:
    new = importlib.import_module("faceexpr.backends.deeplabcut.project")
    # whether or not the old module was imported before (which binds the attribute to the
    # shim module), the names reached through fe.dlc_project are the new ones, with a
    # warning
    with pytest.warns(DeprecationWarning, match="faceexpr.backends.deeplabcut.project"):
        value = fe.dlc_project.create_face_project
    assert value is new.create_face_project
    with pytest.raises(AttributeError):
        fe.no_such_attribute  # noqa: B018


def test_synthetic_write_calibration_toml(sim: SyntheticFace, tmp_path: Path) -> None:
    from faceexpr.backends.anipose import write_calibration_toml

    write_calibration_toml(sim.cameras, tmp_path / "new.toml")
    with pytest.warns(DeprecationWarning, match="faceexpr.backends.anipose") as record:
        fe.synthetic.write_calibration_toml(sim.cameras, str(tmp_path / "old.toml"))
    assert record[0].filename == __file__
    assert (tmp_path / "old.toml").read_text() == (tmp_path / "new.toml").read_text()


def test_load_pose_source_software_is_a_deprecated_name_of_format(
        files: dict[str, Path]) -> None:
    with pytest.warns(DeprecationWarning, match="format="):
        pose = load_pose(files["dlc_csv"], source_software="DeepLabCut")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        same = load_pose(files["dlc_csv"], format="deeplabcut")
    xr.testing.assert_identical(pose, same)


def test_old_io_submodules_are_attributes_of_the_package() -> None:
    # fe.io.deeplabcut.from_dlc_file worked before the move; it still does, with a warning
    from faceexpr.backends.deeplabcut import from_dlc_file

    with pytest.warns(DeprecationWarning, match="faceexpr.backends.deeplabcut.format"):
        assert fe.io.deeplabcut.from_dlc_file is from_dlc_file
    with pytest.raises(AttributeError, match="no_such_name"):
        fe.io.no_such_name  # noqa: B018
