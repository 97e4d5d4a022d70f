"""Anipose project configuration: ``config.toml``.

:func:`read_anipose_config` reads the sections faceexpr uses, ``[triangulation]``,
``[labeling]`` and ``[calibration]``, checks the types of their keys and fills in Anipose's
defaults for the keys a file leaves out. :meth:`AniposeConfig.triangulator_options` turns
the ``[triangulation]`` section into options of the ``"anipose"`` triangulator
(:class:`faceexpr.backends.anipose.AniposeTriangulator`). Other sections (``[filter]``,
``[pipeline]``, ...) and keys faceexpr does not know are kept as read.

The file is parsed with the ``toml`` package, as Anipose does (``pip install
"faceexpr[anipose]"``); without it, with Python's ``tomllib``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from faceexpr._typing import PathLike
from faceexpr.backends.anipose.calibration import board_from_anipose_config
from faceexpr.errors import FileFormatError, MissingDependencyError
from faceexpr.io._common import read_text
from faceexpr.io.cameras import DEFAULT_CAM_REGEX

__all__ = [
    "AniposeConfig",
    "CalibrationSettings",
    "TriangulationSettings",
    "read_anipose_config",
]

Chain = tuple[str, ...]
Pair = tuple[str, str]
Axis = tuple[str, str, str]


@dataclass(frozen=True)
class TriangulationSettings:
    """Anipose's ``[triangulation]`` section; defaults are Anipose's.

    ``extra`` holds the keys faceexpr does not interpret.
    """

    triangulate: bool = True
    cam_regex: str = DEFAULT_CAM_REGEX
    ransac: bool = False
    optim: bool = False
    optim_chunking: bool = False
    optim_chunking_size: int = 100
    constraints: tuple[Pair, ...] = ()
    constraints_weak: tuple[Pair, ...] = ()
    scale_smooth: float = 2.0
    scale_length: float = 2.0
    scale_length_weak: float = 1.0
    reproj_error_threshold: float = 5.0
    reproj_loss: str = "soft_l1"
    score_threshold: float = 0.8
    n_deriv_smooth: int = 3
    axes: tuple[Axis, ...] | None = None
    reference_point: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CalibrationSettings(Mapping[str, Any]):
    """Anipose's ``[calibration]`` section (the board); ``None`` where the file has no key.

    ``extra`` holds the keys faceexpr does not interpret. It is also a read-only mapping of
    the section as the file gives it (the keys it sets, ``extra`` included), so that it can
    go where Anipose's section goes, e.g. to
    :func:`faceexpr.backends.anipose.calibration.board_from_anipose_config`.
    """

    board_type: str | None = None
    board_size: tuple[int, int] | None = None
    board_marker_bits: int | None = None
    board_marker_dict_number: int | None = None
    board_marker_length: float | None = None
    board_marker_separation_length: float | None = None
    board_square_side_length: float | None = None
    animal_calibration: bool = False
    fisheye: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def _section(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)
               if f.name != "extra" and getattr(self, f.name) is not None}
        out.update(self.extra)
        return out

    def __getitem__(self, key: str) -> Any:
        return self._section()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._section())

    def __len__(self) -> int:
        return len(self._section())


@dataclass(frozen=True)
class AniposeConfig:
    """An Anipose project ``config.toml``.

    Attributes
    ----------
    path
        The file.
    triangulation, calibration
        The ``[triangulation]`` and ``[calibration]`` sections.
    scheme_chains
        ``[labeling] scheme``: chains of landmark names joined in order (the form of
        :attr:`faceexpr.schemes.LandmarkScheme.skeleton`).
    other
        Every other top-level key and table as read (``project``, ``[filter]``, ...).
    """

    path: Path
    triangulation: TriangulationSettings = field(default_factory=TriangulationSettings)
    calibration: CalibrationSettings = field(default_factory=CalibrationSettings)
    scheme_chains: tuple[Chain, ...] = ()
    other: dict[str, Any] = field(default_factory=dict)

    @property
    def cam_regex(self) -> str:
        """Pattern whose first group in a file name is the camera name."""
        return self.triangulation.cam_regex

    def triangulator_options(self, calibration: PathLike | None = None) -> dict[str, Any]:
        """Options of the ``"anipose"`` triangulator that do what Anipose would do.

        ``method`` is ``"optim"`` when ``optim`` is true (started from RANSAC when
        ``ransac`` is true, else from the DLT), else ``"ransac"`` when ``ransac`` is true,
        else ``"dlt"``. ``axes`` and ``reference_point`` are passed only when both are set,
        as Anipose uses them only together. ``chunk_size`` is ``optim_chunking_size`` when
        ``optim_chunking`` is true. ``calibration`` (the ``calibration.toml``) is added
        when given.

        Examples
        --------
        >>> cfg = AniposeConfig(Path("config.toml"), TriangulationSettings(optim=True))
        >>> cfg.triangulator_options()["method"]
        'optim'
        """
        t = self.triangulation
        method = "optim" if t.optim else "ransac" if t.ransac else "dlt"
        options: dict[str, Any] = {
            "method": method,
            "optim_init": "ransac" if t.ransac else "dlt",
            "score_threshold": t.score_threshold,
            "reproj_error_threshold": t.reproj_error_threshold,
            "scale_smooth": t.scale_smooth,
            "n_deriv_smooth": t.n_deriv_smooth,
            "constraints": [list(p) for p in t.constraints],
            "constraints_weak": [list(p) for p in t.constraints_weak],
            "scale_length": t.scale_length,
            "scale_length_weak": t.scale_length_weak,
            "reproj_loss": t.reproj_loss,
            "chunk_size": t.optim_chunking_size if t.optim_chunking else None,
        }
        if t.axes is not None and t.reference_point is not None:
            options["axes"] = [list(a) for a in t.axes]
            options["reference_point"] = t.reference_point
        if calibration is not None:
            options["calibration"] = os.fspath(calibration)
        return options

    def board(self) -> Any:
        """The calibration board of ``[calibration]``.

        Returns a :class:`~faceexpr.backends.anipose.Board`.
        """

        return board_from_anipose_config(self.calibration)


def read_anipose_config(path: PathLike) -> AniposeConfig:
    """Read an Anipose project ``config.toml``.

    Keys the file leaves out get Anipose's defaults (``[triangulation]``:
    ``score_threshold = 0.8``, ``scale_smooth = 2``, ``scale_length = 2``,
    ``scale_length_weak = 1``, ``reproj_error_threshold = 5``, ``n_deriv_smooth = 3``,
    ``ransac = optim = false``); ``cam_regex`` defaults to ``cam([A-Z])``.

    Raises
    ------
    MissingFileError
        When there is no file (``<path>: no such file``).
    FileFormatError
        When the path is a folder, the file is not valid TOML (naming the line and
        column) or a key has the wrong type or value (naming the section, the key, what
        was expected and the value found; numbers must be finite).
    """
    p = Path(path)
    text = read_text(p, "an Anipose config.toml")
    data = parse_toml(text, path)
    where = _Where(path)
    tri = _section(data, "triangulation", where)
    cal = _section(data, "calibration", where)
    lab = _section(data, "labeling", where)
    other = {k: v for k, v in data.items() if k not in ("triangulation", "calibration")}
    scheme: tuple[Chain, ...] = ()
    if "scheme" in lab:
        scheme = _scheme(lab["scheme"], where.key("labeling", "scheme"))
        rest = {k: v for k, v in lab.items() if k != "scheme"}
        if rest:
            other["labeling"] = rest
        else:
            other.pop("labeling", None)
    return AniposeConfig(
        path=p,
        triangulation=_triangulation(tri, where),
        calibration=_calibration(cal, where),
        scheme_chains=scheme,
        other=other,
    )


# ---------------------------------------------------------------------------------------
# Parsing and type checks
# ---------------------------------------------------------------------------------------


def parse_toml(text: str, path: PathLike) -> dict[str, Any]:
    """Parse TOML text as Anipose does (with the ``toml`` package, else ``tomllib``).

    Raises
    ------
    FileFormatError
        Naming the file and, where the parser says, the line and column.
    """
    try:
        import toml
    except ImportError:
        return _parse_tomllib(text, path)
    try:
        data = toml.loads(text)
    except toml.TomlDecodeError as exc:
        raise FileFormatError(
            f"{path}: not valid TOML: line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    except (IndexError, ValueError, TypeError, KeyError, AttributeError) as exc:
        # toml's parser can fail like this on text it does not expect
        raise FileFormatError(f"{path}: not valid TOML: {exc}") from exc
    except RecursionError:  # arrays or tables nested hundreds deep
        raise FileFormatError(f"{path}: not valid TOML: nested too deeply") from None
    return dict(data)


def _parse_tomllib(text: str, path: PathLike) -> dict[str, Any]:
    try:
        import tomllib
    except ImportError as exc:  # Python 3.10 without the toml package
        raise MissingDependencyError(
            'reading Anipose config files needs the toml package: pip install "faceexpr[anipose]"'
        ) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # its message ends "(at line L, column C)"
        raise FileFormatError(f"{path}: not valid TOML: {exc}") from exc
    except RecursionError:
        raise FileFormatError(f"{path}: not valid TOML: nested too deeply") from None


class _Where:
    """Names a key in error messages: ``config.toml: [triangulation] optim``."""

    def __init__(self, path: PathLike) -> None:
        self.path = path

    def key(self, section: str, key: str) -> str:
        return f"{self.path}: [{section}] {key}"


def _section(data: Mapping[str, Any], name: str, where: _Where) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, Mapping):
        raise FileFormatError(
            f"{where.path}: {name} must be a table ([{name}]), got {_kind(value)} {value!r}")
    return dict(value)


def _kind(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "an array", dict: "a table"}
    for t, n in names.items():
        if type(value) is t:
            return n
    return type(value).__name__


def _fail(at: str, expected: str, value: object) -> FileFormatError:
    return FileFormatError(f"{at} must be {expected}, got {_kind(value)} {value!r}")


def _bool(value: object, at: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(at, "true or false", value)
    return value


def _int(value: object, at: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(at, "an integer", value)
    if minimum is not None and value < minimum:
        raise FileFormatError(f"{at} must be >= {minimum}, got {value}")
    return value


def _float(value: object, at: str, minimum: float | None = None,
           maximum: float | None = None, *, strict: bool = False) -> float:
    """A finite number (TOML has inf and nan), within ``[minimum, maximum]``; above
    ``minimum`` when ``strict``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(at, "a number", value)
    number = float(value)
    if not math.isfinite(number):
        raise _fail(at, "a finite number", value)
    if minimum is not None and (number <= minimum if strict else number < minimum):
        raise FileFormatError(f"{at} must be {'>' if strict else '>='} {minimum}, got "
                              f"{value}")
    if maximum is not None and number > maximum:
        raise FileFormatError(f"{at} must be <= {maximum}, got {value}")
    return number


