"""What carries events between processes: the transport interface, and its counters.

A transport moves opaque, already signed message bodies (``bytes``, see
``_wire``) from the process that publishes them to every process that listens.
It knows nothing of signals. eventbus ships two:

* :class:`InProcessTransport`, the default without ``EVENTBUS["TRANSPORT"]``:
  the process is the whole cluster; what it publishes, it receives.
* ``RedisTransport`` (``_redis``), Redis pub/sub through redis-py.

The rules every transport follows:

* **Publishing** never blocks an event loop: ``publish()`` is for sync code
  (any thread that runs no event loop), ``apublish()`` for async code, on the
  running asyncio loop. Both raise :class:`TransportError` when the message
  could not be handed over; the caller decides whether that is fatal.
* **Receiving**: ``messages(on_subscribed)`` is an async iterator, consumed by
  one task of the process's listener. It yields every message published after
  it subscribed (``on_subscribed`` is called then, and after every
  reconnection), in publication order per publisher, and keeps going across
  outages (reconnecting with backoff); messages published during an outage
  are lost. Cancelling the consuming task stops it cleanly.
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
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol

from ._exceptions import EventbusError

__all__ = ["Counters", "TransportError"]


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

    def publish(self, data: bytes) -> None: ...

    async def apublish(self, data: bytes) -> None: ...

    def messages(self, on_subscribed: Callable[[], None] | None = None) -> AsyncIterator[bytes]: ...

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

    def __init__(self, counters: Counters) -> None:
        self._counters = counters
        self._lock = threading.Lock()
        self._queues: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[bytes]]] = []
        self._reports: dict[str, tuple[float, bytes]] = {}

    def publish(self, data: bytes) -> None:
        with self._lock:
            queues = list(self._queues)
        for loop, queue in queues:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, data)
            except RuntimeError:
                continue  # that listener's loop is closed
        self._counters.add("published")

    async def apublish(self, data: bytes) -> None:
        self.publish(data)

    async def messages(
        self, on_subscribed: Callable[[], None] | None = None
    ) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        entry = (loop, queue)
        with self._lock:
            self._queues.append(entry)
        if on_subscribed is not None:
            on_subscribed()
        try:
            while True:
                yield await queue.get()
        finally:
            with self._lock:
                self._queues.remove(entry)

    async def report(self, key: str, data: bytes, ttl: float) -> None:
        with self._lock:
            self._reports[key] = (time.monotonic() + ttl, data)

    def reports(self) -> list[bytes]:
        now = time.monotonic()
        with self._lock:
            return [data for expires, data in self._reports.values() if expires > now]

    def close(self) -> None:
        """Nothing to release."""
