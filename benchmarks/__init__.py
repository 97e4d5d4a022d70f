"""Benchmarks of faceexpr (run with ``nox -s benchmarks`` or ``python -m benchmarks``)."""