def _nonnegative(value: object, at: str) -> float:
    return _float(value, at, minimum=0.0)


def _positive(value: object, at: str) -> float:
    return _float(value, at, minimum=0.0, strict=True)


def _str(value: object, at: str) -> str:
    if not isinstance(value, str):
        raise _fail(at, "a string", value)
    return value


def _names(value: object, at: str, length: int | None, expected: str) -> tuple[str, ...]:
    if (not isinstance(value, list) or (length is not None and len(value) != length)
            or not all(isinstance(v, str) for v in value)):
        raise _fail(at, expected, value)
    return tuple(value)


def _pairs(value: object, at: str) -> tuple[Pair, ...]:
    expected = "an array of [landmark, landmark] pairs of strings"
    if not isinstance(value, list):
        raise _fail(at, expected, value)
    out = []
    for item in value:
        a, b = _names(item, at, 2, expected)
        out.append((a, b))
    return tuple(out)


def _axes(value: object, at: str) -> tuple[Axis, ...]:
    expected = ('two [axis, from_landmark, to_landmark] arrays with axis "x", "y" or "z", '
                'e.g. [["x", "nose1", "lefteye1"], ["z", "chin", "nose1"]]')
    if not isinstance(value, list) or len(value) != 2:
        raise _fail(at, expected, value)
    out = []
    for item in value:
        axis, a, b = _names(item, at, 3, expected)
        if axis not in ("x", "y", "z"):
            raise _fail(at, expected, value)
        out.append((axis, a, b))
    if out[0][0] == out[1][0]:
        raise FileFormatError(f"{at} must name two different axes, got {value!r}")
    return tuple(out)


