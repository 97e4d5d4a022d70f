"""PoseEstimator backend on DeepLabCut 3 (PyTorch engine): track landmarks in videos.

A DeepLabCut model is trained per project (see
:mod:`faceexpr.backends.deeplabcut.project` for making a face project); this
backend runs it on videos and returns faceexpr poses::

    import faceexpr as fe
    est = fe.pose_estimator("deeplabcut", config="smile-faceexpr-2025-01-01/config.yaml")
    pose = est.estimate("session1.mp4")                       # dims time, landmarks, space
    pose3 = est.estimate(["s1_camA.mp4", "s1_camB.mp4"])       # plus a cameras dim

Videos are analysed with ``deeplabcut.analyze_videos``, which writes
``<video stem>DLC_<network>...shuffle<n>_snapshot_<epochs>.h5`` next to each video (or in
``destfolder``) and skips videos it has analysed before with the same snapshot. Models
exported with ``deeplabcut.export_model`` (a ``.pt`` file in
``exported-models-pytorch/``) run without their project; their output goes to
``<video stem>DLC_<export name>.h5``.

Needs the ``dlc`` extra (``pip install "faceexpr[dlc]"``, after a matching
torch/torchvision pair).
"""

from __future__ import annotations

import errno
import importlib
import math
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from faceexpr._typing import PathLike
from faceexpr.backends.deeplabcut.format import from_dlc_file, to_dlc_file
from faceexpr.backends.deeplabcut.project import (
    INSTALL_HINT,
    check_video,
    find_config,
    load_yaml,
    model_folder,
    project_bodyparts,
    read_project_config,
    require_deeplabcut,
    trained_snapshots,
)
from faceexpr.data import make_pose, validate_pose, with_history
from faceexpr.errors import (
    DeepLabCutProjectError,
    FileFormatError,
    MissingDependencyError,
    MissingFileError,
)
from faceexpr.interfaces import PoseEstimator
from faceexpr.io.cameras import camera_names, load_cameras
from faceexpr.io.video import open_capture, require_cv2
from faceexpr.schemes import KNOWN_SCHEMES, LandmarkScheme

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["DEFAULT_CAM_REGEX", "DeepLabCutEstimator"]

DEFAULT_CAM_REGEX = r"cam([A-Z0-9]+)"
"""Camera of a video from its file name: ``s1_camA.mp4`` is camera ``A``, ``s1_cam2`` ``2``."""


def _is_export(path: Path) -> bool:
    return path.suffix == ".pt"


