"""What carries events between processes: the transport interface, and its counters.

A transport moves opaque, already signed message bodies (``bytes``, see
``_wire``) from the process that publishes them to every process that listens.
It knows nothing of signals. eventbus ships two:

* :class:`InProcessTransport`, the default without ``EVENTBUS["TRANSPORT"]``:
  the process is the whole cluster; what it publishes, it receives.
* ``RedisTransport`` (``_redis``), Redis pub/sub through redis-py.

The rules every transport follows:

* **Topics.** A message is published under a *topic* (the wire name of its
  signal), which the transport carries on a channel of its own, or with no
  topic, on the project's base channel. A subscriber receives what is
  published on the base channel (its *anchor*) and under the topics it wants
  (:class:`Topics`): the node subscribes each of its two readers to the
  signals that reader serves, so that neither reads the other's events. The
  wanted set may change at any time; the subscriber applies a change within
  ``POLL`` seconds and records each topic the server confirmed.
* **Publishing** never blocks an event loop: ``publish()`` is for sync code
  (any thread that runs no event loop), ``apublish()`` for async code, on the
  running asyncio loop. Both raise :class:`TransportError` when the message
  could not be handed over; the caller decides whether that is fatal.
* **Receiving**: ``messages(on_subscribed, topics=...)`` is an async iterator,
  consumed by one task of the process's listener. It yields every message
  published after it subscribed (``on_subscribed`` is called then, and after
  every reconnection), in publication order per publisher and topic, and
  keeps going across outages (reconnecting with backoff); messages published
  during an outage are lost. Cancelling the consuming task stops it cleanly.
  With ``ticks``, either also yields ``TICK`` after each ``POLL`` seconds
  without a message. ``receive(topics, stop, ...)`` is the same for a thread of its own (blocking
  reads, no event loop), anchored on a channel of its own instead of the base
  channel; it ends within ``POLL`` seconds of ``stop`` being set,
  ``on_lost`` is called when it loses the server, and ``quiet`` leaves
  reporting outages to ``messages()``.
* **Counting**: a transport updates the :class:`Counters` it was given
  (``published``, ``publish_failed``, ``reconnects``); the listener counts the
  rest.
* **Reports**: ``report(key, data, ttl)`` stores a listener's status under
  ``key`` for ``ttl`` seconds, where ``reports()`` (sync) in any process of the
  project finds it; that is how ``manage.py eventbus status`` sees every
  listening process.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from ._exceptions import EventbusError

__all__ = ["Counters", "TransportError"]

#: What a subscriber asked for ``ticks`` yields after ``POLL`` seconds without a message,
#: so that its consumer can do its bookkeeping (no message is empty).
TICK = b""

#: How often a subscriber looks for a change of its topics (and ``receive()`` whether it was
#: asked to stop), in seconds.
POLL = 0.05


#: Numbers the process's subscription confirmations, in order.
_confirmations = itertools.count()


class Topics:
    """The topics one subscriber wants (set by the node) and has (confirmed by the server).

    ``wanted`` is replaced whole, never mutated, so a subscriber notices a change
    by identity. ``on_change`` is called, on the subscriber's thread, after
    ``confirmed`` changed.
    """

    def __init__(self, on_change: Callable[[], None] | None = None) -> None:
        self.wanted: frozenset[str] = frozenset()
        #: When each confirmed subscription began, in the process's order of confirmations
        #: (replaced whole on each change).
        self.since: dict[str, int] = {}
        self._mirrored = False
        self._on_change = on_change

    @property
    def confirmed(self) -> frozenset[str]:
        """The topics the subscriber receives now."""
        return self.wanted if self._mirrored else frozenset(self.since)

    def confirm(self, topic: str, subscribed: bool) -> None:
        """The server confirmed a subscription to ``topic``, or its end."""
        since = dict(self.since)
        if subscribed:
            since[topic] = next(_confirmations)
        else:
            since.pop(topic, None)
        self.since = since
        self._changed()

    def lost(self) -> None:
        """The subscription was lost: nothing is confirmed any more."""
        self.since = {}
        self._mirrored = False
        self._changed()

    def mirror(self) -> None:
        """Have whatever is wanted, the moment it is wanted (a transport with no server)."""
        self._mirrored = True
        self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()


class TransportError(EventbusError):
    """A message could not be published; the message says why (the cause is chained)."""


@dataclass
class Counters:
    """What this process's transport and listener have done since it started.

    Attributes:
        published: Messages handed to the transport.
        publish_failed: Messages the transport could not take (logged, or raised).
        received: Messages the listener received, valid or not.
        delivered: Events re-emitted to this process's broadcast receivers and
            remote subscriptions.
        dropped: Messages the listener dropped, by reason (``"bad signature"``,
            ``"malformed"``, ``"oversized"``, ``"unknown signal"``,
            ``"unknown model"``, ``"version"``).
        reconnects: Times the listener reconnected after losing the server.
    """

    published: int = 0
    publish_failed: int = 0
    received: int = 0
    delivered: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    reconnects: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str, by: int = 1) -> None:
        """Add ``by`` to the counter ``name`` (thread-safe)."""
        with self._lock:
            setattr(self, name, getattr(self, name) + by)

    def drop(self, reason: str) -> int:
        """Count one dropped message; return how many were dropped for ``reason`` so far."""
        with self._lock:
            self.dropped[reason] = self.dropped.get(reason, 0) + 1
            return self.dropped[reason]

    def as_dict(self) -> dict[str, object]:
        """A snapshot, for ``manage.py eventbus status`` and JSON."""
        with self._lock:
            return {
                "published": self.published,
                "publish_failed": self.publish_failed,
                "received": self.received,
                "delivered": self.delivered,
                "dropped": dict(self.dropped),
                "reconnects": self.reconnects,
            }


class Transport(Protocol):
    """What the listener and the publishing code need from a transport (see the module)."""

    #: A short description for logs and ``manage.py eventbus status`` (no secrets).
    description: str

    def publish(self, data: bytes, topic: str | None = None) -> None: ...

    async def apublish(self, data: bytes, topic: str | None = None) -> None: ...

    #: Whether a subscriber gets only its topics (else every subscriber gets everything).
    routes_topics: bool

    def messages(
        self,
        on_subscribed: Callable[[], None] | None = None,
        *,
        topics: Topics | None = None,
        ticks: bool = False,
    ) -> AsyncIterator[bytes]: ...

    def receive(
        self,
        topics: Topics,
        stop: threading.Event,
        on_subscribed: Callable[[], None] | None = None,
        on_lost: Callable[[], None] | None = None,
        *,
        quiet: bool = False,
        ticks: bool = False,
    ) -> Iterator[bytes]: ...

    async def report(self, key: str, data: bytes, ttl: float) -> None: ...

    def reports(self) -> list[bytes]: ...

    def close(self) -> None: ...


class InProcessTransport:
    """The process is the whole cluster: every message published is received here.

    Used when ``EVENTBUS["TRANSPORT"]`` is not set, so remote signals, broadcast
    receivers and remote subscriptions work (once, in this process) without a
    server. Messages go through the same encoding, signing and decoding as on
    a real wire.
    """

    description = "in-process (no EVENTBUS['TRANSPORT']: this process is the whole cluster)"
    routes_topics = False

    def __init__(self, counters: Counters) -> None:
        self._counters = counters
        self._lock = threading.Lock()
        # (loop, queue, topics) of each messages(); (queue, topics) of each receive().
        self._queues: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[bytes], Topics]] = []
        self._sync_queues: list[tuple[queue.SimpleQueue[bytes], Topics]] = []
        self._reports: dict[str, tuple[float, bytes]] = {}

    def publish(self, data: bytes, topic: str | None = None) -> None:
        """Hand ``data`` to every subscriber, whatever its topics."""
        with self._lock:
            queues = list(self._queues)
            sync_queues = list(self._sync_queues)
        for loop, waiting, _ in queues:
            try:
                loop.call_soon_threadsafe(waiting.put_nowait, data)
            except RuntimeError:
                continue  # that listener's loop is closed
        for sync_queue, _ in sync_queues:
            sync_queue.put(data)
        self._counters.add("published")

    async def apublish(self, data: bytes, topic: str | None = None) -> None:
        self.publish(data, topic)

    async def messages(
        self,
        on_subscribed: Callable[[], None] | None = None,
        *,
        topics: Topics | None = None,
        ticks: bool = False,
    ) -> AsyncIterator[bytes]:
        """Every message published from now on; whatever topics it wants, it has at once."""
        loop = asyncio.get_running_loop()
        waiting: asyncio.Queue[bytes] = asyncio.Queue()
        topics = Topics() if topics is None else topics
        entry = (loop, waiting, topics)
        with self._lock:
            self._queues.append(entry)
        topics.mirror()
        if on_subscribed is not None:
            on_subscribed()
        try:
            while True:
                if not ticks:
                    yield await waiting.get()
                    continue
                try:
                    yield await asyncio.wait_for(waiting.get(), POLL)
                except TimeoutError:
                    yield TICK
        finally:
            with self._lock:
                self._queues.remove(entry)
            topics.lost()

    def receive(
        self,
        topics: Topics,
        stop: threading.Event,
        on_subscribed: Callable[[], None] | None = None,
        on_lost: Callable[[], None] | None = None,
        *,
        quiet: bool = False,
        ticks: bool = False,
    ) -> Iterator[bytes]:
        """``messages()`` for a thread of its own; ends within ``POLL`` seconds of ``stop``."""
        waiting: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        entry = (waiting, topics)
        with self._lock:
            self._sync_queues.append(entry)
        topics.mirror()
        if on_subscribed is not None:
            on_subscribed()
        try:
            while not stop.is_set():
                try:
                    yield waiting.get(timeout=POLL)
                except queue.Empty:
                    if ticks:
                        yield TICK
        finally:
            with self._lock:
                self._sync_queues.remove(entry)
            topics.lost()

    async def report(self, key: str, data: bytes, ttl: float) -> None:
        with self._lock:
            self._reports[key] = (time.monotonic() + ttl, data)

    def reports(self) -> list[bytes]:
        now = time.monotonic()
        with self._lock:
            return [data for expires, data in self._reports.values() if expires > now]

    def close(self) -> None:
        """Nothing to release."""
