"""OpenTelemetry spans of traced sends: ``EVENTBUS["TRACING"]["OPENTELEMETRY"] = True``.

Spans go to an SDK tracer provider of each test's own, exported in memory: the
installed ``Spans`` is given that provider's tracer, so the process's global
provider (which OpenTelemetry lets a process set only once) is left alone. The
context that makes spans parents and children is OpenTelemetry's own, shared by
every provider, so user code's spans (``Tracer.start_as_current_span`` in a
receiver) nest under eventbus's as they would with the global provider.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import anyio
import pytest
from django.db import transaction
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode, Tracer

from eventbus import Signal, _trace, tracing
from eventbus._node import node
from eventbus.conf import TracingSettings
from tests.helpers import KINDS, Receiver, send_from_async
from tests.test_tracing import Ran, connect_layout, make_receiver, reset_tracing, threads

WAIT = 5.0


class Exported:
    """The spans of one test: an SDK tracer provider of its own, exported in memory."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(shutdown_on_exit=False)
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        #: A tracer for the spans user code starts (in a receiver, around a send).
        self.user: Tracer = self.provider.get_tracer("tests.tracing_otel")

    @property
    def finished(self) -> list[ReadableSpan]:
        """The spans ended so far, in the order they ended."""
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> ReadableSpan:
        """The one finished span called ``name``."""
        [span] = [span for span in self.finished if span.name == name]
        return span

    def wait_for(self, name: str) -> ReadableSpan:
        """The span called ``name``, once some other thread has ended it (bounded wait)."""
        deadline = time.monotonic() + WAIT
        while not any(span.name == name for span in self.finished):
            assert time.monotonic() < deadline, [span.name for span in self.finished]
            time.sleep(0.01)
        return self.named(name)


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[Exported]:
    """OPENTELEMETRY on, with eventbus's spans going to this test's provider; then off."""
    reset_tracing()
    exported = Exported()
    tracing.configure(TracingSettings(opentelemetry=True))
    installed = tracing._state.spans
    assert installed is not None
    monkeypatch.setattr(installed, "_tracer", exported.provider.get_tracer("eventbus"))
    try:
        yield exported
    finally:
        assert reset_tracing() == 0
        exported.provider.shutdown()


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    found: int = span.context.span_id
    return found


def trace_id(span: ReadableSpan) -> int:
    assert span.context is not None
    found: int = span.context.trace_id
    return found


