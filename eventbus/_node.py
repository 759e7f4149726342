"""This process on the wire: publishing remote sends, listening, re-emitting what arrives.

The Django app configures the process's one :class:`Node` (``node``) when it
starts (``eventbus.apps.install``). The node attaches to the registry of remote
signals (``_remote``): for each remote signal it registers an *outbound tap*,
which puts the signal's sends on the wire, and it starts a listener as soon as
some remote signal has a broadcast receiver or a remote subscription.

The rules:

* **What is published.** Every send of a signal created with ``remote=True``,
  and every send of a bus model signal (``eventbus.signals.*``) whose sender is
  a model in ``EVENTBUS["REMOTE_MODELS"]`` (or, for ``m2m_changed``, one of
  their many-to-many tables). The arguments are encoded when the send starts,
  before any receiver runs, so a value the wire cannot carry is a
  ``TypeError`` from the send (see ``_wire``). A muted signal publishes nothing.
* **When.** After the send's transaction commits (the database of the send's
  ``using``, else ``"default"``), by the after-commit rules: never for a
  rolled-back transaction or savepoint, at once outside a transaction, and not
  at all in manual transaction mode (logged). From async code the transaction
  is asked in a thread hop (it belongs to the sync thread), and an immediate
  publish awaits ``redis.asyncio`` on the running loop; from sync code it uses
  the process's pooled sync client. A sync ``send()`` of a remote signal on a
  thread that runs an event loop raises ``AsyncSendError`` before anything
  runs: there, whether the transaction commits can only be asked from async
  code (``await asend()``), and blocking the loop is not an option.
* **Publishing failures** (the server is down) are logged (once per outage)
  and counted; the send succeeds. With ``RAISE_ON_PUBLISH_ERROR`` the
  ``TransportError`` is raised instead, from the send, or from the
  ``atomic()`` block's exit when the publish waited for the commit.
* **Listening.** A process that has broadcast receivers or remote
  subscriptions listens, on one or two daemon threads (below). A message is
  checked and decoded (``_wire``): one with a bad signature, malformed, too
  big, of another version, or naming a signal or model this process does not
  have, is dropped, counted by reason and logged once per reason; the thread
  goes on. A valid event is re-emitted to the signal's broadcast receivers
  and remote subscriptions only, never to local receivers, and never
  published again. Events of a signal are re-emitted one at a time, in
  arrival order. A failing receiver is logged (``django.dispatch``) and the
  others run.
* **Who reads and runs what.** Each remote signal travels under a topic of its
  own (its wire name; a channel per topic over Redis), and each thread
  subscribes to the topics it serves. ``eventbus-listener`` runs an asyncio
  loop: it serves the signals without a sync broadcast receiver, running their
  async receivers on that loop and feeding remote subscriptions. Over a
  transport that routes topics (Redis), ``eventbus-receivers`` serves the
  signals that have had a sync broadcast receiver (a signal moves there with
  its first one and stays while it has any listener): it reads their events
  on a subscription of its own (``Transport.receive``) and calls the sync
  receivers right there, off any event loop and with no hand-off, and sends
  the async ones to the listener's loop and back, so the priority order holds
  across both kinds. While a signal moves, or one thread reconnects, the other
  stands in for it (``_refresh_topics``), and :class:`_Inbox` keeps every
  event once and in order. In-process (every subscriber gets everything) the
  listener alone reads, and runs sync receivers on its worker thread
  (``eventbus-receivers_0``). After each event that reached sync receivers, the
  database connections that are broken or past ``CONN_MAX_AGE`` are closed on
  their thread (as Django does after a request).
* **Shutdown.** ``stop()`` (called at interpreter exit, and by ``manage.py
  eventbus listen`` on SIGINT/SIGTERM) stops both threads:
  ``eventbus-receivers`` finishes the event it is running, the listener is
  cancelled (an async receiver it awaits sees ``CancelledError``); each
  unsubscribes and closes its connection.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import functools
import json
import logging
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from . import _commit, _trace
from ._exceptions import AsyncSendError
from ._hops import in_event_loop_thread, to_thread, worker_context
from ._identity import signal_name
from ._remote import remote_signals
from ._subscription import Event
from ._transport import Counters, InProcessTransport, Topics, Transport, TransportError
from ._wire import Checked, Envelope, Origin, Wire, WireError
from .conf import EventbusSettings, TransportSettings, _transport

__all__ = ["Node", "node"]

logger = logging.getLogger("eventbus")

Hook = Callable[[dict[str, Any]], dict[str, Any]]

#: How often a listening process reports its counters, and how long a report lives.
REPORT_EVERY = 10.0
REPORT_TTL = 60.0


class Node:
    """This process's publisher and listener (see the module docstring)."""

    def __init__(self) -> None:
        self.counters = Counters()
        self._lock = threading.Lock()
        self._config: TransportSettings | None = None
        self._remote_models: tuple[str, ...] = ()
        self._transport: Transport | None = None
        self._wire: Wire | None = None
        # The registry holds taps weakly: the node keeps them alive.
        self._outbound: dict[int, list[_Outbound]] = {}
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = threading.Event()
        self._receivers_thread: ThreadPoolExecutor | None = None
        self._reader: threading.Thread | None = None
        self._reader_stop = threading.Event()
        self._reader_subscribed = threading.Event()
        self._loop_context: contextvars.Context | None = None
        self._claims = _Claims()
        # What each reader subscribes to (see the module docstring), set by _refresh_topics.
        self._listener_topics = Topics(self._refresh_topics)
        self._reader_topics = Topics(self._refresh_topics)
        self._reader_serves: set[str] = set()  # see _refresh_topics
        self._failing = False
        atexit.register(self.stop)

    # -- configuration ------------------------------------------------------------------

    def configure(self, config: EventbusSettings) -> None:
        """Use ``config``'s transport and remote models (again); called by ``apps.install``."""
        self.stop()
        remote_signals.detach()
        transport = config.transport or _transport(None)
        with self._lock:
            old, self._outbound = self._outbound, {}
            previous, self._transport = self._transport, None
        for taps in old.values():
            for tap in taps:
                signal = tap.signal()
                if signal is not None:
                    signal._remove_tap(tap)
        if previous is not None:
            previous.close()
        with self._lock:
            self.counters = Counters()
            self._config = transport
            self._remote_models = tuple(m.lower() for m in config.remote_models)
            self._wire = Wire(key=transport.signing_key, max_bytes=transport.max_message_bytes)
            self._transport = self._make_transport(transport)
            self._failing = False
        remote_signals.attach(self._install, self._listeners_changed)

    def _make_transport(self, config: TransportSettings) -> Transport:
        if config.url is None:
            return InProcessTransport(self.counters)
        from ._redis import RedisTransport  # noqa: PLC0415 - redis-py is an optional extra

        return RedisTransport(
            config.url,
            channel=config.channel,
            counters=self.counters,
            reconnect_max_delay=config.reconnect_max_delay,
        )

    @property
    def description(self) -> str:
        """Which transport this process uses (no secrets)."""
        transport = self._transport
        return "not configured" if transport is None else transport.description

    def _install(self, signal: Any) -> None:
        """Give a remote signal its outbound taps: one per sender that goes on the wire."""
        senders: list[Any] = [None] if signal.remote else self._remote_senders(signal)
        taps = [_Outbound(self, signal, sender) for sender in senders]
        with self._lock:
            old = self._outbound.pop(id(signal), [])
            self._outbound[id(signal)] = taps
        for tap in old:
            signal._remove_tap(tap)
        for tap in taps:
            signal._add_tap(tap)
        self._listeners_changed(signal)

    def _remote_senders(self, signal: Any) -> list[Any]:
        """The model classes a bus model signal publishes for (``REMOTE_MODELS``)."""
        from django.apps import apps  # noqa: PLC0415

        models = [apps.get_model(label) for label in self._remote_models]
        if signal.name != "m2m_changed":
            return models
        through = [
            field.remote_field.through for model in models for field in model._meta.many_to_many
        ]
        return list(dict.fromkeys(through))

    def _listeners_changed(self, signal: Any) -> None:
        """Start listening once a remote signal has a broadcast receiver or remote subscription
        (the ``eventbus-receivers`` reader with the first sync broadcast receiver); subscribe
        the readers to what they serve now."""
        if self._transport is None:
            return
        if self._thread is None and (
            any(r.broadcast for r in signal._registry.snapshot()) or signal._has_remote_taps()
        ):
            self.start()
        elif self._thread is not None and self._reader is None and signal._has_sync_broadcast():
            self._start_reader()
        self._refresh_topics()

    def _refresh_topics(self) -> None:
        """Give each reader the topics it serves, and the other's until the other has them.

        The ``eventbus-receivers`` reader serves the signals that have had a sync
        broadcast receiver since they last had no listener at all (a signal moves
        to it once, and stays, so a receiver that comes and goes does not move it
        back and forth); the listener serves the other signals with a broadcast
        receiver or a remote subscription, and all of them while the reader is not
        running. A reader also takes the other's topics that the other is not
        subscribed to (yet, or after losing the server), so that no signal is ever
        without a subscriber while it moves (see :class:`_Inbox` for who runs what
        meanwhile).
        """
        with self._lock:
            listener, reader = self._listener_topics, self._reader_topics
            reader_running = self._reader is not None
            synchronous: set[str] = set()
            other: set[str] = set()
            for signal in remote_signals.signals():
                name = signal.remote_name
                listened = signal._has_remote_taps() or any(
                    r.broadcast for r in signal._registry.snapshot()
                )
                if not listened:
                    self._reader_serves.discard(name)
                    continue
                if reader_running and (name in self._reader_serves or signal._has_sync_broadcast()):
                    self._reader_serves.add(name)
                    synchronous.add(name)
                else:
                    other.add(name)
            reader_wants = frozenset(synchronous | (other - listener.confirmed))
            listener_wants = frozenset(other | (synchronous - reader.confirmed))
            if not reader_running:
                reader_wants = frozenset()
            if reader_wants != reader.wanted:
                reader.wanted = reader_wants
            if listener_wants != listener.wanted:
                listener.wanted = listener_wants

    # -- publishing -----------------------------------------------------------------------

    def encode(self, signal: Any, sender: Any, kwargs: dict[str, Any]) -> bytes:
        """The message for one send (raises ``TypeError``/``ValueError`` for what cannot travel)."""
        wire = self._wire
        assert wire is not None, "configure() first"
        return wire.dumps(
            signal.remote_name, sender, kwargs, to_wire=signal.to_wire, trace=_trace.carrier()
        )

    def publish(self, data: bytes, topic: str) -> None:
        """Publish now, from sync code, under ``topic`` (see the module docstring for failures)."""
        transport = self._transport
        if transport is None:
            return
        try:
            transport.publish(data, topic)
        except TransportError as exc:
            self._report_failure(exc)
        else:
            self._failing = False

    async def apublish(self, data: bytes, topic: str) -> None:
        """Publish now, from async code, on the running loop."""
        transport = self._transport
        if transport is None:
            return
        try:
            await transport.apublish(data, topic)
        except TransportError as exc:
            self._report_failure(exc)
        else:
            self._failing = False

    def _report_failure(self, exc: TransportError) -> None:
        if not self._failing:
            self._failing = True
            logger.error(
                "eventbus could not publish an event (%s); counting further failures.", exc
            )
        config = self._config
        if config is not None and config.raise_on_publish_error:
            raise exc

    def after_commit(self, data: bytes, topic: str, alias: str, what: Callable[[], str]) -> None:
        """Publish after ``alias``'s commit, or now, from sync code (the after-commit rules)."""
        publish = functools.partial(self.publish, data, topic)
        if _commit.when_committed(alias, publish, what) is _commit.RUN_NOW:
            publish()

    async def aafter_commit(
        self, data: bytes, topic: str, alias: str, what: Callable[[], str]
    ) -> None:
        """Publish after ``alias``'s commit, or now, from async code (asked in a thread hop)."""
        publish = functools.partial(self.publish, data, topic)
        scheduled = await to_thread(functools.partial(_commit.when_committed, alias, publish, what))
        if scheduled is _commit.RUN_NOW:
            await self.apublish(data, topic)

    # -- listening -----------------------------------------------------------------------

    @property
    def listening(self) -> bool:
        """Whether this process's listener is running."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the listener thread (once), without waiting for it to subscribe.

        Connecting a broadcast receiver or entering a remote subscription calls
        this, possibly on an event loop's thread (or while Redis is down), so it
        never blocks; :meth:`wait_subscribed` waits.
        """
        with self._lock:
            if self._thread is not None or self._transport is None:
                return
            self._started.clear()
            self._listener_topics = Topics(self._refresh_topics)
            self._thread = threading.Thread(target=self._run, name="eventbus-listener", daemon=True)
            self._thread.start()
        if any(signal._has_sync_broadcast() for signal in remote_signals.signals()):
            self._start_reader()
        self._refresh_topics()

    def _start_reader(self) -> None:
        """Start the ``eventbus-receivers`` reader (once; see the module docstring)."""
        with self._lock:
            transport = self._transport
            if self._reader is not None or self._thread is None or transport is None:
                return
            if not transport.routes_topics:
                return  # every subscriber gets everything: the listener alone reads
            self._reader_stop.clear()
            self._reader_subscribed.clear()
            self._reader_topics = Topics(self._refresh_topics)
            self._reader = threading.Thread(
                target=self._read,
                args=(transport, self._reader_topics),
                name="eventbus-receivers",
                daemon=True,
            )
            self._reader.start()
        self._refresh_topics()

    def wait_subscribed(self, timeout: float) -> bool:
        """Wait until every reader is subscribed to exactly what it serves (any hand-over of a
        signal between them done): from then on nothing published is missed, until an
        outage. Return whether it is."""
        deadline = time.monotonic() + timeout
        if not (self.listening and self._started.wait(timeout)):
            return False
        while not self._subscribed():
            if time.monotonic() >= deadline or not self.listening:
                return False
            time.sleep(0.005)
        return True

    def _subscribed(self) -> bool:
        # Exactly what each reader serves: a hand-over in progress is not settled yet.
        listener, reader = self._listener_topics, self._reader_topics
        if listener.wanted != listener.confirmed:
            return False
        if self._reader is None:
            return True
        return self._reader_subscribed.is_set() and reader.wanted == reader.confirmed

    def stop(self, timeout: float = 10) -> None:
        """Stop listening (see the module docstring); return once both threads have ended,
        or after ``timeout`` seconds each."""
        with self._lock:
            thread, loop, task = self._thread, self._loop, self._task
            self._thread = None
            receivers, self._receivers_thread = self._receivers_thread, None
            reader, self._reader = self._reader, None
            self._reader_serves.clear()
        self._reader_stop.set()
        if thread is not None and loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # its loop is already closed
                loop.call_soon_threadsafe(task.cancel)
        if reader is not None:
            reader.join(timeout)
        if thread is not None:
            thread.join(timeout)
        if receivers is not None:
            receivers.shutdown(wait=True)

    def _run(self) -> None:
        asyncio.run(self._listen())

    async def _listen(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._loop_context = worker_context()
        transport = self._transport
        assert transport is not None
        messages = transport.messages(
            on_subscribed=self._started.set, topics=self._listener_topics, ticks=True
        )
        reporter = asyncio.create_task(self._report_periodically(transport))
        inbox = _Inbox(self, reader=False)
        try:
            async for data in messages:
                await self._handle(data, inbox)
        except asyncio.CancelledError:
            pass
        finally:
            self._started.set()
            reporter.cancel()
            await asyncio.gather(reporter, return_exceptions=True)
            await messages.aclose()  # type: ignore[attr-defined]

    async def _report_periodically(self, transport: Transport) -> None:
        """Let ``manage.py eventbus status`` in any process see this listener's counters."""
        origin = Origin.here()
        while True:
            report = {
                "process": origin.process,
                "host": origin.host,
                "pid": origin.pid,
                "time": time.time(),
                "counters": self.counters.as_dict(),
            }
            # The listener logs outages; a missed report only ages.
            with contextlib.suppress(TransportError):
                await transport.report(origin.process, json.dumps(report).encode(), REPORT_TTL)
            await asyncio.sleep(REPORT_EVERY)

    async def _handle(self, data: bytes, inbox: _Inbox) -> None:
        """Check, claim, decode and re-emit one message (see the module docstring).

        Nothing a message or a receiver does stops the listener: a refused
        message is dropped and counted by reason; a ``from_wire`` hook that
        raises drops its message as ``"malformed"`` (logged with the traceback);
        receivers' failures are logged by the robust re-emission.
        """
        wire = self._wire
        assert wire is not None
        for checked, signal in inbox.take(self._check(wire, data)):
            if not self._claims.claim(checked.id):
                continue  # the eventbus-receivers reader ran it
            self.counters.add("received")
            envelope = self._decode(wire, checked)
            if envelope is None:
                continue
            try:
                plan = signal._broadcast_plan(envelope.sender)
                if all(record.is_async for record in plan.records):
                    await signal._emit_remote(envelope.sender, envelope.kwargs, envelope.trace)
                else:
                    # No eventbus-receivers reader serves the signal: sync receivers run
                    # on a worker thread, the walk with them; async ones come back to
                    # this loop from there (the worker context says which).
                    run = functools.partial(
                        _emit_sync, signal, envelope.sender, envelope.kwargs, envelope.trace
                    )
                    if plan.has_async:
                        run = functools.partial(worker_context().run, run)
                    await asyncio.get_running_loop().run_in_executor(self._receivers(), run)
            except Exception:
                logger.exception("eventbus could not re-emit an event of %s", envelope.signal)
                continue
            self.counters.add("delivered")

    def _check(self, wire: Wire, data: bytes) -> tuple[Checked, Any] | None:
        """Check a message and find its signal; ``None``: refused (counted and logged), or a
        tick (``TICK``)."""
        if not data:
            return None
        try:
            checked = wire.check(data)
        except WireError as exc:
            self.counters.add("received")
            self._dropped(exc.kind, str(exc))
            return None
        signal = remote_signals.lookup(checked.signal)
        if signal is None:
            self.counters.add("received")
            self._dropped("unknown signal", f"no remote signal named {checked.signal!r}")
            return None
        return checked, signal

    def _decode(self, wire: Wire, checked: Checked) -> Envelope | None:
        """Decode a checked message; ``None``: refused (dropped and counted)."""
        try:
            return wire.decode(checked, _wire_hook)
        except WireError as exc:
            self._dropped(exc.kind, str(exc))
        except Exception as exc:  # a from_wire hook that failed
            self._dropped("malformed", f"{type(exc).__name__}: {exc}", exc)
        return None

    def _read(self, transport: Transport, topics: Topics) -> None:
        """The ``eventbus-receivers`` thread: read, claim and re-emit where events arrive."""
        wire = self._wire
        assert wire is not None
        messages = transport.receive(
            topics,
            self._reader_stop,
            on_subscribed=self._reader_subscribed.set,
            on_lost=self._reader_subscribed.clear,
            quiet=True,
            ticks=True,
        )
        inbox = _Inbox(self, reader=True)
        try:
            for data in messages:
                for checked, signal in inbox.take(self._check(wire, data)):
                    if not self._claims.claim(checked.id):
                        continue  # the listener ran it
                    self.counters.add("received")
                    envelope = self._decode(wire, checked)
                    if envelope is None:
                        continue
                    # Async receivers go to the listener's loop and back (when it is gone,
                    # we are stopping: asgiref runs them).
                    context = self._loop_context
                    run = functools.partial(
                        _emit_sync, signal, envelope.sender, envelope.kwargs, envelope.trace
                    )
                    try:
                        if context is None:
                            run()
                        else:
                            context.copy().run(run)
                    except Exception:
                        logger.exception(
                            "eventbus could not re-emit an event of %s", checked.signal
                        )
                        continue
                    self.counters.add("delivered")
        finally:
            self._reader_subscribed.clear()
            close = getattr(messages, "close", None)
            if close is not None:
                close()

    def _receivers(self) -> ThreadPoolExecutor:
        """The thread sync broadcast receivers run on (``eventbus-receivers``), made once."""
        with self._lock:
            if self._receivers_thread is None:
                self._receivers_thread = ThreadPoolExecutor(
                    1, thread_name_prefix="eventbus-receivers"
                )
            return self._receivers_thread

    def _dropped(self, kind: str, why: str, exc: BaseException | None = None) -> None:
        if self.counters.drop(kind) == 1:
            logger.warning(
                "eventbus dropped a message from the wire (%s): %s; further ones of this kind "
                "are only counted.",
                kind,
                why,
                exc_info=exc,
            )

    # -- seeing it -------------------------------------------------------------------------

    def receiving(self) -> list[str]:
        """What this process re-emits events to: broadcast receivers and remote subscriptions."""
        lines = []
        for signal in remote_signals.signals():
            for info in signal.describe_receivers():
                if info.delivery == "broadcast":
                    lines.append(f"{signal.remote_name}: {info.name}")
            remote = [t for t in signal._registry.live_taps() if t.remote]
            if remote:
                lines.append(f"{signal.remote_name}: {len(remote)} remote subscription(s)")
        return lines

    def status(self) -> dict[str, Any]:
        """The transport, the remote signals, this process's and every listener's counters."""
        transport = self._transport
        processes: list[dict[str, Any]] = []
        if transport is not None:
            try:
                raw = transport.reports()
            except TransportError as exc:
                raw = []
                logger.warning("eventbus could not read the listeners' reports: %s", exc)
            for data in raw:
                try:
                    processes.append(json.loads(data))
                except ValueError:
                    continue
        return {
            "transport": self.description,
            "listening": self.listening,
            "counters": self.counters.as_dict(),
            "signals": {
                signal.remote_name: [
                    info.name
                    for info in signal.describe_receivers()
                    if info.delivery == "broadcast"
                ]
                for signal in remote_signals.signals()
            },
            "processes": sorted(processes, key=lambda p: (p.get("host", ""), p.get("pid", 0))),
        }


def _emit_sync(signal: Any, sender: Any, kwargs: dict[str, Any], trace: dict[str, str]) -> None:
    """On an ``eventbus-receivers`` thread: re-emit to the remote taps and the broadcast
    receivers, then drop the database connections that are broken or past
    ``CONN_MAX_AGE`` (as Django does after a request)."""
    from django.db import close_old_connections  # noqa: PLC0415

    try:
        signal._emit_remote_sync(sender, kwargs, trace)
    finally:
        close_old_connections()


#: What a reader runs: a checked message and its signal.
_Item = tuple[Checked, Any]


class _Inbox:
    """One reader's side of handing a signal over between the process's two readers.

    A signal moves from the listener to the ``eventbus-receivers`` reader when
    its first sync broadcast receiver connects, and each reader stands in for
    the other while that one is not subscribed (``Node._refresh_topics``). For
    a while both are subscribed to it: the *incumbent* (subscribed first) and
    the *newcomer*. Events stay in their
    order, and none is lost or run twice, because:

    * the incumbent runs what it reads at once;
    * the newcomer holds what it reads while the incumbent is subscribed. When
      the incumbent has unsubscribed (the server confirms that after every
      message it will ever read, and it runs each one before reading the next),
      the newcomer runs the held events, in order; when the newcomer leaves
      first, the incumbent had them all, and it drops them;
    * every event is claimed (:class:`_Claims`) before it runs, so the second
      reader to reach it skips it.
    """

    def __init__(self, owner: Node, *, reader: bool) -> None:
        self._node = owner
        self._reader = reader
        # Per topic: when this reader's subscription began, and what it holds.
        self._held: dict[str, tuple[int, list[_Item]]] = {}

    def take(self, item: _Item | None) -> list[_Item]:
        """What to run now, in order, after reading ``item`` (``None``: nothing, a tick)."""
        ready = self._due() if self._held else []
        if item is None:
            return ready
        topic = item[0].signal
        mine, other = self._topics()
        began = mine.since.get(topic)
        incumbent = other.since.get(topic)
        if began is not None and incumbent is not None and incumbent < began:
            self._held.setdefault(topic, (began, []))[1].append(item)
            return ready
        ready.append(item)
        return ready

    def _due(self) -> list[_Item]:
        mine, other = self._topics()
        ready: list[_Item] = []
        for topic, (began, items) in list(self._held.items()):
            incumbent = other.since.get(topic)
            if incumbent is not None and incumbent < began:
                if mine.since.get(topic) != began:
                    del self._held[topic]  # this reader left first: the incumbent had them
                continue
            del self._held[topic]
            ready.extend(items)
        return ready

    def _topics(self) -> tuple[Topics, Topics]:
        node = self._node
        if self._reader:
            return node._reader_topics, node._listener_topics
        return node._listener_topics, node._reader_topics


class _Claims:
    """Which of the process's two readers runs an event: the first to read it.

    A message reaches both readers only while a signal moves from one to the
    other (see :class:`_Inbox`); the second to read it finds it claimed and
    skips it, so no event runs twice. A claim the other reader never comes for
    (the usual case: it is not subscribed) is forgotten after ``KEPT`` newer
    ones.
    """

    KEPT = 16384

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claimed: dict[str, None] = {}

    def claim(self, event_id: str) -> bool:
        """Claim the event; ``False``: the other reader already did."""
        with self._lock:
            if event_id in self._claimed:
                del self._claimed[event_id]
                return False
            self._claimed[event_id] = None
            if len(self._claimed) > self.KEPT:
                del self._claimed[next(iter(self._claimed))]
            return True


def _wire_hook(name: str) -> Hook | Literal[False] | None:
    """The ``from_wire`` hook of the signal registered under ``name`` (``False``: unknown)."""
    signal = remote_signals.lookup(name)
    if signal is None:
        return False
    hook: Hook | None = signal.from_wire
    return hook


def _publishing(signal: Any) -> str:
    return f"Publishing a send of {signal_name(signal)}"


class _Outbound:
    """The local tap that puts one remote signal's sends (to one sender) on the wire."""

    remote = False

    def __init__(self, owner: Node, signal: Any, sender: Any) -> None:
        self._node = owner
        self.signal = weakref.ref(signal)
        self.sender = sender
        self.sender_key = None if sender is None else id(sender)

    def deliver(self, event: Event, from_sync: bool) -> Awaitable[None] | None:
        """Encode now (errors raise from the send); publish after the send's commit."""
        signal = self.signal()
        if signal is None:
            return None
        if from_sync and in_event_loop_thread():
            raise AsyncSendError(
                f"{signal_name(signal)}.send() was called on a thread that runs an event loop, "
                "and the signal is remote: whether its transaction commits can only be asked "
                "from async code (the transaction belongs to the sync thread). Use `await "
                "signal.asend(...)` instead."
            )
        kwargs = dict(event.kwargs)
        data = self._node.encode(signal, event.sender, kwargs)
        using = kwargs.get("using")
        alias = using if isinstance(using, str) else "default"
        what = functools.partial(_publishing, signal)
        topic = signal.remote_name
        if from_sync:
            self._node.after_commit(data, topic, alias, what)
            return None
        return self._node.aafter_commit(data, topic, alias, what)


#: This process's node.
node = Node()
