"""DeepLabCut projects for faces: create one, import labels, find its trained models.

DeepLabCut (the ``dlc`` extra) learns landmarks from a few hundred labelled frames. The
usual way with faceexpr::

    from faceexpr.backends.deeplabcut.project import create_face_project, next_steps
    config = create_face_project("smile", ["session1_camA.mp4"], working_directory="dlc")
    print(next_steps(config))  # label, create the training set, train, analyse

:func:`create_face_project` makes the project with the landmarks and skeleton of a
:class:`~faceexpr.schemes.LandmarkScheme` (default :data:`~faceexpr.schemes.FACE21`) and
extracts frames to label. :func:`write_labels` writes labels known from elsewhere (another
tool, a synthetic video) in DeepLabCut's ``CollectedData_<scorer>.h5`` format, so the
project can be trained without the labelling GUI. The functions that only read or write
files (:func:`write_labels`, :func:`read_project_config`, :func:`trained_snapshots`) need
PyYAML but not DeepLabCut itself.
"""

from __future__ import annotations

import datetime
import errno
import importlib
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from faceexpr._files import check_output
from faceexpr._typing import PathLike
from faceexpr.data import validate_pose
from faceexpr.errors import (
    DeepLabCutProjectError,
    FileFormatError,
    MissingDependencyError,
    MissingFileError,
)
from faceexpr.io._common import atomic_write, read_text
from faceexpr.io.hdf5 import check_pickles, check_storage
from faceexpr.io.video import check_video as io_check_video
from faceexpr.io.video import open_capture, require_cv2
from faceexpr.schemes import FACE21, LandmarkScheme

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

__all__ = [
    "INSTALL_HINT",
    "DeepLabCutProjectError",
    "MissingFileError",
    "check_video",
    "create_face_project",
    "face_config_edits",
    "find_config",
    "image_name",
    "labels_table",
    "load_yaml",
    "model_folder",
    "next_steps",
    "read_project_config",
    "require_deeplabcut",
    "trained_snapshots",
    "write_labels",
]

INSTALL_HINT = (
    'pip install "faceexpr[dlc]" — install a matching torch/torchvision pair first '
    "(e.g. pip install torch==2.14.1 torchvision==0.29.1), otherwise pip may pick a torch "
    "build that torchvision cannot use"
)
"""How to install DeepLabCut for faceexpr (named in :class:`MissingDependencyError`)."""

LABELED_DATA = "labeled-data"
H5_KEY = "df_with_missing"
_COORDS = ("x", "y")


def _missing(what: str, path: PathLike, hint: str = "") -> MissingFileError:
    return MissingFileError(errno.ENOENT, f"{what} not found{hint}", str(path))


def require_deeplabcut() -> ModuleType:
    """Import and return :mod:`deeplabcut`, or raise :class:`MissingDependencyError`.

    DeepLabCut imports torch and torchvision; a torchvision that does not match torch
    fails at import (e.g. ``operator torchvision::nms does not exist``), which is reported
    with the same install hint.
    """
    try:
        return importlib.import_module("deeplabcut")
    except ImportError as exc:
        raise MissingDependencyError(
            f"DeepLabCut is not installed ({exc}): {INSTALL_HINT}") from exc
    except Exception as exc:  # torch/torchvision mismatches raise RuntimeError
        raise MissingDependencyError(
            f"DeepLabCut is installed but fails to import ({type(exc).__name__}: {exc}); "
            f"reinstall it: {INSTALL_HINT}") from exc


def _yaml() -> ModuleType:
    try:
        return importlib.import_module("yaml")
    except ImportError as exc:
        raise MissingDependencyError(
            f"reading DeepLabCut's config.yaml needs PyYAML, which is not installed: "
            f"pip install pyyaml (it comes with {INSTALL_HINT.split(' — ')[0]})") from exc