def parent_id(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


def assert_children(parent: ReadableSpan, children: Sequence[ReadableSpan]) -> None:
    """Each of ``children`` is a child of ``parent``, in its trace."""
    for child in children:
        assert parent_id(child) == span_id(parent), child.name
        assert trace_id(child) == trace_id(parent), child.name


# -- a send and its runs -------------------------------------------------------------------


def test_a_send_is_a_span_and_each_receiver_run_a_child_span(spans: Exported) -> None:
    signal, log = Signal(name="tests.tracing_otel.order_placed"), list[Ran]()
    connect_layout(signal, "sa", log)

    signal.send(sender="shop", order=7)

    first, second, send = spans.finished
    assert (send.name, send.kind, send.parent) == (
        "tests.tracing_otel.order_placed send",
        SpanKind.INTERNAL,
        None,
    )
    assert dict(send.attributes or {}) == {
        "eventbus.signal": "tests.tracing_otel.order_placed",
        "eventbus.sender": "'shop'",
        "eventbus.method": "send",
        "thread.name": threading.current_thread().name,
        "thread.id": threading.get_ident(),
        "eventbus.runs": 2,
    }
    assert send.status.status_code is StatusCode.UNSET
    assert_children(send, [first, second])
    assert [first.name, second.name] == [
        "tests.test_tracing.receiver_s0",
        "tests.test_tracing.receiver_a1",
    ]
    for span, priority, is_async, thread in zip(
        (first, second), (2, 1), (False, True), threads(log), strict=True
    ):
        attributes = dict(span.attributes or {})
        assert isinstance(attributes.pop("thread.id"), int)
        assert attributes == {
            "eventbus.signal": "tests.tracing_otel.order_placed",
            "eventbus.sender": "'shop'",
            "eventbus.receiver": span.name,
            "eventbus.priority": priority,
            "eventbus.async": is_async,
            "eventbus.delivery": "local",
            "thread.name": thread,
        }
        assert span.kind is SpanKind.INTERNAL
        assert span.status.status_code is StatusCode.UNSET


def test_a_send_without_receivers_is_a_span_without_children(spans: Exported) -> None:
    Signal(name="tests.tracing_otel.nobody").send(sender=None)
    [send] = spans.finished
    assert send.name == "tests.tracing_otel.nobody send"
    assert dict(send.attributes or {})["eventbus.runs"] == 0


def test_a_nested_send_is_a_child_of_the_run_it_was_made_in(spans: Exported) -> None:
    outer, inner = Signal(name="tests.tracing_otel.outer"), Signal(name="tests.tracing_otel.inner")
    inner.connect(make_receiver("s", "leaf", []), weak=False)

    def forward(sender: object, **kwargs: Any) -> None:
        inner.send(sender=sender)

    outer.connect(forward, weak=False)
    outer.send(sender=None)

    leaf, inner_send, relay, outer_send = spans.finished
    assert (inner_send.name, outer_send.name) == (
        "tests.tracing_otel.inner send",
        "tests.tracing_otel.outer send",
    )
    assert_children(outer_send, [relay])
    assert_children(relay, [inner_send])
    assert_children(inner_send, [leaf])


def test_a_span_user_code_starts_in_a_receiver_is_a_child_of_the_run(spans: Exported) -> None:
    signal = Signal(name="tests.tracing_otel.user")

    def receiver(sender: object, **kwargs: Any) -> None:
        with spans.user.start_as_current_span("charge the card"):
            pass

    signal.connect(receiver, weak=False)
    with spans.user.start_as_current_span("request"):
        signal.send(sender=None)

    user, run, send, request = spans.finished
    assert user.name == "charge the card"
    assert_children(run, [user])
    assert_children(send, [run])
    assert_children(request, [send])  # the send continues the caller's trace


@pytest.mark.parametrize("robust", [True, False], ids=["send_robust", "send"])
def test_an_exception_is_recorded_on_the_span_of_the_run_that_raised(
    spans: Exported, robust: bool
) -> None:
    signal = Signal(name="tests.tracing_otel.failing")
    error = ValueError("broken")
    signal.connect(make_receiver("s", "failing", [], raises=error), weak=False)

    if robust:
        signal.send_robust(sender=None)
    else:
        with pytest.raises(ValueError, match="broken"):
            signal.send(sender=None)

    run, send = spans.finished
    assert run.status.status_code is StatusCode.ERROR
    assert run.status.description == "ValueError: broken"
    [event] = run.events
    assert event.name == "exception"
    assert dict(event.attributes or {})["exception.type"] == "ValueError"
    assert dict(event.attributes or {})["exception.message"] == "broken"
    if robust:  # the send itself did not fail
        assert (send.status.status_code, send.events) == (StatusCode.UNSET, ())
    else:
        assert send.status.status_code is StatusCode.ERROR
        assert [event.name for event in send.events] == ["exception"]


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["asend", "asend_robust"])
async def test_asend_is_a_span_with_its_runs_on_either_loop(
    spans: Exported, method: str, anyio_backend: str
) -> None:
    signal, log = Signal(name="tests.tracing_otel.async"), list[Ran]()
    connect_layout(signal, "sas", log)

    await send_from_async(signal, method)

    *runs, send = spans.finished
    attributes = dict(send.attributes or {})
    assert (send.name, attributes["eventbus.method"]) == (
        f"tests.tracing_otel.async {method}",
        method,
    )
    assert attributes["eventbus.event_loop"] == anyio_backend
    assert attributes["thread.name"] == threading.current_thread().name
    assert_children(send, runs)
    assert [dict(run.attributes or {})["thread.name"] for run in runs] == threads(log)
    assert [dict(run.attributes or {})["eventbus.async"] for run in runs] == [False, True, False]


@pytest.mark.anyio
async def test_the_runs_of_a_concurrent_tier_are_children_of_the_send(
    spans: Exported, anyio_backend: str
) -> None:
    signal = Signal(name="tests.tracing_otel.tier", concurrent=True)
    receivers = [make_receiver(kind, f"{kind}{i}", []) for i, kind in enumerate("aas")]
    for receiver in receivers:
        signal.connect(receiver, weak=False)

    await signal.asend(sender=None)

    *runs, send = spans.finished
    assert send.name == "tests.tracing_otel.tier asend"
    assert sorted(run.name for run in runs) == sorted(
        f"tests.test_tracing.receiver_{name}" for name in ("a0", "a1", "s2")
    )
    assert_children(send, runs)


