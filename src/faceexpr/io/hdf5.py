"""HDF5 files that may hold pickles, checked before anything unpickles them.

PyTables (and so pandas' ``read_hdf``/``HDFStore``) unpickles node attributes and object
arrays when it reads them, so a crafted file runs code on opening. :func:`check_pickles`
reads every attribute and object array of a file with h5py, which unpickles nothing, and
loads each pickle with :func:`restricted_loads`, which admits plain built-in values only
(lists, tuples, dicts, strings, numbers, None) and refuses every global: no class, no
function, so nothing can run. A file that passes holds no pickle that can run code.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np

from faceexpr._typing import PathLike
from faceexpr.errors import FileFormatError

__all__ = ["UnsafePickleError", "check_pickles", "restricted_loads"]

class UnsafePickleError(FileFormatError):
    """A pickle in a file asks for a class or function: it could run code."""


class _Restricted(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise UnsafePickleError(f"it asks for {module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("it asks for a persistent object")


def restricted_loads(data: bytes) -> Any:
    """Unpickle ``data`` admitting built-in values only.

    Raises
    ------
    UnsafePickleError
        When the pickle names any global (class or function) or a persistent object.
    pickle.UnpicklingError, ValueError, EOFError
        When ``data`` is not a pickle at all.

    Examples
    --------
    >>> restricted_loads(pickle.dumps({"names": ["scorer", "bodyparts"]}))
    {'names': ['scorer', 'bodyparts']}
    """
    return _Restricted(io.BytesIO(data)).load()


def _as_bytes(value: Any) -> bytes | None:
    if isinstance(value, bytes):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind == "S" and value.ndim == 0:
        return bytes(value.item())
    if isinstance(value, np.bytes_):
        return bytes(value)
    return None


def _check(data: bytes, where: str, path: PathLike) -> None:
    # every byte string is tried: a pickle may start with any opcode (``c`` for a global)
    try:
        restricted_loads(data)
    except UnsafePickleError as exc:
        raise UnsafePickleError(
            f"{path}: refused: the pickled {where} could run code when read ({exc}); "
            "faceexpr reads only files whose stored Python objects are plain values"
        ) from None
    except Exception:  # not a pickle (a plain string that starts like one): harmless
        return


def check_pickles(path: PathLike) -> None:
    """Refuse an HDF5 file holding any pickle that could run code when read.

    Every attribute of every group and dataset, and every element of object arrays
    (PyTables' ``PSEUDOATOM = "object"``), is read with h5py and checked with
    :func:`restricted_loads`.

    Raises
    ------
    UnsafePickleError
        Naming the file and the node.
    FileFormatError
        When the file is not HDF5.
    """
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise FileFormatError(f"{path}: not an HDF5 file: {exc}") from exc

    def visit(name: str, node: Any) -> None:
        for key in node.attrs:
            try:
                value = node.attrs[key]
            except (OSError, TypeError):  # a type h5py cannot read; PyTables would not
                continue                  # unpickle it either
            data = _as_bytes(value)
            if data is not None:
                _check(data, f"attribute '{key}' of /{name}", path)
        if isinstance(node, h5py.Dataset) and _as_bytes(node.attrs.get("PSEUDOATOM")) == b"object":
            for i, element in enumerate(node):
                _check(np.asarray(element, dtype=np.uint8).tobytes(),
                       f"object {i} of /{name}", path)

    with f:
        try:
            visit("", f)
            f.visititems(visit)
        except UnsafePickleError:
            raise
        except Exception as exc:  # a damaged file: h5py raises RuntimeError, OSError...
            raise FileFormatError(f"{path}: not a readable HDF5 file: {exc}") from exc


def _is_text(name: object) -> bool:
    if not isinstance(name, str):  # h5py gives names that are not UTF-8 as bytes
        return False
    try:
        name.encode("utf-8")  # surrogates stand for bytes that were not UTF-8
    except UnicodeEncodeError:
        return False
    return True


MAX_EXPANSION = 64
"""How many times its own size the datasets of an HDF5 file may declare (see
:func:`check_storage`); uncompressed files hold about 1, compressed pose data a few."""
MIN_BUDGET = 256 * 2**20
"""Bytes any HDF5 file may declare whatever its size (small files of NaN compress well)."""


def check_storage(path: PathLike) -> None:
    """Refuse an HDF5 file whose data lies outside it or would not fit in memory.

    HDF5 lets a dataset keep its bytes in other files (external storage, virtual
    datasets) and a link point into another file, so reading such a file reads whatever
    they name: another user's data, a pipe that blocks, ``/dev/zero``. A compressed or
    never-written dataset may declare far more bytes than the file holds (a few bytes that
    ask for terabytes). Only the structure is read, with h5py (which unpickles nothing).

    Raises
    ------
    FileFormatError
        Naming the file and the node: an external link, a dataset stored in other files,
        or datasets that together declare more than ``max(MIN_BUDGET, MAX_EXPANSION *
        file size)`` bytes; or when the file is not readable HDF5.
    """
    import os

    import h5py

    budget = max(MIN_BUDGET, MAX_EXPANSION * os.path.getsize(path))
    declared = 0

    # h5py stops a visit when the callback returns something: the reason to refuse.
    def link(name: str, info: Any) -> str | None:
        if isinstance(info, h5py.ExternalLink):
            return f"/{name} links to another file ({info.filename})"
        return None

    def node(name: str, obj: Any) -> str | None:
        nonlocal declared
        # PyTables crashes the process (no exception) on a name that is not UTF-8 text
        for key in [name, *obj.attrs]:
            if not _is_text(key):
                return f"the name {key!r} of /{name} or of one of its attributes is not text"
        if not isinstance(obj, h5py.Dataset):
            return None
        if obj.is_virtual or obj.external:
            return f"the data of /{name} is stored in other files"
        declared += int(obj.size) * int(obj.dtype.itemsize)
        if declared > budget:
            return (f"its datasets (up to /{name}) declare {declared} bytes, more than "
                    f"{MAX_EXPANSION} times the file's size")
        return None

    try:
        with h5py.File(path, "r") as f:
            problem = (f.visititems_links(link) or node("", f) or f.visititems(node))
    except Exception as exc:  # h5py raises OSError, KeyError, RuntimeError... on damage
        raise FileFormatError(f"{path}: not a readable HDF5 file: {exc}") from exc
    if problem:
        raise FileFormatError(f"{path}: refused: {problem}; faceexpr reads only "
                              "self-contained files of a size that fits in memory")
