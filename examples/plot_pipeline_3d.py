"""
The whole pipeline on 3D landmarks
==================================

Simulate a face that switches between five expressions, run :class:`faceexpr.Pipeline`
on its 3D landmarks (egocentric alignment, features, PCA, an autoregressive HMM), and
check the recovered states against the truth with the adjusted Rand index (ARI).
"""

# %%
# A synthetic recording with ground truth
# ---------------------------------------
# :func:`faceexpr.synthetic.simulate` returns the pose Dataset (what a tracker plus
# triangulation would give: millimetres, head moving, noise, a few dropouts) and the
# true expression of every frame.
import faceexpr as fe

sim = fe.synthetic.simulate(1500, n_expressions=5, seed=2)
print(sim.pose3d)
print("true expressions:", sim.expressions)

# %%
# Run the pipeline
# ----------------
# Five states and the ``native`` backend (the default: faceexpr's own engine, here with
# its default autoregressive states, ``ar_order=1``; ``ar_order=0`` is the Gaussian HMM of
# ``"hmmlearn"``); ``model_options={"n_init": 3}`` would keep
# the best of three restarts, ``model_options={"stickiness": 100}`` would favour longer
# bouts. ``run`` takes a pose, a pose file or a list of them (several recordings fit one
# model).
pipe = fe.Pipeline(n_states=5, state_model="native", progress=False)
result = pipe.run(sim.pose3d, names=["synthetic3d"])
print(result.frequencies.round(3))

# %%
# How well were the states recovered?
# -----------------------------------
# The ARI is 1 for identical labelings up to a renaming of the states. To name the
# recovered states, :func:`~faceexpr.analysis.match_states` finds the renaming that best
# agrees with the truth.
states = result.states[0]
ari = fe.analysis.state_agreement(sim.states, states)
print(f"ARI against the truth: {ari:.3f}")
mapping = fe.analysis.match_states(sim.states, states, n_states=5)
names = [sim.expressions[true] for true in mapping]
for state, name in enumerate(names):
    print(f"state {state} = {name}")

# %%
# The average face of every state
# -------------------------------
# :func:`faceexpr.plot.expressions` draws each state's mean egocentric face; with
# ``relative=True`` each face is drawn against the overall mean face (grey) with the
# displacements magnified, so that small expressions show.
fig = fe.plot.expressions(result.expressions, relative=True, state_names=names,
                          frequencies=result.frequencies["relative"])

# %%
# States over time, and transitions
# ---------------------------------
# The first principal components change level with the states.
fig_timeline = fe.plot.timeline(result.features[0], states, result.n_states)
fig_transitions = fe.plot.transitions(result.transitions)