class DeepLabCutEstimator(PoseEstimator):
    """Track landmarks in videos with a trained DeepLabCut 3 (PyTorch) model.

    Parameters
    ----------
    config
        The project's ``config.yaml`` (or the project folder), or a model exported with
        ``deeplabcut.export_model``: its ``.pt`` file, or the folder holding it (one
        ``.pt`` file, or pick one with ``snapshot``).
    shuffle, trainingsetindex
        The training shuffle and training fraction (index into ``TrainingFraction``) of the
        project whose model runs.
    snapshot
        Index of the snapshot (``-1`` the last one; DeepLabCut sorts them by epochs and
        puts the best one last) or ``None`` for the project's ``snapshotindex``. For an
        export folder holding several models: index into its ``.pt`` files sorted by name.
    device
        ``"auto"`` (CUDA when torch sees a GPU, else the CPU), ``"cpu"``, ``"cuda"``,
        ``"cuda:1"``, ...
    overwrite
        Analyse videos again even when DeepLabCut's output for this model exists.
    individual
        Multi-animal projects: the individual to return (may be omitted when the output
        holds only one).
    batch_size
        Frames per inference batch (default: the project's ``batch_size``, or 1).
    scheme
        The landmarks expected: a :class:`~faceexpr.schemes.LandmarkScheme`, the name of
        a known one (``"face21"``) or a list of names. The model must track all of them;
        the pose returned holds exactly these landmarks, in this order.
    cam_regex
        Pattern whose first group, searched in a video's file name, is its camera name
        (used when several videos are given).
    destfolder
        Folder for DeepLabCut's output files (default: next to each video).
    """

    name: ClassVar[str] = "deeplabcut"
    requires: ClassVar[tuple[str, ...]] = ("deeplabcut",)
    extra: ClassVar[str | None] = "dlc"

    def __init__(
        self,
        config: PathLike | None = None,
        shuffle: int = 1,
        snapshot: int | None = None,
        trainingsetindex: int = 0,
        device: str = "auto",
        overwrite: bool = False,
        individual: str | None = None,
        batch_size: int | None = None,
        scheme: LandmarkScheme | str | Sequence[str] | None = None,
        cam_regex: str = DEFAULT_CAM_REGEX,
        destfolder: PathLike | None = None,
    ) -> None:
        if config is None:
            raise DeepLabCutProjectError(
                "the deeplabcut estimator needs config=<the project's config.yaml, or a "
                "model exported with deeplabcut.export_model>")
        path = Path(config)
        self.exported: Path | None = None
        if _is_export(path) or (path.is_dir() and not (path / "config.yaml").exists()
                                and any(path.glob("*.pt"))):
            if not path.exists():
                raise MissingFileError(errno.ENOENT, "exported DeepLabCut model not found",
                                       str(path))
            self.exported = path
            self.config = path
        else:
            self.config = find_config(path)
        self.shuffle = int(shuffle)
        self.snapshot = None if snapshot is None else int(snapshot)
        self.trainingsetindex = int(trainingsetindex)
        self.device = str(device)
        self.overwrite = bool(overwrite)
        self.individual = individual
        self.batch_size = None if batch_size is None else int(batch_size)
        self.landmarks = _scheme_landmarks(scheme)
        self.cam_regex = cam_regex
        self.destfolder = None if destfolder is None else Path(destfolder)
        if self.destfolder is not None and not self.destfolder.is_dir():
            raise MissingFileError(errno.ENOENT, "destfolder not found", str(self.destfolder))

    @classmethod
    def check_available(cls) -> None:
        """Raise :class:`MissingDependencyError` with the install command and torch note."""
        if cls.missing_dependencies():
            raise MissingDependencyError(
                f"backend '{cls.name}' needs deeplabcut, which is not installed: {INSTALL_HINT}")

    # -- public API ------------------------------------------------------------------
    def estimate(self, video: PathLike | Sequence[PathLike]) -> xr.Dataset:
        """Track the landmarks in ``video``; several synchronised videos (one per camera)
        give one pose with a ``cameras`` dim, cameras named by ``cam_regex``.

        Returns
        -------
        xarray.Dataset
            A 2D pose in pixels; ``confidence`` is DeepLabCut's likelihood; ``fps`` is
            the video's; ``source_files`` names DeepLabCut's ``.h5`` output file(s).

        Raises
        ------
        MissingDependencyError
            When DeepLabCut is not installed.
        MissingFileError, FileFormatError
            When a video is missing or OpenCV cannot read it.
        DeepLabCutProjectError
            When the shuffle has no trained snapshot or the model lacks landmarks of
            ``scheme``.
        """
        videos = [video] if isinstance(video, (str, bytes)) or not isinstance(
            video, Sequence) else list(video)
        if not videos:
            raise ValueError("no videos given")
        paths = [check_video(v) for v in videos]
        names: list[str] | None = None
        if len(paths) > 1:
            names = camera_names(paths, self.cam_regex)
        rates = [_video_fps(p) for p in paths]
        known = [r for r in rates if r]
        if any(not math.isclose(r, known[0], rel_tol=1e-3) for r in known):
            listing = ", ".join(f"{p}: {r}" for p, r in zip(paths, rates))
            raise FileFormatError(f"the videos have different frame rates ({listing})")
        fps = known[0] if known else None

        if self.exported is not None:
            export = self._export_file()
            self.check_available()
            outputs, params = self._run_exported(export, paths)
        else:
            self._check_project()
            self._check_bodyparts(self._model_bodyparts(), self.config)
            self.check_available()
            outputs, params = self._run_project(paths)

        if names is None:
            pose = from_dlc_file(outputs[0], fps=fps, individual=self.individual)
        else:
            pose = load_cameras(outputs, names=names, fps=fps, individual=self.individual,
                                format="deeplabcut")
        if self.landmarks is not None:
            pose = pose.sel(landmarks=self.landmarks)
        pose.attrs["source_software"] = "DeepLabCut"
        pose = with_history(pose, "backends.deeplabcut", videos=[str(p) for p in paths],
                            outputs=[str(p) for p in outputs], device=self.device, **params)
        return validate_pose(pose)

    # -- a project's model -------------------------------------------------------------
    def _model_bodyparts(self) -> list[str]:
        """Body parts of the shuffle's model (its pytorch_config), else of the project."""
        cfg_path = model_folder(self.config, self.shuffle, self.trainingsetindex) / "train" / \
            "pytorch_config.yaml"
        if cfg_path.is_file():
            model_cfg = load_yaml(cfg_path, "model config")
            if not isinstance(model_cfg, dict):
                model_cfg = {}
            meta = model_cfg.get("metadata") or {}
            if meta.get("bodyparts"):
                return [str(b) for b in meta["bodyparts"]] + [
                    str(b) for b in meta.get("unique_bodyparts") or []]
        return project_bodyparts(read_project_config(self.config))

    def _check_project(self) -> list[Path]:
        snapshots = trained_snapshots(self.config, self.shuffle, self.trainingsetindex)
        if not snapshots:
            folder = model_folder(self.config, self.shuffle, self.trainingsetindex)
            where = folder / "train"
            root = self.config.parent / "dlc-models-pytorch"
            others = sorted(str(p.relative_to(self.config.parent))
                            for p in root.glob("iteration-*/*/train/snapshot-*.pt"))
            if others:
                hint = f"; snapshots of other shuffles/iterations: {others[:10]}"
            elif folder.is_dir():
                hint = f"; train it with deeplabcut.train_network(config, shuffle={self.shuffle})"
            else:
                hint = ("; this shuffle has no model folder: run "
                        "deeplabcut.create_training_dataset(config) and train_network first")
            tf = self.config.parent / "dlc-models"
            if not others and any(tf.glob("iteration-*/*/train/snapshot-*.index")):
                hint += ("; the project has TensorFlow snapshots (dlc-models/), which "
                         "faceexpr does not run: DeepLabCut 3's PyTorch engine only")
            raise DeepLabCutProjectError(
                f"{self.config}: no trained snapshot for shuffle {self.shuffle} "
                f"(trainingsetindex {self.trainingsetindex}): looked for snapshot-*.pt in "
                f"{where}{hint}")
        if self.snapshot is not None and not -len(snapshots) <= self.snapshot < len(snapshots):
            raise DeepLabCutProjectError(
                f"{self.config}: snapshot={self.snapshot} but shuffle {self.shuffle} has "
                f"{len(snapshots)} snapshot(s): {[p.name for p in snapshots]}")
        return snapshots

    def _check_bodyparts(self, bodyparts: list[str], source: PathLike) -> None:
        if self.landmarks is None:
            return
        missing = [lm for lm in self.landmarks if lm not in bodyparts]
        if missing:
            raise DeepLabCutProjectError(
                f"{source}: the model does not track the landmarks {missing} of the "
                f"requested scheme; it tracks {bodyparts}")

    def _run_project(self, paths: list[Path]) -> tuple[list[Path], dict[str, Any]]:
        dlc = require_deeplabcut()
        kwargs: dict[str, Any] = {
            "shuffle": self.shuffle, "trainingsetindex": self.trainingsetindex,
            "snapshot_index": self.snapshot, "device": self.device,
            "batch_size": self.batch_size,
            "destfolder": None if self.destfolder is None else str(self.destfolder),
        }
        scorer = str(dlc.pose_estimation_pytorch.analyze_videos(
            str(self.config), [str(p) for p in paths], overwrite=self.overwrite, **kwargs))
        outputs = [self._output(p, scorer) for p in paths]
        stale = [p for p, out in zip(paths, outputs) if out is None]
        if stale:
            # DeepLabCut skips a video whose "_full.pickle" exists even when its .h5 is gone.
            dlc.pose_estimation_pytorch.analyze_videos(
                str(self.config), [str(p) for p in stale], overwrite=True, **kwargs)
            outputs = [self._output(p, scorer) for p in paths]
        missing = [str(p) for p, out in zip(paths, outputs) if out is None]
        if missing:
            raise FileFormatError(
                f"deeplabcut.analyze_videos wrote no .h5 file for {missing} (scorer {scorer})")
        return [p for p in outputs if p is not None], {
            "config": str(self.config), "scorer": scorer, "shuffle": self.shuffle,
            "trainingsetindex": self.trainingsetindex, "snapshot": self.snapshot}

    def _output(self, video: Path, scorer: str) -> Path | None:
        folder = self.destfolder or video.parent
        exact = folder / f"{video.stem}{scorer}.h5"
        if exact.is_file():
            return exact
        # Multi-animal projects: the tracks after stitching, "<stem><scorer>_el.h5" etc.
        tracks = [p for p in folder.glob(f"{video.stem}{scorer}_*.h5") if p.is_file()]
        return max(tracks, key=lambda p: p.stat().st_mtime) if tracks else None

    # -- an exported model ------------------------------------------------------------
    def _export_file(self) -> Path:
        assert self.exported is not None
        if self.exported.is_file():
            return self.exported
        files = sorted(self.exported.glob("*.pt"))
        if len(files) == 1 and self.snapshot is None:
            return files[0]
        if self.snapshot is None or not -len(files) <= self.snapshot < len(files):
            raise DeepLabCutProjectError(
                f"{self.exported}: holds {len(files)} exported models "
                f"{[p.name for p in files]}; pick one with snapshot=<index> or give its file")
        return files[self.snapshot]

    def _run_exported(self, export: Path, paths: list[Path]
                      ) -> tuple[list[Path], dict[str, Any]]:
        stem = export.stem if export.stem.startswith("DLC") else f"DLC_{export.stem}"
        outputs = [(self.destfolder or p.parent) / f"{p.stem}{stem}.h5" for p in paths]
        todo = [(p, out) for p, out in zip(paths, outputs) if self.overwrite
                or not out.is_file()]
        if todo:
            require_deeplabcut()
            torch = importlib.import_module("torch")  # installed with deeplabcut
            try:
                content = torch.load(export, map_location="cpu", weights_only=True)
            except Exception as exc:
                raise FileFormatError(
                    f"{export}: cannot read as a DeepLabCut exported model: {exc}") from exc
            if not isinstance(content, dict) or not {"config", "pose"} <= set(content):
                raise FileFormatError(
                    f"{export}: not a model written by deeplabcut.export_model (it needs "
                    "'config' and 'pose' entries)")
            model_cfg = dict(content["config"])
            if str(model_cfg.get("method", "bu")).lower() != "bu":
                raise DeepLabCutProjectError(
                    f"{export}: a {model_cfg.get('method')!r} (top-down) model; faceexpr runs "
                    "exported bottom-up models only — give the project's config.yaml instead")
            meta = model_cfg.get("metadata") or {}
            bodyparts = [str(b) for b in meta.get("bodyparts") or []]
            self._check_bodyparts(bodyparts, export)
            individuals = [str(i) for i in meta.get("individuals") or ["individual_1"]]
            if self.individual is not None and self.individual not in individuals:
                raise DeepLabCutProjectError(
                    f"{export}: no individual {self.individual!r}; the model has "
                    f"{individuals}")
            which = individuals.index(self.individual) if self.individual else 0
            if self.individual is None and len(individuals) > 1:
                raise DeepLabCutProjectError(
                    f"{export}: the model tracks several individuals {individuals}; choose "
                    "one with individual=...")
            for video, out in todo:
                xy = self._infer_exported(model_cfg, content["pose"], video)
                pose = make_pose(xy[:, which, :, :2], bodyparts, xy[:, which, :, 2],
                                 source_software="DeepLabCut")
                to_dlc_file(pose, out, scorer=stem)
        return outputs, {"config": str(export), "scorer": stem}

    def _infer_exported(self, model_cfg: dict[str, Any], weights: Any, video: Path
                        ) -> np.ndarray[Any, np.dtype[np.float64]]:
        dlc = require_deeplabcut()
        torch = importlib.import_module("torch")
        pep = dlc.pose_estimation_pytorch
        cfg = dict(model_cfg)
        device: str | None = self.device
        if self.device == "auto":
            cfg["device"], device = "auto", None  # DeepLabCut resolves "auto" from the config
        with tempfile.TemporaryDirectory() as tmp:
            snapshot = Path(tmp) / "snapshot.pt"
            torch.save({"model": weights}, snapshot)
            runner = pep.get_pose_inference_runner(
                cfg, snapshot_path=str(snapshot), batch_size=self.batch_size or 1,
                device=device)
            predictions = pep.video_inference(str(video), runner)
        if not predictions:
            raise FileFormatError(f"{video}: DeepLabCut predicted no frame")
        return np.stack([np.asarray(p["bodyparts"], dtype=np.float64)[..., :3]
                         for p in predictions])


def _scheme_landmarks(scheme: LandmarkScheme | str | Sequence[str] | None) -> list[str] | None:
    if scheme is None:
        return None
    if isinstance(scheme, LandmarkScheme):
        return [str(n) for n in scheme.landmarks]
    if isinstance(scheme, str):
        if scheme.lower() not in KNOWN_SCHEMES:
            raise ValueError(f"unknown scheme {scheme!r}; known: {sorted(KNOWN_SCHEMES)} (or "
                             "give a list of landmark names)")
        return [str(n) for n in KNOWN_SCHEMES[scheme.lower()].landmarks]
    names = [str(n) for n in scheme]
    if not names:
        raise ValueError("scheme lists no landmarks")
    return names


def _video_fps(path: Path) -> float | None:
    cv2 = require_cv2()
    cap, _ = open_capture(path)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS))
    finally:
        cap.release()
    return fps if math.isfinite(fps) and fps > 0 else None
