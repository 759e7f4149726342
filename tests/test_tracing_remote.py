"""Tracing across real processes over a real Redis server: a broadcast continues the sender's trace.

The test process and its peers (``python -m tests.peers``, see ``tests/peers``) share a
``redis-server`` of the test's own and one project (channel prefix and signing key). A peer
started with ``EVENTBUS_PEER_SPANS`` traces with OpenTelemetry and writes each span as it
ends to a file; this process's spans go to an SDK tracer provider of the test's own, with an
in-memory exporter (the global provider is left alone). Both of a process's readers are
covered: a signal with a sync broadcast receiver is read and run on ``eventbus-receivers``
(``Node._read``), one with only async broadcast receivers on the listener's event loop
(``Node._handle``). Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import json
import os
import select
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

from eventbus import tracing
from eventbus._node import node
from eventbus._wire import Wire
from eventbus.conf import TracingSettings, TransportSettings
from tests.peers.signals import order_placed
from tests.redis_server import RedisServer
from tests.test_cross_process import ROOT, WAIT, Peers, lines, orders, wait_until

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("EVENTBUS_TEST_DB") == "postgres",
        reason="runs in the SQLite run of each leg (its peers use SQLite)",
    ),
    # The sends publish at once only outside a transaction.
    pytest.mark.django_db(transaction=True),
]

#: The peers' signing key: derived from their SECRET_KEY, as EVENTBUS["TRANSPORT"] does.
KEY = hashlib.sha256(b"eventbus.transport:eventbus-peers-not-secret").digest()
SIGNAL = "tests.peers.order_placed"
SEND = f"{SIGNAL} send"
BROADCAST = f"{SIGNAL} broadcast"
#: Which thread runs a broadcast receiver of each kind: the reader that serves its signal.
READER_THREAD = {"sync": "eventbus-receivers", "async": "eventbus-listener"}


@dataclass(frozen=True)
class Span:
    """A finished span, from this process's exporter or a peer's file, ids in W3C hex."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: str
    attributes: dict[str, Any]

    @classmethod
    def of(cls, span: ReadableSpan) -> Span:
        context = span.get_span_context()
        assert context is not None
        return cls(
            trace_id=f"{context.trace_id:032x}",
            span_id=f"{context.span_id:016x}",
            parent_id=None if span.parent is None else f"{span.parent.span_id:016x}",
            name=span.name,
            kind=span.kind.name,
            attributes=dict(span.attributes or {}),
        )

    @classmethod
    def from_line(cls, line: dict[str, Any]) -> Span:
        return cls(
            trace_id=line["trace_id"],
            span_id=line["span_id"],
            parent_id=line["parent_id"],
            name=line["name"],
            kind=line["kind"],
            attributes=line["attributes"],
        )


class Spans:
    """This process's spans: an SDK tracer provider of the test's own, exported in memory."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(shutdown_on_exit=False)
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        #: The application's own tracer, for a span around the sends.
        self.tracer: Tracer = self.provider.get_tracer("tests.tracing_remote")

    def finished(self) -> list[Span]:
        return [Span.of(span) for span in self.exporter.get_finished_spans()]


@pytest.fixture
def spans() -> Iterator[Spans]:
    made = Spans()
    try:
        yield made
    finally:
        made.provider.shutdown()


@pytest.fixture
def peers(redis_server: RedisServer, tmp_path: Path) -> Iterator[Peers]:
    """Peer processes of one project of the test's own (the roles used here need no tables)."""
    group = Peers(
        redis_server.url,
        f"sqlite:{tmp_path / 'peers.sqlite3'}",
        tmp_path,
        prefix=f"eventbus-tracing-{os.getpid()}-{tmp_path.name}",
    )
    try:
        yield group
    finally:
        group.close()


Join = Callable[..., None]


