"""Developer sessions: ``nox -s tests lint typecheck demo benchmarks slow browser``."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.default_venv_backend = "venv"

# pomegranate needs torch; installed first so pip takes this CPU build instead of picking
# the newest CUDA build on its own.
TORCH = "torch==2.13.0"


def install_tests(session: nox.Session) -> None:
    """faceexpr with the test extra (real anipose, OpenCV and pomegranate backends)."""
    session.install(TORCH)
    session.install("-e", ".[test]")


@nox.session
def tests(session: nox.Session) -> None:
    """The fast test suite (a few minutes)."""
    install_tests(session)
    session.run("pytest", "-q", *session.posargs, env={"MPLBACKEND": "Agg"})


@nox.session
def fuzz(session: nox.Session) -> None:
    """Property-based fuzzing of every pose file reader with many examples (hypothesis'
    ``fuzz`` profile; the ``tests`` session runs the same tests with a few)."""
    install_tests(session)
    session.run("pytest", "-q", "tests/test_fuzz_formats.py", *session.posargs,
                env={"MPLBACKEND": "Agg", "HYPOTHESIS_PROFILE": "fuzz"})


@nox.session
def slow(session: nox.Session) -> None:
    """Slow integration tests (marker ``slow``): DeepLabCut trained and run offline.

    DeepLabCut needs a matching torch/torchvision pair (pip must not pick them itself).
    Exit code 5 (none collected) is a pass.
    """
    session.install("torch==2.14.1", "torchvision==0.29.1")
    session.install("-e", ".[test,dlc]")
    session.run("pytest", "-q", "-m", "slow", *session.posargs, success_codes=[0, 5])


@nox.session
def movement(session: nox.Session) -> None:
    """Round trips through the real movement package (marker ``movement``).

    Its own environment: movement pulls opencv-python-headless (sleap-io imports cv2),
    napari-video, pynwb and more, and the headless OpenCV writes the same ``cv2`` folder
    as the test extra's opencv-contrib-python. The movement tests only need ``cv2`` to
    import, which either build does.
    """
    session.install(TORCH)
    session.install("-e", ".[test,movement]")
    session.run("pytest", "-q", "-m", "movement", *session.posargs, success_codes=[0])


@nox.session
def browser(session: nox.Session) -> None:
    """report.html opened in headless Chromium (marker ``browser``): images load, links
    resolve, the labelled video plays, the console stays clean.

    Needs the Debian packages ``chromium`` and ``chromium-driver`` (``.ci/run`` installs
    them); without them the test is skipped.
    """
    install_tests(session)
    session.run("pytest", "-q", "-m", "browser", "tests/test_browser.py", *session.posargs,
                env={"MPLBACKEND": "Agg"})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, and the import contracts of pyproject.toml (layers, no cycles, tool packages
    reached only through the registry) with import-linter."""
    session.install("-e", ".", "ruff", "import-linter>=2.17")
    session.run("ruff", "check", "src", "tests", "benchmarks", "examples", "docs", "noxfile.py")
    session.run("lint-imports")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on src/."""
    install_tests(session)
    session.run("mypy", "--strict", "src/faceexpr")


@nox.session
def demo(session: nox.Session) -> None:
    """The synthetic demo through the whole pipeline."""
    session.install("-e", ".")
    session.run("faceexpr", "demo", *session.posargs)


@nox.session
def benchmarks(session: nox.Session) -> None:
    """Benchmarks at quick sizes, as tables (CSV in ``benchmarks/results``): start-up time,
    every state-model backend at T=10,000 (D 60, K 9), ``faceexpr analyze`` on 0.1 h of
    synthetic face beside the pandas + hmmlearn recipe, and a study of 4 sessions of 2 min
    serially and on a 2-worker LocalCluster.

    Arguments replace the quick runs, e.g. ``nox -s benchmarks -- state-models --grid full``
    or ``nox -s benchmarks -- pipeline --hours 1 --repeats 5`` (``python -m benchmarks -h``).
    """
    session.install(TORCH)
    session.install("-e", ".[anipose,pomegranate,dlib,dynamax,study]", "scikit-image")
    if session.posargs:
        session.run("python", "-m", "benchmarks", *session.posargs)
        return
    session.run("python", "-m", "benchmarks", "startup")
    session.run("python", "-m", "benchmarks", "state-models", "--frames", "10000")
    session.run("python", "-m", "benchmarks", "pipeline", "--hours", "0.1")
    session.run("python", "-m", "benchmarks", "study", "--sessions", "4", "--minutes", "2")


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site, warnings as errors: ``docs/_build/html``.

    The gallery examples (``examples/``) run during the build, the pomegranate one
    included, hence torch first as for the tests. Extra arguments go to sphinx-build,
    e.g. ``nox -s docs -- -E`` to rebuild every page.
    """
    session.install(TORCH)
    session.install("-e", ".[test,docs]")
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html",
                *session.posargs, env={"MPLBACKEND": "Agg"})