# -- project configuration -------------------------------------------------------------
def find_config(config: PathLike) -> Path:
    """Return the ``config.yaml`` of a DeepLabCut project given it or its folder.

    Raises
    ------
    MissingFileError
        When neither ``config`` nor ``config/config.yaml`` is a file.
    """
    p = Path(config)
    if p.is_dir():
        if (p / "config.yaml").is_file():
            return p / "config.yaml"
        raise _missing("DeepLabCut project config", p / "config.yaml",
                       f" (the folder {p} has no config.yaml)")
    if not p.is_file():
        raise _missing("DeepLabCut project config", p,
                       " (give the config.yaml that deeplabcut.create_new_project wrote)")
    return p


def load_yaml(path: PathLike, what: str = "DeepLabCut config") -> Any:
    """Read a YAML file (DeepLabCut's ``config.yaml``, ``pytorch_config.yaml``).

    Only ``yaml.safe_load`` parses it: plain values, never a Python object (a
    ``!!python/object`` tag is an error, not a call).

    Raises
    ------
    MissingDependencyError
        When PyYAML is not installed.
    MissingFileError
        When there is no such file.
    DeepLabCutProjectError
        When the file cannot be read or parsed, or is larger than a configuration can be.
    """
    yaml = _yaml()
    try:
        text = read_text(path, f"a {what}")
    except MissingFileError:
        raise
    except FileFormatError as exc:
        raise DeepLabCutProjectError(str(exc)) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:  # its message spans lines: the error prints as one
        said = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        raise DeepLabCutProjectError(f"{path}: cannot read the {what}: {said}") from exc
    except RecursionError:  # lists or mappings nested hundreds deep
        raise DeepLabCutProjectError(f"{path}: cannot read the {what}: nested too "
                                     "deeply") from None


def read_project_config(config: PathLike) -> dict[str, Any]:
    """Read a DeepLabCut project's ``config.yaml`` (or its folder) as a dict.

    Raises
    ------
    MissingFileError
        When there is no such file.
    DeepLabCutProjectError
        When it is not a YAML mapping with ``Task``, ``scorer`` and ``bodyparts``.
    """
    path = find_config(config)
    cfg = load_yaml(path, "project config")
    if not isinstance(cfg, dict):
        raise DeepLabCutProjectError(f"{path}: not a DeepLabCut project config (no mapping)")
    missing = [k for k in ("Task", "scorer", "bodyparts") if k not in cfg]
    if missing:
        raise DeepLabCutProjectError(
            f"{path}: not a DeepLabCut project config: it lacks {missing}")
    _check_config(cfg, path)
    return cfg


def _check_config(cfg: Mapping[str, Any], path: PathLike) -> None:
    """Check the types of the entries faceexpr uses, so that a wrong one is named here
    rather than met later (a string of body parts would be read letter by letter)."""
    def fail(key: str, expected: str) -> DeepLabCutProjectError:
        shown = repr(cfg[key])
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return DeepLabCutProjectError(f"{path}: {key} must be {expected}, got {shown}")

    def names(value: object) -> bool:
        return isinstance(value, list) and all(isinstance(v, (str, int)) and not
                                               isinstance(v, bool) for v in value)

    for key in ("Task", "scorer"):
        if not isinstance(cfg[key], (str, int)) or isinstance(cfg[key], bool):
            raise fail(key, "a name")
    multi = cfg.get("multianimalproject")
    if multi is not None and not isinstance(multi, bool):
        raise fail("multianimalproject", "true or false")
    # multi-animal projects write "bodyparts: MULTI!" and list them under other keys
    if not (names(cfg["bodyparts"]) or (multi and cfg["bodyparts"] == "MULTI!")):
        raise fail("bodyparts", "a list of body-part names")
    for key in ("multianimalbodyparts", "uniquebodyparts"):
        if cfg.get(key) is not None and not names(cfg[key]):
            raise fail(key, "a list of body-part names")
    fractions = cfg.get("TrainingFraction")
    if fractions is not None and not (isinstance(fractions, list) and all(
            isinstance(f, (int, float)) and not isinstance(f, bool) and 0 < f < 1
            for f in fractions)):
        raise fail("TrainingFraction", "a list of fractions between 0 and 1")
    iteration = cfg.get("iteration")
    if iteration is not None and (not isinstance(iteration, int) or isinstance(iteration, bool)
                                  or iteration < 0):
        raise fail("iteration", "a whole number >= 0")


