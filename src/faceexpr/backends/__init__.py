"""Built-in backends, one module per wrapped library (see :mod:`faceexpr.backends.builtin`)."""
