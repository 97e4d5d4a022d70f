"""The plugin registry: built-ins through the hooks, a runtime plugin, clear errors."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pytest

import faceexpr as fe
from faceexpr._typing import FloatArray
from faceexpr.synthetic import SyntheticFace


class NearestMeanModel(fe.StateModel):
    """A tiny third-party state model: k-means-like nearest state mean, no dynamics."""

    name: ClassVar[str] = "nearest-mean-test"

    def _fit_arrays(self, segments: list[FloatArray]) -> None:
        from sklearn.cluster import KMeans

        x = np.concatenate(segments)
        km = KMeans(self.n_states, n_init=10, random_state=self.random_state).fit(x)
        k, d = self.n_states, x.shape[1]
        self._set_params({"means": km.cluster_centers_, "covars": np.tile(np.eye(d), (k, 1, 1)),
                          "transmat": np.full((k, k), 1.0 / k), "startprob": np.full(k, 1.0 / k)})

    def _set_params(self, params: dict[str, FloatArray]) -> None:
        self.means_, self.covars_ = params["means"], params["covars"]
        self.transmat_, self.startprob_ = params["transmat"], params["startprob"]

    def _dist(self, x: FloatArray) -> FloatArray:
        return np.asarray(((x[:, None, :] - self.means_[None]) ** 2).sum(-1))

    def _predict_array(self, x: FloatArray) -> npt.NDArray[np.int64]:
        return np.asarray(self._dist(x).argmin(1), dtype=np.int64)

    def _proba_array(self, x: FloatArray) -> FloatArray:
        e = np.exp(-0.5 * (self._dist(x) - self._dist(x).min(1, keepdims=True)))
        return np.asarray(e / e.sum(1, keepdims=True))

    def _score_array(self, x: FloatArray) -> float:
        return float(-0.5 * self._dist(x).min(1).sum())


class Plugin:
    @fe.hookimpl
    def faceexpr_state_models(self) -> list[type[fe.StateModel]]:
        return [NearestMeanModel]


class NeedsMissingLib(fe.StateModel):
    name: ClassVar[str] = "needs-missing-test"
    requires: ClassVar[tuple[str, ...]] = ("faceexpr_no_such_module",)
    extra: ClassVar[str | None] = "imaginary"


class MissingPlugin:
    @fe.hookimpl
    def faceexpr_state_models(self) -> list[type[fe.StateModel]]:
        return [NeedsMissingLib]  # type: ignore[type-abstract]


def test_builtins_are_listed() -> None:
    table = fe.backends()
    rows = {(r.stage, r.name): r for r in table.itertuples()}
    assert rows[("state_model", "hmmlearn")].available
    assert rows[("pose_estimator", "file")].available
    assert rows[("state_model", "hmmlearn")].module == "faceexpr.backends.hmmlearn"


def test_unknown_backend_names_the_registered_ones() -> None:
    with pytest.raises(fe.BackendNotFoundError,
                       match=r"no state model backend named 'nope'.*hmmlearn"):
        fe.state_model("nope")


def test_runtime_plugin_runs_the_pipeline(sim3d: SyntheticFace) -> None:
    name = fe.register(Plugin(), name="test-plugin")
    try:
        assert "nearest-mean-test" in set(fe.backends()["name"])
        model = fe.state_model("nearest-mean-test", n_states=5)
        assert isinstance(model, NearestMeanModel)
        result = fe.Pipeline(n_states=5, state_model="nearest-mean-test", progress=False).run(
            sim3d.pose3d)
        assert result.model.name == "nearest-mean-test"
        # even a model without dynamics finds most of the synthetic expressions
        assert fe.analysis.state_agreement(sim3d.states, result.states[0]) > 0.6
    finally:
        fe.unregister(name)
    assert "nearest-mean-test" not in set(fe.backends()["name"])


def test_missing_dependency_is_listed_and_explained() -> None:
    name = fe.register(MissingPlugin(), name="test-missing")
    try:
        row = fe.backends().set_index("name").loc["needs-missing-test"]
        assert not row["available"]
        assert row["install"] == 'pip install "faceexpr[imaginary]"'
        with pytest.raises(fe.MissingDependencyError, match=r'faceexpr\[imaginary\]'):
            fe.state_model("needs-missing-test")
    finally:
        fe.unregister(name)


def test_entry_point_group_is_loaded() -> None:
    pm = fe.get_plugin_manager()
    assert pm.project_name == "faceexpr"
    # the built-in plugins are registered by module name, like third-party ones
    from faceexpr.registry import DEFAULT_PLUGINS

    assert all(pm.has_plugin(name) for name in DEFAULT_PLUGINS)
