"""
Comparing HMM backends: hmmlearn and pomegranate
================================================

Every state-model backend takes the same features and returns the same things
(:class:`faceexpr.interfaces.StateModel`), so two implementations can be compared on the
same data by swapping one name. Both backends here start from the same k-means start
and compute the same Gaussian-HMM likelihood; their EM implementations differ.
"""

# %%
# The same features for both
# --------------------------
import time

import numpy as np
from matplotlib.figure import Figure

import faceexpr as fe

sim = fe.synthetic.simulate(1500, n_expressions=5, seed=2)
pipe = fe.Pipeline(progress=False)
ego = pipe.clean(sim.pose3d)
features = pipe.features([ego], [fe.features.head_kinematics(ego)])[0]

# %%
# Fit each backend
# ----------------
# :func:`faceexpr.state_model` builds a registered backend by name with the same options.
# pomegranate needs ``pip install "faceexpr[pomegranate]"`` (and PyTorch). A first fit on
# a few frames imports each library, so that the timings below are of the fits alone.
for name in ("hmmlearn", "pomegranate"):
    fe.state_model(name, n_states=2).fit(features[:100])

models = {}
for name in ("hmmlearn", "pomegranate"):
    start = time.perf_counter()
    model = fe.state_model(name, n_states=5, random_state=0)
    models[name] = model.fit(features)
    seconds = time.perf_counter() - start
    print(f"{name:<12} log-likelihood {model.score(features):.2f}  "
          f"EM iterations {model.n_iter_}  fit {seconds:.1f} s")

# %%
# Do they find the same states?
# -----------------------------
# State numbers are arbitrary: :func:`~faceexpr.analysis.match_means` renames the states
# of one model after the other's by their means (no shared frames needed), and
# :func:`~faceexpr.analysis.state_agreement` is the adjusted Rand index of the two
# labelings (1 = the same partition of the frames).
hmm, pom = models["hmmlearn"], models["pomegranate"]
a, b = hmm.predict(features), pom.predict(features)
mapping = fe.analysis.match_means(hmm.means_, pom.means_)
b = fe.analysis.relabel(b, mapping)
print("pomegranate state -> hmmlearn state:", mapping.tolist())
print(f"agreement (ARI) between the backends: "
      f"{fe.analysis.state_agreement(a, b):.3f}")
print(f"frames with the same state: {float(np.mean(a.values == b.values)):.3f}")
for name, states in (("hmmlearn", a), ("pomegranate", b)):
    print(f"ARI of {name:<12} against the truth: "
          f"{fe.analysis.state_agreement(sim.states, states):.3f}")

# %%
# Transition matrices side by side
# --------------------------------
# After matching, the fitted parameters can be compared directly: here the transition
# matrices (``transmat_``, the same shape for every backend).
order = np.argsort(mapping)  # pomegranate's states in hmmlearn's order
matrices = {"hmmlearn": hmm.transmat_,
            "pomegranate": pom.transmat_[np.ix_(order, order)]}
fig = Figure(figsize=(7, 3.2), layout="constrained")
for ax, (name, matrix) in zip(fig.subplots(1, 2), matrices.items()):
    image = ax.imshow(matrix, vmin=0, vmax=1, cmap="viridis")
    ax.set(title=name, xlabel="state at t + 1", ylabel="state at t",
           xticks=range(5), yticks=range(5))
fig.colorbar(image, ax=fig.axes, label="probability")
print("largest difference between the transition matrices: "
      f"{np.abs(matrices['hmmlearn'] - matrices['pomegranate']).max():.4f}")

# %%
# Benchmarks
# ----------
# ``python -m benchmarks state-models`` (from a source checkout) times every registered
# backend, third-party plugins included, on synthetic HMM data of several sizes, each case
# in a fresh process, and writes a table and a plot; see :doc:`/user_guide/backends`.