@pytest.fixture
def join(
    reinstall: Callable[..., None],
    peers: Peers,
    spans: Spans,
    monkeypatch: pytest.MonkeyPatch,
) -> Join:
    """``join(opentelemetry=...)``: this process joins the peers' project, tracing with
    OpenTelemetry into ``spans`` or not tracing at all (``reinstall`` restores the settings)."""

    def join_with(*, opentelemetry: bool) -> None:
        reinstall(
            transport=TransportSettings(
                url=peers.env["EVENTBUS_PEER_REDIS"],
                channel_prefix=peers.prefix,
                signing_key=KEY,
                reconnect_max_delay=0.5,
            ),
            tracing=TracingSettings(opentelemetry=opentelemetry),
        )
        if opentelemetry:
            installed = tracing._state.spans
            assert installed is not None
            # The test's provider rather than the global one, which is set once per process.
            monkeypatch.setattr(installed, "_tracer", spans.provider.get_tracer("eventbus"))

    return join_with


def channel(peers: Peers) -> str:
    """The channel the signal's events travel on."""
    return f"{peers.prefix}:events:{SIGNAL}"


def start_listeners(peers: Peers, *wanted: tuple[str, str, Path | None]) -> dict[str, Path]:
    """Start ``(name, "sync"|"async", spans file or None)`` listeners at once; wait (bounded)
    until each is subscribed. Return each one's output file by name."""
    started: list[tuple[str, subprocess.Popen[str]]] = []
    outs: dict[str, Path] = {}
    for name, mode, spans_file in wanted:
        out = peers.directory / f"{name}.jsonl"
        env = dict(peers.env)
        if spans_file is not None:
            env["EVENTBUS_PEER_SPANS"] = str(spans_file)
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.peers", "listen", str(out), mode],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        peers.processes.append(process)
        started.append((name, process))
        outs[name] = out
    for name, process in started:
        assert process.stdout is not None
        readable, _, _ = select.select([process.stdout], [], [], WAIT)
        assert readable, f"listener {name} not ready after {WAIT}s"
        ready = process.stdout.readline()
        assert ready.strip() == "ready", (ready, process.stderr.read() if process.stderr else "")
    return outs


def broadcast_spans(finished: Callable[[], list[Span]], receiver: str) -> tuple[Span, Span]:
    """The ``broadcast`` span of the one event a process received, and the run span of its
    receiver named ``receiver`` (its dotted name ends with it), once both ended (bounded).

    The run ends before its send, and a span is exported as it ends: once the broadcast
    span is there, so is the run's.
    """
    wait_until(lambda: any(span.name == BROADCAST for span in finished()), BROADCAST)
    seen = finished()
    [broadcast] = [span for span in seen if span.name == BROADCAST]
    [run] = [span for span in seen if span.name.endswith(f".{receiver}")]
    return broadcast, run


def written(path: Path) -> Callable[[], list[Span]]:
    """The spans a peer has written to ``path`` so far."""
    return lambda: [Span.from_line(line) for line in lines(path)]


def names(carried: dict[str, str]) -> tuple[str, str]:
    """The trace id and span id a W3C ``traceparent`` carries (a sampled one: its flags, which
    newer SDKs extend with the random-trace-id bit, have the sampled bit set)."""
    assert list(carried) == ["traceparent"], carried
    version, trace_id, span_id, flags = carried["traceparent"].split("-")
    assert version == "00"
    assert int(flags, 16) & 1, carried
    return trace_id, span_id


def envelope(frame: bytes) -> dict[str, Any]:
    """The JSON envelope of a frame as it went on the wire (``eventbus1.<sig>.<body>``)."""
    document: dict[str, Any] = json.loads(frame.split(b".", 2)[2])
    return document


def has_orders(out: Path, expected: list[Any]) -> bool:
    return orders(out) == expected


def stop_all(peers: Peers) -> None:
    """Stop every listener (SIGTERM, bounded): each writes its counters as it stops."""
    for process in peers.processes:
        peers.stop(process)


def counters_of(out: Path) -> dict[str, Any]:
    """The counters the listener writing to ``out`` wrote as it stopped."""
    [counters] = [line["counters"] for line in lines(out) if "counters" in line]
    return dict(counters)


# -- from this process to the peers -------------------------------------------------------