def project_bodyparts(cfg: Mapping[str, Any]) -> list[str]:
    """Return the body parts a project's model tracks (multi-animal: the shared ones first,
    then the unique ones), as ``deeplabcut`` lists them in its output files."""
    if cfg.get("multianimalproject"):
        parts = list(cfg.get("multianimalbodyparts") or [])
        parts += list(cfg.get("uniquebodyparts") or [])
    else:
        parts = list(cfg.get("bodyparts") or [])
    return [str(p) for p in parts]


def model_folder(config: PathLike, shuffle: int = 1, trainingsetindex: int = 0) -> Path:
    """Return the folder of a shuffle's PyTorch model (snapshots lie in its ``train/``).

    It is ``dlc-models-pytorch/iteration-<i>/<Task><date>-trainset<pct>shuffle<n>`` under
    the project, as DeepLabCut 3 names it.
    """
    path = find_config(config)
    cfg = read_project_config(path)
    fractions = list(cfg.get("TrainingFraction") or [])
    if not 0 <= trainingsetindex < len(fractions):
        raise DeepLabCutProjectError(
            f"{path}: trainingsetindex={trainingsetindex} but TrainingFraction is "
            f"{fractions}")
    pct = int(float(fractions[trainingsetindex]) * 100)
    name = f"{cfg['Task']}{cfg.get('date', '')}-trainset{pct}shuffle{int(shuffle)}"
    return path.parent / "dlc-models-pytorch" / f"iteration-{cfg.get('iteration', 0)}" / name


def trained_snapshots(config: PathLike, shuffle: int = 1, trainingsetindex: int = 0
                      ) -> list[Path]:
    """Return the pose-model snapshots (``snapshot-*.pt``) of a shuffle in DeepLabCut's
    order, the one its ``snapshot_index`` counts in: by epochs, the best one
    (``snapshot-best-*.pt``) last.

    Detector snapshots of top-down models are left out. The list is empty when the shuffle
    has not been trained.
    """
    train = model_folder(config, shuffle, trainingsetindex) / "train"
    found = [p for p in train.glob("snapshot-*.pt")
             if not p.name.startswith("snapshot-detector")]

    def order(p: Path) -> tuple[bool, int, str]:
        digits = "".join(c for c in p.stem.rsplit("-", 1)[-1] if c.isdigit())
        return (p.name.startswith("snapshot-best"), int(digits) if digits else -1, p.name)

    return sorted(found, key=order)


# -- creating a project ----------------------------------------------------------------
def face_config_edits(scheme: LandmarkScheme | Sequence[str] = FACE21, n_frames: int = 20
                      ) -> dict[str, Any]:
    """Return the ``config.yaml`` entries that make a DeepLabCut project track ``scheme``.

    ``bodyparts`` are the scheme's landmarks, ``skeleton`` its edges as ``[a, b]`` pairs
    (each pair once), ``numframes2pick`` the number of frames to extract per video.
    A plain list of landmark names gives no skeleton.
    """
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    if isinstance(scheme, LandmarkScheme):
        landmarks = [str(n) for n in scheme.landmarks]
        pairs = scheme.edges()
    else:
        if isinstance(scheme, str):
            raise ValueError(f"scheme must be a LandmarkScheme or a list of names, got "
                             f"the string {scheme!r}")
        landmarks = [str(n) for n in scheme]
        pairs = []
    if not landmarks:
        raise ValueError("the scheme has no landmarks")
    dup = sorted({n for n in landmarks if landmarks.count(n) > 1})
    if dup:
        raise ValueError(f"the scheme names landmarks twice: {dup}")
    skeleton: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    for a, b in pairs:
        key = frozenset((a, b))
        if a != b and key not in seen:
            seen.add(key)
            skeleton.append([a, b])
    return {"bodyparts": landmarks, "skeleton": skeleton, "numframes2pick": int(n_frames)}


