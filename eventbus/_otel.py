"""OpenTelemetry spans for traced sends: ``EVENTBUS["TRACING"]["OPENTELEMETRY"] = True``.

Only ``opentelemetry-api`` is used (the ``opentelemetry`` extra): the project
configures the SDK, its exporters and its propagators as it does for the rest
of its telemetry; with no SDK configured the API's spans are no-ops.

The rules:

* Each send is a span named ``"<signal> <method>"`` (``"shop.order_placed send"``),
  current while the send runs, so spans started inside receivers (the ORM's,
  an HTTP client's) and nested sends are its descendants. Its kind is
  ``PRODUCER`` for a remote signal, ``CONSUMER`` for an event re-emitted from
  the wire (``"<signal> broadcast"``), else ``INTERNAL``.
* Each receiver run is a child span named after the receiver's dotted name. An
  after-commit receiver's run, which happens at the commit, after its send's
  span has ended, is still a child of it.
* Exceptions are recorded on the span that raised (``record_exception``) and
  set its status to ``ERROR``; a robust send's span stays ``UNSET`` while its
  failed runs are marked.
* An event published to the wire carries the trace context (the project's
  global propagator, W3C ``traceparent`` by default) in its envelope, and the
  receiving process's ``broadcast`` span continues that trace.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from ._identity import describe, describe_sender, signal_name

__all__: list[str] = []

#: The span attributes eventbus sets, by meaning.
SIGNAL = "eventbus.signal"
SENDER = "eventbus.sender"
METHOD = "eventbus.method"
RECEIVER = "eventbus.receiver"
PRIORITY = "eventbus.priority"
IS_ASYNC = "eventbus.async"
DELIVERY = "eventbus.delivery"
EVENT_LOOP = "eventbus.event_loop"
RUNS = "eventbus.runs"
THREAD_NAME = "thread.name"
THREAD_ID = "thread.id"

#: The span and the context token of one send or run.
Open = tuple[Any, Any]


class Spans:
    """Starts and ends the spans of traced sends and runs (see the module docstring).

    Raises:
        ImproperlyConfigured: ``opentelemetry-api`` is not installed.
    """

    def __init__(self) -> None:
        try:
            from opentelemetry import context, propagate, trace  # noqa: PLC0415
        except ImportError as exc:
            raise ImproperlyConfigured(
                'EVENTBUS["TRACING"]["OPENTELEMETRY"] is True, but opentelemetry-api is not '
                "installed: pip install 'eventbus[opentelemetry]', or set it to False."
            ) from exc
        try:
            release: str | None = metadata.version("eventbus")
        except metadata.PackageNotFoundError:  # pragma: no cover - run from a bare checkout
            release = None
        self._context = context
        self._propagate = propagate
        self._trace = trace
        self._tracer = trace.get_tracer("eventbus", release)

    def start_send(self, send: Any, origin: Mapping[str, str] | None) -> Open:
        """Start a send's span and make it current; ``origin``: a wire event's trace context."""
        trace = self._trace
        parent = None
        if send.method == "broadcast":
            kind = trace.SpanKind.CONSUMER
            parent = self._propagate.extract(dict(origin or {}))
        elif getattr(send.signal, "remote", False):
            kind = trace.SpanKind.PRODUCER
        else:
            kind = trace.SpanKind.INTERNAL
        thread = threading.current_thread()
        attributes: dict[str, Any] = {
            SIGNAL: signal_name(send.signal),
            SENDER: describe_sender(send.sender),
            METHOD: send.method,
            THREAD_NAME: thread.name,
            THREAD_ID: thread.ident or 0,
        }
        if send.event_loop is not None:
            attributes[EVENT_LOOP] = send.event_loop
        span = self._tracer.start_span(
            f"{signal_name(send.signal)} {send.method}",
            context=parent,
            kind=kind,
            attributes=attributes,
        )
        return span, self._context.attach(trace.set_span_in_context(span, parent))

    def start_run(self, send: Any, run: Any) -> Open:
        """Start a receiver run's span, a child of its send's, and make it current."""
        trace = self._trace
        assert send.otel is not None
        parent = trace.set_span_in_context(send.otel[0])
        thread = threading.current_thread()
        record = run.record
        attributes: dict[str, Any] = {
            SIGNAL: signal_name(send.signal),
            SENDER: describe_sender(send.sender),
            RECEIVER: describe(run.receiver),
            PRIORITY: record.priority,
            IS_ASYNC: record.is_async,
            DELIVERY: run.delivery,
            THREAD_NAME: thread.name,
            THREAD_ID: thread.ident or 0,
        }
        span = self._tracer.start_span(
            describe(run.receiver), context=parent, attributes=attributes
        )
        return span, self._context.attach(trace.set_span_in_context(span))

    def end(self, opened: Open, error: BaseException | None, runs: int | None = None) -> None:
        """End a span started here, recording ``error``; restore the context it replaced."""
        span, token = opened
        try:
            if runs is not None:
                span.set_attribute(RUNS, runs)
            if error is not None:
                span.record_exception(error)
                span.set_status(
                    self._trace.Status(
                        self._trace.StatusCode.ERROR, f"{type(error).__name__}: {error}"
                    )
                )
            span.end()
        finally:
            self._context.detach(token)

    def carrier(self) -> dict[str, str]:
        """The current trace context, as the global propagator writes it."""
        carrier: dict[str, str] = {}
        self._propagate.inject(carrier)
        return carrier
