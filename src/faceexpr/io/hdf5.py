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
        visit("", f)
        f.visititems(visit)
