"""Synthetic faces with ground truth: the embedded default data of faceexpr.

:func:`simulate` makes the 21-landmark face of :data:`faceexpr.schemes.FACE21` in 3D (mm),
switches between expression prototypes with a sticky Markov chain, moves the head rigidly,
adds noise and dropouts, and projects the landmarks into virtual pinhole cameras whose
calibration can be written in Anipose's ``calibration.toml`` format. The true state of
every frame is returned, so tests and ``faceexpr demo`` can measure how well states are
recovered. It is not a stand-in for any backend: the backends run for real on its output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import xarray as xr
from scipy.signal import lfilter
from scipy.spatial.transform import Rotation

from faceexpr._typing import FloatArray, PathLike
from faceexpr.backends.anipose import write_calibration_toml
from faceexpr.data import make_pose, time_coords, with_history
from faceexpr.geometry import Camera
from faceexpr.io import save_pose
from faceexpr.schemes import FACE21

# Neutral face in mm: x to the face's left (image right in a frontal camera), y up,
# z out of the face towards a frontal camera; the origin is near the nose.
_NEUTRAL: dict[str, tuple[float, float, float]] = {
    "lefteye1": (14, 34, 4), "lefteye2": (44, 35, -2),
    "righteye1": (-14, 34, 4), "righteye2": (-44, 35, -2),
    "leyebrow1": (12, 50, 10), "leyebrow2": (31, 56, 8), "leyebrow3": (50, 50, 0),
    "reyebrow1": (-12, 50, 10), "reyebrow2": (-31, 56, 8), "reyebrow3": (-50, 50, 0),
    "lear": (75, 10, -62), "rear": (-75, 10, -62),
    "nose1": (0, 40, 14), "nose2": (0, 0, 34), "nose3": (11, 4, 20), "nose4": (-11, 4, 20),
    "uplip": (0, -20, 26), "lowlip": (0, -34, 24), "llip": (23, -27, 14),
    "rlip": (-23, -27, 14), "chin": (0, -66, 16),
}

# Expression prototypes as displacements (mm) of the landmarks that move.
_EXPRESSIONS: dict[str, dict[str, tuple[float, float, float]]] = {
    "neutral": {},
    "smile": {"llip": (7, 6, -3), "rlip": (-7, 6, -3), "uplip": (0, 1.5, 0),
              "lowlip": (0, -2, 0), "lefteye2": (0, -1.5, 0), "righteye2": (0, -1.5, 0)},
    "surprise": {"leyebrow1": (0, 7, 0), "leyebrow2": (0, 9, 0), "leyebrow3": (0, 7, 0),
                 "reyebrow1": (0, 7, 0), "reyebrow2": (0, 9, 0), "reyebrow3": (0, 7, 0),
                 "lowlip": (0, -12, -2), "chin": (0, -10, -2)},
    "frown": {"leyebrow1": (-3, -6, 1), "leyebrow2": (-1, -4, 0),
              "reyebrow1": (3, -6, 1), "reyebrow2": (1, -4, 0),
              "llip": (0, -5, 0), "rlip": (0, -5, 0)},
    "pucker": {"llip": (-9, 0, 5), "rlip": (9, 0, 5), "uplip": (0, 0, 7),
               "lowlip": (0, 2, 7)},
    "jaw_drop": {"lowlip": (0, -18, -3), "chin": (0, -17, -4), "llip": (-2, -6, 0),
                 "rlip": (2, -6, 0)},
    "left_smirk": {"llip": (7, 7, -3), "lefteye2": (0, -2, 0), "leyebrow3": (0, -2, 0)},
    "ears_back": {"lear": (0, 5, -8), "rear": (0, 5, -8), "leyebrow3": (0, 2, 0),
                  "reyebrow3": (0, 2, 0)},
    "squint": {"lefteye1": (0, -2, 0), "lefteye2": (0, -3, 0), "righteye1": (0, -2, 0),
               "righteye2": (0, -3, 0), "leyebrow1": (0, -3, 0), "reyebrow1": (0, -3, 0),
               "nose3": (0, 2, 0), "nose4": (0, 2, 0)},
}
EXPRESSION_NAMES: tuple[str, ...] = tuple(_EXPRESSIONS)
"""Names of the available expression prototypes, in the order states are numbered."""


def neutral_face() -> tuple[list[str], FloatArray]:
    """Return the landmark names and the ``(21, 3)`` neutral face in mm."""
    names = list(FACE21.landmarks)
    return names, np.array([_NEUTRAL[n] for n in names], dtype=np.float64)


def expression_displacements(n_expressions: int) -> FloatArray:
    """Return ``(K, 21, 3)`` landmark displacements of the first ``K`` prototypes."""
    if not 1 <= n_expressions <= len(_EXPRESSIONS):
        raise ValueError(f"n_expressions must be in 1..{len(_EXPRESSIONS)}, got {n_expressions}")
    names = list(FACE21.landmarks)
    out = np.zeros((n_expressions, len(names), 3))
    for k, expr in enumerate(EXPRESSION_NAMES[:n_expressions]):
        for lm, d in _EXPRESSIONS[expr].items():
            out[k, names.index(lm)] = d
    return out


def ring_cameras(
    n_cameras: int, *, distance: float = 600.0, spread_deg: float = 60.0,
    focal: float = 800.0, size: tuple[int, int] = (640, 480),
) -> list[Camera]:
    """Place ``n_cameras`` cameras on an arc in front of the face, all looking at it."""
    yaws = np.linspace(-spread_deg / 2, spread_deg / 2, n_cameras) if n_cameras > 1 else [0.0]
    k = np.array([[focal, 0, size[0] / 2], [0, focal, size[1] / 2], [0, 0, 1]])
    cams = []
    for i, yaw in enumerate(np.radians(yaws)):
        centre = distance * np.array([np.sin(yaw), 0.05 * i, np.cos(yaw)])
        z_axis = -centre / np.linalg.norm(centre)  # optical axis towards the face
        y_axis = np.array([0.0, -1.0, 0.0])  # image y points down
        y_axis -= z_axis * (y_axis @ z_axis)
        y_axis /= np.linalg.norm(y_axis)
        x_axis = np.cross(y_axis, z_axis)
        rot = np.stack([x_axis, y_axis, z_axis])
        cams.append(Camera(chr(ord("A") + i), k.copy(), rot, -rot @ centre, size))
    return cams


@dataclass
class SyntheticFace:
    """A simulated recording with its ground truth.

    Attributes
    ----------
    pose3d
        3D pose (mm, world frame) with noise and NaN dropouts.
    pose2d
        2D pose (pixels) with a ``cameras`` dim, or ``None`` without cameras. Dropped
        points keep a jittered position with a low confidence, as a tracker reports them.
    states
        True expression state of every frame, ``(time,)`` int.
    expressions
        Names of the expressions, indexed by state.
    cameras
        The virtual cameras.
    head_rotation, head_position
        True rigid head motion ``(T, 3, 3)`` and ``(T, 3)``.
    """

    pose3d: xr.Dataset
    states: xr.DataArray
    expressions: list[str]
    cameras: list[Camera] = field(default_factory=list)
    pose2d: xr.Dataset | None = None
    head_rotation: FloatArray = field(default_factory=lambda: np.zeros((0, 3, 3)))
    head_position: FloatArray = field(default_factory=lambda: np.zeros((0, 3)))

    def view(self, camera: str | int = 0) -> xr.Dataset:
        """Return the 2D pose seen by one camera (no ``cameras`` dim)."""
        if self.pose2d is None:
            raise ValueError("this simulation has no cameras; call simulate(n_cameras=...)")
        cam = self.cameras[camera].name if isinstance(camera, int) else camera
        out = self.pose2d.sel(cameras=cam).drop_vars("cameras")
        out.attrs = dict(self.pose2d.attrs)
        return with_history(out, "synthetic.view", camera=cam)

    def write_anipose_csv(self, path: PathLike) -> Path:
        """Write the 3D pose as an Anipose ``pose-3d`` ``.csv``."""
        save_pose(self.pose3d, path, format="anipose")
        return Path(path)

    def write_dlc(self, path: PathLike, camera: str | int = 0) -> Path:
        """Write one camera's 2D pose as a DeepLabCut ``.h5`` (or ``.csv`` by suffix)."""
        save_pose(self.view(camera), path, format="deeplabcut")
        return Path(path)

    def write_calibration(self, path: PathLike) -> Path:
        """Write the cameras as an Anipose ``calibration.toml``."""

        return write_calibration_toml(self.cameras, path)


