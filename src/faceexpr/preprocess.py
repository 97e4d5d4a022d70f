"""Cleaning poses and removing head movement.

Every function takes a pose Dataset (2D or 3D, see :mod:`faceexpr.data`), returns a new
one and records itself in ``attrs["faceexpr_history"]``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
import xarray as xr

from faceexpr._arrays import finite_segments, true_runs, working_float
from faceexpr._typing import BoolArray, FloatArray, IntArray
from faceexpr.data import validate_pose, with_history
from faceexpr.errors import InvalidPoseError
from faceexpr.schemes import LandmarkScheme, guess_scheme


def mask_low_confidence(pose: xr.Dataset, threshold: float = 0.5) -> xr.Dataset:
    """Set positions (and confidences) whose confidence is below ``threshold`` to NaN.

    Examples
    --------
    >>> from faceexpr.data import make_pose
    >>> ds = make_pose(np.ones((3, 1, 2)), ["nose1"], confidence=[[0.9], [0.1], [0.8]])
    >>> mask_low_confidence(ds, 0.5).position.values[:, 0, 0]
    array([ 1., nan,  1.])
    """
    validate_pose(pose)
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    keep = pose["confidence"] >= threshold  # NaN confidence compares False: dropped too
    out = pose.copy()
    out["position"] = pose["position"].where(keep)
    out["confidence"] = pose["confidence"].where(keep)
    return with_history(out, "mask_low_confidence", threshold=threshold,
                        masked_fraction=float(1.0 - keep.mean()))


def interpolate_gaps(pose: xr.Dataset, max_gap: int | None = 5) -> xr.Dataset:
    """Linearly interpolate runs of at most ``max_gap`` missing frames (None: any length).

    Longer gaps and missing values at the start or end stay NaN.
    """
    validate_pose(pose)
    if max_gap is not None and max_gap < 1:
        raise ValueError(f"max_gap must be >= 1 frame or None, got {max_gap}")
    frames = pose["frame"].values.astype(np.float64)
    position = pose["position"].values
    # one copy, filled in place (a gap's frames are never read: only known ones are)
    filled = np.array(position, dtype=working_float(position.dtype)).reshape(len(frames), -1)
    for j in range(filled.shape[1]):
        col = filled[:, j]
        ok: npt.NDArray[np.bool_] = np.isfinite(col)
        if ok.sum() < 2:
            continue
        # gaps with known frames on both sides; frames at the start or end stay NaN
        fill = np.zeros(len(col), dtype=bool)
        for a, b in true_runs(~ok):
            if a > 0 and b < len(col) and (max_gap is None or b - a <= max_gap):
                fill[a:b] = True
        # interpolate on frame numbers so a gap is measured in frames whatever the time unit
        filled[fill, j] = np.interp(frames[fill], frames[ok], col[ok])
    out = pose.copy()
    out["position"] = pose["position"].copy(data=filled.reshape(pose["position"].shape))
    return with_history(out, "interpolate_gaps", max_gap=max_gap)


def apply_by_segments(
    values: FloatArray, func: Callable[[FloatArray], FloatArray], min_length: int,
    keep_short: bool = True,
) -> FloatArray:
    """Apply ``func`` along axis 0 to every finite run of every column of ``values``.

    NaN stays NaN and never spreads into the filtered neighbours; runs shorter than
    ``min_length`` are left as they are (``keep_short``) or set to NaN (when the output
    is another quantity than the input, e.g. a derivative).
    """
    flat = values.reshape(values.shape[0], -1)
    out = flat.copy()
    for j in range(flat.shape[1]):
        for a, b in finite_segments(flat[:, j : j + 1]):
            if b - a >= min_length:
                out[a:b, j] = func(flat[a:b, j])
            elif not keep_short:
                out[a:b, j] = np.nan
    return out.reshape(values.shape)


def smooth(
    pose: xr.Dataset,
    method: Literal["median", "savgol"] = "median",
    window: int = 5,
    polyorder: int = 2,
) -> xr.Dataset:
    """Smooth landmark trajectories over time, gap by gap.

    Parameters
    ----------
    method
        ``"median"`` (``scipy.ndimage.median_filter``, robust to single-frame jumps) or
        ``"savgol"`` (``scipy.signal.savgol_filter``, keeps peaks).
    window
        Window length in frames (odd).
    polyorder
        Polynomial order of the Savitzky–Golay filter.
    """
    validate_pose(pose)
    if window < 3 or window % 2 == 0:
        raise ValueError(f"window must be an odd number >= 3, got {window}")
    func: Callable[[FloatArray], FloatArray]
    # scipy.ndimage and scipy.signal are imported when used (a second for scipy.signal)
    if method == "median":
        from scipy.ndimage import median_filter

        def func(x: FloatArray) -> FloatArray:
            return np.asarray(median_filter(x, size=window, mode="nearest"))
    elif method == "savgol":
        if polyorder >= window:
            raise ValueError(f"polyorder ({polyorder}) must be less than window ({window})")
        from scipy.signal import savgol_filter

        def func(x: FloatArray) -> FloatArray:
            return np.asarray(savgol_filter(x, window, polyorder, mode="interp"))
    else:
        raise ValueError(f"method must be 'median' or 'savgol', got {method!r}")
    out = pose.copy()
    out["position"] = pose["position"].copy(
        data=apply_by_segments(pose["position"].values, func, window))
    return with_history(out, "smooth", method=method, window=window, polyorder=polyorder)


def kabsch_rotations(
    source: FloatArray, target: FloatArray, min_points: int | None = None
) -> FloatArray:
    """Best rotations (no reflection) taking centred ``source`` frames onto ``target``.

    Parameters
    ----------
    source
        ``(T, L, d)`` points per frame, NaN where missing.
    target
        ``(L, d)`` template.
    min_points
        Frames with fewer valid points get a NaN rotation (default: ``d``).

    Returns
    -------
    numpy.ndarray
        ``(T, d, d)`` rotations ``R`` with ``R @ (p - centroid) ≈ (q - centroid')``.
    """
    return _Kabsch(source, min_points)(target)


_BLOCK = 65_536
"""Frames per block of the rotations here (bounds their scratch memory)."""


class _Kabsch:
    """Kabsch fits of one set of frames to any template, in one batched pass per template.

    The source side (valid points, centring) is prepared once, so refining a template
    costs one ``(T, d, d)`` covariance product and one batched SVD per iteration.
    """

    def __init__(self, source: FloatArray, min_points: int | None = None) -> None:
        self.source = source
        self.min_points = min_points
        valid: BoolArray = np.asarray(np.isfinite(source).all(-1))
        self.n: IntArray = valid.sum(axis=1)
        src = np.where(valid[..., None], source, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            src -= (src.sum(1) / self.n[:, None])[:, None, :]
        src[~valid] = 0.0
        self.centred: FloatArray = src  # centred on each frame's valid points, 0 elsewhere

    def __call__(self, target: FloatArray) -> FloatArray:
        d = self.source.shape[-1]
        seen = np.isfinite(target).all(-1)
        if not seen.any():
            return np.full((len(self.n), d, d), np.nan)
        if not seen.all():  # a missing template point is missing in every frame
            return _Kabsch(self.source[:, seen], self.min_points)(target[seen])
        # The centred source sums to zero over each frame's valid points, so any shift of
        # the template leaves the covariance unchanged (up to rounding): centre it once.
        tgt = target - target.mean(axis=0)
        rot = np.full((len(self.n), d, d), np.nan)
        # a block of frames at a time: the SVD's factors of all frames at once would be
        # several times the size of the rotations
        for a in range(0, len(rot), _BLOCK):
            # (frames, d, d): sum_l q_l (p_l - centroid)^T
            cov = np.matmul(tgt.T, self.centred[a : a + _BLOCK])
            ok = ((self.n[a : a + _BLOCK] >= (self.min_points or d))
                  & (self.n[a : a + _BLOCK] > 0) & np.isfinite(cov).all((1, 2)))
            if not ok.any():
                continue
            u, _, vt = np.linalg.svd(cov if ok.all() else cov[ok])
            fit = u @ vt
            flip = _det(fit) < 0
            if flip.any():  # flip the weakest axis instead of reflecting
                u[flip, :, -1] *= -1.0
                fit[flip] = u[flip] @ vt[flip]
            rot[a : a + _BLOCK][ok] = fit
        return rot


def _det(m: FloatArray) -> FloatArray:
    """Determinants of a stack of ``(d, d)`` matrices, in closed form for d = 2, 3."""
    if m.shape[-1] == 2:
        return np.asarray(m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0])
    if m.shape[-1] == 3:
        return np.asarray(np.einsum("ti,ti->t", m[:, 0], np.cross(m[:, 1], m[:, 2])))
    return np.asarray(np.linalg.det(m))


def _rotate(rot: FloatArray, points: FloatArray) -> FloatArray:
    """Apply each frame's rotation ``(T, d, d)`` to its points ``(T, L, d)``."""
    return np.asarray(points @ rot.transpose(0, 2, 1))


def _rotate_in_place(rot: FloatArray, points: FloatArray) -> None:
    """:func:`_rotate` written back into ``points``, a block of frames at a time."""
    for a in range(0, len(points), _BLOCK):
        points[a : a + _BLOCK] = _rotate(rot[a : a + _BLOCK], points[a : a + _BLOCK])


def _mean_rotated(rot: FloatArray, points: FloatArray) -> FloatArray:
    """``nanmean(_rotate(rot, points), axis=0)`` without the rotated copy of all frames."""
    total = np.zeros(points.shape[1:])
    count = np.zeros(points.shape[1:])
    for a in range(0, len(points), _BLOCK):
        block = _rotate(rot[a : a + _BLOCK], points[a : a + _BLOCK])
        seen = np.isfinite(block)
        total += np.where(seen, block, 0.0).sum(axis=0)
        count += seen.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(total / count)


def _source(pose: xr.Dataset) -> str:
    """The file a pose was read from, for messages (``the pose`` when made in memory)."""
    files = pose.attrs.get("source_files") or []
    return str(files[0]) if files else "the pose"


def _rms_size(points: FloatArray) -> FloatArray:
    """Root-mean-square distance of each frame's points ``(T, L, d)`` from their centroid
    (NaN for a frame without points, e.g. one the tracker dropped)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "mean of empty slice"
        centred = points - np.nanmean(points, axis=1, keepdims=True)
        return np.asarray(np.sqrt(np.nanmean(np.sum(centred**2, axis=-1), axis=1)))


def face_axes(face: FloatArray, landmarks: Sequence[str],
              scheme: LandmarkScheme | None) -> FloatArray | None:
    """Rotation whose rows point to the face's left, up, and out of its front.

    Parameters
    ----------
    face
        ``(landmarks, 3)`` face, e.g. the mean egocentric face.
    landmarks
        Names of the rows of ``face``.
    scheme
        Scheme whose ``left_right`` pair (``from → to``) points to the face's left and
        whose ``down_up`` pair points up.

    Returns
    -------
    numpy.ndarray or None
        ``(3, 3)``: left, then up made orthogonal to left, then their cross product (out
        of the face in a right-handed data frame). ``None`` when the scheme has no such
        pairs, the face lacks one of their landmarks, or the pairs are degenerate.
    """
    if scheme is None or not scheme.left_right or not scheme.down_up:
        return None
    index = {str(name): i for i, name in enumerate(landmarks)}
    pairs = (scheme.left_right, scheme.down_up)
    if any(name not in index for pair in pairs for name in pair):
        return None
    left, up = (np.asarray(face[index[b]] - face[index[a]], dtype=np.float64)
                for a, b in pairs)
    if not (np.isfinite(left).all() and np.isfinite(up).all()):
        return None
    size = float(np.linalg.norm(left))
    if not size > 0:
        return None
    left = left / size
    up = up - left * (up @ left)
    if not np.linalg.norm(up) > 1e-6 * size:
        return None  # down-up along left-right: the pairs span no plane
    up = up / np.linalg.norm(up)
    return np.stack([left, up, np.cross(left, up)])


def head_angles(rotation: FloatArray, axes: FloatArray | None = None,
                space: Sequence[str] = ("x", "y", "z")) -> tuple[FloatArray, list[str]]:
    """Euler angles (degrees) of the 3D head rotations of :func:`egocentric`.

    Parameters
    ----------
    rotation
        ``(T, 3, 3)`` alignment rotations (``head_rotation``: data frame → template); the
        head's own rotation away from the template is their inverse. NaN rows stay NaN.
    axes
        The face's axes in the data frame, rows left, up, front (:func:`face_axes`), or
        ``None`` to use the data's axes.
    space
        Names of the data's axes (for the names without a face frame).

    Returns
    -------
    angles : numpy.ndarray
        ``(T, 3)``. With ``axes``: ``pitch``, ``yaw``, ``roll``, the head's rotation
        expressed in the face's frame and split as yaw about the up axis, then pitch
        about the (turned) left–right axis, then roll about the (turned) front axis
        (intrinsic Y-X'-Z''). By the right-hand rule: positive pitch lowers the nose,
        positive yaw turns the face to its own left, positive roll lowers its right ear.
        Without ``axes``: rotations about the data's x, then y', then z'' axes
        (intrinsic X-Y'-Z'').
    names : list of str
        ``["pitch", "yaw", "roll"]`` or ``["rot_x", "rot_y", "rot_z"]`` (after ``space``).
    """
    from scipy.spatial.transform import Rotation

    rot = np.asarray(rotation, dtype=np.float64)
    good = np.isfinite(rot).all((1, 2))
    angles = np.full((len(rot), 3), np.nan)
    # rot maps head to template; the head's own rotation is its inverse
    own = np.transpose(rot[good], (0, 2, 1))
    if good.any() and axes is None:
        angles[good] = Rotation.from_matrix(own).as_euler("XYZ", degrees=True)
    elif good.any():
        # the same rotation written in face coordinates: F H F^T
        in_face = np.asarray(axes)[None] @ own @ np.asarray(axes).T[None]
        # scipy gives the angles in the order of the sequence (yaw, pitch, roll)
        yaw_pitch_roll = Rotation.from_matrix(in_face).as_euler("YXZ", degrees=True)
        angles[good] = yaw_pitch_roll[:, [1, 0, 2]]
    names = ["pitch", "yaw", "roll"] if axes is not None else [f"rot_{a}" for a in space]
    return angles, names


def _face_frame_of(names: list[str], aligned: FloatArray, template: xr.DataArray | None,
                   scheme: LandmarkScheme | None) -> tuple[FloatArray | None, str]:
    """The face's axes for the head angles, and how to name that frame.

    From the given template when it has the scheme's landmark pairs (recordings aligned
    to one template share one face frame), else from the mean aligned face.
    """
    scheme = scheme if scheme is not None else guess_scheme(names)
    axes = None
    if scheme is not None and scheme.left_right and scheme.down_up:
        pair_names = [*scheme.left_right, *scheme.down_up]
        if template is not None and set(pair_names) <= {
                str(n) for n in template["landmarks"].values}:
            face = np.asarray(template.sel(landmarks=pair_names).values, dtype=np.float64)
            axes = face_axes(face, pair_names, scheme)
        if axes is None and set(pair_names) <= set(names):
            sub = aligned[:, [names.index(n) for n in pair_names], :]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a never-seen landmark
                face = np.nanmean(sub, axis=0)
            axes = face_axes(face, pair_names, scheme)
    if axes is None or scheme is None or not scheme.left_right or not scheme.down_up:
        return None, "data axes"
    (a, b), (c, e) = scheme.left_right, scheme.down_up
    return axes, f"face ({a}→{b} / {c}→{e})"


def egocentric(
    pose: xr.Dataset,
    reference: str = "nose1",
    *,
    align: bool = True,
    align_landmarks: Sequence[str] | None = None,
    template: xr.DataArray | None = None,
    n_iter: int = 3,
    scale: bool | None = None,
    scheme: LandmarkScheme | None = None,
) -> xr.Dataset:
    """Express landmarks relative to the head: subtract a reference, remove rotation.

    Parameters
    ----------
    pose
        Single-view 2D or 3D pose.
    reference
        Landmark that moves with the head only; it becomes the origin.
    align
        Also remove head rotation by a per-frame Kabsch (Procrustes) fit to a template
        face. In 2D only in-plane rotation (roll) can be removed.
    align_landmarks
        Landmarks used to estimate the rotation (default: all). Choose rigid ones
        (eye corners, ears, nose bridge) when expressions are large.
    template
        Face ``(landmarks, space)`` to align to; by default it is estimated from the
        data (mean aligned face, refined ``n_iter`` times).
    scale
        Also remove the face's apparent size (distance to the camera), making the
        alignment a similarity transform. ``None`` (default): in 2D only, where moving
        towards the camera changes the size; 3D data are metric.
    scheme
        Landmark scheme whose ``left_right`` and ``down_up`` pairs give the face's own
        axes for the 3D head angles (default: guessed from the landmark names with
        :func:`faceexpr.schemes.guess_scheme`).

    Returns
    -------
    xarray.Dataset
        Egocentric ``position``, plus ``head_position`` ``(time, space)`` (the reference
        landmark), and with ``align`` ``head_rotation`` ``(time, rot_row, rot_col)`` and
        ``head_angles`` ``(time, angle)`` in degrees, and with ``scale`` ``head_scale``
        ``(time,)`` (size relative to the template). In 3D the angles are ``pitch``,
        ``yaw``, ``roll`` about the face's own left–right, down–up and front axes when the
        scheme's landmark pairs define them (see :func:`head_angles`), else ``rot_x``,
        ``rot_y``, ``rot_z`` about the data's axes; in 2D ``roll`` (in-plane).
        ``attrs["head_angle_frame"]`` says which frame the angles are in.
    """
    validate_pose(pose, cameras=False, landmarks=[reference, *(align_landmarks or [])])
    names = [str(n) for n in pose["landmarks"].values]
    values = pose["position"].values
    # computed in the pose's own float type (a float32 pose: half the memory); one copy,
    # made relative to the reference in place
    rel = np.array(values, dtype=working_float(values.dtype))
    head = rel[:, names.index(reference), :].copy()
    if not np.isfinite(rel).any():
        raise InvalidPoseError(f"{_source(pose)}: no landmark has a position in any frame "
                               "(every value is missing or below the confidence threshold)")
    if not np.isfinite(head).all(-1).any():
        raise InvalidPoseError(
            f"{_source(pose)}: the reference landmark '{reference}' is missing in every frame, "
            "so no frame can be made egocentric; choose another landmark that moves with the "
            "head only (reference=..., --reference)")
    rel -= head[:, None, :]
    d = rel.shape[-1]
    out = pose.copy()
    out["head_position"] = (("time", "space"), head)
    params: dict[str, object] = {"reference": reference, "align": align}
    if align:
        idx = [names.index(n) for n in align_landmarks] if align_landmarks else list(
            range(len(names)))
        if len(idx) < d:
            raise InvalidPoseError(f"need at least {d} align_landmarks in {d}D, got {len(idx)}")
        sub = rel if idx == list(range(len(names))) else rel[:, idx, :]  # no needless copy
        if template is not None:
            tmpl = np.asarray(template.sel(landmarks=[names[i] for i in idx]).values, float)
        else:
            tmpl = np.nanmedian(sub, axis=0)
        fit = _Kabsch(sub)
        rot = fit(tmpl)
        for _ in range(n_iter if template is None else 0):
            tmpl = _mean_rotated(rot, sub)
            rot = fit(tmpl)
        del fit  # its centred copy of the frames
        if not np.isfinite(rot).any():
            seen = int(np.isfinite(sub).all(-1).sum(1).max(initial=0))
            raise InvalidPoseError(
                f"{_source(pose)}: head rotation could not be estimated on any frame: it needs "
                f"{d} of the {len(idx)} align landmarks visible in one frame (with the "
                f"reference '{reference}'), and no frame has more than {seen}")
        _rotate_in_place(rot, rel)
        if scale if scale is not None else d == 2:
            size = _rms_size(rel[:, idx, :])
            factor = _rms_size(tmpl[None])[0] / size
            rel = rel * factor[:, None, None]
            out["head_scale"] = (("time",), 1.0 / factor)
            params["scale"] = True
        out.coords["rot_row"] = list(pose["space"].values)
        out.coords["rot_col"] = list(pose["space"].values)
        out["head_rotation"] = (("time", "rot_row", "rot_col"), rot)
        if d == 3:
            axes, frame = _face_frame_of(names, rel, template, scheme)
            angles, angle_names = head_angles(rot, axes,
                                              [str(s) for s in pose["space"].values])
        elif "head_pose" in pose.data_vars:  # a 2D estimator's out-of-plane head pose
            angles = np.asarray(pose["head_pose"].values, dtype=np.float64)
            angle_names = [str(a) for a in pose["head_pose"]["angle"].values]
            frame = str(pose["head_pose"].attrs.get("frame", "camera"))
        else:
            roll = np.degrees(np.arctan2(-rot[:, 1, 0], rot[:, 0, 0]))
            angles, angle_names, frame = roll[:, None], ["roll"], "image plane"
        out["head_angles"] = (("time", "angle"), angles, {"units": "degrees",
                                                          "frame": frame})
        out.coords["angle"] = angle_names
        out.attrs["head_angle_frame"] = frame
        params["align_landmarks"] = list(align_landmarks) if align_landmarks else "all"
    out["position"] = pose["position"].copy(data=rel)
    out.attrs["egocentric_reference"] = reference
    return with_history(out, "egocentric", **params)
