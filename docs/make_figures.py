"""Regenerate the figures shown in docs/figures.md from the demo's synthetic data.

Run from the repository root: ``python docs/make_figures.py``.
"""

from __future__ import annotations

from pathlib import Path

import faceexpr as fe
from faceexpr.synthetic import simulate

OUT = Path(__file__).parent / "images"


def main() -> None:
    sim = simulate(3000, n_expressions=5, seed=2, n_cameras=1)
    for dims, pose in ((3, sim.pose3d), (2, sim.view(0))):
        result = fe.Pipeline(n_states=5, model_options={"n_init": 3}, progress=False).run(
            pose, names=[f"synthetic{dims}d"])
        freq = result.frequencies["relative"]
        figures = {
            "expressions": fe.plot.expressions(result.expressions, frequencies=freq),
            "expressions_relative": fe.plot.expressions(result.expressions,
                                                        frequencies=freq, relative=True),
        }
        if dims == 3:
            figures |= {
                "timeline": fe.plot.timeline(result.features[0], result.states[0], 5),
                "kinematics": fe.plot.kinematics(result.kinematics[0], result.states[0], 5),
                "transitions": fe.plot.transitions(result.transitions),
                "dwell_times": fe.plot.dwell_times(result.bouts, 5, result.fps),
            }
        for name, fig in figures.items():
            fe.plot.save_figure(fig, OUT / f"{name}_{dims}d", dpi=72)


if __name__ == "__main__":
    main()
