"""The Django Debug Toolbar panel: every send made while serving a request.

``DEBUG_TOOLBAR_PANELS = [..., "eventbus.contrib.debug_toolbar.SignalsPanel"]``;
see :class:`SignalsPanel` and the *Tracing* guide. Needs django-debug-toolbar:
``pip install 'eventbus[debug-toolbar]'``.
"""

from ._panel import SignalsPanel

__all__ = ["SignalsPanel"]
