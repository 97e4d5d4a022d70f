"""Writing files safely: a file appears complete or not at all, and nothing that is not
ours is ever removed.

:func:`check_output` checks where a command will write *before* any work is done, so a
long fit never ends in "cannot write there"; :func:`make_parents` creates the missing
folders above an output and takes them back if the write fails; :func:`temporary_path`
names the hidden work file or folder beside an output (short, whatever the output's name);
:func:`signals_interrupt` turns SIGTERM and SIGHUP into an exception so that the clean-up
that runs for Ctrl-C runs for them too.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Literal

from faceexpr._typing import PathLike
from faceexpr.errors import FaceexprError

TEMPORARY_PREFIX = ".faceexpr-"
"""Start of every temporary name faceexpr makes beside an output."""

RESERVED_BYTES = 1 << 20
"""Free space kept in hand on top of an output's estimated size."""


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM, SIGHUP) while faceexpr worked.

    A :class:`KeyboardInterrupt`, so every clean-up written for Ctrl-C runs for it too.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def signals_interrupt() -> Iterator[None]:
    """Raise :class:`Terminated` on SIGTERM and SIGHUP inside the block (main thread only;
    elsewhere Python cannot install handlers and the block runs unchanged)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated(signum)

    wanted = [s for s in ("SIGTERM", "SIGHUP") if hasattr(signal, s)]
    previous = {s: signal.signal(getattr(signal, s), handler) for s in wanted}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(getattr(signal, s), old)


def temporary_path(folder: Path, suffix: str = ".tmp") -> Path:
    """A fresh hidden name in ``folder`` for work in progress (nothing is created).

    Its length does not depend on the final name, so an output whose name is near the
    file-system limit can still be written through it.
    """
    return folder / f"{TEMPORARY_PREFIX}{uuid.uuid4().hex[:12]}{suffix}"


def atomic_write(path: PathLike, write: Callable[[Path], object]) -> None:
    """Write through ``write(tmp)`` to a temporary file beside ``path``, then rename it.

    A failure leaves neither a half-written ``path`` nor the temporary file; an existing
    ``path`` is left as it was. A full disk is reported as one error naming ``path``.
    """
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        raise FileNotFoundError(errno.ENOENT, "the folder does not exist", str(folder))
    # Same folder so that os.replace is an atomic rename, not a copy across filesystems.
    tmp = temporary_path(folder, ".part")
    try:
        write(tmp)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise OSError(exc.errno, "no space left on device", str(target)) from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class OutputLocation:
    """Where an output will be written, as :func:`check_output` found it.

    Attributes
    ----------
    path
        The output, absolute.
    missing
        Folders above it that do not exist yet, outermost first
        (:func:`make_parents` creates them).
    """

    path: Path
    missing: tuple[Path, ...]


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def check_output(
    out: PathLike,
    *,
    overwrite: bool = False,
    inputs: Sequence[PathLike] = (),
    kind: Literal["folder", "file"] = "folder",
    size: int = 0,
) -> OutputLocation:
    """Check that ``out`` can be written, before any work; write nothing.

    Parameters
    ----------
    out
        The output folder (or file, with ``kind="file"``).
    overwrite
        Whether an existing (non-empty) output may be replaced.
    inputs
        Files the command reads: an output that is one of them or holds one is refused,
        even with ``overwrite`` (replacing it would delete them).
    kind
        ``"folder"`` or ``"file"``.
    size
        Estimated bytes the output takes; refused when the file system has less free.

    Returns
    -------
    OutputLocation
        The absolute output and the folders above it still to create.

    Raises
    ------
    FaceexprError
        With one line saying what is wrong: an output that is the working folder or one
        above it, an existing output without ``overwrite``, a file where a folder is
        wanted (or the reverse), an output holding an input, a component longer than the
        file system allows, a folder above it that cannot be written, or too little space.
    """
    given = Path(os.fspath(out))
    if not str(given).strip():
        raise FaceexprError("the output path is empty")
    path = Path(os.path.abspath(given))
    cwd = Path.cwd()
    if path == cwd or path in cwd.parents or path.parent == path:
        raise FaceexprError(
            f"refusing to write the output to {given} ({path}): it is the working folder or "
            "one above it, which replacing would remove; name a new folder, e.g. --out "
            "results")
    _check_name_lengths(given, path.parts[1:], _name_max(cwd))
    if path.is_symlink() or path.exists():
        if kind == "folder" and not path.is_dir():
            raise FaceexprError(f"{given} exists and is not a folder")
        if kind == "file" and path.is_dir():
            raise FaceexprError(f"{given} is a folder; name the file to write")
        if not overwrite and (kind == "file" or any(path.iterdir())):
            raise FaceexprError(f"{given} exists{' and is not empty' if kind == 'folder' else ''}"
                                " (pass overwrite=True / --overwrite to replace it)")
    for item in inputs:
        source = Path(os.path.abspath(os.fspath(item)))
        real = Path(os.path.realpath(source))
        for candidate in {source, real}:
            if candidate == path or (kind == "folder" and path in candidate.parents):
                raise FaceexprError(
                    f"the output {given} {'is' if candidate == path else 'holds'} the input "
                    f"{item}; replacing it would delete it: choose another output")
    existing = path.parent
    missing: list[Path] = []
    while not existing.exists():
        missing.append(existing)
        existing = existing.parent
    if not existing.is_dir():
        raise FaceexprError(f"cannot create {given}: {existing} is a file, not a folder")
    _check_name_lengths(given, [p.name for p in [*missing, path]], _name_max(existing))
    if not os.access(existing, os.W_OK | os.X_OK):
        raise FaceexprError(f"cannot write {given}: the folder {existing} is not writable")
    free = shutil.disk_usage(existing).free
    if size and free < size + RESERVED_BYTES:
        raise FaceexprError(
            f"not enough space for {given}: about {_mb(size + RESERVED_BYTES)} needed, "
            f"{_mb(free)} free on the file system of {existing}")
    return OutputLocation(path, tuple(reversed(missing)))


def _check_name_lengths(given: Path, names: Sequence[str], limit: int) -> None:
    for name in names:
        size = len(os.fsencode(name))
        if size > limit:
            raise FaceexprError(
                f"cannot create {str(given)[:60]}...: the name {name[:30]}... is {size} bytes, "
                f"longer than the {limit} bytes this file system allows")


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


@contextmanager
def make_parents(location: OutputLocation) -> Iterator[None]:
    """Create the folders above an output; remove those we created if the block fails.

    Only folders this call created, and only while empty, are removed: nothing that was
    there before, nothing someone else put in them since.
    """
    created: list[Path] = []
    try:
        for folder in location.missing:
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            created.append(folder)
        yield
    except BaseException:
        for folder in reversed(created):
            try:
                folder.rmdir()
            except OSError:
                break
        raise
