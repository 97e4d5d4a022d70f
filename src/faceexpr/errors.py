"""Exceptions raised by faceexpr.

Every error a user can cause by giving bad input derives from :class:`FaceexprError`,
so the command line can print it as one line without a traceback.
"""

from __future__ import annotations


class FaceexprError(Exception):
    """Base class of all errors faceexpr raises on purpose."""


class InvalidPoseError(FaceexprError, ValueError):
    """A pose Dataset does not follow the data contract (see :mod:`faceexpr.data`)."""


class InvalidFeaturesError(FaceexprError, ValueError):
    """A feature matrix is malformed (wrong dims, NaN where not allowed, unknown names)."""


class InvalidStatesError(FaceexprError, ValueError):
    """A state sequence is malformed (not 1D, non-integer, or labels out of range)."""


class FileFormatError(FaceexprError, ValueError):
    """A file could not be read as the format it claims to be.

    The message names the file and, where it applies, the column or line.
    """


class ParameterError(FaceexprError, ValueError):
    """A parameter of a pipeline or command cannot work (out of range, wrong kind); the
    message names the parameter and what it takes. Raised before any work is done."""


class BackendOptionError(FaceexprError, ValueError, TypeError):
    """A backend was given an option it does not take, or a value it refuses.

    The message names the stage, the backend and the option, says what was expected and
    lists every option the backend accepts. It is a :class:`TypeError` too, which is what
    Python raises for an unknown keyword argument (what callers caught before).
    """


class BackendNotFoundError(FaceexprError, KeyError):
    """No backend of that name is registered for the stage."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class MissingDependencyError(FaceexprError, ImportError):
    """A backend needs an optional dependency that is not installed."""


class NotFittedError(FaceexprError, RuntimeError):
    """A state model was used before :meth:`~faceexpr.interfaces.StateModel.fit`."""


class CalibrationError(FaceexprError, ValueError):
    """The cameras could not be calibrated from the given views (or the board is invalid)."""


class DeepLabCutProjectError(FaceexprError, ValueError):
    """A DeepLabCut project cannot be used as asked: no trained model, wrong body parts,
    an unreadable ``config.yaml``. The message names the file or folder at fault."""


class MissingFileError(FaceexprError, FileNotFoundError):
    """A file or folder that was asked for (a pose file, a video, a project's
    ``config.yaml``) is not there. The message is ``<path>: no such file``-style."""


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line, as the command line prints it; an OSError
    that is not faceexpr's own as ``file: reason``."""
    if isinstance(exc, OSError) and exc.filename and not isinstance(exc, FaceexprError):
        text = f"{exc.filename}: {(exc.strerror or str(exc)).lower()}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())