def _scheme(value: object, at: str) -> tuple[Chain, ...]:
    expected = 'an array of chains, each an array of landmark names, e.g. [["a", "b", "c"]]'
    if not isinstance(value, list):
        raise _fail(at, expected, value)
    return tuple(_names(chain, at, None, expected) for chain in value)


def _size(value: object, at: str) -> tuple[int, int]:
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                       for v in value)):
        raise _fail(at, "two integers [width, height] above 0", value)
    return (value[0], value[1])


_Reader = Callable[[object, str], Any]

_TRIANGULATION: dict[str, _Reader] = {
    "triangulate": _bool,
    "cam_regex": _str,
    "ransac": _bool,
    "optim": _bool,
    "optim_chunking": _bool,
    "optim_chunking_size": lambda v, at: _int(v, at, minimum=2),
    "constraints": _pairs,
    "constraints_weak": _pairs,
    "scale_smooth": _nonnegative,
    "scale_length": _nonnegative,
    "scale_length_weak": _nonnegative,
    "reproj_error_threshold": _positive,
    "reproj_loss": _str,
    "score_threshold": lambda v, at: _float(v, at, minimum=0.0, maximum=1.0),
    "n_deriv_smooth": lambda v, at: _int(v, at, minimum=1),
    "axes": _axes,
    "reference_point": _str,
}

