"""Backend options are checked in one place: names and types against the constructor.

Every builder (``fe.pose_estimator``, ``fe.triangulator``, ``fe.state_model``) and the
command line's ``--estimator-option``, ``--triangulation-option`` and ``--model-option``
go through :meth:`faceexpr.interfaces.Backend.check_options`; a wrong option is one line
(:class:`~faceexpr.errors.BackendOptionError`) naming the stage, the backend and the
option, and listing what the backend accepts. Third-party backends are checked the same
way. A camera pattern (``--cam-regex``) that is not a valid regular expression with a
group is a one-line error too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
import pytest
import xarray as xr

import faceexpr as fe
from faceexpr.cli import main
from faceexpr.errors import BackendOptionError, FaceexprError, InvalidPoseError
from faceexpr.interfaces import BackendOption
from faceexpr.io.cameras import camera_name, compile_cam_regex, group_recordings
from faceexpr.registry import check_options
from faceexpr.synthetic import SyntheticFace, simulate

if TYPE_CHECKING:  # a hint only a type checker resolves: the option takes any value
    from faceexpr_no_such_module import Unresolvable  # type: ignore[import-not-found]

FloatArray = npt.NDArray[np.float64]


# -- third-party backends, registered at run time ---------------------------------------
class Stub:
    """The abstract methods of a state model; these tests only build models."""

    def _fit_arrays(self, segments: list[FloatArray]) -> None:
        raise NotImplementedError

    def _predict_array(self, x: FloatArray) -> npt.NDArray[np.int64]:
        raise NotImplementedError

    def _proba_array(self, x: FloatArray) -> FloatArray:
        raise NotImplementedError

    def _score_array(self, x: FloatArray) -> float:
        raise NotImplementedError

    def _set_params(self, params: dict[str, FloatArray]) -> None:
        raise NotImplementedError


class TypedModel(Stub, fe.StateModel):
    """A state model with one option of every kind the checker understands."""

    name: ClassVar[str] = "options-test-typed"

    def __init__(self, n_states: int = 3, *, kind: Literal["a", "b"] = "a",
                 rate: float = 0.5, count: int = 2, flag: bool = False,
                 where: Path | None = None, tags: Sequence[str] = (),
                 pair: tuple[int, int] = (1, 2), table: dict[str, int] | None = None,
                 anything: Any = None, unresolved: Unresolvable | None = None,
                 random_state: int | None = 0) -> None:
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        super().__init__(n_states, random_state=random_state, kind=kind, rate=rate,
                         count=count, flag=flag)


class InheritedInitModel(Stub, fe.StateModel):
    """No ``__init__`` of its own: the base's ``**options`` declare no other option."""

    name: ClassVar[str] = "options-test-inherited"


class OpenModel(InheritedInitModel):
    """Declares that the base's ``**options`` take any name."""

    name: ClassVar[str] = "options-test-open"
    extra_options: ClassVar[bool | None] = True


class KwargsTriangulator(fe.Triangulator):
    """Its own ``__init__`` takes ``**kwargs``: unknown names are declared."""

    name: ClassVar[str] = "options-test-kwargs"

    def __init__(self, calibration: str | os.PathLike[str], **kwargs: Any) -> None:
        self.calibration, self.kwargs = calibration, kwargs

    def triangulate(self, pose2d: xr.Dataset) -> xr.Dataset:
        raise NotImplementedError


class ClosedKwargsTriangulator(KwargsTriangulator):
    """Takes ``**kwargs`` but says that no other name is an option."""

    name: ClassVar[str] = "options-test-closed"
    extra_options: ClassVar[bool | None] = False


class StrictEstimator(fe.PoseEstimator):
    """A tracker with one typed option (and ``progress``, which every estimator takes)."""

    name: ClassVar[str] = "options-test-estimator"

    def __init__(self, *, detect_every: int = 1) -> None:
        self.detect_every = detect_every

    def estimate(self, video: Any) -> xr.Dataset:
        return fe.io.load_pose(video)


