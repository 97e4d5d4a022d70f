"""
Comparing HMM backends: native, hmmlearn, pomegranate (and dynamax)
===================================================================

Every state-model backend takes the same features and returns the same things
(:class:`faceexpr.interfaces.StateModel`), so implementations can be compared on the
same data by swapping one name. ``native`` (faceexpr's own engine, the default),
``hmmlearn`` and ``pomegranate`` fit the same Gaussian HMM from the same k-means start;
their EM implementations differ. ``dynamax`` (JAX) is compared too where it is installed.
"""

# %%
# The same features for every backend
# -----------------------------------
import time

import numpy as np
from matplotlib.figure import Figure
from threadpoolctl import threadpool_limits

import faceexpr as fe
from faceexpr.registry import state_model_class

sim = fe.synthetic.simulate(1500, n_expressions=5, seed=2)
pipe = fe.Pipeline(progress=False)
ego = pipe.clean(sim.pose3d)
features = pipe.features([ego], [fe.features.head_kinematics(ego)])[0]
print(f"{features.sizes['time']} frames, {features.sizes['features']} features")

# %%
# Which backends are here
# -----------------------
# :func:`faceexpr.backends` lists every registered backend and whether what it needs is
# installed; ``pomegranate`` needs ``pip install "faceexpr[pomegranate]"`` (and PyTorch),
# ``dynamax`` ``pip install "faceexpr[dynamax]"`` (and JAX).
table = fe.backends()
usable = set(table[(table["stage"] == "state_model") & table["available"]]["name"])
names = [name for name in ("native", "hmmlearn", "pomegranate", "dynamax")
         if name in usable]
print("state models compared:", ", ".join(names))

# %%
# Fit each backend
# ----------------
# :func:`faceexpr.state_model` builds a registered backend by name with the same options.
# Every backend runs on one thread here (``n_threads=1`` where a backend has that option,
# and threadpoolctl's ``threadpool_limits`` for the libraries' own thread pools), so
# that the timings compare the implementations: on 1500 frames, threads cost more than
# they gain, and the documentation is built on a busy machine. ``native``'s default,
# ``n_threads=None``, uses every core. A first short fit (two EM iterations) imports each
# library and compiles what it compiles (native's engine the first time after
# installing, dynamax's JAX functions for this shape of data in every process), so that
# the timings below are of the fits alone.
options = {name: {"n_threads": 1} if "n_threads" in state_model_class(name).accepted_options()
           else {} for name in names}
models, seconds = {}, {}
with threadpool_limits(limits=1):
    for name in names:
        fe.state_model(name, n_states=5, n_iter=2, **options[name]).fit(features)
    for name in names:
        start = time.perf_counter()
        model = fe.state_model(name, n_states=5, random_state=0, **options[name])
        models[name] = model.fit(features)
        seconds[name] = time.perf_counter() - start

states = {name: model.predict(features) for name, model in models.items()}
print(f"{'backend':<12} {'log-likelihood':>15} {'EM iterations':>14} {'fit s':>7} "
      f"{'ARI vs truth':>13}")
for name, model in models.items():
    iterations = getattr(model, "n_iter_", None)
    print(f"{name:<12} {model.score(features):15.2f} {iterations!s:>14} "
          f"{seconds[name]:7.2f} {fe.analysis.state_agreement(sim.states, states[name]):13.3f}")

# %%
# Do they find the same states?
# -----------------------------
# State numbers are arbitrary: :func:`~faceexpr.analysis.match_means` renames the states
# of one model after another's by their means (no shared frames needed), and
# :func:`~faceexpr.analysis.state_agreement` is the adjusted Rand index of two labelings
# (1 = the same partition of the frames). Every backend is matched to ``native``.
reference = models["native"]
mappings = {name: fe.analysis.match_means(reference.means_, model.means_)
            for name, model in models.items()}
print("agreement (ARI) between the backends:")
print(" " * 12 + "".join(f"{name:>12}" for name in names))
for a in names:
    print(f"{a:<12}" + "".join(f"{fe.analysis.state_agreement(states[a], states[b]):12.3f}"
                               for b in names))
for name in names[1:]:
    same = fe.analysis.relabel(states[name], mappings[name]).values == states["native"].values
    print(f"frames in the same state as native: {name:<12} {float(np.mean(same)):.3f}")

# %%
# Transition matrices side by side
# --------------------------------
# After matching, the fitted parameters can be compared directly: here the transition
# matrices (``transmat_``, the same shape for every backend), in native's state order.
matrices = {}
for name, model in models.items():
    order = np.argsort(mappings[name])  # this model's states in native's order
    matrices[name] = model.transmat_[np.ix_(order, order)]
fig = Figure(figsize=(2.8 * len(names) + 1, 3), layout="constrained")
for ax, (name, matrix) in zip(np.atleast_1d(fig.subplots(1, len(names))), matrices.items()):
    image = ax.imshow(matrix, vmin=0, vmax=1, cmap="viridis")
    ax.set(title=name, xlabel="state at t + 1", ylabel="state at t",
           xticks=range(5), yticks=range(5))
fig.colorbar(image, ax=fig.axes, label="probability")
for name in names[1:]:
    print(f"largest difference from native's transition matrix: {name:<12} "
          f"{np.abs(matrices[name] - matrices['native']).max():.4f}")

# %%
# Stickiness against flickering states
# ------------------------------------
# The priors have the same names in every backend. ``stickiness`` κ adds κ frames' worth
# of staying to every state's transition counts in each EM step; raise it when states
# flicker. With more states than expressions on noisy features, the extra states take
# single frames here and there; κ = 300 makes their bouts longer. (On the clean features
# with 5 states it changes nothing: those bouts are long already.)
rng = np.random.default_rng(0)
noisy = features.copy(data=features.values + rng.normal(0, 1, features.shape))
print(f"true: {len(fe.analysis.bouts(sim.states))} bouts")
for kappa in (0.0, 300.0):
    model = fe.state_model("native", n_states=8, random_state=0, stickiness=kappa,
                           n_threads=1)
    bouts = fe.analysis.bouts(model.fit(noisy).predict(noisy))
    print(f"stickiness {kappa:3.0f}: {len(bouts)} bouts, "
          f"{int((bouts['n_frames'] <= 2).sum())} of them 1-2 frames long")

# %%
# An autoregressive HMM (dynamax)
# -------------------------------
# With ``ar_order=p`` the dynamax backend fits an autoregressive HMM: in each state a frame
# is a linear function of the previous ``p`` frames plus Gaussian noise, so states differ
# in how the face moves as well as in where it is. Its log-likelihood is of the frames
# given the first ``p`` of each recording, so it is not comparable with the Gaussian
# HMMs' above; compare the states.
if "dynamax" in names:
    with threadpool_limits(limits=1):
        start = time.perf_counter()
        ar = fe.state_model("dynamax", n_states=5, random_state=0, ar_order=1).fit(features)
        seconds_ar = time.perf_counter() - start
    print(f"dynamax, ar_order=1: {ar.n_iter_} EM iterations, "
          f"{seconds_ar:.1f} s with compilation, ARI vs truth "
          f"{fe.analysis.state_agreement(sim.states, ar.predict(features)):.3f}")

# %%
# Benchmarks
# ----------
# ``python -m benchmarks state-models`` (from a source checkout) times every registered
# backend, third-party plugins included, on synthetic HMM data of several sizes, each case
# in a fresh process, and writes a table and a plot; see :doc:`/user_guide/backends`.
