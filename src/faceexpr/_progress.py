"""Progress bars of EM fits (every backend's, and a study's): iterations with the
log-likelihood and its last change."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["MININTERVAL", "EMProgress", "em_progress", "restart_label"]


MININTERVAL = 0.1
"""Seconds between redraws of the EM bar (tqdm's default)."""


class EMProgress:
    """A tqdm bar over EM iterations showing the log-likelihood and its last change.

    Disabled (no output, no cost) unless ``enabled``.
    """

    def __init__(self, total: int, desc: str, enabled: bool) -> None:
        self._bar: Any = None
        self._last = -math.inf
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc, leave=False, unit="it",
                             mininterval=MININTERVAL)

    def update(self, log_likelihood: float) -> None:
        """One iteration done with this log-likelihood (of the parameters it started from)."""
        if self._bar is None:
            return
        change = log_likelihood - self._last
        self._last = log_likelihood
        self._bar.set_postfix_str(f"log-lik {log_likelihood:.6g}"
                                  + (f", change {change:+.3g}" if math.isfinite(change)
                                     else ""), refresh=False)
        self._bar.update()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@contextmanager
def em_progress(total: int, desc: str, enabled: bool) -> Iterator[EMProgress]:
    """:class:`EMProgress` as a context manager (the bar closes on any exit)."""
    bar = EMProgress(total, desc, enabled)
    try:
        yield bar
    finally:
        bar.close()


def restart_label(backend: str, n_states: int, restart: int, n_init: int) -> str:
    """The progress bar's description of one restart: ``native K=9 1/3``."""
    return f"{backend} K={n_states}" + (f" {restart + 1}/{n_init}" if n_init > 1 else "")