class Plugin:
    @fe.hookimpl
    def faceexpr_state_models(self) -> list[type[fe.StateModel]]:
        return [TypedModel, InheritedInitModel, OpenModel]

    @fe.hookimpl
    def faceexpr_triangulators(self) -> list[type[fe.Triangulator]]:
        return [KwargsTriangulator, ClosedKwargsTriangulator]

    @fe.hookimpl
    def faceexpr_pose_estimators(self) -> list[type[fe.PoseEstimator]]:
        return [StrictEstimator]


@pytest.fixture
def plugin() -> Any:
    name = fe.register(Plugin(), name="options-test-plugin")
    yield name
    fe.unregister(name)


# -- the built-in backends through the Python API ---------------------------------------
def test_state_model_options_are_checked_by_name_and_type() -> None:
    with pytest.raises(BackendOptionError) as info:
        fe.state_model("hmmlearn", n_states=3, bogus=1)
    message = str(info.value)
    assert message.startswith("state model 'hmmlearn' has no option 'bogus'; accepted: ")
    assert "covariance_type ('full' | 'diag', default 'full')" in message
    assert "n_iter (int, default 100)" in message and "tol (float, default 0.001)" in message
    assert "random_state (int | None, default 0)" in message and "\n" not in message
    with pytest.raises(BackendOptionError, match=r"has no option 'n_itr' \(did you mean "
                                                 r"'n_iter'\?\)"):
        fe.state_model("hmmlearn", n_itr=3)
    with pytest.raises(BackendOptionError,
                       match=r"^state model 'hmmlearn': n_iter must be int, got 'abc' \(str\); "
                             r"accepted: n_states \(int, default 9\)"):
        fe.state_model("hmmlearn", n_iter="abc")
    with pytest.raises(BackendOptionError, match=r"n_iter must be int, got True \(bool\)"):
        fe.state_model("hmmlearn", n_iter=True)
    with pytest.raises(BackendOptionError, match=r"tol must be float, got False \(bool\)"):
        fe.state_model("hmmlearn", tol=False)
    with pytest.raises(BackendOptionError, match=r"n_iter must be int, got 2\.5 \(float\)"):
        fe.state_model("pomegranate", n_iter=2.5)
    with pytest.raises(BackendOptionError,
                       match=r"covariance_type must be 'full' or 'diag', got 'spherical'"):
        fe.state_model("pomegranate", covariance_type="spherical")
    with pytest.raises(BackendOptionError, match=r"random_state must be int or None, got '1'"):
        fe.state_model("hmmlearn", random_state="1")
    # still what callers caught before: TypeError for a name, ValueError for a value
    with pytest.raises(TypeError):
        fe.state_model("hmmlearn", bogus=1)
    with pytest.raises(ValueError):
        fe.state_model("hmmlearn", n_iter="abc")


def test_correct_options_are_accepted() -> None:
    model = fe.state_model("hmmlearn", n_states=3, covariance_type="diag", n_iter=5, tol=1,
                           n_init=2, min_covar=0, random_state=None)
    assert model.options == {"covariance_type": "diag", "n_iter": 5, "tol": 1, "n_init": 2,
                             "min_covar": 0, "stickiness": 0.0, "transition_concentration": 1.0,
                             "covariance_prior": 0.01, "progress": False}
    assert fe.state_model("hmmlearn", n_states=np.int64(4), tol=np.float32(1e-2)).n_states == 4
    pom = fe.state_model("pomegranate", n_states=2, device="cpu", n_threads=None, tol=1e-4)
    assert pom.options["n_threads"] is None and pom.options["device"] == "cpu"


def test_values_the_constructor_refuses_name_the_backend() -> None:
    with pytest.raises(BackendOptionError,
                       match=r"^state model 'hmmlearn': n_init must be >= 1, got 0$"):
        fe.state_model("hmmlearn", n_init=0)
    with pytest.raises(BackendOptionError, match=r"^state model 'pomegranate': tol must be > 0"):
        fe.state_model("pomegranate", tol=0)
    with pytest.raises(BackendOptionError, match=r"^state model 'pomegranate': n_states must "
                                                 r"be >= 1, got 0"):
        fe.state_model("pomegranate", n_states=0)


