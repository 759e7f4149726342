"""The Redis transport: messages carried by Redis pub/sub, through redis-py.

``RedisTransport(url, channel=..., counters=...)`` publishes each message body
on a pub/sub channel: ``<channel>:<topic>`` for a topic (``channel_of``), the
base channel ``<channel>`` for none; a subscriber gets the base channel (or an
anchor of its own) and the topics it wants. The rules:

* **Sync publishing** (``publish()``, from code that runs no event loop): one
  pooled ``redis.Redis`` client per transport, created on first use under a
  lock and shared by every thread (each command borrows a connection from the
  pool, so concurrent publishes never share a socket; one publishing thread
  keeps reusing one connection). It is fork-safe: redis-py's pool notices a
  new process id and opens fresh connections in the child, never touching the
  parent's sockets.
* **Async publishing** (``apublish()``): under asyncio, one
  ``redis.asyncio.Redis`` client per event loop, created on first use on that
  loop and only ever used there, so no connection crosses loops. It is closed
  when its loop shuts down its async generators (``asyncio.run()``, asgiref's
  ``async_to_sync``, ``asyncio.Runner`` and uvicorn all do) or by ``await
  transport.aclose()`` on that loop; a loop closed without either leaks its
  connections and asyncio warns about them. Under any other event loop (trio),
  ``apublish()`` runs ``publish()`` in a worker thread.
* **Publishing fails fast and never retries**: a command waits at most
  ``socket_timeout`` for the server (connecting included); a message that could
  not be handed over raises :class:`~eventbus._transport.TransportError`
  (naming the server, never its password, with the redis-py error chained) and
  counts ``publish_failed``. Retrying is the caller's decision: a retried
  ``PUBLISH`` whose reply was lost would deliver twice.
* **Receiving** (``messages()`` on an asyncio loop, or ``receive()`` in a
  thread of its own, blocking on a sync connection): a dedicated connection
  subscribed to the channel, yielding each body (``bytes``) in the order the
  server received them. While idle it pings the server every
  ``health_check_interval`` seconds, and a request (``SUBSCRIBE`` or ``PING``)
  left unanswered for ``socket_timeout`` seconds counts as a lost connection,
  so a server that hangs or a network that drops packets silently is noticed
  within ``health_check_interval + socket_timeout``; a server that stops or
  restarts closes the connection and is noticed at once.
* **Reconnecting**: after losing the server, either subscribes again
  by itself, waiting 0.1 s before the first attempt and doubling the wait up to
  ``reconnect_max_delay`` (each wait drawn between half and all of that, so a
  fleet of listeners does not reconnect in lock-step). It logs one warning per
  outage and one info line when subscribed again (logger ``"eventbus"``), and
  counts ``reconnects`` once per successful re-subscription (not for the first
  subscription, even one delayed by an outage).
* **At-most-once**: Redis pub/sub keeps nothing. A message published while a
  listener is not subscribed (during an outage, before it started, or while
  it reconnects) never reaches that listener; a listener that falls so far
  behind that the server's pub/sub output buffer limit is hit is disconnected
  by the server and loses what was buffered.
* **Stopping**: cancelling the task that consumes ``messages()``, or closing
  the iterator, closes its connection (which ends the subscription on the
  server) before the cancellation propagates; no task is left behind.
  ``receive()`` ends, closing its connection, within ``POLL`` seconds of
  its ``stop`` event being set.
  ``close()`` releases the ``publish()`` pool.
* **Reports** (``report()``/``reports()``): each listener's status is a key
  of its own that Redis expires after the report's ``ttl``, listed in a set
  named after the channel (``<channel>:reports``), so any process of the
  project finds the live ones without scanning the keyspace or comparing
  clocks. A failure raises ``TransportError`` but is not a failed publish.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.connection import parse_url
from redis.exceptions import RedisError
from redis.retry import Retry

from ._transport import POLL, TICK, Counters, Topics, TransportError

__all__ = ["RedisTransport"]

logger = logging.getLogger("eventbus")

# redis-py leaves it unannotated.
_parse_url: Callable[[str], dict[str, Any]] = parse_url

#: The first wait before subscribing again after losing the server, in seconds.
RECONNECT_MIN_DELAY = 0.1

#: The payload of the subscriber's liveness pings, so they are easy to spot in ``MONITOR``.
_PING_PAYLOAD = b"eventbus-health-check"


def reconnect_delay(attempt: int, max_delay: float) -> float:
    """How long to wait before reconnection attempt ``attempt`` (0 for the first).

    ``RECONNECT_MIN_DELAY`` doubled ``attempt`` times, capped at ``max_delay``,
    then a random point between half of that and all of it.
    """
    delay = min(max_delay, RECONNECT_MIN_DELAY * 2.0 ** min(attempt, 32))
    return delay / 2 + random.random() * delay / 2


def describe_server(url: str) -> str:
    """``url`` without its credentials and query string (which may carry a password)."""
    parts = urlsplit(url)
    location = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{location}{parts.path}"


@dataclass
class _LoopClient:
    """The ``apublish()`` client of one event loop, and what closes it when the loop ends."""

    client: redis.asyncio.Redis
    closer: AsyncGenerator[None, None]


class RedisTransport:
    """Carries messages over one Redis pub/sub channel (the rules: see the module).

    Args:
        url: The server, as redis-py's ``from_url`` reads it
            (``redis://[[user]:password@]host[:port][/db]``, ``rediss://``,
            ``unix://``); a password in it never appears in logs, errors or
            :attr:`description`.
        channel: The pub/sub channel, already prefixed so that projects sharing
            a server do not see each other's messages.
        counters: Updated with ``published``, ``publish_failed`` and
            ``reconnects``.
        reconnect_max_delay: The longest wait between two attempts to subscribe
            again, in seconds.
        socket_timeout: How long any command (and a connection attempt) may
            wait for the server, in seconds: a publish to a dead server fails
            after about that long.
        health_check_interval: How long the subscriber connection may stay
            silent before it pings the server, in seconds.

    Raises:
        ValueError: ``url`` is not a Redis URL, or a duration is not positive.
    """

    def __init__(
        self,
        url: str,
        *,
        channel: str,
        counters: Counters,
        reconnect_max_delay: float = 5.0,
        socket_timeout: float = 5.0,
        health_check_interval: float = 2.0,
    ) -> None:
        server = describe_server(url)
        try:
            _parse_url(url)
        except ValueError as exc:
            raise ValueError(
                f"{server!r} is not a Redis URL: use redis://host:port/db, rediss://... "
                f"for TLS, or unix:///path/to/socket ({exc})"
            ) from None
        for name, value in [
            ("reconnect_max_delay", reconnect_max_delay),
            ("socket_timeout", socket_timeout),
            ("health_check_interval", health_check_interval),
        ]:
            if not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
        self._url = url
        self._server = server
        self._channel = channel
        self._counters = counters
        self._reconnect_max_delay = reconnect_max_delay
        self._socket_timeout = socket_timeout
        self._health_check_interval = health_check_interval
        self.description = f"{server} channel {channel}"
        self._lock = threading.Lock()
        self._client: redis.Redis | None = None
        self._loop_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClient] = (
            weakref.WeakKeyDictionary()
        )

    #: Each topic has a channel of its own (see ``channel_of``).
    routes_topics = True

    def __repr__(self) -> str:
        return f"<RedisTransport {self.description}>"

    # ------------------------------------------------------------------
    # Publishing
    # ------------------------------------------------------------------

    def _options(self) -> dict[str, Any]:
        """What every client of this transport is created with, besides its ``retry``."""
        return {
            "socket_timeout": self._socket_timeout,
            "socket_connect_timeout": self._socket_timeout,
            "decode_responses": False,
        }

    def _failure(self, action: str, exc: BaseException, *, count: bool = True) -> TransportError:
        if count:
            self._counters.add("publish_failed")
        return TransportError(
            f"Could not {action} Redis at {self._server} (channel {self._channel}): "
            f"{type(exc).__name__}: {exc}"
        )

    def _sync_client(self) -> redis.Redis:
        client = self._client
        if client is None:
            with self._lock:
                client = self._client
                if client is None:
                    client = self._client = redis.Redis.from_url(
                        self._url, retry=Retry(NoBackoff(), 0), **self._options()
                    )
        return client

    def channel_of(self, topic: str | None) -> str:
        """The channel ``topic`` travels on (``None``: the base channel)."""
        return self._channel if topic is None else f"{self._channel}:{topic}"

    def publish(self, data: bytes, topic: str | None = None) -> None:
        """Publish ``data`` from sync code; raises ``TransportError`` if it could not."""
        try:
            self._sync_client().publish(self.channel_of(topic), data)
        except (RedisError, OSError) as exc:
            raise self._failure("publish to", exc) from exc
        self._counters.add("published")

    async def apublish(self, data: bytes, topic: str | None = None) -> None:
        """Publish ``data`` from async code; raises ``TransportError`` if it could not.

        On the running asyncio loop's own client; under trio, ``publish()`` in a
        worker thread.
        """
        # typeshed says _get_running_loop() never returns None; it does outside asyncio.
        loop: asyncio.AbstractEventLoop | None = asyncio._get_running_loop()
        if loop is None:
            import anyio.to_thread  # noqa: PLC0415 - only outside asyncio, like _hops

            await anyio.to_thread.run_sync(self.publish, data, topic)
            return
        client = await self._loop_client(loop)
        try:
            await client.publish(self.channel_of(topic), data)
        except (RedisError, OSError) as exc:
            raise self._failure("publish to", exc) from exc
        self._counters.add("published")

    async def _loop_client(self, loop: asyncio.AbstractEventLoop) -> redis.asyncio.Redis:
        with self._lock:
            entry = self._loop_clients.get(loop)
            if entry is not None:
                return entry.client
            client = redis.asyncio.Redis.from_url(
                self._url, retry=AsyncRetry(NoBackoff(), 0), **self._options()
            )
            entry = self._loop_clients[loop] = _LoopClient(client, self._closer(client))
        # Its first step runs to the yield without suspending; from then on the loop
        # knows the generator, and closes it (closing the client) at shutdown.
        await anext(entry.closer)
        return client

    async def _closer(self, client: redis.asyncio.Redis) -> AsyncGenerator[None, None]:
        """Closes ``client`` when closed itself: by ``aclose()``, or by the loop's
        ``shutdown_asyncgens()``, asyncio's one hook into a loop's end."""
        try:
            yield
        finally:
            loop = asyncio.get_running_loop()
            with self._lock:
                entry = self._loop_clients.get(loop)
                if entry is not None and entry.client is client:
                    del self._loop_clients[loop]
            await client.aclose()

    async def aclose(self) -> None:
        """Close the running event loop's ``apublish()`` client, if it has one.

        A later ``apublish()`` on this loop opens a new one. Clients of other
        loops are closed when those loops end (or by ``aclose()`` there).
        """
        loop: asyncio.AbstractEventLoop | None = asyncio._get_running_loop()
        if loop is None:
            return
        with self._lock:
            entry = self._loop_clients.pop(loop, None)
        if entry is not None:
            await entry.closer.aclose()

    def close(self) -> None:
        """Close the ``publish()`` connection pool (a later ``publish()`` opens a new one).

        ``apublish()`` clients belong to their event loops: see :meth:`aclose`.
        """
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # ------------------------------------------------------------------
    # Listener reports
    # ------------------------------------------------------------------

    @property
    def _reports_index(self) -> str:
        """The set of the keys of every live report; each report is a key of its own, so
        Redis expires it (no clocks compared across hosts, no SCAN of the keyspace)."""
        return f"{self._channel}:reports"

    async def report(self, key: str, data: bytes, ttl: float) -> None:
        """Store ``data`` as listener ``key``'s report for ``ttl`` seconds, where
        :meth:`reports` in any process finds it. Raises ``TransportError`` (not counted
        as a failed publish) when the server cannot take it."""
        loop: asyncio.AbstractEventLoop | None = asyncio._get_running_loop()
        if loop is None:
            import anyio.to_thread  # noqa: PLC0415 - only outside asyncio, like _hops

            await anyio.to_thread.run_sync(self._report_sync, key, data, ttl)
            return
        name, ttl_ms = f"{self._reports_index}:{key}", max(1, round(ttl * 1000))
        client = await self._loop_client(loop)
        try:
            async with client.pipeline(transaction=True) as pipe:
                pipe.set(name, data, px=ttl_ms)
                pipe.sadd(self._reports_index, name)
                pipe.pexpire(self._reports_index, ttl_ms)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise self._failure("store a report on", exc, count=False) from exc

    def _report_sync(self, key: str, data: bytes, ttl: float) -> None:
        name, ttl_ms = f"{self._reports_index}:{key}", max(1, round(ttl * 1000))
        try:
            with self._sync_client().pipeline(transaction=True) as pipe:
                pipe.set(name, data, px=ttl_ms)
                pipe.sadd(self._reports_index, name)
                pipe.pexpire(self._reports_index, ttl_ms)
                pipe.execute()
        except (RedisError, OSError) as exc:
            raise self._failure("store a report on", exc, count=False) from exc

    def reports(self) -> list[bytes]:
        """Every report stored by :meth:`report` that has not expired, in no particular order.

        Raises ``TransportError`` when the server cannot be read.
        """
        client = self._sync_client()
        try:
            names = sorted(client.smembers(self._reports_index))
            if not names:
                return []
            found = client.mget(names)
            expired = [name for name, data in zip(names, found, strict=True) if data is None]
            if expired:
                client.srem(self._reports_index, *expired)
        except (RedisError, OSError) as exc:
            raise self._failure("read the reports from", exc, count=False) from exc
        return [data for data in found if isinstance(data, bytes)]

    # ------------------------------------------------------------------
    # Receiving
    # ------------------------------------------------------------------

    async def messages(
        self,
        on_subscribed: Callable[[], None] | None = None,
        *,
        topics: Topics | None = None,
        ticks: bool = False,
    ) -> AsyncGenerator[bytes, None]:
        """Every message body published on the base channel, and under ``topics``, from now on.

        Keeps going across outages (see the module); only cancellation or
        closing the iterator ends it. ``on_subscribed`` is called each time the
        server confirms the subscription to the base channel (first, and after
        each reconnection): from then on, nothing published there is missed;
        ``topics.confirmed`` says the same of each topic.

        Raises:
            RuntimeError: Not running on an asyncio event loop (redis.asyncio
                needs one); run the listener under asyncio.
        """
        loop: asyncio.AbstractEventLoop | None = asyncio._get_running_loop()
        if loop is None:
            raise RuntimeError(
                "RedisTransport.messages() needs an asyncio event loop (it uses redis.asyncio); "
                "consume it from a task running under asyncio, not trio"
            )
        import anyio  # noqa: PLC0415 - only here: importing eventbus does not import anyio

        client = redis.asyncio.Redis.from_url(
            self._url, retry=AsyncRetry(NoBackoff(), 0), **self._options()
        )
        watch = _Watch(self, loop.time, self._channel, topics or Topics(), on_subscribed)
        try:
            while True:
                pubsub = client.pubsub()
                try:
                    await pubsub.subscribe(self._channel)
                    watch.asked()
                    while True:
                        if (change := watch.change()) is not None:
                            subscribe, unsubscribe = change
                            if subscribe:
                                await pubsub.subscribe(*subscribe)
                            if unsubscribe:
                                await pubsub.unsubscribe(*unsubscribe)
                            watch.asked()
                        wait = watch.wait()
                        if wait is None:
                            await pubsub.ping(_PING_PAYLOAD)
                            watch.asked()
                            continue
                        message = await pubsub.get_message(timeout=min(wait, POLL))
                        if message is None:
                            if ticks:
                                yield TICK
                        elif (data := watch.heard(message)) is not None:
                            yield data
                except (RedisError, OSError) as exc:
                    watch.lost(exc)
                finally:
                    # Bounded and shielded: cancellation must not leave the socket open.
                    close_pubsub: Callable[[], Awaitable[None]] = pubsub.aclose
                    with anyio.move_on_after(self._socket_timeout, shield=True):
                        await close_pubsub()
                await asyncio.sleep(watch.delay())
        finally:
            watch.topics.lost()
            with anyio.move_on_after(self._socket_timeout, shield=True):
                await client.aclose()

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
        """``messages()`` for a thread of its own: blocking reads on a sync connection.

        The same order, liveness checks, reconnection and logging as
        ``messages()``, for ``topics`` only: its anchor is a channel nobody
        publishes to (``<channel>:-``), not the base channel. ``on_lost`` is called each
        time the subscription is lost. ``quiet``: a second subscriber of a
        process whose ``messages()`` already reports outages; it logs them at
        debug level and counts no ``reconnects``. Ends, closing its connection,
        within ``POLL`` seconds of ``stop`` being set (between two messages).
        """
        client = redis.Redis.from_url(self._url, retry=Retry(NoBackoff(), 0), **self._options())
        anchor = f"{self._channel}:-"
        watch = _Watch(self, time.monotonic, anchor, topics, on_subscribed, quiet=quiet)
        try:
            while not stop.is_set():
                pubsub = client.pubsub()  # type: ignore[no-untyped-call]
                try:
                    pubsub.subscribe(anchor)
                    watch.asked()
                    while not stop.is_set():
                        if (change := watch.change()) is not None:
                            subscribe, unsubscribe = change
                            if subscribe:
                                pubsub.subscribe(*subscribe)
                            if unsubscribe:
                                pubsub.unsubscribe(*unsubscribe)
                            watch.asked()
                        wait = watch.wait()
                        if wait is None:
                            pubsub.ping(_PING_PAYLOAD)
                            watch.asked()
                            continue
                        message = pubsub.get_message(timeout=min(wait, POLL))
                        if message is None:
                            if ticks:
                                yield TICK
                        elif (data := watch.heard(message)) is not None:
                            yield data
                except (RedisError, OSError) as exc:
                    if on_lost is not None:
                        on_lost()
                    watch.lost(exc)
                finally:
                    pubsub.close()
                stop.wait(watch.delay())
        finally:
            topics.lost()
            client.close()


class _Watch:
    """One subscriber's topics, liveness and outages, for ``messages()`` and ``receive()``.

    The subscriber asks :meth:`change` before each read which channels to
    (un)subscribe, calls :meth:`asked` after each request (``SUBSCRIBE``,
    ``UNSUBSCRIBE``, each ``PING``), :meth:`wait` before each read (``None``:
    ping first), :meth:`heard` with each reply or message, :meth:`lost` when the
    connection fails and :meth:`delay` for how long to wait before subscribing
    again.
    """

    def __init__(
        self,
        transport: RedisTransport,
        clock: Callable[[], float],
        anchor: str,
        topics: Topics,
        on_subscribed: Callable[[], None] | None,
        *,
        quiet: bool = False,
    ) -> None:
        self._transport = transport
        self._clock = clock
        self._anchor = anchor.encode()
        self._prefix = f"{transport._channel}:".encode()
        self.topics = topics
        self._applied: frozenset[str] = frozenset()  # the topics asked for on this connection
        self._on_subscribed = on_subscribed
        self._quiet = quiet
        self._attempt = 0  # failed attempts since the last successful subscription
        self._outage_began: float | None = None
        self._subscribed_once = False
        # A request waiting for its reply since then (None: none is).
        self._awaiting_reply_since: float | None = None
        self._last_heard = 0.0

    def change(self) -> tuple[list[str], list[str]] | None:
        """The channels to subscribe and to unsubscribe now (``None``: no change)."""
        wanted = self.topics.wanted
        applied = self._applied
        if wanted is applied:
            return None
        self._applied = wanted
        channel_of = self._transport.channel_of
        return (
            [channel_of(topic) for topic in wanted - applied],
            [channel_of(topic) for topic in applied - wanted],
        )

    def asked(self) -> None:
        self._awaiting_reply_since = self._last_heard = self._clock()

    def wait(self) -> float | None:
        """How long the next read may wait; ``None``: idle long enough to ping.

        Raises:
            TimeoutError: A request went unanswered for ``socket_timeout``.
        """
        now = self._clock()
        transport = self._transport
        if self._awaiting_reply_since is not None:
            wait = self._awaiting_reply_since + transport._socket_timeout - now
            if wait <= 0:
                raise TimeoutError(f"no reply from the server within {transport._socket_timeout} s")
            return wait
        wait = self._last_heard + transport._health_check_interval - now
        return None if wait <= 0 else wait

    def heard(self, message: dict[str, Any]) -> bytes | None:
        """Note a reply or message from the server; return a message's body."""
        self._last_heard = self._clock()
        self._awaiting_reply_since = None  # anything at all proves it alive
        kind = message["type"]
        if kind == "message":
            data = message["data"]
            return data if isinstance(data, bytes) else str(data).encode()
        if kind not in ("subscribe", "unsubscribe"):
            return None
        channel = message["channel"]
        if channel != self._anchor:
            if channel.startswith(self._prefix):
                topic = channel[len(self._prefix) :].decode()
                self.topics.confirm(topic, kind == "subscribe")
        elif kind == "subscribe":
            if self._outage_began is not None:
                logger.log(
                    logging.DEBUG if self._quiet else logging.INFO,
                    "eventbus: subscribed to %s again after %.1f s without it",
                    self._transport.description,
                    self._last_heard - self._outage_began,
                )
            if self._subscribed_once and not self._quiet:
                self._transport._counters.add("reconnects")
            self._subscribed_once = True
            if self._on_subscribed is not None:
                self._on_subscribed()
            self._outage_began = None
            self._attempt = 0
        return None

    def lost(self, exc: BaseException) -> None:
        """The connection failed: nothing is subscribed any more; log the outage once."""
        self._applied = frozenset()
        self.topics.lost()
        if self._outage_began is None:
            self._outage_began = self._clock()
            logger.log(
                logging.DEBUG if self._quiet else logging.WARNING,
                "eventbus: lost the subscription to %s (%s: %s); reconnecting with backoff. "
                "Messages published until it is back are lost (pub/sub is at-most-once).",
                self._transport.description,
                type(exc).__name__,
                exc,
            )
        else:
            logger.debug(
                "eventbus: subscribing to %s failed again (%s: %s)",
                self._transport.description,
                type(exc).__name__,
                exc,
            )

    def delay(self) -> float:
        """The wait before the next subscription attempt (see ``reconnect_delay``)."""
        delay = reconnect_delay(self._attempt, self._transport._reconnect_max_delay)
        self._attempt += 1
        return delay