def _smooth_noise(rng: np.random.Generator, n: int, dims: int, tau: float,
                  order: int = 1) -> FloatArray:
    """Unit-variance noise low-pass filtered with time constant ``tau`` frames: AR(1) for
    ``order`` 1, that filter applied ``order`` times (smoother paths) otherwise."""
    a = np.exp(-1.0 / tau)
    x = rng.standard_normal((n, dims))
    for _ in range(order):
        x = lfilter([np.sqrt(1 - a * a)], [1, -a], x, axis=0)
    if order > 1:
        x = x / max(float(np.std(x)), 1e-12)
    return np.asarray(x)


def sticky_chain(
    rng: np.random.Generator, n_frames: int, n_states: int, mean_dwell: float
) -> npt.NDArray[np.int64]:
    """Sample a Markov chain that stays in a state ``mean_dwell`` frames on average."""
    stay = 1.0 - 1.0 / max(mean_dwell, 1.0)
    first = rng.integers(n_states)
    switch = rng.random(n_frames) > stay
    jumps = rng.integers(1, max(n_states, 2), size=n_frames)
    # each switch moves on by 1..K-1 states, so the state is the first plus all jumps so far
    steps = np.where(switch, jumps, 0)
    steps[0] = 0
    return np.asarray((first + np.cumsum(steps)) % n_states, dtype=np.int64)


