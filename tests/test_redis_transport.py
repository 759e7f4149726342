"""The Redis transport against a real ``redis-server`` (one per test, see tests/redis_server.py).

Every wait is bounded: ``anyio.fail_after`` around anything that waits for the transport,
and the server helpers' own deadlines around anything that waits for the server.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing, asynccontextmanager, contextmanager
from typing import Any

import anyio
import anyio.to_thread
import pytest
import redis.exceptions

from eventbus._redis import RedisTransport, describe_server, reconnect_delay
from eventbus._transport import POLL, Counters, Topics, Transport, TransportError
from tests.redis_server import RedisServer

CHANNEL = "eventbus:test:events"
#: Generous bound on anything that should take milliseconds.
TIMEOUT = 10.0

#: Once per Django leg: it never touches the database, so the PostgreSQL run skips it.
pytestmark = pytest.mark.skipif(
    os.environ.get("EVENTBUS_TEST_DB") == "postgres",
    reason="runs in the SQLite run of each leg (it does not touch the database)",
)


@pytest.fixture
def anyio_backend() -> str:
    """redis.asyncio needs asyncio; the one trio test says so itself."""
    return "asyncio"


MakeTransport = Callable[..., RedisTransport]


@pytest.fixture
def make_transport(redis_server: RedisServer) -> Iterator[MakeTransport]:
    """``make_transport(counters, **options)``: a transport to this test's server (fast
    timeouts), closed after the test."""
    made: list[RedisTransport] = []

    def make(counters: Counters | None = None, **options: Any) -> RedisTransport:
        settings: dict[str, Any] = {
            "url": redis_server.url,
            "channel": CHANNEL,
            "counters": Counters() if counters is None else counters,
            "reconnect_max_delay": 0.5,
            "socket_timeout": 1.0,
            "health_check_interval": 0.5,
        }
        settings.update(options)
        transport = RedisTransport(settings.pop("url"), **settings)
        made.append(transport)
        return transport

    yield make
    for transport in made:
        transport.close()


@asynccontextmanager
async def consuming(
    transport: RedisTransport,
) -> AsyncIterator[anyio.abc.ObjectReceiveStream[bytes]]:
    """Consume ``transport.messages()`` in a task; the stream of what it yields."""
    send, receive = anyio.create_memory_object_stream[bytes](10_000)

    async def pump() -> None:
        async with send, aclosing(transport.messages()) as messages:
            async for data in messages:
                await send.send(data)

    async with anyio.create_task_group() as tasks, receive:
        tasks.start_soon(pump)
        yield receive
        tasks.cancel_scope.cancel()


async def anext_of(messages: AsyncIterator[bytes]) -> bytes:
    return await anext(messages)


async def next_of(stream: anyio.abc.ObjectReceiveStream[bytes]) -> bytes:
    with anyio.fail_after(TIMEOUT):
        return await stream.receive()


async def until_subscribed(server: RedisServer, count: int = 1) -> None:
    await anyio.to_thread.run_sync(server.wait_for_subscribers, CHANNEL, count)


@contextmanager
def warning_logged() -> Iterator[anyio.Event]:
    """An event set when the transport logs a warning (on the thread of the test's loop)."""
    event = anyio.Event()

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            event.set()

    handler = Handler(logging.WARNING)
    logger = logging.getLogger("eventbus")
    logger.addHandler(handler)
    try:
        yield event
    finally:
        logger.removeHandler(handler)


def records(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "eventbus" and r.levelno == level]


# ----------------------------------------------------------------------------
# Round trips
# ----------------------------------------------------------------------------


def test_a_redis_transport_is_a_transport(make_transport: MakeTransport) -> None:
    transport: Transport = make_transport()
    assert transport.description == f"{describe_server(transport._url)} channel {CHANNEL}"  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_a_sync_publish_reaches_an_async_consumer(
    redis_server: RedisServer, make_transport: MakeTransport
) -> None:
    counters = Counters()
    transport = make_transport(counters)
    async with consuming(transport) as received:
        await until_subscribed(redis_server)
        await anyio.to_thread.run_sync(transport.publish, b'{"n": 1}')
        assert await next_of(received) == b'{"n": 1}'
    assert counters.published == 1
    assert counters.publish_failed == counters.reconnects == 0


@pytest.mark.anyio
async def test_apublish_reaches_an_async_consumer(
    redis_server: RedisServer, make_transport: MakeTransport
) -> None:
    counters = Counters()
    transport = make_transport(counters)
    async with consuming(transport) as received:
        await until_subscribed(redis_server)
        await transport.apublish(b"\x00binary\xff")
        assert await next_of(received) == b"\x00binary\xff"
    assert counters.published == 1


@pytest.mark.anyio
@pytest.mark.parametrize("how", ["publish", "apublish"])
async def test_many_messages_arrive_in_publication_order(
    redis_server: RedisServer, make_transport: MakeTransport, how: str
) -> None:
    transport = make_transport()
    sent = [f"message {n}".encode() for n in range(300)]

    def publish_all() -> None:
        for data in sent:
            transport.publish(data)

    async with consuming(transport) as received:
        await until_subscribed(redis_server)
        if how == "publish":
            await anyio.to_thread.run_sync(publish_all)
        else:
            for data in sent:
                await transport.apublish(data)
        assert [await next_of(received) for _ in sent] == sent


@pytest.mark.anyio
async def test_two_consumers_both_receive_every_message(
    redis_server: RedisServer, make_transport: MakeTransport
) -> None:
    transport = make_transport()
    other = make_transport()
    sent = [b"a", b"b", b"c"]
    async with consuming(transport) as first, consuming(other) as second:
        await until_subscribed(redis_server, 2)
        for data in sent:
            await transport.apublish(data)
        assert [await next_of(first) for _ in sent] == sent
        assert [await next_of(second) for _ in sent] == sent


@pytest.mark.anyio
async def test_an_idle_subscriber_pings_without_ever_reconnecting(
    redis_server: RedisServer, make_transport: MakeTransport, caplog: pytest.LogCaptureFixture
) -> None:
    """The health check costs a PING per idle interval, and a healthy server is never
    mistaken for a dead one."""
    counters = Counters()
    transport = make_transport(counters, health_check_interval=0.05)
    with caplog.at_level(logging.DEBUG, logger="eventbus"):
        async with consuming(transport) as received:
            await until_subscribed(redis_server)
            await anyio.sleep(0.5)
            (subscriber,) = await anyio.to_thread.run_sync(redis_server.clients)
            assert subscriber["cmd"] == "ping"
            await transport.apublish(b"still here")
            assert await next_of(received) == b"still here"
    assert counters.reconnects == 0
    assert [r for r in caplog.records if r.name == "eventbus"] == []


# ----------------------------------------------------------------------------
# Outages
# ----------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("outage", ["stop", "kill"])
async def test_the_consumer_survives_a_restart_of_the_server(
    redis_server: RedisServer,
    make_transport: MakeTransport,
    caplog: pytest.LogCaptureFixture,
    outage: str,
) -> None:
    """Stopped (SIGTERM) or killed (SIGKILL), then started again on the same port:
    publishing while it is down fails, and delivery resumes once it is back."""
    counters = Counters()
    transport = make_transport(counters)
    with caplog.at_level(logging.INFO, logger="eventbus"):
        async with consuming(transport) as received:
            await until_subscribed(redis_server)
            await transport.apublish(b"before")
            await anyio.to_thread.run_sync(transport.publish, b"before, sync")
            assert [await next_of(received), await next_of(received)] == [
                b"before",
                b"before, sync",
            ]

            await anyio.to_thread.run_sync(getattr(redis_server, outage))
            with anyio.fail_after(TIMEOUT):
                with pytest.raises(TransportError) as failed:
                    await anyio.to_thread.run_sync(transport.publish, b"lost")
                with pytest.raises(TransportError):
                    await transport.apublish(b"lost, async")
                await anyio.sleep(0.6)  # a few reconnection attempts fail meanwhile
            assert isinstance(failed.value.__cause__, redis.exceptions.ConnectionError)
            assert f"127.0.0.1:{redis_server.port}" in str(failed.value)

            await anyio.to_thread.run_sync(redis_server.start)
            await until_subscribed(redis_server)
            await anyio.to_thread.run_sync(transport.publish, b"after, sync")
            await transport.apublish(b"after")
            assert [await next_of(received), await next_of(received)] == [
                b"after, sync",
                b"after",
            ]
    assert counters.as_dict() == {
        "published": 4,
        "publish_failed": 2,
        "received": 0,
        "delivered": 0,
        "dropped": {},
        "reconnects": 1,
    }
    (warning,) = records(caplog, logging.WARNING)
    assert transport.description in warning
    assert "lost" in warning
    (info,) = records(caplog, logging.INFO)
    assert "again" in info


@pytest.mark.anyio
async def test_a_hung_server_is_noticed_by_the_health_check(
    redis_server: RedisServer, make_transport: MakeTransport, caplog: pytest.LogCaptureFixture
) -> None:
    """A server that stops answering with its connections still open (SIGSTOP) is noticed
    within health_check_interval + socket_timeout, and delivery resumes once it answers."""
    counters = Counters()
    transport = make_transport(counters, socket_timeout=0.5, health_check_interval=0.2)
    with caplog.at_level(logging.INFO, logger="eventbus"), warning_logged() as warned:
        async with consuming(transport) as received:
            await until_subscribed(redis_server)
            redis_server.pause()
            try:
                with anyio.fail_after(TIMEOUT):
                    with pytest.raises(TransportError) as failed:
                        await transport.apublish(b"lost")
                    await warned.wait()
            finally:
                redis_server.resume()
            assert isinstance(failed.value.__cause__, redis.exceptions.TimeoutError)
            await until_subscribed(redis_server)
            await transport.apublish(b"after")
            assert await next_of(received) == b"after"
    assert counters.reconnects == 1
    assert counters.publish_failed == 1
    assert len(records(caplog, logging.WARNING)) == 1
    assert len(records(caplog, logging.INFO)) == 1


@pytest.mark.anyio
async def test_a_consumer_started_while_the_server_is_down_subscribes_once_it_is_up(
    redis_server: RedisServer, make_transport: MakeTransport, caplog: pytest.LogCaptureFixture
) -> None:
    """Its first subscription is not a reconnection, however late it comes."""
    counters = Counters()
    transport = make_transport(counters)
    redis_server.stop()
    with caplog.at_level(logging.INFO, logger="eventbus"), warning_logged() as warned:
        async with consuming(transport) as received:
            with anyio.fail_after(TIMEOUT):
                await warned.wait()
            await anyio.to_thread.run_sync(redis_server.start)
            await until_subscribed(redis_server)
            await transport.apublish(b"first")
            assert await next_of(received) == b"first"
    assert counters.reconnects == 0
    assert len(records(caplog, logging.WARNING)) == 1
    assert len(records(caplog, logging.INFO)) == 1


@pytest.mark.parametrize("server_state", ["down", "hung"])
def test_publishing_to_a_server_that_is_unavailable_fails_within_the_socket_timeout(
    redis_server: RedisServer, server_state: str
) -> None:
    """Refused at once when it is down; after socket_timeout when it hangs; never retried."""
    counters = Counters()
    url = f"redis://:s3cret@127.0.0.1:{redis_server.port}/0"
    transport = RedisTransport(url, channel=CHANNEL, counters=counters, socket_timeout=0.5)
    if server_state == "down":
        redis_server.stop()
    else:
        redis_server.pause()
    try:
        started = time.monotonic()
        with pytest.raises(TransportError) as failed:
            transport.publish(b"lost")
        with pytest.raises(TransportError):
            asyncio.run(transport.apublish(b"lost"))
        elapsed = time.monotonic() - started
    finally:
        redis_server.resume()
        transport.close()
    assert elapsed < 3.0  # one attempt each; redis-py's default 10 retries would take > 5 s
    message = str(failed.value)
    assert f"127.0.0.1:{redis_server.port}" in message
    assert CHANNEL in message
    assert "s3cret" not in message
    assert isinstance(failed.value.__cause__, redis.exceptions.RedisError)
    assert counters.publish_failed == 2
    assert counters.published == 0


def test_a_rejected_publish_is_a_transport_error(tmp_path: Any, redis_server: RedisServer) -> None:
    """Not only connection failures: a server that refuses the command (here: it wants a
    password) fails the publish the same way."""
    with RedisServer(redis_server.binary, tmp_path / "auth", "--requirepass", "s3cret") as server:
        counters = Counters()
        without = RedisTransport(server.url, channel=CHANNEL, counters=counters)
        url = f"redis://:s3cret@127.0.0.1:{server.port}/0"
        with_password = RedisTransport(url, channel=CHANNEL, counters=counters)
        try:
            with pytest.raises(TransportError, match="Authentication"):
                without.publish(b"refused")
            with server.listening(CHANNEL) as receive:
                with_password.publish(b"accepted")
                assert receive() == b"accepted"
        finally:
            without.close()
            with_password.close()
    assert counters.publish_failed == 1
    assert counters.published == 1
    assert "s3cret" not in with_password.description


# ----------------------------------------------------------------------------
# Stopping cleanly
# ----------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    "stop", ["cancel scope", "task.cancel()", "aclose()", "cancel scope during an outage"]
)
async def test_stopping_the_consumer_unsubscribes_and_closes_its_connection(
    redis_server: RedisServer,
    make_transport: MakeTransport,
    caplog: pytest.LogCaptureFixture,
    stop: str,
) -> None:
    """Whether its task is cancelled (by anyio or asyncio) or the iterator is closed: no
    subscription, no connection and no pending task is left, and nothing warns."""
    transport = make_transport()
    messages = transport.messages()
    if stop.startswith("cancel scope"):
        with warning_logged() as warned:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(anext_of, messages)
                await until_subscribed(redis_server)
                if stop.endswith("outage"):
                    redis_server.stop()
                    with anyio.fail_after(TIMEOUT):
                        await warned.wait()  # it is waiting to reconnect
                    caplog.clear()
                tasks.cancel_scope.cancel()
        if stop.endswith("outage"):
            redis_server.start()
    elif stop == "task.cancel()":
        task = asyncio.ensure_future(anext(messages))
        await until_subscribed(redis_server)
        task.cancel()
        with anyio.fail_after(TIMEOUT), pytest.raises(asyncio.CancelledError):
            await task
    else:
        waiting = asyncio.ensure_future(anext(messages))
        await until_subscribed(redis_server)
        await transport.apublish(b"one")
        with anyio.fail_after(TIMEOUT):
            assert await waiting == b"one"
            await messages.aclose()
        await transport.aclose()
    await until_subscribed(redis_server, 0)
    await anyio.to_thread.run_sync(redis_server.wait_for_clients, 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert [str(w.message) for w in caught] == []
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_messages_needs_asyncio(make_transport: MakeTransport) -> None:
    import trio  # noqa: PLC0415

    async def first() -> bytes:
        return await anext(make_transport().messages())

    with pytest.raises(RuntimeError, match="asyncio event loop"):
        trio.run(first)


def test_close_releases_the_sync_pool(
    redis_server: RedisServer, make_transport: MakeTransport
) -> None:
    transport = make_transport()
    with redis_server.listening(CHANNEL) as receive:
        transport.publish(b"one")
        assert receive() == b"one"
        redis_server.wait_for_clients(2)  # the listener, the pool's connection
        transport.close()
        redis_server.wait_for_clients(1)
        transport.publish(b"two")  # a new pool
        assert receive() == b"two"


# ----------------------------------------------------------------------------
# Listener reports
# ----------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_reports_live_for_their_ttl_and_are_read_by_any_process(
    redis_server: RedisServer, make_transport: MakeTransport
) -> None:
    """Another transport (another process) reads them; an expired one is gone, and so is
    its entry in the index."""
    counters = Counters()
    reporter, reader = make_transport(counters), make_transport()
    await reporter.report("worker-1", b'{"pid": 1}', 60)
    await reporter.report("worker-2", b'{"pid": 2}', 0.1)
    await reporter.report("worker-1", b'{"pid": 1, "again": true}', 60)  # replaces the first
    assert sorted(reader.reports()) == [b'{"pid": 1, "again": true}', b'{"pid": 2}']
    with anyio.fail_after(TIMEOUT):
        while len(reader.reports()) != 1:  # noqa: ASYNC110 - Redis expires it, nothing to await
            await anyio.sleep(0.02)
    assert reader.reports() == [b'{"pid": 1, "again": true}']
    assert redis_server.client().scard(f"{CHANNEL}:reports") == 1
    assert counters.as_dict()["published"] == 0