def test_pose_estimator_options() -> None:
    # the file estimator's own __init__ takes **options (the format reader's): declared
    estimator = fe.pose_estimator("file", format="auto", fps=30, progress=False)
    assert estimator.progress is False
    with pytest.raises(BackendOptionError,
                       match=r"^pose estimator 'file': cam_regex must be str, got 3 \(int\)"):
        fe.pose_estimator("file", cam_regex=3)


def test_triangulator_options(tmp_path: Path) -> None:
    pytest.importorskip("aniposelib")
    sim = simulate(10, n_cameras=2, seed=0)
    calibration = sim.write_calibration(tmp_path / "calibration.toml")
    tri = fe.triangulator("anipose", calibration=str(calibration), method="dlt",
                          score_threshold=1, constraints=[["nose1", "chin"]], chunk_size=None)
    assert tri.score_threshold == 1.0  # type: ignore[attr-defined]
    assert fe.triangulator("anipose", calibration=calibration).calibration == calibration  # type: ignore[attr-defined]
    with pytest.raises(BackendOptionError, match=r"^triangulator 'anipose' has no option "
                                                 r"'bogus'; accepted: calibration \(str \| "
                                                 r"PathLike\[str\], required\), method \("
                                                 r"'dlt' \| 'ransac' \| 'optim', default "):
        fe.triangulator("anipose", calibration=calibration, bogus=1)
    with pytest.raises(BackendOptionError,
                       match=r"method must be 'dlt' or 'ransac' or 'optim', got 'fast'"):
        fe.triangulator("anipose", calibration=calibration, method="fast")
    with pytest.raises(BackendOptionError, match=r"constraints must be Sequence\[Sequence"
                                                 r"\[str\]\], got 'nose1-chin' \(str\)"):
        fe.triangulator("anipose", calibration=calibration, constraints="nose1-chin")
    with pytest.raises(BackendOptionError, match=r"^triangulator 'anipose' needs option "
                                                 r"'calibration' \(str or PathLike\[str\]\)"):
        fe.triangulator("anipose")


def test_check_options_without_building() -> None:
    check_options("state_model", "hmmlearn", {"n_iter": 5})
    check_options("pose_estimator", "file", {"progress": True, "fps": 25})
    with pytest.raises(BackendOptionError, match="has no option 'bogus'"):
        check_options("state_model", "pomegranate", {"bogus": 1})
    with pytest.raises(fe.BackendNotFoundError, match="no state model backend named 'nope'"):
        check_options("state_model", "nope", {})
    with pytest.raises(ValueError, match="stage must be one of"):
        check_options("pose_format", "netcdf", {})


