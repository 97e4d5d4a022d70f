"""Where the test photographs are: ``$FACEEXPR_MEDIA``, else ``shared/media`` beside the
repository (found from this file and from the working folder). They are real photographs
of several people (see that folder's README), read-only: tests copy what they use. Also
:func:`require_dlib`, the dependencies of the dlib tests that use them."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def media_folder(names: Iterable[str]) -> Path | None:
    """The folder holding every photograph of ``names``, or None when there is none."""
    wanted = list(names)
    repository = Path(__file__).resolve().parents[1]
    for folder in (os.environ.get("FACEEXPR_MEDIA"), repository.parent / "shared" / "media",
                   Path.cwd().parent / "shared" / "media"):
        if folder and all((Path(folder) / name).is_file() for name in wanted):
            return Path(folder)
    return None


SKIP_REASON = "the test photographs (shared/media, or $FACEEXPR_MEDIA) are not here"


def require_media(names: Iterable[str]) -> Path:
    """:func:`media_folder`, or skip the calling test module when it is not here."""
    import pytest

    folder = media_folder(names)
    if folder is None:
        pytest.skip(SKIP_REASON, allow_module_level=True)
    return folder


def copy_photos(media: Path, names: Iterable[str], folder: Path) -> dict[str, Path]:
    """Copy the photographs ``names`` from ``media`` into ``folder``: name -> copy."""
    import shutil

    return {name: Path(shutil.copy(media / name, folder / name)) for name in names}


def require_dlib() -> tuple[Any, Any]:
    """``dlib`` and ``cv2``, or skip the calling test module when they, or the
    ``face_recognition_models`` that the dlib backend reads its models from, are not
    installed."""
    import importlib.util

    import pytest

    dlib = pytest.importorskip("dlib")
    # found, not imported: face_recognition_models 0.3 imports pkg_resources (gone in
    # setuptools 82)
    if importlib.util.find_spec("face_recognition_models") is None:
        pytest.skip("face_recognition_models is not installed", allow_module_level=True)
    return dlib, pytest.importorskip("cv2")