def test_reports_fail_as_transport_errors_and_are_not_counted_as_publishes(
    redis_server: RedisServer, make_transport: MakeTransport
) -> None:
    counters = Counters()
    transport = make_transport(counters)
    assert transport.reports() == []
    redis_server.stop()
    with pytest.raises(TransportError, match="store a report"):
        asyncio.run(transport.report("worker-1", b"{}", 60))
    with pytest.raises(TransportError, match="read the reports"):
        transport.reports()
    assert counters.publish_failed == 0


def test_reports_from_sync_code_of_a_trio_process_use_the_sync_client(
    redis_server: RedisServer, make_transport: MakeTransport
) -> None:
    import trio  # noqa: PLC0415

    transport = make_transport()
    redis_server.stop()
    with pytest.raises(TransportError, match="store a report"):
        trio.run(transport.report, "worker-1", b"{}", 60.0)


# ----------------------------------------------------------------------------
# Threads, event loops and processes
# ----------------------------------------------------------------------------


def test_apublish_from_two_event_loops_uses_a_client_per_loop(
    redis_server: RedisServer, make_transport: MakeTransport
) -> None:
    """One after the other, then at once from two threads: each loop has a client of its
    own, closed when its loop ends."""
    counters = Counters()
    transport = make_transport(counters)

    async def publish(prefix: str, count: int) -> None:
        for n in range(count):
            await transport.apublish(f"{prefix} {n}".encode())

    with redis_server.listening(CHANNEL) as receive:
        for prefix in ["first loop", "second loop"]:
            asyncio.run(publish(prefix, 2))
            assert [receive(), receive()] == [f"{prefix} 0".encode(), f"{prefix} 1".encode()]
            redis_server.wait_for_clients(1)  # just the listener: the loop's client is closed

        threads = [
            threading.Thread(target=asyncio.run, args=(publish(f"thread {t}", 50),))
            for t in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT)
        received = [receive() for _ in range(100)]
        for t in range(2):
            mine = [data for data in received if data.startswith(f"thread {t} ".encode())]
            assert mine == [f"thread {t} {n}".encode() for n in range(50)]
        redis_server.wait_for_clients(1)
    assert counters.published == 104


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_apublish_under_trio_publishes_from_a_worker_thread(
    redis_server: RedisServer, make_transport: MakeTransport
) -> None:
    counters = Counters()
    transport = make_transport(counters)
    with redis_server.listening(CHANNEL) as receive:
        await transport.apublish(b"from trio")
        assert receive() == b"from trio"
    assert counters.published == 1
    await transport.aclose()  # no asyncio client to close


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork()")
def test_a_forked_child_publishes_on_connections_of_its_own(
    redis_server: RedisServer, make_transport: MakeTransport
) -> None:
    """redis-py's pool notices the new process id: the child never writes on the parent's
    socket, and the parent's connection keeps working."""
    transport = make_transport()
    with redis_server.listening(CHANNEL) as receive:
        transport.publish(b"parent")
        assert receive() == b"parent"
        with warnings.catch_warnings():
            # Python 3.12+ warns about forking a process that has threads; the child only
            # publishes and leaves with os._exit.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                transport.publish(b"child")
            except BaseException:
                os._exit(1)
            os._exit(0)
        deadline = time.monotonic() + TIMEOUT
        while (waited := os.waitpid(pid, os.WNOHANG))[0] == 0:
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                pytest.fail("the forked child did not finish publishing")
            time.sleep(0.01)
        assert os.waitstatus_to_exitcode(waited[1]) == 0
        assert receive() == b"child"
        transport.publish(b"parent again")
        assert receive() == b"parent again"