# -- third-party backends ---------------------------------------------------------------
def test_third_party_backend_options_are_checked(plugin: str) -> None:
    model = fe.state_model("options-test-typed", n_states=2, kind="b", rate=1, count=np.int32(3),
                           flag=True, where="models/x", tags=["a", "b"], pair=[3, 4],
                           table={"a": 1}, anything=object(), unresolved=42, random_state=None)
    assert model.options["rate"] == 1 and model.options["kind"] == "b"
    assert isinstance(fe.state_model("options-test-typed", where=Path("x"), pair=(1, 1)),
                      TypedModel)
    bad: list[tuple[dict[str, Any], str]] = [
        ({"bogus": 1}, r"^state model 'options-test-typed' has no option 'bogus'; accepted: "
                       r"n_states \(int, default 3\), kind \('a' \| 'b', default 'a'\), rate "
                       r"\(float, default 0\.5\), count \(int, default 2\), flag \(bool, "
                       r"default False\), where \(Path \| None, default None\)"),
        ({"kind": "c"}, r"kind must be 'a' or 'b', got 'c' \(str\)"),
        ({"rate": "fast"}, r"rate must be float, got 'fast' \(str\)"),
        ({"rate": True}, r"rate must be float, got True \(bool\)"),
        ({"count": 1.0}, r"count must be int, got 1\.0 \(float\)"),
        ({"count": False}, r"count must be int, got False \(bool\)"),
        ({"flag": 1}, r"flag must be bool, got 1 \(int\)"),
        ({"flag": "yes"}, r"flag must be bool, got 'yes' \(str\)"),
        ({"where": 3}, r"where must be Path or None, got 3 \(int\)"),
        ({"tags": "ab"}, r"tags must be Sequence\[str\], got 'ab' \(str\)"),
        ({"pair": 3}, r"pair must be tuple\[int, int\], got 3 \(int\)"),
        ({"table": [1]}, r"table must be dict\[str, int\] or None, got \[1\] \(list\)"),
        ({"count": -1}, r"^state model 'options-test-typed': count must be >= 0, got -1$"),
    ]
    for options, pattern in bad:
        with pytest.raises(BackendOptionError, match=pattern):
            fe.state_model("options-test-typed", **options)
    assert "anything (any, default None)" in TypedModel.describe_options()
    # the interface's **options declare nothing; a backend opts in with extra_options
    with pytest.raises(BackendOptionError, match=r"^state model 'options-test-inherited' has "
                                                 r"no option 'covariance_type'; accepted: "
                                                 r"n_states \(int, default 9\), random_state "
                                                 r"\(int \| None, default 0\)$"):
        fe.state_model("options-test-inherited", covariance_type="full")
    open_model = fe.state_model("options-test-open", n_states=2, covariance_type="diag")
    assert open_model.options == {"covariance_type": "diag"}
    assert "and any other keyword" in OpenModel.describe_options()
    with pytest.raises(BackendOptionError, match="n_states must be int"):
        fe.state_model("options-test-open", n_states="2")


def test_third_party_kwargs_and_estimators(plugin: str) -> None:
    tri = fe.triangulator("options-test-kwargs", calibration="c.toml", anything=1)
    assert tri.kwargs == {"anything": 1}  # type: ignore[attr-defined]
    with pytest.raises(BackendOptionError, match=r"calibration must be str or PathLike\[str\]"):
        fe.triangulator("options-test-kwargs", calibration=1)
    with pytest.raises(BackendOptionError, match=r"^triangulator 'options-test-closed' has no "
                                                 r"option 'anything'"):
        fe.triangulator("options-test-closed", calibration="c.toml", anything=1)
    assert fe.pose_estimator("options-test-estimator", progress=False,
                             detect_every=2).progress is False
    with pytest.raises(BackendOptionError, match=r"^pose estimator 'options-test-estimator' "
                                                 r"has no option 'stride'; accepted: "
                                                 r"detect_every \(int, default 1\)$"):
        fe.pose_estimator("options-test-estimator", stride=2)


def test_backend_option_description() -> None:
    option = BackendOption("n_iter", int, 100)
    assert option.describe() == "n_iter (int, default 100)" and not option.required
    assert BackendOption("calibration", str).describe() == "calibration (str, required)"
    assert BackendOption("x").accepts(object())


# -- the command line -------------------------------------------------------------------
@pytest.fixture(scope="module")
def sim() -> SyntheticFace:
    return simulate(200, n_expressions=3, n_cameras=3, seed=0)


@pytest.fixture
def pose_file(sim: SyntheticFace, tmp_path: Path) -> Path:
    return sim.write_anipose_csv(tmp_path / "face-3d.csv")


@pytest.fixture
def camera_files(sim: SyntheticFace, tmp_path: Path) -> list[str]:
    files = [sim.write_dlc(tmp_path / f"take_cam{c}.h5", camera=i)
             for i, c in enumerate("ABC")]
    calibration = sim.write_calibration(tmp_path / "calibration.toml")
    return [*map(str, files), "--calibration", str(calibration), "--fps", "30"]


