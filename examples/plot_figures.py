"""
Every figure of a result
========================

:meth:`Result.save <faceexpr.pipeline.Result.save>` (and ``faceexpr analyze --out``)
draws these figures and puts them in ``report.html``. Each is also a function of
:mod:`faceexpr.plot` that returns a :class:`matplotlib.figure.Figure` without opening a
window, so it works on headless machines; save one with
:func:`faceexpr.plot.save_figure` or ``fig.savefig``. A state has the same colour in
every figure (and in labelled videos).
"""

# %%
# A result to draw
# ----------------
import faceexpr as fe

sim = fe.synthetic.simulate(1500, n_expressions=5, seed=2)
pipe = fe.Pipeline(n_states=5, progress=False)
result = pipe.run(sim.pose3d, names=["synthetic3d"])
K, freq = result.n_states, result.frequencies["relative"]

# %%
# Average face of every state
# ---------------------------
# One panel per state on shared axes, titled with the state's share of the frames. 3D
# faces are turned upright and seen from the front using the landmark scheme's
# ``left_right`` and ``down_up`` pairs; ``elev`` and ``azim`` turn the view.
fig_faces = fe.plot.expressions(result.expressions, frequencies=freq)

# %%
# A skeleton can also be given as chains of landmark names (the form of Anipose's
# ``labeling.scheme``):
fig_scheme = fe.plot.expressions(
    result.expressions, frequencies=freq, elev=20, azim=-60,
    scheme=[["lefteye1", "lefteye2"], ["righteye1", "righteye2"],
            ["llip", "uplip", "rlip", "lowlip", "llip"],
            ["lear", "chin", "rear"]])

# %%
# Head kinematics over time and per state
# ---------------------------------------
fig_kinematics = fe.plot.kinematics(result.kinematics[0], result.states[0], K)
fig_by_state = fe.plot.kinematics_by_state(result.kinematics, result.states, K)

# %%
# Transitions, dwell times and time in each state
# -----------------------------------------------
fig_transitions = fe.plot.transitions(result.transitions)
fig_dwell = fe.plot.dwell_times(result.bouts, K, result.fps)
fig_frequencies = fe.plot.frequencies(result.frequencies)

# %%
# The files ``Result.save`` writes
# --------------------------------
# ``expressions.png``, ``expressions_relative.png``, ``sessions/<session>/timeline.png``,
# ``sessions/<session>/kinematics.png``, ``kinematics_by_state.png``, ``transitions.png``,
# ``dwell_times.png``, ``frequencies.png`` and, when several K were compared,
# ``model_selection.png``; ``formats=("png", "svg")`` adds SVGs, and ``report.html``
# shows them all with the tables. See :doc:`/user_guide/outputs`.
