"""The Django Debug Toolbar panel that lists the sends made while serving a request."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from typing import Any, cast

from django.apps import apps
from django.core.checks import CheckMessage, Error
from django.http import HttpRequest, HttpResponse
from django.utils.functional import classproperty

from eventbus import tracing

try:
    from debug_toolbar.panels import Panel
except ImportError as exc:  # pragma: no cover - the test environment has the extra
    raise ImportError(
        "eventbus.contrib.debug_toolbar needs django-debug-toolbar: "
        "pip install 'eventbus[debug-toolbar]'."
    ) from exc

from ._rows import Stats, summarize, totals

__all__ = ["SignalsPanel"]


class SignalsPanel(Panel):
    """Every send made while serving the request, with its receivers' runs.

    Add ``"eventbus.contrib.debug_toolbar.SignalsPanel"`` to
    ``DEBUG_TOOLBAR_PANELS`` (with ``"eventbus"`` and ``"debug_toolbar"`` in
    ``INSTALLED_APPS``). The rules:

    * **What is listed.** The sends of ``eventbus.Signal``\\ s (the bus's model
      signals included) made inside the request's context: by the view and the
      middleware after the toolbar's, on the thread serving it and wherever it
      hands its context on (``sync_to_async``/``async_to_sync`` hops,
      ``asend()``'s receivers). Sends of other requests served meanwhile are
      not, nor sends still running when the response is ready (a streaming
      response's). Each send is listed with its receivers in the order they
      ran, each with its priority, sync or async, delivery, thread (and event
      loop), time and outcome; sends made inside a receiver are listed under
      its run, indented.
    * **After-commit receivers** are listed where they were deferred, with what
      became of them by the time the response was ready: their run at the
      commit, or "did not run" (the transaction rolled back, or had not
      committed yet).
    * **Totals** (sends, runs, the time spent sending) are in the panel's
      subtitle in the toolbar and in its title.
    * **Sync and async.** The panel works for WSGI and ASGI requests, sync and
      async views (``is_async = True``: the toolbar disables the other panels
      for ASGI requests). It traces with :func:`eventbus.tracing.trace`, so
      tracing is on only while a request it shows is being served.

    Its id in the toolbar is ``EventbusSignalsPanel``, so it can be shown next
    to the toolbar's own ``SignalsPanel`` (which lists the receivers connected
    to Django's signals, not sends). Listed in the toolbar's
    ``DISABLE_PANELS``, it is off (nothing traced) until ticked in the toolbar.
    """

    # The toolbar names a panel by its class's module (DISABLE_PANELS): the public one.
    __module__ = "eventbus.contrib.debug_toolbar"

    is_async = True
    template = "eventbus/debug_toolbar/signals.html"
    nav_title = "eventbus"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seen: tracing.Trace | None = None

    @classproperty
    def panel_id(cls) -> str:
        """``"EventbusSignalsPanel"``: not the class name, which the toolbar's own panel has."""
        return "EventbusSignalsPanel"

    @property
    def nav_subtitle(self) -> str:
        """The totals: ``"2 sends, 5 runs in 61.20 ms"``."""
        stats = self._stats()
        return "" if stats is None else totals(stats)

    @property
    def title(self) -> str:
        """``"Signals sent: "`` and the totals."""
        stats = self._stats()
        return "Signals sent" if stats is None else f"Signals sent: {totals(stats)}"

    def process_request(self, request: HttpRequest) -> Any:
        """Serve the request inside a :func:`eventbus.tracing.trace` block.

        In an async middleware chain the rest of the chain is a coroutine: the
        block is then entered again in the coroutine that awaits it, where the
        request is served, and both blocks record into one trace.
        """
        with tracing.trace() as seen:
            response = self.get_response(request)
        self._seen = seen
        if inspect.isawaitable(response):
            return self._serve(response, seen)
        return response

    async def _serve(self, response: Awaitable[HttpResponse], seen: tracing.Trace) -> HttpResponse:
        with tracing.trace(seen):
            return await response

    def generate_stats(self, request: HttpRequest, response: HttpResponse) -> None:
        """Store the request's sends as the panel's lines and totals (see the module
        ``eventbus.contrib.debug_toolbar._rows``)."""
        seen, self._seen = self._seen, None
        records = [] if seen is None else list(seen.records)
        self.record_stats(summarize(records))  # type: ignore[no-untyped-call]

    @classmethod
    def run_checks(cls) -> list[CheckMessage]:
        """An error when ``"eventbus"`` is not in ``INSTALLED_APPS``: its template is the app's."""
        if apps.is_installed("eventbus"):
            return []
        return [
            Error(
                "eventbus.contrib.debug_toolbar.SignalsPanel is in DEBUG_TOOLBAR_PANELS, but "
                "'eventbus' is not in INSTALLED_APPS, so its template cannot be found.",
                hint="Add 'eventbus' to INSTALLED_APPS.",
                id="eventbus.E005",
            )
        ]

    def _stats(self) -> Stats | None:
        # Empty until generate_stats() ran (the page is rendered after it).
        stats: dict[str, Any] = self.get_stats()  # type: ignore[no-untyped-call]
        return cast("Stats", stats) if stats else None