def _chain_with_visits(rng: np.random.Generator, n_frames: int, n_states: int,
                       mean_dwell: float, min_visits: int) -> npt.NDArray[np.int64]:
    """A sticky chain in which every state has at least ``min_visits`` bouts (redrawn)."""
    for _ in range(1000):
        states = sticky_chain(rng, n_frames, n_states, mean_dwell)
        starts = states[np.r_[True, states[1:] != states[:-1]]]
        if np.bincount(starts, minlength=n_states).min() >= min_visits:
            return states
    raise ValueError(f"{n_frames} frames with a mean dwell of {mean_dwell:g} frames cannot "
                     f"give every one of {n_states} expressions {min_visits} bouts; use "
                     "more frames or a shorter dwell")


def short_recording(seed: int | None = 0, n_frames: int = 450) -> SyntheticFace:
    """A recording as short and hard as a real webcam or Anipose session of one face.

    450 frames (15 s at 30 fps) of 3 expressions, each in at least 3 bouts; slow
    transitions and a slow drift within expressions (lag-1 autocorrelation of the
    coordinates about 0.99); a nearly flat face (depth extent under 10% of its width,
    as triangulated faces often are); a little noise and dropout. The states of
    :func:`simulate`'s default are far easier to recover.
    """
    return simulate(n_frames, n_expressions=3, mean_dwell_s=1.2, ease=0.6,
                    expression_jitter=0.15, head_rotation_deg=2.0, head_translation_mm=15.0,
                    noise_mm=0.05, drift_mm=0.2, drift_tau=20.0, depth_scale=0.05,
                    min_visits=3, smoothness=2, seed=seed)