# -- after-commit receivers ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", KINDS)
def test_an_after_commit_run_is_a_child_of_its_send_though_it_runs_after_it(
    spans: Exported, kind: str
) -> None:
    signal, log = Signal(name="tests.tracing_otel.committed"), list[Ran]()
    signal.connect(make_receiver(kind, "deferred", log), weak=False, on_commit=True)

    with transaction.atomic():
        signal.send(sender=None)
        [send] = spans.finished  # ended, with no run yet
        assert dict(send.attributes or {})["eventbus.runs"] == 1  # the deferral

    send, run = spans.finished
    assert_children(send, [run])
    attributes = dict(run.attributes or {})
    assert attributes["eventbus.delivery"] == "after-commit"
    assert attributes["thread.name"] == log[0].thread


# -- remote signals: the trace goes on the wire --------------------------------------------


remote_orders = Signal(name="tests.tracing_otel.order_placed", remote=True)


def listen() -> None:
    node.start()
    assert node.wait_subscribed(WAIT)


def test_the_carrier_holds_the_current_span_only_while_tracing_with_spans(
    spans: Exported,
) -> None:
    signal = Signal(name="tests.tracing_otel.carried")
    carried: list[dict[str, str] | None] = []
    signal.connect(lambda sender, **kwargs: carried.append(_trace.carrier()), weak=False)

    assert _trace.carrier() == {}  # tracing with spans, but no span is current
    signal.send(sender=None)
    run, _ = spans.finished
    [carrier] = carried
    assert carrier is not None
    assert list(carrier) == ["traceparent"]  # W3C: version, trace id, parent span id, flags
    assert carrier["traceparent"].startswith(f"00-{trace_id(run):032x}-{span_id(run):016x}-")

    tracing.configure(TracingSettings())
    with tracing.trace():
        assert _trace.carrier() is None  # tracing without spans


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", KINDS)
def test_a_remote_signals_send_is_a_producer_and_its_broadcast_a_consumer_in_its_trace(
    spans: Exported, kind: str
) -> None:
    """In-process transport: the event goes through the wire with the send's trace context,
    and its broadcast continues that trace on the listener's side."""
    listen()
    log: list[Ran] = []
    with remote_orders.connected_to(make_receiver(kind, "broadcast", log), delivery="broadcast"):
        assert node.wait_subscribed(WAIT)
        remote_orders.send(sender=None, order=7)
        consumer = spans.wait_for("tests.tracing_otel.order_placed broadcast")
        run = spans.wait_for("tests.test_tracing.receiver_broadcast")

    producer = spans.named("tests.tracing_otel.order_placed send")
    assert producer.kind is SpanKind.PRODUCER
    assert consumer.kind is SpanKind.CONSUMER
    assert consumer.parent is not None
    assert consumer.parent.is_remote
    assert_children(producer, [consumer])
    assert_children(consumer, [run])
    assert dict(consumer.attributes or {})["eventbus.method"] == "broadcast"
    attributes = dict(run.attributes or {})
    assert attributes["eventbus.delivery"] == "broadcast"
    assert attributes["thread.name"] == log[0].thread


@pytest.mark.django_db(transaction=True)
@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_an_event_re_emitted_with_a_carrier_is_a_consumer_span_of_the_senders_trace(
    spans: Exported, kind: str, anyio_backend: str
) -> None:
    """``Signal._emit_remote(..., origin=carrier)``, as the node calls it for an event from
    the wire: a span of its own (``CONSUMER``), whose parent is the remote span the carrier
    names, so it is part of that trace."""
    carried: list[dict[str, str] | None] = []
    local = Signal(name="tests.tracing_otel.local")
    local.connect(lambda sender, **kwargs: carried.append(_trace.carrier()), weak=False)
    local.send(sender=None)
    origin, _ = spans.finished
    [carrier] = carried
    assert carrier is not None
    spans.exporter.clear()

    log: list[Ran] = []
    receiver: Receiver = make_receiver(kind, "broadcast", log)
    with remote_orders.connected_to(receiver, delivery="broadcast"):
        if kind == "a":
            await remote_orders._emit_remote(None, {"order": 7}, origin=carrier)
        else:
            await anyio.to_thread.run_sync(
                lambda: remote_orders._emit_remote_sync(None, {"order": 7}, origin=carrier)
            )

    run, consumer = spans.finished
    assert consumer.name == "tests.tracing_otel.order_placed broadcast"
    assert consumer.kind is SpanKind.CONSUMER
    assert consumer.parent is not None
    assert consumer.parent.is_remote
    assert_children(origin, [consumer])
    assert_children(consumer, [run])
    assert dict(run.attributes or {})["thread.name"] == log[0].thread