def check_video(video: PathLike) -> Path:
    """Return the video's path after checking that OpenCV can read a frame of it."""

    p = Path(video)
    if not p.is_file():
        raise _missing("video", p)
    io_check_video(p)
    return p


def create_face_project(
    name: str,
    videos: PathLike | Sequence[PathLike],
    working_directory: PathLike = ".",
    experimenter: str = "faceexpr",
    scheme: LandmarkScheme | Sequence[str] = FACE21,
    n_frames: int = 20,
    copy_videos: bool = False,
    *,
    extract: bool = True,
) -> Path:
    """Create a DeepLabCut project that tracks the landmarks of a face scheme.

    Parameters
    ----------
    name
        Project (task) name; the folder is ``<name>-<experimenter>-<YYYY-MM-DD>``.
    videos
        Videos to label frames from (DeepLabCut links or copies them into the project).
    working_directory
        Folder in which the project folder is made.
    experimenter
        DeepLabCut's ``scorer`` (names the labelled-data files).
    scheme
        The landmarks and skeleton (see :func:`face_config_edits`).
    n_frames
        Frames per video to extract for labelling (``numframes2pick``).
    copy_videos
        Copy the videos into the project instead of linking them.
    extract
        Extract ``n_frames`` frames per video uniformly in time
        (``deeplabcut.extract_frames(..., mode="automatic", algo="uniform")``). Leave it
        off when the labels come from :func:`write_labels`, which extracts its own frames.

    Returns
    -------
    pathlib.Path
        The project's ``config.yaml``; :func:`next_steps` says what to do with it.

    Raises
    ------
    MissingDependencyError
        When DeepLabCut is not installed.
    MissingFileError, FileFormatError
        When a video is missing or OpenCV cannot read it.
    DeepLabCutProjectError
        When the project folder already exists.
    """
    face_config_edits(scheme, n_frames)  # check the arguments before creating anything
    paths = [videos] if isinstance(videos, (str, os.PathLike)) else list(videos)
    if not paths:
        raise ValueError("no videos given: a DeepLabCut project needs at least one")
    paths = [check_video(v).resolve() for v in paths]
    wd = Path(working_directory)
    if not wd.is_dir():
        raise _missing("working directory", wd)
    folder = wd.resolve() / f"{name}-{experimenter}-{datetime.date.today():%Y-%m-%d}"
    if folder.exists():
        raise DeepLabCutProjectError(
            f"{folder}: the project already exists; use its config.yaml or choose another "
            "name")
    check_output(folder)  # writable, names the file system allows: before DeepLabCut runs
    dlc = require_deeplabcut()
    created = dlc.create_new_project(name, experimenter, [str(p) for p in paths],
                                     working_directory=str(wd.resolve()),
                                     copy_videos=copy_videos)
    config = Path(str(created))
    if not config.is_file():
        raise DeepLabCutProjectError(
            f"deeplabcut.create_new_project made no project config (it returned {created!r})")
    dlc.auxiliaryfunctions.edit_config(str(config), face_config_edits(scheme, n_frames))
    if extract:
        dlc.extract_frames(str(config), mode="automatic", algo="uniform", userfeedback=False)
    return config


def next_steps(config: PathLike) -> str:
    """Return what to do after :func:`create_face_project`: label, train, analyse."""
    c = str(config)
    return "\n".join([
        f"DeepLabCut project: {c}",
        "1. Label the extracted frames in DeepLabCut's GUI (napari):",
        f"     import deeplabcut; deeplabcut.label_frames({c!r})",
        "   or write labels you already have with",
        "     faceexpr.backends.deeplabcut.project.write_labels(...).",
        "2. Create the training set (PyTorch engine):",
        f"     deeplabcut.create_training_dataset({c!r})",
        "3. Train the network (a GPU helps a lot):",
        f"     deeplabcut.train_network({c!r}, shuffle=1)",
        "4. Track the landmarks and find the expression states:",
        f"     faceexpr analyze VIDEO --estimator deeplabcut --estimator-option config={c}",
        "   or in Python: fe.pose_estimator('deeplabcut', config=...).estimate(video)",
    ])


