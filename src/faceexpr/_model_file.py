"""Checks of a saved state model (``.npz`` written by
:meth:`faceexpr.interfaces.StateModel.save`) before anything is built from it.

A model file is input like any other: :func:`read_model_file` reads its arrays without
pickles and its metadata as plain JSON, and :func:`check_model_params` checks that the
parameters describe a valid Gaussian HMM, so a damaged or edited file fails on loading,
naming the file, instead of at predict time.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from faceexpr._options import short_repr
from faceexpr._typing import FloatArray
from faceexpr.errors import FileFormatError

__all__ = ["check_model_params", "read_model_file"]

_MODEL_ARRAYS: tuple[str, ...] = ("means", "covars", "transmat", "startprob")
_MODEL_META: dict[str, str] = {"backend": "a backend name", "n_states": "an integer >= 1",
                               "random_state": "an integer or null",
                               "options": "an object of options",
                               "feature_names": "a list of distinct names"}
_PROBABILITY_TOLERANCE = 1e-6


def read_model_file(path: Path) -> tuple[dict[str, Any], dict[str, FloatArray]]:
    """The metadata and the numeric arrays of a model file, or a FileFormatError."""
    what = "a faceexpr state model (.npz written by StateModel.save)"
    with open(path, "rb") as fh:
        try:
            archive = np.load(fh, allow_pickle=False)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise FileFormatError(f"{path}: not {what}: {exc}") from None
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise FileFormatError(f"{path}: not {what}: a single .npy array")
        with archive:
            missing = [k for k in ("meta", *_MODEL_ARRAYS) if k not in archive.files]
            if missing:
                raise FileFormatError(f"{path}: not {what}: no {', '.join(missing)} in the "
                                      f"archive (it holds {sorted(archive.files)})")
            arrays: dict[str, Any] = {}
            for key in ("meta", *_MODEL_ARRAYS):
                try:
                    arrays[key] = archive[key]
                except (ValueError, OSError, EOFError, KeyError, MemoryError,
                        zipfile.BadZipFile, zlib.error) as exc:
                    raise FileFormatError(f"{path}: cannot read {key!r}: {exc}") from None
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray):
            raise FileFormatError(f"{path}: {key!r} is not a .npy array")
    meta_array = arrays.pop("meta")
    if meta_array.shape != () or meta_array.dtype.kind != "U":
        raise FileFormatError(f"{path}: 'meta' must be one JSON string, got an array of "
                              f"dtype {meta_array.dtype} and shape {meta_array.shape}")
    try:
        meta = json.loads(str(meta_array))
    except (ValueError, RecursionError) as exc:
        raise FileFormatError(f"{path}: 'meta' is not valid JSON ({exc})") from None
    _check_model_meta(path, meta)
    params: dict[str, FloatArray] = {}
    for key, value in arrays.items():
        if value.dtype.kind not in "iuf":
            raise FileFormatError(f"{path}: {key!r} must hold numbers, got dtype {value.dtype}")
        params[key] = np.asarray(value, dtype=np.float64)
    return meta, params


def _check_model_meta(path: Path, meta: object) -> None:
    """The metadata is an object with the keys :meth:`StateModel.save` writes."""
    expected = ", ".join(f"{k} ({v})" for k, v in _MODEL_META.items())
    if not isinstance(meta, dict):
        raise FileFormatError(f"{path}: 'meta' must be a JSON object with {expected}, got "
                              f"{type(meta).__name__}")
    missing = [k for k in _MODEL_META if k not in meta]
    unknown = sorted(str(k) for k in meta if k not in _MODEL_META)
    if missing or unknown:
        raise FileFormatError(
            f"{path}: 'meta' must have exactly the keys {list(_MODEL_META)}"
            + (f"; missing {missing}" if missing else "")
            + (f"; unexpected {unknown}" if unknown else ""))

    def bad(key: str) -> FileFormatError:
        return FileFormatError(f"{path}: meta {key} must be {_MODEL_META[key]}, got "
                               f"{short_repr(meta[key])}")

    if not isinstance(meta["backend"], str) or not meta["backend"]:
        raise bad("backend")
    n_states = meta["n_states"]
    if not isinstance(n_states, int) or isinstance(n_states, bool) or n_states < 1:
        raise bad("n_states")
    random_state = meta["random_state"]
    if random_state is not None and (not isinstance(random_state, int)
                                     or isinstance(random_state, bool)):
        raise bad("random_state")
    options = meta["options"]
    if not isinstance(options, dict) or {"n_states", "random_state"} & set(options):
        raise bad("options")
    names = meta["feature_names"]
    if (not isinstance(names, list) or not names
            or not all(isinstance(n, str) for n in names) or len(set(names)) != len(names)):
        raise bad("feature_names")


def check_model_params(path: Path, meta: dict[str, Any], params: dict[str, FloatArray]
                        ) -> None:
    """Shapes that agree with n_states and the feature names, finite values, probabilities
    that are probabilities, and symmetric positive definite covariances."""
    k, d = int(meta["n_states"]), len(meta["feature_names"])
    shapes = {"means": (k, d), "covars": (k, d, d), "transmat": (k, k), "startprob": (k,)}
    for key, shape in shapes.items():
        if params[key].shape != shape:
            raise FileFormatError(
                f"{path}: {key} has shape {params[key].shape}, expected {shape} for "
                f"n_states={k} and {d} feature names")
        if not np.isfinite(params[key]).all():
            raise FileFormatError(f"{path}: {key} has non-finite values (NaN or inf)")
    for key in ("startprob", "transmat"):
        p = np.atleast_2d(params[key])
        if (p < 0).any():
            raise FileFormatError(f"{path}: {key} has negative probabilities")
        sums = p.sum(axis=1)
        off = np.flatnonzero(np.abs(sums - 1) > _PROBABILITY_TOLERANCE)
        if off.size:
            where = f" row {off[0]}" if key == "transmat" else ""
            raise FileFormatError(f"{path}: {key}{where} sums to {sums[off[0]]:.9g}, not 1")
    diagonal = meta["options"].get("covariance_type") == "diag"
    for j, cov in enumerate(params["covars"]):
        scale = float(np.abs(cov).max())
        if not np.allclose(cov, cov.T, rtol=1e-7, atol=1e-12 * scale):
            raise FileFormatError(f"{path}: the covariance of state {j} is not symmetric")
        if diagonal and np.count_nonzero(cov - np.diag(np.diag(cov))):
            raise FileFormatError(f"{path}: the covariance of state {j} is not diagonal, "
                                  "but the model has covariance_type 'diag'")
        try:
            np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            raise FileFormatError(f"{path}: the covariance of state {j} is not positive "
                                  "definite") from None