# ----------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:s3cret@127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://user:s3cret@cache.internal/2", "redis://cache.internal/2"),
        ("rediss://cache.internal:6380/0?password=s3cret", "rediss://cache.internal:6380/0"),
        ("unix:///run/redis.sock?db=1", "unix:///run/redis.sock"),
    ],
)
def test_the_description_names_the_server_and_channel_but_never_the_password(
    url: str, shown: str
) -> None:
    transport = RedisTransport(url, channel="eventbus:ab12:events", counters=Counters())
    assert transport.description == f"{shown} channel eventbus:ab12:events"
    assert "s3cret" not in repr(transport)


def test_a_url_that_is_not_redis_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"not a Redis URL: use redis://") as raised:
        RedisTransport("http://user:s3cret@example.com/", channel=CHANNEL, counters=Counters())
    assert "s3cret" not in str(raised.value)


@pytest.mark.parametrize(
    "option", ["reconnect_max_delay", "socket_timeout", "health_check_interval"]
)
@pytest.mark.parametrize("value", [0, -1.0])
def test_durations_must_be_positive(option: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"{option} must be a positive number of seconds"):
        RedisTransport(
            "redis://127.0.0.1/0", channel=CHANNEL, counters=Counters(), **{option: value}
        )


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(0, 0.05, 0.1), (1, 0.1, 0.2), (3, 0.4, 0.8), (6, 2.5, 5.0), (1000, 2.5, 5.0)],
)
def test_the_reconnection_delay_doubles_from_a_tenth_of_a_second_up_to_the_maximum(
    monkeypatch: pytest.MonkeyPatch, attempt: int, low: float, high: float
) -> None:
    """Jitter picks a point between half the delay and all of it."""
    monkeypatch.setattr("eventbus._redis.random.random", lambda: 0.0)
    assert reconnect_delay(attempt, 5.0) == pytest.approx(low)
    monkeypatch.setattr("eventbus._redis.random.random", lambda: 1.0)
    assert reconnect_delay(attempt, 5.0) == pytest.approx(high)


