"""Run the example plugin of the plugin guide (docs/user_guide/plugins.rst).

``python docs/plugin_example/run_example.py`` prints the output shown in the
guide; tests/test_docs.py runs it too, so the guide's code keeps working.
"""

import sys
import tempfile
from pathlib import Path

import numpy as np

import faceexpr as fe
from faceexpr.cli import main

sys.path.insert(0, str(Path(__file__).parent))  # where faceexpr_myplugin is

# -- register ------------------------------------------------------------
import faceexpr_myplugin

fe.register(faceexpr_myplugin, name="myplugin")
table = fe.backends()
mine = table[table["module"].str.startswith("faceexpr_myplugin")]
print(mine[["stage", "name", "available", "missing"]].to_string(index=False))

# -- the pose format -----------------------------------------------------
folder = Path(tempfile.mkdtemp())
sim = fe.synthetic.simulate(600, n_expressions=3, n_cameras=2, seed=3)
fe.save_pose(sim.pose3d, folder / "face.npz")  # the format from the suffix
pose = fe.load_pose(folder / "face.npz")  # recognised by NpzFormat.sniff
print(pose.attrs["source_software"], dict(pose.sizes))

# -- the command ---------------------------------------------------------
main(["pose-info", str(folder / "face.npz")])  # faceexpr pose-info face.npz

# -- the triangulator ----------------------------------------------------
calibration = sim.write_calibration(folder / "calibration.toml")
tri = fe.triangulator("numpy-dlt", calibration=calibration)
pose3d = tri.triangulate(sim.pose2d)  # synthetic face seen by 2 cameras
error = np.linalg.norm(pose3d["position"] - sim.pose3d["position"], axis=-1)
print(f"median error {np.nanmedian(error):.2f} mm")  # against the truth

# -- the state model, in the pipeline ------------------------------------
result = fe.Pipeline(
    n_states=3, state_model="gmm", model_options={"n_init": 2},
    triangulator="numpy-dlt",
    triangulator_options={"calibration": calibration},
    progress=False).run(sim.pose2d)
print(result.model)
ari = fe.analysis.state_agreement(sim.states, result.states[0])
print(f"ARI against the truth: {ari:.3f}")

# -- the pose estimator --------------------------------------------------
try:
    fe.pose_estimator("openface-cli")
except fe.MissingDependencyError as exc:
    print(exc)

fe.unregister("myplugin")