def test_a_peers_broadcast_continues_the_senders_trace_on_either_reader(
    peers: Peers, redis_server: RedisServer, join: Join, spans: Spans
) -> None:
    """The envelope names the send's PRODUCER span; each peer's CONSUMER span is its child, in
    the same trace, and the receiver's run a child of that, whichever reader ran it."""
    spans_files = {mode: peers.directory / f"spans-{mode}.jsonl" for mode in READER_THREAD}
    outs = start_listeners(peers, *((mode, mode, spans_files[mode]) for mode in READER_THREAD))
    join(opentelemetry=True)

    with redis_server.listening(channel(peers)) as receive:
        with spans.tracer.start_as_current_span("request"):
            order_placed.send(sender=None, n=1)
        frame = receive()

    finished = {span.name: span for span in spans.finished()}
    assert sorted(finished) == ["request", SEND]
    request, send = finished["request"], finished[SEND]
    assert (send.kind, send.trace_id) == ("PRODUCER", request.trace_id)
    assert send.parent_id == request.span_id
    assert names(envelope(frame)["trace"]) == (send.trace_id, send.span_id)
    assert Wire(key=KEY).check(frame).trace == envelope(frame)["trace"]
    for mode, thread in READER_THREAD.items():
        receiver = "on_order" if mode == "sync" else "on_order_async"
        broadcast, run = broadcast_spans(written(spans_files[mode]), receiver)
        assert (broadcast.kind, broadcast.trace_id) == ("CONSUMER", send.trace_id), mode
        assert broadcast.parent_id == send.span_id, mode
        assert broadcast.attributes["eventbus.method"] == "broadcast"
        assert (run.trace_id, run.parent_id) == (send.trace_id, broadcast.span_id), mode
        assert run.attributes["eventbus.delivery"] == "broadcast"
        assert run.attributes["eventbus.async"] is (mode == "async")
        assert run.attributes["thread.name"] == thread
        assert orders(outs[mode]) == [1]


@pytest.mark.parametrize("sender_tracing", ["off", "records-only"])
def test_an_untraced_send_carries_no_trace_and_the_peers_broadcast_starts_a_new_one(
    peers: Peers, redis_server: RedisServer, join: Join, spans: Spans, sender_tracing: str
) -> None:
    """Without OpenTelemetry in eventbus (tracing off, or records only) the envelope has no
    ``"trace"`` key, even inside the application's own span."""
    spans_file = peers.directory / "spans.jsonl"
    outs = start_listeners(peers, ("listener", "sync", spans_file))
    join(opentelemetry=False)

    block = tracing.trace() if sender_tracing == "records-only" else contextlib.nullcontext()
    with redis_server.listening(channel(peers)) as receive:
        with spans.tracer.start_as_current_span("request"), block as seen:
            order_placed.send(sender=None, n=2)
        frame = receive()

    if seen is not None:
        assert [send.method for send in seen.sends] == ["send"]
    [request] = spans.finished()
    assert "trace" not in envelope(frame)
    assert Wire(key=KEY).check(frame).trace == {}
    broadcast, run = broadcast_spans(written(spans_file), "on_order")
    assert broadcast.kind == "CONSUMER"
    assert broadcast.parent_id is None
    assert broadcast.trace_id != request.trace_id
    assert (run.trace_id, run.parent_id) == (broadcast.trace_id, broadcast.span_id)
    assert orders(outs["listener"]) == [2]


def test_a_traced_send_reaches_peers_that_do_not_trace_on_either_reader(
    peers: Peers, redis_server: RedisServer, join: Join, spans: Spans
) -> None:
    outs = start_listeners(peers, ("sync", "sync", None), ("async", "async", None))
    join(opentelemetry=True)

    with redis_server.listening(channel(peers)) as receive:
        with spans.tracer.start_as_current_span("request"):
            order_placed.send(sender=None, n=3)
        frame = receive()

    [send] = [span for span in spans.finished() if span.name == SEND]
    assert names(envelope(frame)["trace"]) == (send.trace_id, send.span_id)
    for out in outs.values():
        wait_until(functools.partial(has_orders, out, [3]), f"the event in {out.name}")
    stop_all(peers)
    for out in outs.values():
        counters = counters_of(out)
        assert (counters["received"], counters["delivered"], counters["dropped"]) == (1, 1, {})


