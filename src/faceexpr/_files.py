"""Writing files safely: a file appears complete or not at all."""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Callable
from pathlib import Path

from faceexpr._typing import PathLike


def atomic_write(path: PathLike, write: Callable[[Path], object]) -> None:
    """Write through ``write(tmp)`` to a temporary file beside ``path``, then rename it.

    A failure leaves neither a half-written ``path`` nor the temporary file; an existing
    ``path`` is left as it was.
    """
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        raise FileNotFoundError(errno.ENOENT, "the folder does not exist", str(folder))
    # Same folder so that os.replace is an atomic rename, not a copy across filesystems.
    tmp = folder / f".{target.name}.{uuid.uuid4().hex}.part"
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
