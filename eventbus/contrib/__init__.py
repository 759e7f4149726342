"""Integrations with other Django tools, each in a package of its own that needs that tool.

* :mod:`eventbus.contrib.debug_toolbar`: the Django Debug Toolbar panel
  ``SignalsPanel`` (``pip install 'eventbus[debug-toolbar]'``).

Nothing here is imported by ``import eventbus``; each integration plugs into
the library through its public hooks (``eventbus.tracing``).
"""

__all__: list[str] = []
