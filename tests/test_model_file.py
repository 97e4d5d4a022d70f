"""Saved state models are checked when they are loaded, never trusted.

A model file is an ``.npz`` archive (see :meth:`faceexpr.interfaces.StateModel.save`).
Every way of damaging or editing one — shapes that disagree with ``n_states``, improper
probabilities, NaN, a covariance that is not positive definite, metadata that is not the
JSON ``save`` writes, an unknown backend or option, truncated or foreign bytes, an object
array that would need pickle — is refused by ``load`` itself with an error naming the
file, before anything is predicted. Untouched files load back to the same model.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

import faceexpr as fe
from faceexpr.errors import BackendNotFoundError, FileFormatError
from faceexpr.synthetic import simulate

pytest.importorskip("pomegranate")

BACKENDS = [("hmmlearn", "full"), ("hmmlearn", "diag"), ("pomegranate", "full")]


@pytest.fixture(scope="module", params=BACKENDS, ids=["-".join(b) for b in BACKENDS])
def fitted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           ) -> tuple[fe.StateModel, xr.DataArray, Path]:
    """A model really fitted by the pipeline on a synthetic face, saved once."""
    backend, cov = request.param
    sim = simulate(600, n_expressions=3, seed=4)
    result = fe.Pipeline(n_states=3, state_model=backend, progress=False,
                         model_options={"covariance_type": cov}).run(sim.pose3d)
    path = result.model.save(tmp_path_factory.mktemp("model") / "model.npz")
    return result.model, result.features[0], path


def read_parts(path: Path) -> dict[str, Any]:
    """The arrays of a model file, with ``meta`` decoded from its JSON."""
    with np.load(path, allow_pickle=False) as z:
        parts: dict[str, Any] = {k: z[k] for k in z.files}
    parts["meta"] = json.loads(str(parts["meta"]))
    return parts


def write_parts(parts: dict[str, Any], path: Path, raw_meta: Any = None) -> Path:
    """Write arrays (and ``meta`` as JSON, or ``raw_meta`` as it is) like ``save`` does."""
    arrays = {k: v for k, v in parts.items() if k != "meta"}
    if "meta" in parts:
        arrays["meta"] = (np.array(json.dumps(parts["meta"])) if raw_meta is None
                          else raw_meta)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def test_round_trip_gives_the_same_model(fitted: tuple[fe.StateModel, xr.DataArray, Path],
                                         ) -> None:
    model, feats, path = fitted
    for back in (fe.StateModel.load(path), fe.load_state_model(path)):
        assert type(back) is type(model)
        assert back.options == model.options and back.n_states == model.n_states
        assert back.feature_names_ == model.feature_names_
        assert back.random_state == model.random_state
        np.testing.assert_array_equal(back.means_, model.means_)
        np.testing.assert_array_equal(back.covars_, model.covars_)
        np.testing.assert_array_equal(back.predict(feats).values, model.predict(feats).values)
        np.testing.assert_allclose(back.predict_proba(feats).values,
                                   model.predict_proba(feats).values, rtol=1e-9, atol=1e-12)
        assert back.score(feats) == pytest.approx(model.score(feats), rel=1e-12)
    # what load checks is what save writes: a rewritten file is the same model
    again = write_parts(read_parts(path), path.with_name("rewritten.npz"))
    np.testing.assert_array_equal(fe.StateModel.load(again).predict(feats).values,
                                  model.predict(feats).values)
    # and a loaded model saves to a file that loads again
    resaved = fe.StateModel.load(path).save(path.with_name("resaved.npz"))
    assert fe.StateModel.load(resaved).score(feats) == pytest.approx(model.score(feats))


def _scaled_row(p: dict[str, Any]) -> None:
    p["transmat"][0] *= 0.5


def _negative_transition(p: dict[str, Any]) -> None:
    # the row still sums to 1; only the sign is wrong (NaN posteriors before)
    p["transmat"][0, 1] -= 0.5
    p["transmat"][0, 0] += 0.5


def _non_pd(p: dict[str, Any]) -> None:
    p["covars"][1] = -p["covars"][1]  # symmetric, negative definite


def _asymmetric(p: dict[str, Any]) -> None:
    p["covars"][0, 0, -1] += 1.0


def _diag_with_off_diagonal(p: dict[str, Any]) -> None:
    if p["meta"]["options"].get("covariance_type") != "diag":
        p["meta"]["options"]["covariance_type"] = "diag"
    d = p["covars"].shape[1]
    p["covars"][0] += 0.01 * (np.ones((d, d)) - np.eye(d))


def _setter(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(p: dict[str, Any]) -> None:
        p["meta"][key] = value
    return change


def _option(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(p: dict[str, Any]) -> None:
        p["meta"]["options"][key] = value
    return change


def _array(key: str, make: Callable[[Any], Any]) -> Callable[[dict[str, Any]], None]:
    def change(p: dict[str, Any]) -> None:
        p[key] = make(p[key])
    return change


def _delete(key: str) -> Callable[[dict[str, Any]], None]:
    def change(p: dict[str, Any]) -> None:
        if key in p:
            del p[key]
        else:
            del p["meta"][key]
    return change


def _set_nan(key: str) -> Callable[[dict[str, Any]], None]:
    def change(p: dict[str, Any]) -> None:
        p[key].flat[0] = np.nan
    return change


def _set_inf(key: str) -> Callable[[dict[str, Any]], None]:
    def change(p: dict[str, Any]) -> None:
        p[key].flat[0] = np.inf
    return change


# (id, change of the decoded parts, regular expression the message matches)
TAMPERED: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("K+1 means", _array("means", lambda m: np.vstack([m, m[:1]])),
     r"means has shape \(4, \d+\), expected \(3, \d+\) for n_states=3"),
    ("n_states changed", _setter("n_states", 4), r"means has shape \(3, \d+\), expected \(4,"),
    ("K+1 startprob", _array("startprob", lambda s: np.append(s, 0.0)),
     r"startprob has shape \(4,\), expected \(3,\)"),
    ("transmat not square", _array("transmat", lambda t: t[:, :2]),
     r"transmat has shape \(3, 2\), expected \(3, 3\)"),
    ("wrong covars shape", _array("covars", lambda c: c[:, :-1, :-1]), r"covars has shape"),
    ("diagonal covars only", _array("covars", lambda c: np.diagonal(c, axis1=1, axis2=2)),
     r"covars has shape \(3, \d+\), expected \(3, \d+, \d+\)"),
    ("negative transition", _negative_transition, r"transmat has negative probabilities"),
    ("negative start", _array("startprob", lambda s: np.array([1.5, -0.25, -0.25])),
     r"startprob has negative probabilities"),
    ("row not summing to 1", _scaled_row, r"transmat row 0 sums to 0\.5\d*, not 1"),
    ("start not summing to 1", _array("startprob", lambda s: s * 0 + 0.5),
     r"startprob sums to 1\.5, not 1"),
    ("NaN in means", _set_nan("means"), r"means has non-finite values"),
    ("inf in covars", _set_inf("covars"), r"covars has non-finite values"),
    ("NaN in transmat", _set_nan("transmat"), r"transmat has non-finite values"),
    ("non-PD covariance", _non_pd, r"covariance of state 1 is not positive definite"),
    ("asymmetric covariance", _asymmetric, r"covariance of state 0 is not symmetric"),
    ("diag model, full covariance", _diag_with_off_diagonal,
     r"covariance of state 0 is not diagonal, but the model has covariance_type 'diag'"),
    ("feature_names too short", _setter("feature_names", ["a", "b"]),
     r"means has shape \(3, \d+\), expected \(3, 2\) for n_states=3 and 2 feature names"),
    ("duplicate feature names", lambda p: p["meta"]["feature_names"].__setitem__(
        1, p["meta"]["feature_names"][0]), r"meta feature_names must be a list of distinct"),
    ("feature name not a str", lambda p: p["meta"]["feature_names"].__setitem__(0, 1),
     r"meta feature_names must be"),
    ("n_states a string", _setter("n_states", "3"), r"meta n_states must be an integer >= 1"),
    ("n_states a bool", _setter("n_states", True), r"meta n_states must be an integer >= 1"),
    ("n_states zero", _setter("n_states", 0), r"meta n_states must be an integer >= 1"),
    ("random_state a float", _setter("random_state", 0.5),
     r"meta random_state must be an integer or null"),
    ("options a list", _setter("options", []), r"meta options must be an object"),
    ("options repeat n_states", _option("n_states", 3), r"meta options must be"),
    ("backend not a str", _setter("backend", 3), r"meta backend must be a backend name"),
    ("meta key missing", _delete("feature_names"), r"'meta' must have exactly the keys.*"
                                                   r"missing \['feature_names'\]"),
    ("meta key added", _setter("pickle", "x"), r"unexpected \['pickle'\]"),
    ("unknown option", _option("bogus", 1), r"state model '\w+' has no option 'bogus'; "
                                            r"accepted: n_states \(int, default 9\)"),
    ("option of the wrong type", _option("n_iter", "abc"),
     r"state model '\w+': n_iter must be int, got 'abc' \(str\)"),
    ("option out of range", _option("n_init", 0), r"state model '\w+': n_init must be >= 1"),
    ("bad covariance_type", _option("covariance_type", "spherical"),
     r"covariance_type must be 'full' or 'diag'"),
    ("missing array", _delete("startprob"), r"no startprob in the archive"),
    ("missing meta", _delete("meta"), r"no meta in the archive"),
    ("strings for means", _array("means", lambda m: m.astype(str)),
     r"'means' must hold numbers, got dtype <U"),
    ("booleans for startprob", _array("startprob", lambda s: s > 0),
     r"'startprob' must hold numbers, got dtype bool"),
    ("complex means", _array("means", lambda m: m.astype(complex)),
     r"'means' must hold numbers, got dtype complex"),
]


@pytest.mark.parametrize(("case", "change", "pattern"), TAMPERED, ids=[t[0] for t in TAMPERED])
def test_tampered_model_is_refused_at_load(
        case: str, change: Callable[[dict[str, Any]], None], pattern: str,
        fitted: tuple[fe.StateModel, xr.DataArray, Path], tmp_path: Path) -> None:
    _, _, path = fitted
    parts = read_parts(path)
    change(parts)
    bad = write_parts(parts, tmp_path / "tampered-model.npz")
    for load in (fe.StateModel.load, fe.load_state_model):
        with pytest.raises(FileFormatError, match=pattern) as info:
            load(bad)
        assert str(info.value).startswith(f"{bad}: "), str(info.value)
        assert "\n" not in str(info.value)


def test_unknown_backend_names_the_file(fitted: tuple[fe.StateModel, xr.DataArray, Path],
                                        tmp_path: Path) -> None:
    parts = read_parts(fitted[2])
    parts["meta"]["backend"] = "no-such-backend"
    bad = write_parts(parts, tmp_path / "foreign-model.npz")
    with pytest.raises(BackendNotFoundError, match=r"foreign-model\.npz: the model file was "
                                                   r"written by the state model "
                                                   r"'no-such-backend'"):
        fe.load_state_model(bad)


class NeedsMissingModule(fe.StateModel):
    """A backend whose dependency is not installed (the abstract methods never run)."""

    name = "model-file-needs-missing"
    requires = ("faceexpr_no_such_module",)
    _fit_arrays = _predict_array = _proba_array = _score_array = _set_params = None  # type: ignore[assignment]


def test_backend_without_its_dependencies_names_the_file(
        fitted: tuple[fe.StateModel, xr.DataArray, Path], tmp_path: Path) -> None:
    parts = read_parts(fitted[2])
    parts["meta"]["backend"] = NeedsMissingModule.name
    parts["meta"]["options"] = {}
    bad = write_parts(parts, tmp_path / "needs-model.npz")
    with pytest.raises(fe.MissingDependencyError, match=r"needs-model\.npz: backend "
                                                        r"'model-file-needs-missing' needs "
                                                        r"faceexpr_no_such_module"):
        fe.load_state_model(bad)


def _object_means(path: Path, out: Path) -> Path:
    parts = read_parts(path)
    parts["means"] = np.array([{"__reduce__": "os.system"}], dtype=object)
    return write_parts(parts, out)


def _meta(raw: Any) -> Callable[[Path, Path], Path]:
    def make(path: Path, out: Path) -> Path:
        return write_parts(read_parts(path), out, raw_meta=raw)
    return make


def _bytes(make: Callable[[bytes], bytes]) -> Callable[[Path, Path], Path]:
    def write(path: Path, out: Path) -> Path:
        out.write_bytes(make(path.read_bytes()))
        return out
    return write


def _zip(members: dict[str, bytes]) -> Callable[[Path, Path], Path]:
    def write(path: Path, out: Path) -> Path:
        with zipfile.ZipFile(out, "w") as z:
            for name, data in members.items():
                z.writestr(name, data)
        return out
    return write


def _npy(path: Path, out: Path) -> Path:
    buffer = io.BytesIO()
    np.save(buffer, np.eye(3))
    out.write_bytes(buffer.getvalue())
    return out


BROKEN: list[tuple[str, Callable[[Path, Path], Path], str]] = [
    ("object array needing pickle", _object_means,
     r"cannot read 'means': Object arrays cannot be loaded when allow_pickle=False"),
    ("meta not JSON", _meta(np.array("{not json")), r"'meta' is not valid JSON"),
    ("meta deeply nested", _meta(np.array("[" * 100_000)), r"'meta' is not valid JSON"),
    ("meta a JSON list", _meta(np.array("[1, 2]")),
     r"'meta' must be a JSON object with backend \(a backend name\).*got list"),
    ("meta an array of numbers", _meta(np.arange(3)),
     r"'meta' must be one JSON string, got an array of dtype int64 and shape \(3,\)"),
    ("meta bytes", _meta(np.array(b'{"backend": "hmmlearn"}')), r"'meta' must be one JSON"),
    ("truncated file", _bytes(lambda b: b[: len(b) // 2]), r"not a faceexpr state model"),
    ("truncated inside a member", _bytes(lambda b: b[:200]), r"not a faceexpr state model|"
                                                             r"cannot read"),
    ("random bytes", _bytes(lambda b: os.urandom(len(b))), r"not a faceexpr state model"),
    ("random bytes after the zip magic", _bytes(lambda b: b"PK\x03\x04" + os.urandom(500)),
     r"not a faceexpr state model"),
    ("empty file", _bytes(lambda b: b""), r"not a faceexpr state model"),
    ("a zip that is not an npz", _zip({"hello.txt": b"hi"}),
     r"not a faceexpr state model.*no meta, means, covars, transmat, startprob in the "
     r"archive \(it holds \['hello\.txt'\]\)"),
    ("members that are not .npy", _zip({f"{k}.npy": b"garbage" for k in
                                        ("meta", "means", "covars", "transmat", "startprob")}),
     r"'meta' is not a \.npy array"),
    ("a single .npy array", _npy, r"not a faceexpr state model.*a single \.npy array"),
]


@pytest.mark.parametrize(("case", "make", "pattern"), BROKEN, ids=[t[0] for t in BROKEN])
def test_broken_file_is_refused_at_load(case: str, make: Callable[[Path, Path], Path],
                                        pattern: str,
                                        fitted: tuple[fe.StateModel, xr.DataArray, Path],
                                        tmp_path: Path) -> None:
    bad = make(fitted[2], tmp_path / "broken-model.npz")
    with pytest.raises(FileFormatError, match=pattern) as info:
        fe.load_state_model(bad)
    assert str(info.value).startswith(f"{bad}: ") and "\n" not in str(info.value)


def test_missing_file_is_a_file_not_found_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"gone\.npz"):
        fe.load_state_model(tmp_path / "gone.npz")