# ----------------------------------------------------------------------------
# Topics, and receive() on a thread of its own
# ----------------------------------------------------------------------------


class Receiving:
    """``transport.receive(topics, stop)`` consumed on a thread: what it yielded, in order."""

    def __init__(self, transport: RedisTransport, topics: Topics, **options: Any) -> None:
        self.topics = topics
        self.stop = threading.Event()
        self.subscribed = threading.Event()
        self.lost = threading.Event()
        self.got: list[bytes] = []
        self._messages = transport.receive(
            topics,
            self.stop,
            on_subscribed=self.subscribed.set,
            on_lost=self.lost.set,
            **options,
        )
        self.thread = threading.Thread(target=self._run, name="test-receive", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for data in self._messages:
            self.got.append(data)

    def wait_for(self, count: int) -> list[bytes]:
        deadline = time.monotonic() + TIMEOUT
        while len(self.got) < count:
            assert time.monotonic() < deadline, f"{len(self.got)} of {count}: {self.got}"
            time.sleep(0.005)
        return self.got

    def wait_confirmed(self, wanted: set[str]) -> None:
        deadline = time.monotonic() + TIMEOUT
        while self.topics.confirmed != wanted:
            assert time.monotonic() < deadline, f"confirmed {set(self.topics.confirmed)}"
            time.sleep(0.005)

    def close(self) -> float:
        """Stop it; return how long that took."""
        began = time.monotonic()
        self.stop.set()
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive()
        return time.monotonic() - began


def test_a_topic_travels_on_its_own_channel_and_only_its_subscribers_get_it(
    redis_server: RedisServer, make_transport: MakeTransport
) -> None:
    transport = make_transport()
    assert transport.channel_of(None) == CHANNEL
    assert transport.channel_of("shop.order_placed") == f"{CHANNEL}:shop.order_placed"
    topics = Topics()
    topics.wanted = frozenset({"a"})
    reader = Receiving(transport, topics)
    try:
        reader.wait_confirmed({"a"})
        assert reader.subscribed.is_set()
        transport.publish(b"base")  # the listener's anchor, not this reader's
        transport.publish(b"b1", "b")
        transport.publish(b"a1", "a")
        assert reader.wait_for(1) == [b"a1"]

        topics.wanted = frozenset({"b"})  # applied within POLL, confirmed by the server
        reader.wait_confirmed({"b"})
        assert redis_server.subscribers(f"{CHANNEL}:a") == 0
        transport.publish(b"a2", "a")
        transport.publish(b"b2", "b")
        assert reader.wait_for(2) == [b"a1", b"b2"]
    finally:
        took = reader.close()
    assert took < POLL + 1.0
    assert topics.confirmed == frozenset()
    redis_server.wait_for_subscribers(f"{CHANNEL}:b", 0)


@pytest.mark.anyio
async def test_messages_gets_the_base_channel_and_its_topics(
    redis_server: RedisServer, make_transport: MakeTransport
) -> None:
    transport = make_transport()
    has_a = threading.Event()
    topics = Topics(lambda: has_a.set() if topics.confirmed == {"a"} else None)
    topics.wanted = frozenset({"a"})
    send, received = anyio.create_memory_object_stream[bytes](100)

    async def pump() -> None:
        async with send, aclosing(transport.messages(topics=topics)) as messages:
            async for data in messages:
                await send.send(data)

    async with anyio.create_task_group() as tasks, received:
        tasks.start_soon(pump)
        assert await anyio.to_thread.run_sync(has_a.wait, TIMEOUT)
        await transport.apublish(b"other", "b")
        await transport.apublish(b"base")
        await transport.apublish(b"mine", "a")
        assert [await next_of(received), await next_of(received)] == [b"base", b"mine"]
        tasks.cancel_scope.cancel()
    assert topics.confirmed == frozenset()


def test_receive_survives_a_restart_of_the_server_and_subscribes_its_topics_again(
    redis_server: RedisServer, make_transport: MakeTransport, caplog: pytest.LogCaptureFixture
) -> None:
    """Quiet: the outage is logged at debug level and no reconnect is counted (the
    process's listener reports it)."""
    counters = Counters()
    transport = make_transport(counters)
    topics = Topics()
    topics.wanted = frozenset({"a", "b"})
    with caplog.at_level(logging.DEBUG, logger="eventbus"):
        reader = Receiving(transport, topics, quiet=True)
        try:
            reader.wait_confirmed({"a", "b"})
            transport.publish(b"before", "a")
            reader.wait_for(1)
            reader.subscribed.clear()
            redis_server.kill()
            assert reader.lost.wait(TIMEOUT)
            assert topics.confirmed == frozenset()
            redis_server.start()
            assert reader.subscribed.wait(TIMEOUT)
            reader.wait_confirmed({"a", "b"})
            transport.publish(b"after", "b")
            assert reader.wait_for(2) == [b"before", b"after"]
        finally:
            reader.close()
    assert counters.reconnects == 0
    assert records(caplog, logging.WARNING) == []
    assert records(caplog, logging.INFO) == []
    assert any("lost the subscription" in m for m in records(caplog, logging.DEBUG))


def test_receive_is_not_quiet_by_default(
    redis_server: RedisServer, make_transport: MakeTransport, caplog: pytest.LogCaptureFixture
) -> None:
    counters = Counters()
    transport = make_transport(counters)
    with caplog.at_level(logging.INFO, logger="eventbus"):
        reader = Receiving(transport, Topics())
        try:
            assert reader.subscribed.wait(TIMEOUT)
            reader.subscribed.clear()
            redis_server.stop()
            assert reader.lost.wait(TIMEOUT)
            redis_server.start()
            assert reader.subscribed.wait(TIMEOUT)
        finally:
            reader.close()
    assert counters.reconnects == 1
    (warning,) = records(caplog, logging.WARNING)
    assert "lost the subscription" in warning
    (info,) = records(caplog, logging.INFO)
    assert "again" in info