def one_line_error(capsys: pytest.CaptureFixture[str], out: Path, *parts: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith("faceexpr: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for part in parts:
        assert part in err, (part, err)
    assert not out.exists()
    return err


@pytest.mark.parametrize(("option", "parts"), [
    ("bogus=1", ("state model 'native' has no option 'bogus'", "n_iter (int, default 100)")),
    ("n_iter=abc", ("state model 'native': n_iter must be int, got 'abc' (str)",)),
    ("n_init=0", ("state model 'native': n_init must be >= 1, got 0",)),
    ("covariance_type=spherical", ("covariance_type must be 'full' or 'diag'",)),
])
def test_cli_model_option(option: str, parts: tuple[str, ...], pose_file: Path, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["analyze", str(pose_file), "--n-states", "3", "--quiet", "--out", str(out),
                 "--model-option", option]) == 1
    one_line_error(capsys, out, *parts)


def test_cli_triangulation_option(camera_files: list[str], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("aniposelib")
    out = tmp_path / "out"
    assert main(["analyze", *camera_files, "--n-states", "3", "--quiet", "--out", str(out),
                 "--triangulation-option", "bogus=1"]) == 1
    one_line_error(capsys, out, "triangulator 'anipose' has no option 'bogus'",
                   "method ('dlt' | 'ransac' | 'optim', default 'ransac')")
    assert main(["analyze", *camera_files, "--n-states", "3", "--quiet", "--out", str(out),
                 "--triangulation-option", "min_cameras=two"]) == 1
    one_line_error(capsys, out, "triangulator 'anipose': min_cameras must be int, got 'two'")


def test_cli_estimator_option(plugin: str, pose_file: Path, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    args = ["analyze", str(pose_file), "--n-states", "3", "--quiet", "--out", str(out),
            "--estimator", "options-test-estimator", "--estimator-option"]
    assert main([*args, "bogus=1"]) == 1
    one_line_error(capsys, out, "pose estimator 'options-test-estimator' has no option 'bogus'",
                   "detect_every (int, default 1)")
    assert main([*args, "detect_every=often"]) == 1
    one_line_error(capsys, out, "detect_every must be int, got 'often' (str)")


def test_cli_estimator_option_of_dlib(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not fe.registry.pose_estimator_class("dlib").is_available():
        pytest.skip("dlib is not installed here")
    video = tmp_path / "face.mp4"
    video.write_bytes(b"not read: the options are refused first")
    out = tmp_path / "out"
    assert main(["analyze", str(video), "--estimator", "dlib", "--quiet", "--out", str(out),
                 "--estimator-option", "bogus=1"]) == 1
    one_line_error(capsys, out, "pose estimator 'dlib' has no option 'bogus'",
                   "upsample (int, default 1)")


@pytest.mark.parametrize(("pattern", "parts"), [
    ("cam([A-Z]", ("'cam([A-Z]': not a valid regular expression (missing ), unterminated "
                   "subpattern at position 3)",)),
    ("cam[A-Z]", ("'cam[A-Z]' has no group: the first group (in parentheses) names the camera",)),
])
def test_cli_cam_regex(pattern: str, parts: tuple[str, ...], camera_files: list[str],
                       tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["analyze", *camera_files, "--n-states", "3", "--quiet", "--out", str(out),
                 "--cam-regex", pattern]) == 1
    one_line_error(capsys, out, *parts)


def test_cam_regex_checks() -> None:
    assert compile_cam_regex(r"_cam([A-Z])$").pattern == r"_cam([A-Z])$"
    with pytest.raises(InvalidPoseError, match=r"^--cam-regex 'cam\(\[A-Z\]': not a valid "
                                               r"regular expression \(missing \), "
                                               r"unterminated subpattern at position 3\)$"):
        compile_cam_regex("cam([A-Z]", what="--cam-regex")
    with pytest.raises(InvalidPoseError, match="must be a string"):
        compile_cam_regex(3)  # type: ignore[arg-type]
    with pytest.raises(FaceexprError, match="not a valid regular expression"):
        camera_name("s1_camA.h5", "cam([A-Z]")
    with pytest.raises(FaceexprError, match="has no group"):
        camera_name("s1_camA.h5", "cam[A-Z]")
    with pytest.raises(FaceexprError, match="not a valid regular expression"):
        group_recordings(["s1_camA.h5"], "(")
    assert camera_name("s1_camB.h5", "cam([A-Z])") == "B"
    assert group_recordings(["s1_camA.h5", "s1_camB.h5"]) == {
        "s1": [Path("s1_camA.h5"), Path("s1_camB.h5")]}