_CALIBRATION: dict[str, _Reader] = {
    "board_type": _str,
    "board_size": _size,
    "board_marker_bits": lambda v, at: _int(v, at, minimum=1),
    "board_marker_dict_number": lambda v, at: _int(v, at, minimum=1),
    "board_marker_length": _positive,
    "board_marker_separation_length": _nonnegative,
    "board_square_side_length": _positive,
    "animal_calibration": _bool,
    "fisheye": _bool,
}


def _read(section: Mapping[str, Any], readers: Mapping[str, _Reader], name: str,
          where: _Where) -> tuple[dict[str, Any], dict[str, Any]]:
    known: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in section.items():
        if key in readers:
            known[key] = readers[key](value, where.key(name, key))
        else:
            extra[key] = value
    return known, extra


def _triangulation(section: Mapping[str, Any], where: _Where) -> TriangulationSettings:
    known, extra = _read(section, _TRIANGULATION, "triangulation", where)
    loss = known.get("reproj_loss")
    if loss is not None and loss not in ("soft_l1", "huber", "linear"):
        raise FileFormatError(
            f"{where.key('triangulation', 'reproj_loss')} must be \"soft_l1\", \"huber\" or "
            f"\"linear\", got {loss!r}")
    return TriangulationSettings(**known, extra=extra)


def _calibration(section: Mapping[str, Any], where: _Where) -> CalibrationSettings:
    known, extra = _read(section, _CALIBRATION, "calibration", where)
    return CalibrationSettings(**known, extra=extra)
