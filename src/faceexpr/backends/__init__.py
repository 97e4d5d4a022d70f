"""faceexpr's own plugins: one package or module per wrapped tool.

Each is registered through the hooks of :mod:`faceexpr.hookspecs` from
:data:`faceexpr.registry.DEFAULT_PLUGINS`, the same way as a third-party plugin; the core
never imports them.
"""
