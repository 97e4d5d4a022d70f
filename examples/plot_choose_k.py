"""
Choosing the number of states
=============================

How many expressions does a recording have? :func:`faceexpr.select_n_states` fits a
model for every candidate K and compares them by BIC (the default), AIC or the
log-likelihood of held-out data. Here the synthetic face switches between five
expressions at once (``ease=0``: a true 5-state HMM), so the answer is known.
"""

# %%
# Features, as the pipeline makes them
# ------------------------------------
# :meth:`Pipeline.clean <faceexpr.pipeline.Pipeline.clean>` masks, fills and aligns the
# landmarks (egocentric face); :meth:`Pipeline.features
# <faceexpr.pipeline.Pipeline.features>` standardizes them and keeps 10 principal
# components.
import faceexpr as fe

sim = fe.synthetic.simulate(900, n_expressions=5, ease=0, seed=2)
pipe = fe.Pipeline(progress=False)
ego = pipe.clean(sim.pose3d)
features = pipe.features([ego], [fe.features.head_kinematics(ego)])
print(features[0].sizes)

# %%
# Fit every candidate
# -------------------
# The last 20% of every recording is held out for ``heldout_log_likelihood`` (per frame,
# from models fitted on the first 80%); the other columns come from the models fitted on
# all frames. Lower BIC and AIC are better, higher held-out log-likelihood is better.
sel = fe.select_n_states(features, candidates=[3, 4, 5, 6, 7], criterion="bic",
                         heldout_fraction=0.2)
print(sel.table.round(2).to_string(index=False))
print("BIC chooses K =", sel.best)

# %%
# ``sel.model`` is the fitted model with the chosen K, ready to label the frames:
states = sel.model.predict(features[0])
ari = fe.analysis.state_agreement(sim.states, states)
print(f"ARI against the truth: {ari:.3f}")

fig = fe.plot.model_selection(sel.table, sel.best)

# %%
# In the pipeline and on the command line
# ---------------------------------------
# ``Pipeline(n_states="auto", candidates=..., criterion=...)`` does the same inside
# :meth:`~faceexpr.pipeline.Pipeline.run` and keeps the table as ``result.selection``;
# ``faceexpr analyze ... --n-states auto --candidates 3 7 --criterion bic`` writes it as
# ``model_selection.csv`` and ``model_selection.png``.
#
# Real faces change expression over a few frames. With the simulation's default easing
# (``ease=0.5``) BIC tends to prefer one or more extra states that hold the transition
# frames; look at the table rather than only at its minimum, and at whether the extra
# states are short bouts between two others.
