"""
One camera: 2D landmarks from a DeepLabCut file
===============================================

With one camera there is nothing to triangulate: the 2D landmarks (pixels) go through
the same pipeline. Here the synthetic face is seen by one virtual camera, written as a
DeepLabCut ``.h5`` file and read back with :func:`faceexpr.io.load_pose`, as you would
read your own tracker's output (DeepLabCut ``.h5``/``.csv``, OpenFace ``.csv``, ...).
"""

# %%
# A DeepLabCut file
# -----------------
import tempfile
from pathlib import Path

import faceexpr as fe

sim = fe.synthetic.simulate(3000, n_expressions=5, n_cameras=1, seed=2)
folder = Path(tempfile.mkdtemp())
path = sim.write_dlc(folder / "session1-camA_DLC_resnet50.h5")

pose = fe.io.load_pose(path, fps=30)  # the format recognised by content
print(pose)

# %%
# The pipeline, unchanged
# -----------------------
# In 2D the egocentric step removes head translation, in-plane rotation and scale
# (Procrustes alignment on the landmarks). Points whose tracker confidence is below 0.5
# count as missing and short gaps are filled.
pipe = fe.Pipeline(n_states=5, progress=False)
result = pipe.run(pose)
ari = fe.analysis.state_agreement(sim.states, result.states[0])
n_features = result.features[0].sizes["features"]
print(f"{n_features} features, ARI against the truth: {ari:.3f}")
print(result.frequencies.round(3))

# %%
# Faces in image coordinates
# --------------------------
# 2D faces in pixels are drawn with y pointing down, as in the image.
fig = fe.plot.expressions(result.expressions, relative=True,
                          frequencies=result.frequencies["relative"])

# %%
# Head motion
# -----------
# :func:`faceexpr.features.head_kinematics` (here computed by the pipeline) gives the
# head's position, velocity and acceleration in the image; the state strip below shows
# what the face did meanwhile.
fig_head = fe.plot.kinematics(result.kinematics[0], result.states[0],
                              result.n_states)

# %%
# Saving everything
# -----------------
# ``result.save(folder)`` writes the tables, the figures and ``report.html``; the command
# line ``faceexpr analyze session1-camA_DLC_resnet50.h5 --n-states 5 --out results`` does
# the same in one step.
saved = result.save(folder / "results", figures=False)
print(sorted(p.name for p in (folder / "results").iterdir()))