# -- labels ----------------------------------------------------------------------------
def image_name(frame: int, n_video_frames: int) -> str:
    """Return the file name DeepLabCut's ``extract_frames`` gives a video frame.

    ``img`` + the frame number zero-padded to ``ceil(log10(n_video_frames))`` digits
    + ``.png``.
    """
    digits = math.ceil(math.log10(n_video_frames)) if n_video_frames > 0 else 0
    return f"img{int(frame):0{digits}d}.png"


def labels_table(
    labels: Mapping[int, npt.ArrayLike],
    bodyparts: Sequence[str],
    scorer: str,
    video_stem: str,
    n_video_frames: int,
) -> pd.DataFrame:
    """Build DeepLabCut's labelled-data table for labelled frames of one video.

    Parameters
    ----------
    labels
        Frame number -> ``(len(bodyparts), 2)`` pixel positions (NaN: not labelled).
    bodyparts
        Body part names, in the order of the rows of each label array.
    scorer
        The project's ``scorer``.
    video_stem
        The video's file name without suffix (its ``labeled-data`` folder).
    n_video_frames
        The video's number of frames (sets the padding of the image names).

    Returns
    -------
    pandas.DataFrame
        Index: tuples ``("labeled-data", video_stem, "img<frame>.png")``; columns
        MultiIndex ``(scorer, bodyparts, coords)`` with coords ``x, y``; float64.
    """
    import pandas as pd

    names = [str(b) for b in bodyparts]
    rows, index = [], []
    for frame in sorted(labels):
        xy = np.asarray(labels[frame], dtype=np.float64)
        if xy.shape != (len(names), 2):
            raise ValueError(
                f"frame {frame}: labels must have shape ({len(names)}, 2) — one (x, y) per "
                f"body part {names} — got {xy.shape}")
        if not 0 <= int(frame) < n_video_frames:
            raise ValueError(
                f"frame {frame} is not in the video (frames 0..{n_video_frames - 1})")
        rows.append(xy.reshape(-1))
        index.append((LABELED_DATA, video_stem, image_name(int(frame), n_video_frames)))
    columns = pd.MultiIndex.from_product([[scorer], names, list(_COORDS)],
                                         names=["scorer", "bodyparts", "coords"])
    data = np.array(rows, dtype=np.float64).reshape(len(rows), len(columns))
    return pd.DataFrame(data, index=pd.MultiIndex.from_tuples(index) if index else None,
                        columns=columns)


def _labels_from_pose(pose: xr.Dataset, bodyparts: Sequence[str],
                      frames: Sequence[int] | None) -> dict[int, npt.NDArray[np.float64]]:
    pose = validate_pose(pose, ndim=2, cameras=False)
    have = [str(n) for n in pose["landmarks"].values]
    missing = [b for b in bodyparts if b not in have]
    if len(missing) == len(bodyparts):
        raise DeepLabCutProjectError(
            f"the pose has none of the project's body parts {list(bodyparts)}; it has {have}")
    xy = pose["position"].transpose("time", "landmarks", "space").to_numpy()
    frame_of = [int(f) for f in pose["frame"].values]
    row_of = {f: i for i, f in enumerate(frame_of)}
    wanted = frame_of if frames is None else [int(f) for f in frames]
    absent = [f for f in wanted if f not in row_of]
    if absent:
        raise ValueError(f"frames {absent[:10]} are not in the pose (its frame coordinate)")
    cols = [have.index(b) if b in have else -1 for b in bodyparts]
    out = {}
    for f in wanted:
        row = np.full((len(bodyparts), 2), np.nan)
        for j, c in enumerate(cols):
            if c >= 0:
                row[j] = xy[row_of[f], c]
        out[f] = row
    return out


