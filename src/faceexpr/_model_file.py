"""Checks of a saved state model (``.npz`` written by
:meth:`faceexpr.interfaces.StateModel.save`) and of a saved fitted pipeline
(``pipeline.json`` and ``transforms.npz`` written by :meth:`faceexpr.pipeline.Result.save`)
before anything is built from them.

A model file is input like any other: :func:`read_model_file` reads its arrays without
pickles and its metadata as plain JSON, and :func:`check_model_params` checks that the
parameters describe a valid Gaussian HMM, so a damaged or edited file fails on loading,
naming the file, instead of at predict time. :func:`read_fitted` does the same for the
cleaning parameters, alignment template, standardisation and PCA that label new
recordings with a saved result's states.
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from faceexpr._options import short_repr
from faceexpr._typing import FloatArray
from faceexpr.errors import FileFormatError, MissingFileError

__all__ = ["FITTED_ARRAYS", "FITTED_FORMAT", "FITTED_JSON", "FITTED_PIPELINE_FIELDS",
           "OPTIONAL_ARRAYS", "check_model_params", "read_fitted", "read_model_file"]

_MODEL_ARRAYS: tuple[str, ...] = ("means", "covars", "transmat", "startprob")
OPTIONAL_ARRAYS: tuple[str, ...] = ("ar_weights", "ar_biases")
"""Arrays a model file may add (an autoregressive model's lag weights and biases); the
backend checks their shapes."""
_MODEL_META: dict[str, str] = {"backend": "a backend name", "n_states": "an integer >= 1",
                               "random_state": "an integer or null",
                               "options": "an object of options",
                               "feature_names": "a list of distinct names"}
_PROBABILITY_TOLERANCE = 1e-6


def read_model_file(path: Path) -> tuple[dict[str, Any], dict[str, FloatArray]]:
    """The metadata and the numeric arrays of a model file, or a FileFormatError."""
    what = "a faceexpr state model (.npz written by StateModel.save)"
    with open(path, "rb") as fh, _npz(fh, path, what) as archive:
        missing = [k for k in ("meta", *_MODEL_ARRAYS) if k not in archive.files]
        if missing:
            raise FileFormatError(f"{path}: not {what}: no {', '.join(missing)} in the "
                                  f"archive (it holds {sorted(archive.files)})")
        unknown = sorted(set(archive.files) - {"meta", *_MODEL_ARRAYS, *OPTIONAL_ARRAYS})
        if unknown:
            raise FileFormatError(f"{path}: not {what}: unexpected {', '.join(unknown)} in "
                                  "the archive")
        arrays: dict[str, Any] = {key: _member(archive, key, path)
                                  for key in ("meta", *_MODEL_ARRAYS, *OPTIONAL_ARRAYS)
                                  if key in archive.files}
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


# -- a saved fitted pipeline --------------------------------------------------------------
FITTED_JSON = "pipeline.json"
"""The cleaning parameters, landmarks, units and feature columns of a saved result."""
FITTED_ARRAYS = "transforms.npz"
"""The alignment template, standardisation and PCA of a saved result."""
FITTED_FORMAT = ("faceexpr fitted pipeline", 1)
"""The ``format`` and ``format_version`` that :data:`FITTED_JSON` declares."""
_MAX_JSON_BYTES = 64 * 2**20


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_names(v: object) -> bool:
    return (isinstance(v, list) and bool(v) and all(isinstance(n, str) and n for n in v)
            and len(set(v)) == len(v))


def _is_name(v: object) -> bool:
    return isinstance(v, str) and bool(v)


def _is_bool(v: object) -> bool:
    return isinstance(v, bool)


def _is_dict(v: object) -> bool:
    return isinstance(v, dict)


def _integer(low: int) -> Callable[[object], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _number(low: float, high: float = math.inf, low_ok: bool = True
            ) -> Callable[[object], bool]:
    def check(v: object) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return False
        return (v >= low if low_ok else v > low) and v <= high
    return check


def _optional(check: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda v: v is None or check(v)


def _one_of(*values: object) -> Callable[[object], bool]:
    return lambda v: any(v == x and type(v) is type(x) for x in values)


def _is_scheme(v: object) -> bool:
    return v is None or v == "auto" or (isinstance(v, list) and all(
        isinstance(c, list) and all(isinstance(n, str) for n in c) for c in v))


_Check = tuple[Callable[[object], bool], str]
# what Pipeline takes and labelling new recordings needs; anything else it holds is optional
_PIPELINE_REQUIRED: dict[str, _Check] = {
    "n_states": (_integer(1), "an integer >= 1"),
    "state_model": (_is_name, "a backend name"),
    "confidence_threshold": (_optional(_number(0, 1)), "a number between 0 and 1 or null"),
    "max_gap": (_optional(_integer(0)), "an integer >= 0 or null"),
    "smoothing": (lambda v: v is None or _one_of("median", "savgol")(v),
                  "'median', 'savgol' or null"),
    "smoothing_window": (_integer(1), "an integer >= 1"),
    "reference": (_is_name, "a landmark name"),
    "align": (_is_bool, "true or false"),
    "align_landmarks": (_optional(_is_names), "a list of distinct landmark names or null"),
    "kinematic_features": (lambda v: v == [] or _is_names(v), "a list of names"),
    "standardize": (_is_bool, "true or false"),
    "pca": (_optional(_number(0)), "a number of components, a fraction or null"),
    "precision": (_one_of("float32", "float64"), "'float32' or 'float64'"),
}
_PIPELINE_OPTIONAL: dict[str, _Check] = {
    "model_options": (_is_dict, "an object"),
    "n_init": (_integer(1), "an integer >= 1"),
    "dwell_time": (_optional(_number(0, low_ok=False)), "a positive number or null"),
    "estimator": (_is_name, "a pose estimator name"),
    "estimator_options": (_is_dict, "an object"),
    "triangulator": (_optional(_is_name), "a triangulator name or null"),
    "triangulator_options": (_is_dict, "an object"),
    "random_state": (_optional(_is_int), "an integer or null"),
}
FITTED_PIPELINE_FIELDS: tuple[str, ...] = (*_PIPELINE_REQUIRED, *_PIPELINE_OPTIONAL)
"""The parameters of :class:`~faceexpr.pipeline.Pipeline` that a fitted pipeline keeps."""
_FITTED_META: dict[str, _Check] = {
    "format": (_one_of(FITTED_FORMAT[0]), repr(FITTED_FORMAT[0])),
    "format_version": (_one_of(FITTED_FORMAT[1]),
                       f"{FITTED_FORMAT[1]} (the version this faceexpr reads)"),
    "faceexpr_version": (_optional(_is_name), "a version or null"),
    "pipeline": (_is_dict, "an object of the pipeline's parameters"),
    "landmarks": (_is_names, "a list of distinct landmark names"),
    "space": (lambda v: isinstance(v, list) and _is_names(v) and len(v) in (2, 3),
              "2 or 3 distinct axis names"),
    "units": (lambda v: isinstance(v, str), "a string"),
    "fps": (_optional(_number(0, low_ok=False)), "a positive number or null"),
    "scheme": (_is_scheme, "'auto', null or a list of chains of landmark names"),
    "feature_names": (_is_names, "a list of distinct feature names"),
}


def _check_object(path: Path, where: str, obj: dict[str, Any],
                  required: dict[str, _Check], optional: dict[str, _Check]) -> None:
    missing = [k for k in required if k not in obj]
    if missing:
        raise FileFormatError(f"{path}: {where} has no {', '.join(missing)}")
    for key, (check, expected) in {**required, **optional}.items():
        if key in obj and not check(obj[key]):
            raise FileFormatError(f"{path}: {where}{key} must be {expected}, got "
                                  f"{short_repr(obj[key])}")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise MissingFileError(
            f"{path.parent}: no {path.name}: not a results folder saved with its fitted "
            "pipeline (write one with faceexpr analyze or Result.save; results saved "
            "before faceexpr could apply them must be analysed again)") from None
    if size > _MAX_JSON_BYTES:
        raise FileFormatError(f"{path}: {size} bytes, more than a fitted pipeline's "
                              f"{_MAX_JSON_BYTES} at most")
    try:
        meta = json.loads(path.read_bytes().decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise FileFormatError(f"{path}: not valid JSON ({' '.join(str(exc).split())})"
                              ) from None
    if not isinstance(meta, dict):
        raise FileFormatError(f"{path}: must be a JSON object, got {type(meta).__name__}")
    return meta


def _read_arrays(path: Path) -> dict[str, np.ndarray[Any, Any]]:
    """Every array of an ``.npz`` archive, never unpickled."""
    what = "the arrays of a fitted pipeline (.npz, written by Result.save)"
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise MissingFileError(f"{path.parent}: no {path.name} (the alignment template, "
                               "standardisation and PCA of the fit)") from None
    out: dict[str, np.ndarray[Any, Any]] = {}
    with fh, _npz(fh, path, what) as archive:
        for key in archive.files:
            value = _member(archive, key, path)
            if not isinstance(value, np.ndarray) or value.dtype not in (np.float32,
                                                                        np.float64):
                raise FileFormatError(f"{path}: {key!r} must be a float32 or float64 "
                                      f"array, got {getattr(value, 'dtype', value)!r}")
            out[key] = value
    return out


def _npz(fh: Any, path: Path, what: str) -> np.lib.npyio.NpzFile:
    """The ``.npz`` archive of an open file, never unpickling (a FileFormatError naming
    ``path`` and ``what`` it should be when it is not one)."""
    try:
        archive = np.load(fh, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise FileFormatError(f"{path}: not {what}: {exc}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise FileFormatError(f"{path}: not {what}: a single .npy array")
    return archive


def _member(archive: np.lib.npyio.NpzFile, key: str, path: Path) -> Any:
    """One array of an archive, or a FileFormatError naming it."""
    try:
        return archive[key]
    except (ValueError, OSError, EOFError, KeyError, MemoryError,
            zipfile.BadZipFile, zlib.error) as exc:
        raise FileFormatError(f"{path}: cannot read {key!r}: {exc}") from None


def read_fitted(folder: Path) -> tuple[dict[str, Any], dict[str, np.ndarray[Any, Any]]]:
    """The description and the arrays of a fitted pipeline saved in ``folder``.

    Checks the JSON (the format and its version, the pipeline's parameters, the
    landmarks, axes, units, frame rate and feature columns) and the arrays (shapes that
    agree with the landmarks, axes and columns; finite values, positive scales): a
    damaged or edited folder raises a FileFormatError (a missing file a
    MissingFileError) naming the file and what is wrong.
    """
    if not folder.is_dir():
        raise MissingFileError(f"{folder}: no such results folder")
    path = folder / FITTED_JSON
    meta = _read_json(path)
    _check_object(path, "", meta, _FITTED_META, {})
    _check_object(path, "pipeline.", meta["pipeline"], _PIPELINE_REQUIRED, _PIPELINE_OPTIONAL)
    pipe = meta["pipeline"]
    landmarks, space, columns = meta["landmarks"], meta["space"], meta["feature_names"]
    if pipe["reference"] not in landmarks:
        raise FileFormatError(f"{path}: the reference landmark {pipe['reference']!r} is not "
                              "one of the landmarks")
    unknown = sorted(set(pipe["align_landmarks"] or ()) - set(landmarks))
    if unknown:
        raise FileFormatError(f"{path}: align_landmarks {unknown[:5]} are not landmarks")
    known = {f"{lm}_{ax}" for lm in landmarks for ax in space} | set(pipe["kinematic_features"])
    strange = [c for c in columns if c not in known]
    if strange:
        raise FileFormatError(f"{path}: feature_names has {strange[0]!r}, which is neither "
                              "a coordinate of the landmarks nor a kinematic feature")
    arrays_path = folder / FITTED_ARRAYS
    arrays = _read_arrays(arrays_path)
    n_lm, d, n_col = len(landmarks), len(space), len(columns)
    shapes: dict[str, tuple[int | str, ...]] = {}
    if pipe["align"]:
        shapes["template"] = (n_lm, d)
    if pipe["standardize"]:
        shapes.update(standardizer_mean=(n_col,), standardizer_scale=(n_col,))
    if pipe["pca"]:
        shapes.update(pca_components=("C", n_col), pca_mean=(n_col,),
                      pca_explained_variance=("C",), pca_explained_variance_ratio=("C",),
                      pca_singular_values=("C",), pca_noise_variance=())
    missing = [k for k in shapes if k not in arrays]
    if missing:
        raise FileFormatError(f"{arrays_path}: no {', '.join(missing)} (the pipeline in "
                              f"{FITTED_JSON} needs them)")
    n_comp = arrays["pca_components"].shape[0] if "pca_components" in arrays else 0
    for key, shape in shapes.items():
        want = tuple(n_comp if s == "C" else s for s in shape)
        if arrays[key].shape != want or (key == "pca_components" and n_comp < 1):
            raise FileFormatError(
                f"{arrays_path}: {key} has shape {arrays[key].shape}, expected {want} for "
                f"{n_lm} landmarks in {d}D and {n_col} feature columns")
        values = arrays[key]
        if key == "template":  # a landmark never seen in the first recording stays NaN
            if np.isinf(values).any() or not np.isfinite(values).any():
                raise FileFormatError(f"{arrays_path}: template has infinite values or "
                                      "none finite")
        elif not np.isfinite(values).all():
            raise FileFormatError(f"{arrays_path}: {key} has non-finite values (NaN or inf)")
    if "standardizer_scale" in shapes and (arrays["standardizer_scale"] <= 0).any():
        raise FileFormatError(f"{arrays_path}: standardizer_scale must be positive")
    if "pca_explained_variance" in shapes and (arrays["pca_explained_variance"] < 0).any():
        raise FileFormatError(f"{arrays_path}: pca_explained_variance must be >= 0")
    return meta, arrays