def sign(document: dict[str, Any]) -> bytes:
    """A frame of ``document`` signed with the peers' key, built by hand as ``_wire`` documents."""
    body = json.dumps(document, separators=(",", ":")).encode()
    signature = hmac.new(KEY, b"eventbus1." + body, hashlib.sha256).hexdigest().encode()
    return b"eventbus1." + signature + b"." + body


#: Traces ``Wire.check`` refuses as "malformed" (the unit tests in test_wire.py have them all).
BAD_TRACES: list[Any] = [["00-abc"], {"traceparent": 1}, {f"k{n}": "v" for n in range(17)}]


def test_messages_with_a_malformed_trace_are_dropped_and_the_next_one_delivered(
    peers: Peers, redis_server: RedisServer, join: Join
) -> None:
    outs = start_listeners(peers, ("listener", "sync", None))
    join(opentelemetry=False)
    document = envelope(Wire(key=KEY).dumps(SIGNAL, None, {"n": 4}))

    for n, bad_trace in enumerate(BAD_TRACES):
        bad = document | {"id": f"{n:032x}", "trace": bad_trace}
        redis_server.client().publish(channel(peers), sign(bad))
    order_placed.send(sender=None, n=5)
    wait_until(functools.partial(has_orders, outs["listener"], [5]), "the event after the bad ones")

    stop_all(peers)
    counters = counters_of(outs["listener"])
    assert counters["dropped"] == {"malformed": len(BAD_TRACES)}
    assert (counters["received"], counters["delivered"]) == (len(BAD_TRACES) + 1, 1)


# -- from a peer to this process ------------------------------------------------------------


#: How this process runs a broadcast receiver: its kind, whether the eventbus-receivers
#: reader may start, and the thread the receiver runs on.
PATHS = {
    "sync-on-the-reader": ("sync", True, "eventbus-receivers"),
    "async-on-the-listener": ("async", True, "eventbus-listener"),
    # As with a transport that does not route topics: the listener reads every signal and
    # hands sync receivers to the eventbus-receivers executor.
    "sync-handed-over-by-the-listener": ("sync", False, "eventbus-receivers_0"),
}


@pytest.mark.parametrize("path", list(PATHS))
def test_this_processs_broadcast_continues_a_peers_trace_on_every_path(
    peers: Peers, join: Join, spans: Spans, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """The peer sends traced; this process's broadcast receiver runs in the peer's trace,
    whichever reader reads the event and whichever thread runs the receiver."""
    kind, reader, thread = PATHS[path]
    if not reader:
        monkeypatch.setattr(node, "_start_reader", lambda: None)
    join(opentelemetry=True)
    arrived = threading.Event()
    ran: list[tuple[Any, str]] = []

    def on_order(sender: Any, n: Any, **kwargs: Any) -> None:
        ran.append((n, threading.current_thread().name))
        arrived.set()

    async def on_order_async(sender: Any, n: Any, **kwargs: Any) -> None:
        on_order(sender, n, **kwargs)

    receiver = on_order if kind == "sync" else on_order_async
    peer_file = peers.directory / "peer-spans.jsonl"
    with order_placed.connected_to(receiver, delivery="broadcast"):
        assert node.wait_subscribed(WAIT)
        peers.send("one", EVENTBUS_PEER_N="7", EVENTBUS_PEER_SPANS=str(peer_file))
        assert arrived.wait(WAIT), "the peer's event"
        broadcast, run = broadcast_spans(spans.finished, receiver.__name__)

    [send] = written(peer_file)()
    assert (send.name, send.kind, send.parent_id) == (SEND, "PRODUCER", None)
    assert (broadcast.kind, broadcast.trace_id) == ("CONSUMER", send.trace_id)
    assert broadcast.parent_id == send.span_id
    assert (run.trace_id, run.parent_id) == (send.trace_id, broadcast.span_id)
    assert run.attributes["thread.name"] == thread
    assert ran == [(7, thread)]
