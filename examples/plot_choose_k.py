"""
Choosing the number of states
=============================

How many expressions does a recording have? :func:`faceexpr.select_n_states` fits a
model for every candidate K and compares them by ICL (the default: BIC plus the
posterior entropy, which penalises overlapping states), BIC, AIC or blocked
cross-validation (the held-out log-likelihood per frame of contiguous folds, with the
one-standard-error rule), all in log-likelihood per frame. Here the synthetic face switches
between five expressions at once (``ease=0``: a true 5-state HMM), so the answer is
known.
"""

# %%
# Features, as the pipeline makes them
# ------------------------------------
# :meth:`Pipeline.clean <faceexpr.pipeline.Pipeline.clean>` masks, fills and aligns the
# landmarks (egocentric face); :meth:`Pipeline.features
# <faceexpr.pipeline.Pipeline.features>` keeps 3 principal components of them, in
# millimetres.
import faceexpr as fe

sim = fe.synthetic.simulate(900, n_expressions=5, ease=0, seed=2)
pipe = fe.Pipeline(progress=False)
ego = pipe.clean(sim.pose3d)
features = pipe.features([ego], [fe.features.head_kinematics(ego)])
print(features[0].sizes)

# %%
# Fit every candidate
# -------------------
# With the pipeline's model options (an autoregressive HMM of order 1, the covariance
# prior scaled to the features, restarts and the sticky prior of a 1 s dwell time).
# Each of 5 contiguous fifths of the recording is also held out in turn (``cv_mean`` and
# ``cv_se``: the held-out log-likelihood per frame, mean and standard error over the
# folds); the other columns come from the models fitted on all frames, as totals (lower
# is better) and per frame (higher is better).
fps = fe.data.get_fps(ego)
options = pipe.model_options_for(None, fps, fe.features.mean_variance(features))
sel = fe.select_n_states(features, candidates=[3, 4, 5, 6, 7], criterion="icl",
                         dwell_frames=pipe.dwell_frames(fps), **options)
columns = ["n_states", "n_parameters", "cv_mean", "cv_se", "bic_per_frame",
           "icl_per_frame", "aic_per_frame"]
print(sel.table[columns].round(2).to_string(index=False))
print(sel.criteria_summary())

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
# ``faceexpr analyze ... --n-states auto --candidates 3 7`` writes it as
# ``model_selection.csv`` and ``model_selection.png``; a choice at the edge of the
# candidates is a warning in the result's diagnostics.
#
# Real faces change expression over a few frames. With the simulation's default easing
# (``ease=0.5``) BIC tends to prefer one or more extra states that hold the transition
# frames; look at the table rather than only at its minimum, and at whether the extra
# states are short bouts between two others.