def write_labels(
    config: PathLike,
    video: PathLike,
    labels: Mapping[int, npt.ArrayLike] | xr.Dataset,
    frames: Sequence[int] | None = None,
) -> Path:
    """Write known landmark positions as labelled frames of a DeepLabCut project.

    The frames are saved as ``labeled-data/<video stem>/img<frame>.png`` (where
    ``deeplabcut.extract_frames`` would put them; existing images are kept) and the labels
    are added to ``CollectedData_<scorer>.h5`` (table ``df_with_missing``) and its
    ``.csv`` twin; labels of the same frames already there are replaced. The project can
    then be trained with ``deeplabcut.create_training_dataset`` and ``train_network``.

    Parameters
    ----------
    config
        The project's ``config.yaml`` (or its folder). Single-animal projects only.
    video
        The video the frames come from (read with OpenCV).
    labels
        Frame number -> ``(n_bodyparts, 2)`` pixel positions in the order of the project's
        ``bodyparts``, or a single-view 2D pose whose landmarks are matched to the body
        parts by name (body parts it lacks are left unlabelled, NaN).
    frames
        With a pose: the frame numbers (its ``frame`` coordinate) to write; default all.

    Returns
    -------
    pathlib.Path
        The ``CollectedData_<scorer>.h5`` file.
    """
    import pandas as pd
    import xarray as xr

    path = find_config(config)
    cfg = read_project_config(path)
    if cfg.get("multianimalproject"):
        raise DeepLabCutProjectError(
            f"{path}: write_labels writes single-animal labels; this is a multi-animal project")
    bodyparts = project_bodyparts(cfg)
    scorer = str(cfg["scorer"])
    if isinstance(labels, xr.Dataset):
        rows = _labels_from_pose(labels, bodyparts, frames)
    else:
        if frames is not None:
            raise ValueError("frames= selects frames of a pose; with a mapping of labels "
                             "give only the frames to write")
        rows = {int(k): np.asarray(v, dtype=np.float64) for k, v in labels.items()}
    if not rows:
        raise ValueError("no labelled frames given")

    cv2 = require_cv2()
    video_path = check_video(video)
    cap, _ = open_capture(video_path)
    try:
        n_video = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        folder = path.parent / LABELED_DATA / video_path.stem
        folder.mkdir(parents=True, exist_ok=True)
        table = labels_table(rows, bodyparts, scorer, video_path.stem, n_video)
        todo = sorted(f for f in rows if not (folder / image_name(f, n_video)).is_file())
        index = 0
        for frame in todo:
            if frame != index:
                cap.set(cv2.CAP_PROP_POS_FRAMES, frame)
            ok, image = cap.read()
            if not ok:
                raise FileFormatError(f"{video_path}: cannot read frame {frame}")
            index = frame + 1
            _write_png(cv2, folder / image_name(frame, n_video), image)
    finally:
        cap.release()

    h5 = folder / f"CollectedData_{scorer}.h5"
    if h5.is_file():
        check_storage(h5)  # data stored elsewhere, or more than fits in memory
        check_pickles(h5)  # pandas unpickles what PyTables stored: nothing may run code
        old = pd.read_hdf(h5, key=H5_KEY)
        if not isinstance(old, pd.DataFrame) or not old.columns.equals(table.columns):
            raise DeepLabCutProjectError(
                f"{h5}: the labels there have other columns (scorer or body parts) than the "
                "project's; move the file away to write new labels")
        old.index = pd.MultiIndex.from_tuples(
            [tuple(i) if isinstance(i, tuple) else (LABELED_DATA, video_path.stem,
                                                    Path(str(i)).name) for i in old.index])
        old = old[~old.index.isin(table.index)]
        table = pd.concat([old, table]).sort_index()
    final = table
    atomic_write(h5, lambda tmp: final.to_hdf(tmp, key=H5_KEY, mode="w"))
    atomic_write(h5.with_suffix(".csv"), lambda tmp: final.to_csv(tmp))
    return h5


def _write_png(cv2: Any, target: Path, image: Any) -> None:
    # OpenCV picks the format from the suffix, which atomic_write's temporary name lacks.
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise FileFormatError(f"{target}: OpenCV cannot encode the frame as PNG")
    atomic_write(target, lambda tmp: tmp.write_bytes(data.tobytes()))
