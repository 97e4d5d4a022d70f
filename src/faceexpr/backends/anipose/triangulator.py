"""Triangulator backend on aniposelib: 2D views from calibrated cameras to a 3D pose.

The calibration is Anipose's ``calibration.toml`` (see
:mod:`faceexpr.backends.anipose.calibration` or ``anipose calibrate``). Three methods, as in
Anipose's ``[triangulation]`` section:

``dlt``
    Direct linear transform of every camera with a good 2D point
    (``CameraGroup.triangulate``). Fast; one wrong 2D point spoils the 3D point.
``ransac``
    The DLT of all good cameras is kept where its mean reprojection error is below
    ``reproj_error_threshold``; elsewhere subsets of at least ``min_cameras`` cameras are
    tried and the first one under the threshold (else the one with the lowest error) is
    kept. This is the rule of ``CameraGroup.triangulate_ransac`` (its
    ``triangulate_possible``), run with aniposelib's DLT and reprojection error but
    vectorised over points (aniposelib loops over them in Python: a few hundred points/s)
    and with the threshold as an option (aniposelib fixes it at 0.5 px, which drops a
    camera from nearly half the points at 0.5 px of noise). Robust to a wrong 2D point in
    one camera.
``optim``
    Anipose's spatio-temporal optimisation (``CameraGroup.optim_points``): reprojection
    error with a robust loss, smoothness of the trajectories and constant lengths of the
    ``constraints``, started from ``ransac`` (the 2D points it picked) or ``dlt``.

On the synthetic face of :func:`faceexpr.synthetic.simulate` (300 frames, 21 landmarks,
3 cameras, 0.5 px noise, 5 % of the 2D points replaced by wrong ones) the median 3D error
is about 0.57 mm (DLT), 0.54 mm (RANSAC) and 0.54 mm (optim with ``scale_smooth=0.1,
n_deriv_smooth=1``), the 95th percentile about 500 mm, 1.3 mm and 1.5 mm; they run at
about 5000, 4000 and 130 frames/s. Anipose's smoothing defaults (``scale_smooth=2,
n_deriv_smooth=3``) blur the quick expression changes of a face: the median error rises to
2.4 mm (and optim slows to 40 frames/s).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from faceexpr._typing import FloatArray, PathLike
from faceexpr.backends.anipose.calibration import calibration_cameras
from faceexpr.backends.anipose.config import parse_toml, read_anipose_config
from faceexpr.data import validate_pose, with_history
from faceexpr.errors import InvalidPoseError
from faceexpr.interfaces import ProjectSettings, Triangulator
from faceexpr.io._common import read_text

if TYPE_CHECKING:
    import xarray as xr

Method = Literal["dlt", "ransac", "optim"]
METHODS: tuple[str, ...] = ("dlt", "ransac", "optim")
REPROJ_LOSSES: tuple[str, ...] = ("soft_l1", "huber", "linear")
_AXES = "xyz"
_MIN_OPTIM_POINTS = 20  # aniposelib's triangulate_optim skips the optimisation below this
_RANSAC_MAX_ERROR = 200.0  # px; aniposelib's triangulate_possible keeps no point above it
_MIN_BATCH = 256


class AniposeTriangulator(Triangulator):
    """Triangulate a multi-camera 2D pose with aniposelib (Anipose's library).

    Parameters
    ----------
    calibration
        Anipose ``calibration.toml``. Cameras are matched to the pose's ``cameras`` by
        name; calibrated cameras the pose lacks are left out.
    method
        ``"dlt"``, ``"ransac"`` (default) or ``"optim"`` (see the module documentation).
        RANSAC is the default: it is as precise as the DLT where all cameras agree, robust
        where one camera is wrong, nearly as fast (thousands of frames/s), and, unlike
        ``optim``, does not smooth the quick changes of a facial expression.
    score_threshold
        2D points whose confidence is below it (or NaN) are left out, as in Anipose.
    reproj_error_threshold
        Pixels. RANSAC: a camera subset whose mean reprojection error is below it is
        accepted. Optim: the scale of the robust loss (Anipose's meaning).
    min_cameras
        3D points seen by fewer cameras (with a good 2D point) are NaN; RANSAC tries
        subsets of at least this many cameras.
    optim_init
        Start of ``optim``: ``"ransac"`` (default; the optimisation then uses only the 2D
        points RANSAC picked, like aniposelib's ``triangulate_optim(init_ransac=True)``)
        or ``"dlt"`` (every good 2D point, like Anipose with ``ransac = false``).
    scale_smooth, n_deriv_smooth
        Weight of the smoothness term and the order of the temporal derivative it
        penalises (Anipose's defaults 2 and 3; about 0.1 and 1 keep facial expressions
        sharp).
    constraints, constraints_weak
        Pairs of landmark names whose distance should stay constant; weighted by
        ``scale_length`` and ``scale_length_weak``.
    reproj_loss
        Robust loss of the reprojection error: ``"soft_l1"``, ``"huber"`` or
        ``"linear"``.
    chunk_size
        Optimise this many frames at a time (Anipose's ``optim_chunking_size``); ``None``
        optimises all frames at once.
    axes
        Two ``[axis, from_landmark, to_landmark]`` entries, e.g.
        ``[["x", "nose1", "lefteye1"], ["z", "chin", "nose1"]]``: the first axis points
        along the median position of ``to`` minus that of ``from``; the second is made
        orthogonal to it; the third completes a right-handed frame (Anipose's
        ``axes``). The rotation is stored as ``anipose_M`` (rows are the new axes).
    reference_point
        Landmark whose median position becomes the origin (after the rotation); the
        offset is stored as ``anipose_center``, so that
        ``new = old @ anipose_M.T - anipose_center``.
    units
        Unit of the calibration's lengths (that of the calibration board's squares).
    progress
        Show a progress bar over the optimised chunks (``optim``; the other methods take
        seconds).

    Examples
    --------
    >>> tri = AniposeTriangulator("calibration.toml", method="ransac")  # doctest: +SKIP
    >>> pose3d = tri.triangulate(pose2d)  # doctest: +SKIP
    """

    name: ClassVar[str] = "anipose"
    requires: ClassVar[tuple[str, ...]] = ("aniposelib", "toml")
    extra: ClassVar[str | None] = "anipose"

    def __init__(
        self,
        calibration: PathLike,
        *,
        method: Method = "ransac",
        score_threshold: float = 0.8,
        reproj_error_threshold: float = 5.0,
        min_cameras: int = 2,
        optim_init: Literal["ransac", "dlt"] = "ransac",
        scale_smooth: float = 2.0,
        n_deriv_smooth: int = 3,
        constraints: Sequence[Sequence[str]] = (),
        constraints_weak: Sequence[Sequence[str]] = (),
        scale_length: float = 2.0,
        scale_length_weak: float = 1.0,
        reproj_loss: Literal["soft_l1", "huber", "linear"] = "soft_l1",
        chunk_size: int | None = None,
        axes: Sequence[Sequence[str]] | None = None,
        reference_point: str | None = None,
        units: str = "mm",
        progress: bool = False,
    ) -> None:
        self.check_available()
        if method not in METHODS:
            raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
        if optim_init not in ("ransac", "dlt"):
            raise ValueError(f"optim_init must be 'ransac' or 'dlt', got {optim_init!r}")
        if reproj_loss not in REPROJ_LOSSES:
            raise ValueError(f"reproj_loss must be one of {list(REPROJ_LOSSES)}, "
                             f"got {reproj_loss!r}")
        _check_number("score_threshold", score_threshold)
        _check_number("reproj_error_threshold", reproj_error_threshold, positive=True)
        for key, value in (("scale_smooth", scale_smooth), ("scale_length", scale_length),
                           ("scale_length_weak", scale_length_weak)):
            _check_number(key, value, nonnegative=True)
        if _not_int(min_cameras) or min_cameras < 2:
            raise ValueError(f"min_cameras must be an integer >= 2, got {min_cameras!r}")
        if _not_int(n_deriv_smooth) or n_deriv_smooth < 1:
            raise ValueError(f"n_deriv_smooth must be an integer >= 1, got {n_deriv_smooth!r}")
        if chunk_size is not None and (_not_int(chunk_size) or chunk_size < 2):
            raise ValueError(f"chunk_size must be None or an integer >= 2, got {chunk_size!r}")
        self.calibration = Path(calibration)
        self.method: Method = method
        self.score_threshold = float(score_threshold)
        self.reproj_error_threshold = float(reproj_error_threshold)
        self.min_cameras = int(min_cameras)
        self.optim_init: Literal["ransac", "dlt"] = optim_init
        self.scale_smooth = float(scale_smooth)
        self.n_deriv_smooth = int(n_deriv_smooth)
        self.constraints = _pairs("constraints", constraints)
        self.constraints_weak = _pairs("constraints_weak", constraints_weak)
        self.scale_length = float(scale_length)
        self.scale_length_weak = float(scale_length_weak)
        self.reproj_loss = reproj_loss
        self.chunk_size = None if chunk_size is None else int(chunk_size)
        self.axes = _axes(axes)
        self.reference_point = None if reference_point is None else str(reference_point)
        self.units = str(units)
        self.progress = bool(progress)
        self.camera_group_: Any = load_calibration(self.calibration)

    @classmethod
    def read_project(cls, path: PathLike) -> ProjectSettings:
        """Read an Anipose project ``config.toml``: the triangulator options Anipose would
        use (``[triangulation]``), its ``cam_regex`` and its ``[labeling] scheme``."""

        config = read_anipose_config(path)
        return ProjectSettings(options=config.triangulator_options(),
                               cam_regex=config.cam_regex,
                               skeleton=tuple(tuple(c) for c in config.scheme_chains))

    # -- options ------------------------------------------------------------------------
    def options(self) -> dict[str, Any]:
        """The options this triangulator was built with (recorded in the history)."""
        return {
            "calibration": str(self.calibration), "method": self.method,
            "score_threshold": self.score_threshold,
            "reproj_error_threshold": self.reproj_error_threshold,
            "min_cameras": self.min_cameras, "optim_init": self.optim_init,
            "scale_smooth": self.scale_smooth, "n_deriv_smooth": self.n_deriv_smooth,
            "constraints": [list(p) for p in self.constraints],
            "constraints_weak": [list(p) for p in self.constraints_weak],
            "scale_length": self.scale_length, "scale_length_weak": self.scale_length_weak,
            "reproj_loss": self.reproj_loss, "chunk_size": self.chunk_size,
            "axes": None if self.axes is None else [list(a) for a in self.axes],
            "reference_point": self.reference_point, "units": self.units,
        }

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({str(self.calibration)!r}, method={self.method!r}, "
                f"score_threshold={self.score_threshold})")

    # -- triangulation ------------------------------------------------------------------
    def triangulate(self, pose2d: xr.Dataset) -> xr.Dataset:
        """Return the 3D pose of a 2D pose with a ``cameras`` dim.

        Returns
        -------
        xarray.Dataset
            ``position`` ``(time, landmarks, space)`` in :attr:`units` (NaN where fewer
            than ``min_cameras`` cameras have a good 2D point, or the method found no
            point), ``confidence`` (mean confidence of the 2D points used; NaN where the
            position is NaN), ``reprojection_error`` (mean over the cameras used, pixels)
            and ``n_cameras`` (number of 2D points used), both ``(time, landmarks)``; with
            ``axes`` or ``reference_point`` also ``anipose_M`` and ``anipose_center``.
            Attributes and the time coordinates are those of ``pose2d``.

        Raises
        ------
        InvalidPoseError
            When ``pose2d`` is not a 2D pose with cameras, has a camera the calibration
            lacks, or lacks a landmark named in ``constraints``, ``axes`` or
            ``reference_point``.
        """
        validate_pose(pose2d, ndim=2, cameras=True)
        cam_names = [str(c) for c in pose2d["cameras"].values]
        group = self._camera_group(cam_names)
        landmarks = [str(n) for n in pose2d["landmarks"].values]
        self._check_landmarks(landmarks)
        if len(cam_names) < self.min_cameras:
            raise InvalidPoseError(
                f"the pose has {len(cam_names)} camera(s) {cam_names}; triangulation needs "
                f"at least min_cameras={self.min_cameras}")

        points = np.array(pose2d["position"].transpose("cameras", "time", "landmarks", "space")
                          .to_numpy(), dtype=np.float64)
        scores = np.array(pose2d["confidence"].transpose("cameras", "time", "landmarks")
                          .to_numpy(), dtype=np.float64)
        n_cams, n_frames, n_landmarks, _ = points.shape
        with np.errstate(invalid="ignore"):
            good = np.isfinite(points).all(axis=-1) & (scores >= self.score_threshold)
        points[~good] = np.nan
        flat = points.reshape(n_cams, n_frames * n_landmarks, 2)

        with _quiet():
            if self.method == "ransac" or (self.method == "optim"
                                           and self.optim_init == "ransac"):
                p3d, used = self._ransac(group, flat)
            else:
                p3d, used = _dlt(group, flat), flat
            if self.method == "optim":
                p3d = self._optim(group, used.reshape(points.shape),
                                  p3d.reshape(n_frames, n_landmarks, 3), landmarks)
                p3d = p3d.reshape(-1, 3)
            used_mask = np.isfinite(used).all(axis=-1)  # (C, N)
            n_used = used_mask.sum(axis=0)
            ok = (n_used >= self.min_cameras) & np.isfinite(p3d).all(axis=-1)
            p3d = np.where(ok[:, None], p3d, np.nan)
            error = np.full(len(p3d), np.nan)
            if ok.any():
                error[ok] = np.asarray(group.reprojection_error(
                    p3d[ok], np.ascontiguousarray(used[:, ok]), mean=True))

        flat_scores = np.where(used_mask, scores.reshape(n_cams, -1), 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            confidence = np.where(ok, flat_scores.sum(axis=0) / n_used, np.nan)
        position = p3d.reshape(n_frames, n_landmarks, 3)
        rotation, center = self._frame(position, landmarks)
        if rotation is not None:
            position = position @ rotation.T - center
        return self._dataset(pose2d, position, confidence.reshape(n_frames, n_landmarks),
                             error.reshape(n_frames, n_landmarks),
                             n_used.reshape(n_frames, n_landmarks), rotation, center,
                             cam_names)

    def _camera_group(self, cam_names: list[str]) -> Any:
        """The calibration's cameras in the order of ``cam_names``."""
        calibrated = [str(n) for n in self.camera_group_.get_names()]
        missing = [c for c in cam_names if c not in calibrated]
        if missing:
            raise InvalidPoseError(
                f"the calibration {self.calibration} has no camera(s) {missing} of the pose; "
                f"it calibrates {calibrated} (camera names must match)")
        return self.camera_group_.subset_cameras([calibrated.index(c) for c in cam_names])

    def _check_landmarks(self, landmarks: list[str]) -> None:
        wanted: dict[str, list[str]] = {}
        for key, pairs in (("constraints", self.constraints),
                           ("constraints_weak", self.constraints_weak)):
            if self.method == "optim":
                wanted[key] = [lm for pair in pairs for lm in pair]
        if self.axes is not None:
            wanted["axes"] = [lm for entry in self.axes for lm in entry[1:]]
        if self.reference_point is not None:
            wanted["reference_point"] = [self.reference_point]
        for key, names in wanted.items():
            missing = sorted({n for n in names if n not in landmarks})
            if missing:
                raise InvalidPoseError(
                    f"{key} name(s) landmark(s) {missing} the pose lacks; it has {landmarks}")

    def _ransac(self, group: Any, flat: FloatArray) -> tuple[FloatArray, FloatArray]:
        """RANSAC over camera subsets; returns the 3D points and the 2D points used.

        aniposelib's rule (``CameraGroup.triangulate_possible``, behind
        ``triangulate_ransac``), vectorised over points: subsets of a point's good cameras
        are tried in the order of ``itertools.product`` (all cameras first, camera 0 the
        slowest to drop out), skipping those smaller than ``min_cameras`` unless they are
        all the point has; the first one whose mean reprojection error is below the
        threshold wins, else the one with the lowest error under 200 px, else none (NaN).
        aniposelib loops over points in Python and fixes the threshold at 0.5 px.
        """
        n_cams, n_points, _ = flat.shape
        good = np.isfinite(flat).all(axis=-1)
        n_good = good.sum(axis=0)
        best = np.full((n_points, 3), np.nan)
        best_error = np.full(n_points, _RANSAC_MAX_ERROR)
        best_used = np.zeros((n_cams, n_points), dtype=bool)
        done = np.zeros(n_points, dtype=bool)
        for bits in itertools.product((True, False), repeat=n_cams):
            subset = np.array(bits)
            size = int(subset.sum())
            if size < 2:
                continue  # one camera gives no point
            todo = (~done & (good | ~subset[:, None]).all(axis=0)
                    & ((size >= self.min_cameras) | (n_good == size)))
            if not todo.any():
                continue
            points = flat[:, todo].copy()
            points[~subset] = np.nan
            p3d = _dlt(group, points)
            error = np.asarray(group.reprojection_error(p3d, points, mean=True))
            with np.errstate(invalid="ignore"):
                better = error < best_error[todo]
            where = np.flatnonzero(todo)[better]
            best[where] = p3d[better]
            best_error[where] = error[better]
            best_used[:, where] = subset[:, None]
            done[where[error[better] < self.reproj_error_threshold]] = True
        used = np.where(best_used[..., None], flat, np.nan)
        return best, used

    def _optim(self, group: Any, points: FloatArray, init: FloatArray,
               landmarks: list[str]) -> FloatArray:
        """Anipose's optimisation, chunk by chunk; ``points`` is ``(C, T, L, 2)``."""
        from tqdm.auto import tqdm

        index = {lm: i for i, lm in enumerate(landmarks)}
        strong = [[index[a], index[b]] for a, b in self.constraints]
        weak = [[index[a], index[b]] for a, b in self.constraints_weak]
        n_frames = init.shape[0]
        if self.chunk_size is None or self.chunk_size >= n_frames:
            bounds = [(0, n_frames)]
        else:
            parts = np.array_split(np.arange(n_frames), math.ceil(n_frames / self.chunk_size))
            bounds = [(int(p[0]), int(p[-1]) + 1) for p in parts]
        out = init.copy()
        for start, stop in tqdm(bounds, desc="optim", unit="chunk", disable=not self.progress):
            chunk = init[start:stop]
            if (stop - start <= self.n_deriv_smooth + 1
                    or np.isfinite(chunk[..., 0]).sum() < _MIN_OPTIM_POINTS):
                continue  # too little to optimise: keep the initial points
            out[start:stop] = group.optim_points(
                np.ascontiguousarray(points[:, start:stop]), chunk,
                constraints=strong, constraints_weak=weak,
                scale_smooth=self.scale_smooth, scale_length=self.scale_length,
                scale_length_weak=self.scale_length_weak,
                reproj_error_threshold=self.reproj_error_threshold,
                reproj_loss=self.reproj_loss, n_deriv_smooth=self.n_deriv_smooth)
        return out

    def _frame(self, position: FloatArray, landmarks: list[str]
               ) -> tuple[FloatArray | None, FloatArray]:
        """Rotation (rows: new axes) and origin offset of the face-anchored frame."""
        if self.axes is None and self.reference_point is None:
            return None, np.zeros(3)
        index = {lm: i for i, lm in enumerate(landmarks)}

        def median(points: FloatArray, lm: str, what: str) -> FloatArray:
            pts = points[:, index[lm]]
            pts = pts[np.isfinite(pts).all(axis=1)]
            if not len(pts):
                raise InvalidPoseError(
                    f"cannot place the {what}: landmark {lm!r} was not triangulated in any "
                    "frame")
            return np.asarray(np.median(pts, axis=0))

        rotation = np.eye(3)
        if self.axes is not None:
            (a_axis, a_from, a_to), (b_axis, b_from, b_to) = self.axes
            a = median(position, a_to, "axes") - median(position, a_from, "axes")
            b = median(position, b_to, "axes") - median(position, b_from, "axes")
            if not a @ a > 0:
                raise InvalidPoseError(f"axes: {a_from!r} and {a_to!r} have the same median "
                                       "position; they cannot give a direction")
            b = b - a * (b @ a) / (a @ a)
            if not np.linalg.norm(b) > 1e-9 * np.linalg.norm(a):
                raise InvalidPoseError(
                    f"axes: {b_from!r}->{b_to!r} is parallel to {a_from!r}->{a_to!r}")
            ia, ib = _AXES.index(a_axis), _AXES.index(b_axis)
            ic = 3 - ia - ib
            rotation = np.zeros((3, 3))
            rotation[ia], rotation[ib] = a, b
            # the third axis completes a right-handed frame
            cyclic = (ia, ib) in ((0, 1), (1, 2), (2, 0))
            rotation[ic] = np.cross(a, b) if cyclic else np.cross(b, a)
            rotation /= np.linalg.norm(rotation, axis=1)[:, None]
        center = np.zeros(3)
        if self.reference_point is not None:
            center = median(position @ rotation.T, self.reference_point, "reference_point")
        return rotation, center

    def _dataset(self, pose2d: xr.Dataset, position: FloatArray, confidence: FloatArray,
                 error: FloatArray, n_used: npt.NDArray[np.integer[Any]],
                 rotation: FloatArray | None, center: FloatArray,
                 cam_names: list[str]) -> xr.Dataset:
        import xarray as xr

        coords: dict[str, Any] = {
            str(name): coord for name, coord in pose2d.coords.items()
            if name != "space" and "cameras" not in coord.dims
        }
        coords["space"] = list(_AXES)
        tl = ("time", "landmarks")
        ds = xr.Dataset(
            {"position": (("time", "landmarks", "space"), position),
             "confidence": (tl, confidence),
             "reprojection_error": (tl, error),
             "n_cameras": (tl, n_used.astype(np.float64))},
            coords=coords, attrs=dict(pose2d.attrs))
        ds["reprojection_error"].attrs["units"] = "pixels"
        if rotation is not None:
            n_frames = position.shape[0]
            ds["anipose_M"] = (("time", "axis_row", "axis_col"),
                               np.broadcast_to(rotation, (n_frames, 3, 3)).copy())
            ds["anipose_center"] = (("time", "axis_row"),
                                    np.broadcast_to(center, (n_frames, 3)).copy())
        ds.attrs["units"] = self.units
        ds = with_history(ds, "triangulate.anipose", cameras=cam_names, **self.options())
        return validate_pose(ds, ndim=3, cameras=False)


def load_calibration(path: PathLike) -> Any:
    """Read an Anipose ``calibration.toml`` as an ``aniposelib.cameras.CameraGroup``.

    The cameras are checked (:func:`~faceexpr.backends.anipose.calibration.calibration_cameras`)
    before aniposelib builds them, so that a malformed camera is reported with the file
    and camera rather than as an OpenCV error during triangulation.

    Raises
    ------
    MissingFileError
        When the file does not exist (``<path>: no such file``).
    FileFormatError
        When it is a folder, not valid TOML (the message gives the line) or not a
        calibration (naming the camera and the key at fault).
    """
    from aniposelib.cameras import CameraGroup

    text = read_text(path, "an Anipose calibration.toml")
    cameras, metadata = calibration_cameras(parse_toml(text, path), path)
    group = CameraGroup.from_dicts(cameras)
    group.metadata = metadata
    return group


def _dlt(group: Any, points: FloatArray) -> FloatArray:
    """``CameraGroup.triangulate`` of ``(C, N, 2)`` points (NaN: camera not used).

    The points are padded to a power of two (at least 256): JAX compiles the
    triangulation anew for every number of points, which takes about 0.3 s.
    """
    n_cams, n_points, _ = points.shape
    size = max(_MIN_BATCH, 1 << max(n_points - 1, 0).bit_length())
    padded = np.full((n_cams, size, 2), np.nan)
    padded[:, :n_points] = points
    return np.asarray(group.triangulate(padded), dtype=np.float64)[:n_points]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence aniposelib's numba fall-back notices and NumPy's empty-slice warnings."""
    with warnings.catch_warnings():
        try:
            from numba.core.errors import NumbaWarning
        except ImportError:  # pragma: no cover - numba comes with aniposelib
            pass
        else:
            warnings.simplefilter("ignore", NumbaWarning)
        warnings.filterwarnings(
            "ignore", r"(Mean of empty slice|invalid value encountered|All-NaN slice)",
            RuntimeWarning)
        yield


def _not_int(value: object) -> bool:
    return isinstance(value, bool) or not isinstance(value, (int, np.integer))


def _check_number(key: str, value: object, *, positive: bool = False,
                  nonnegative: bool = False) -> None:
    if (isinstance(value, bool) or not isinstance(value, (int, float, np.number))
            or not math.isfinite(float(value))):
        raise ValueError(f"{key} must be a finite number, got {value!r}")
    if positive and not float(value) > 0:
        raise ValueError(f"{key} must be > 0, got {value!r}")
    if nonnegative and float(value) < 0:
        raise ValueError(f"{key} must be >= 0, got {value!r}")


def _pairs(key: str, pairs: Sequence[Sequence[str]]) -> list[tuple[str, str]]:
    out = []
    for pair in pairs:
        if isinstance(pair, str) or len(pair) != 2 or not all(isinstance(n, str) for n in pair):
            raise ValueError(f"{key} must be pairs of landmark names, got {pair!r}")
        out.append((pair[0], pair[1]))
    return out


def _axes(axes: Sequence[Sequence[str]] | None) -> list[tuple[str, str, str]] | None:
    if axes is None:
        return None
    entries = []
    for entry in axes:
        if (isinstance(entry, str) or len(entry) != 3
                or not all(isinstance(n, str) for n in entry) or entry[0] not in _AXES):
            raise ValueError(
                "axes entries must be [axis, from_landmark, to_landmark] with axis x, y or "
                f"z, got {entry!r}")
        entries.append((entry[0], entry[1], entry[2]))
    if len(entries) != 2 or entries[0][0] == entries[1][0]:
        raise ValueError(f"axes must give two different axes, got {[list(e) for e in entries]}")
    return entries