def simulate(
    n_frames: int = 3000,
    *,
    n_expressions: int = 5,
    fps: float = 30.0,
    mean_dwell_s: float = 1.0,
    expression_scale: float = 2.0,
    expression_jitter: float = 0.1,
    ease: float = 0.5,
    head_rotation_deg: float = 3.0,
    head_translation_mm: float = 15.0,
    noise_mm: float = 0.5,
    dropout: float = 0.01,
    n_cameras: int = 0,
    noise_px: float = 0.5,
    outliers: float = 0.0,
    depth_scale: float = 1.0,
    drift_mm: float = 0.0,
    drift_tau: float = 15.0,
    min_visits: int = 0,
    smoothness: int = 1,
    seed: int | None = 0,
) -> SyntheticFace:
    """Simulate a face switching between expressions, with head motion and cameras.

    Parameters
    ----------
    n_frames
        Number of frames.
    n_expressions
        Number of expression prototypes (true states), 1..9 (see :data:`EXPRESSION_NAMES`).
    fps
        Frame rate.
    mean_dwell_s
        Mean time spent in an expression before switching.
    expression_scale
        Multiplies every expression displacement (1: the prototypes as defined, a few mm
        to about 18 mm).
    expression_jitter
        Relative frame-to-frame variation of the expression's intensity.
    ease
        Fraction of the previous frame's expression kept each frame, so that changes ease
        in over a few frames as faces do; 0 switches at once (a pure HMM).
    head_rotation_deg, head_translation_mm
        Standard deviation of the slow rigid head motion.
    noise_mm
        Landmark noise in 3D.
    dropout
        Fraction of landmark × frame values that are lost (NaN in 3D, low confidence in 2D).
    n_cameras
        Number of virtual cameras for the 2D projections (0: no 2D pose).
    noise_px
        Noise of the 2D projections.
    outliers
        Fraction of 2D points replaced by a wrong position anywhere in the image.
    depth_scale
        Multiplies the face's depth (its z coordinates and the expressions' z
        displacements): below 1 a flatter face, as triangulated faces often are.
    drift_mm
        Standard deviation of a slow drift of every landmark within an expression (an
        AR(1) process with time constant ``drift_tau`` frames): real faces never hold an
        expression still, and the drift makes frames strongly autocorrelated.
    drift_tau
        Time constant of the drift, in frames.
    min_visits
        Redraw the state sequence until every expression occurs in at least this many
        separate bouts.
    smoothness
        Order of the low-pass filter of the head motion and the drift: 1 is an AR(1)
        process, 2 and more are smoother (lag-1 autocorrelations nearer 1, as tracked
        and filtered landmarks are).
    seed
        Seed of the random generator.

    Returns
    -------
    SyntheticFace

    Examples
    --------
    >>> sim = simulate(300, n_cameras=2, seed=1)
    >>> sim.pose3d.position.shape, sim.pose2d.position.shape
    ((300, 21, 3), (300, 2, 21, 2))
    """
    if n_frames < 2:
        raise ValueError(f"n_frames must be >= 2, got {n_frames}")
    rng = np.random.default_rng(seed)
    names, face = neutral_face()
    face = face * np.array([1.0, 1.0, depth_scale])
    disp = expression_scale * expression_displacements(n_expressions)
    disp[..., 2] *= depth_scale
    states = _chain_with_visits(rng, n_frames, n_expressions, mean_dwell_s * fps,
                                min_visits)

    intensity = 1.0 + expression_jitter * _smooth_noise(rng, n_frames, 1, 5.0)
    expr = disp[states] * intensity[:, :, None]
    if not 0 <= ease < 1:
        raise ValueError(f"ease must be in [0, 1), got {ease}")
    # faces do not jump: ease each change over a few frames
    expr = np.asarray(lfilter([1 - ease], [1, -ease], expr, axis=0))
    local = face[None] + expr
    if drift_mm:
        local = local + drift_mm * _smooth_noise(rng, n_frames, local[0].size, drift_tau,
                                                 smoothness).reshape(local.shape)

    angles = head_rotation_deg * _smooth_noise(rng, n_frames, 3, 2.0 * fps, smoothness)
    rot = Rotation.from_euler("yxz", angles, degrees=True).as_matrix()
    trans = head_translation_mm * _smooth_noise(rng, n_frames, 3, 2.0 * fps, smoothness)
    world = np.einsum("tij,tlj->tli", rot, local) + trans[:, None, :]
    pos3d = world + noise_mm * rng.standard_normal(world.shape)
    lost = rng.random(pos3d.shape[:2]) < dropout
    pos3d[lost] = np.nan
    conf3d = np.where(lost, np.nan, 1.0)

    state_da = xr.DataArray(
        states, dims=("time",), coords=time_coords(n_frames, fps), name="state",
        attrs={"fps": fps, "expressions": list(EXPRESSION_NAMES[:n_expressions])})
    params = {"n_frames": n_frames, "n_expressions": n_expressions, "seed": seed,
              "depth_scale": depth_scale, "drift_mm": drift_mm, "drift_tau": drift_tau}
    pose3d = with_history(
        make_pose(pos3d, names, conf3d, fps=fps, source_software="faceexpr.synthetic",
                  units="mm"), "synthetic.simulate", **params)

    cams = ring_cameras(n_cameras) if n_cameras else []
    pose2d = None
    if cams:
        uv = np.stack([c.project(world) for c in cams], axis=1)  # (T, C, L, 2)
        uv += noise_px * rng.standard_normal(uv.shape)
        conf = rng.uniform(0.85, 1.0, uv.shape[:3])
        lost2 = rng.random(uv.shape[:3]) < dropout
        conf[lost2] = rng.uniform(0.0, 0.2, int(lost2.sum()))
        uv[lost2] += rng.normal(0, 15.0, (int(lost2.sum()), 2))
        wrong = rng.random(uv.shape[:3]) < outliers
        sizes = np.array(cams[0].size, dtype=np.float64)
        uv[wrong] = rng.uniform(0, 1, (int(wrong.sum()), 2)) * sizes
        conf[wrong] = rng.uniform(0.5, 1.0, int(wrong.sum()))
        pose2d = with_history(
            make_pose(uv, names, conf, fps=fps, cameras=[c.name for c in cams],
                      source_software="faceexpr.synthetic", units="pixels"),
            "synthetic.simulate", n_cameras=n_cameras, outliers=outliers, **params)

    return SyntheticFace(pose3d=pose3d, states=state_da,
                         expressions=list(EXPRESSION_NAMES[:n_expressions]), cameras=cams,
                         pose2d=pose2d, head_rotation=rot, head_position=trans)
