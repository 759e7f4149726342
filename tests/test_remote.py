"""Remote signals in one process: broadcast receivers, remote subscriptions, when events go out.

These tests use the in-process transport (no ``EVENTBUS["TRANSPORT"]``): the
process is the whole cluster, and every message still goes through the wire's
encoding, signing and decoding, and through the listener thread. The same
rules across real processes over Redis are in ``test_cross_process.py``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from io import StringIO
from typing import Any

import anyio
import anyio.to_thread
import pytest
from django.core.management import call_command
from django.db import transaction

import eventbus
from eventbus import Signal, remote, signals
from eventbus._node import node
from eventbus.conf import TransportSettings
from tests.redis_server import RedisServer
from tests.testapp.models import Author, Tag

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 5.0


Arrival = tuple[str, Any, dict[str, Any], str]


class Arrivals:
    """Records what broadcast receivers got, from whichever thread, and waits for it."""

    def __init__(self) -> None:
        self.calls: list[Arrival] = []
        self._changed = threading.Condition()

    def receiver(self, name: str) -> Callable[..., str]:
        def receive(sender: Any, signal: Any, **kwargs: Any) -> str:
            with self._changed:
                self.calls.append((name, sender, kwargs, threading.current_thread().name))
                self._changed.notify_all()
            return name

        receive.__qualname__ = f"receive_{name}"
        return receive

    def wait_for(self, count: int, timeout: float = WAIT) -> list[Arrival]:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.calls) >= count, timeout), self.calls
            return list(self.calls)

    def settle(self) -> list[Arrival]:
        """Wait until the sync broadcast receivers have had everything published so far,
        then read.

        The eventbus-receivers thread handles their events in order: once a marker sent
        now has reached a sync receiver, so has everything sent before it.
        """
        seen = threading.Event()
        with marker.connected_to(lambda sender, **kw: seen.set(), delivery="broadcast"):
            marker.send(sender=None)
            assert seen.wait(WAIT)
        return list(self.calls)


@pytest.fixture
def arrivals() -> Arrivals:
    return Arrivals()


def listen() -> None:
    """Start this process's listener and wait until it is subscribed.

    Connecting a broadcast receiver starts it too, but does not wait: an event published
    before the subscription is in place is missed, as in any process that is not listening.
    """
    node.start()
    assert node.wait_subscribed(WAIT)


@pytest.fixture(autouse=True)
def listening() -> None:
    listen()


@pytest.fixture
def remote_authors(reinstall: Callable[..., None]) -> None:
    """Author is in REMOTE_MODELS (in-process transport); ``reinstall`` restores the settings."""
    reinstall(remote_models=("testapp.Author",))
    listen()


orders = Signal(name="tests.remote.order_placed", remote=True)
marker = Signal(name="tests.remote.marker", remote=True)


# -- declaring -----------------------------------------------------------------------------


def test_a_remote_signal_needs_a_name() -> None:
    with pytest.raises(ValueError, match=r"remote=True\) needs a name"):
        Signal(remote=True)


def test_wire_hooks_need_a_remote_signal() -> None:
    with pytest.raises(ValueError, match="only applies with remote=True"):
        Signal(name="x", to_wire=lambda kwargs: kwargs)


@pytest.mark.parametrize("via", ["connect", "receiver", "subscribe"])
def test_broadcast_and_remote_subscriptions_need_a_remote_signal(via: str) -> None:
    local = Signal(name="tests.remote.local")

    def receive(sender: Any, **kwargs: Any) -> None: ...

    def attempt() -> None:
        if via == "connect":
            local.connect(receive, delivery="broadcast")
        elif via == "receiver":
            eventbus.receiver(local, delivery="broadcast")(receive)
        else:
            local.subscribe(remote=True)

    with pytest.raises(ValueError, match="is not a remote signal"):
        attempt()
    assert not local.has_listeners()


def test_a_bad_delivery_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="delivery must be 'local'"):
        orders.connect(lambda sender, **kw: None, weak=False, delivery="everywhere")
    assert orders.receivers == []


def test_model_signals_broadcast_only_for_remote_models(remote_authors: None) -> None:
    def receive(sender: Any, **kwargs: Any) -> None: ...

    with pytest.raises(ValueError, match=r"REMOTE_MODELS"):
        signals.post_save.connect(receive, sender=Tag, delivery="broadcast")
    with signals.post_save.connected_to(receive, sender=Author, delivery="broadcast"):
        [info] = signals.post_save.receivers_for(Author)
        assert info.delivery == "broadcast"


# -- delivery ----------------------------------------------------------------------------


def test_a_broadcast_receiver_runs_once_on_the_listener_not_in_the_send(
    arrivals: Arrivals,
) -> None:
    local = arrivals.receiver("local")
    broadcast = arrivals.receiver("broadcast")
    with (
        orders.connected_to(local),
        orders.connected_to(broadcast, delivery="broadcast"),
    ):
        results = orders.send(sender=None, order=7)
        assert [response for _, response in results] == ["local"]
        calls = arrivals.wait_for(2)
        assert arrivals.settle() == calls
    [(name1, _, kwargs1, thread1), (name2, _, kwargs2, thread2)] = calls
    assert (name1, kwargs1, thread1) == ("local", {"order": 7}, threading.current_thread().name)
    assert (name2, kwargs2) == ("broadcast", {"order": 7})
    assert thread2.startswith("eventbus-receivers")


def test_broadcast_receivers_run_in_priority_order_and_a_failure_stops_none(
    arrivals: Arrivals, caplog: pytest.LogCaptureFixture
) -> None:
    def failing(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("broken")

    with (
        orders.connected_to(arrivals.receiver("low"), delivery="broadcast", priority=-1),
        orders.connected_to(failing, delivery="broadcast", priority=5),
        orders.connected_to(arrivals.receiver("high"), delivery="broadcast", priority=10),
        caplog.at_level(logging.ERROR, logger="django.dispatch"),
    ):
        orders.send(sender=None)
        calls = arrivals.wait_for(2)
    assert [name for name, *_ in calls] == ["high", "low"]
    assert "broken" in caplog.text


def test_a_once_broadcast_receiver_runs_once_in_the_process(arrivals: Arrivals) -> None:
    with orders.connected_to(arrivals.receiver("once"), delivery="broadcast", once=True):
        orders.send(sender=None, n=1)
        orders.send(sender=None, n=2)
        arrivals.settle()
    assert [kwargs for _, _, kwargs, _ in arrivals.calls] == [{"n": 1}]


@pytest.mark.anyio
async def test_an_async_broadcast_receiver_runs_on_the_listeners_loop(arrivals: Arrivals) -> None:
    seen: list[tuple[str, str]] = []
    arrived = threading.Event()
    here = threading.current_thread().name

    async def receive(sender: Any, **kwargs: Any) -> None:
        seen.append(("async", threading.current_thread().name))
        arrived.set()

    with orders.connected_to(receive, delivery="broadcast"):
        await orders.asend(sender=None)
        assert await anyio.to_thread.run_sync(arrived.wait, WAIT)
    assert seen == [("async", "eventbus-listener")]
    assert here != "eventbus-listener"


@pytest.mark.anyio
async def test_a_remote_subscription_gets_every_send_and_a_local_one_only_this_processes() -> None:
    async with (
        orders.subscribe(remote=True) as remote_events,
        orders.subscribe() as local_events,
    ):
        assert node.listening
        assert await anyio.to_thread.run_sync(node.wait_subscribed, WAIT)
        await orders.asend(sender=None, price=Decimal("9.99"))
        with anyio.fail_after(WAIT):
            remote_event = await anext(remote_events)
        local_event = await anext(local_events)
    assert remote_event.kwargs == {"price": Decimal("9.99")}
    assert local_event.kwargs == {"price": Decimal("9.99")}
    assert remote_events.remote
    assert not local_events.remote


# -- when events go out --------------------------------------------------------------------


def test_an_event_goes_out_after_commit_and_never_for_a_rollback(arrivals: Arrivals) -> None:
    with orders.connected_to(arrivals.receiver("b"), delivery="broadcast"):
        with transaction.atomic():
            orders.send(sender=None, n="committed")
            published = node.counters.published
        assert node.counters.published == published + 1  # at the commit, not before
        arrivals.wait_for(1)
        try:
            with transaction.atomic():
                orders.send(sender=None, n="rolled back")
                raise ZeroDivisionError
        except ZeroDivisionError:
            pass
        with transaction.atomic():
            try:
                with transaction.atomic():
                    orders.send(sender=None, n="savepoint")
                    raise ZeroDivisionError
            except ZeroDivisionError:
                pass
        arrivals.settle()
    assert [kwargs["n"] for _, _, kwargs, _ in arrivals.calls] == ["committed"]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_an_async_send_in_an_async_transaction_goes_out_at_its_commit(
    arrivals: Arrivals,
) -> None:
    with orders.connected_to(arrivals.receiver("b"), delivery="broadcast"):
        async with eventbus.atomic():
            await orders.asend(sender=None, n="committed")
        try:
            async with eventbus.atomic():
                await orders.asend(sender=None, n="rolled back")
                raise ZeroDivisionError
        except ZeroDivisionError:
            pass
        await anyio.to_thread.run_sync(arrivals.settle)
    assert [kwargs["n"] for _, _, kwargs, _ in arrivals.calls] == ["committed"]


def test_an_argument_the_wire_cannot_carry_raises_before_any_receiver_runs() -> None:
    ran: list[str] = []
    with (
        orders.connected_to(lambda sender, **kw: ran.append("local")),
        pytest.raises(TypeError, match=r"kwargs\['thing'\]"),
    ):
        orders.send(sender=None, thing=object())
    assert ran == []


def test_a_muted_signal_publishes_nothing(arrivals: Arrivals) -> None:
    with orders.connected_to(arrivals.receiver("b"), delivery="broadcast"):
        published = node.counters.published
        with orders.muted():
            orders.send(sender=None)
        assert node.counters.published == published
        assert arrivals.settle() == []


# -- model signals -------------------------------------------------------------------------


@pytest.mark.usefixtures("remote_authors")
def test_a_save_of_a_remote_model_arrives_as_a_rebuilt_instance(arrivals: Arrivals) -> None:
    with signals.post_save.connected_to(
        arrivals.receiver("saved"), sender=Author, delivery="broadcast"
    ):
        author = Author.objects.create(name="Ann")
        Tag.objects.create(name="not remote")
        [(_, sender, kwargs, _)] = arrivals.wait_for(1)
        assert arrivals.settle() == arrivals.calls
    assert sender is Author
    assert kwargs["instance"] is not author
    assert (kwargs["instance"].pk, kwargs["instance"].name) == (author.pk, "Ann")
    assert kwargs["created"] is True


@pytest.mark.usefixtures("remote_authors")
def test_a_queryset_delete_sends_its_model_as_origin(arrivals: Arrivals) -> None:
    Author.objects.create(name="Ann")
    with signals.post_delete.connected_to(
        arrivals.receiver("deleted"), sender=Author, delivery="broadcast"
    ):
        Author.objects.all().delete()
        [(_, _, kwargs, _)] = arrivals.wait_for(1)
    assert kwargs["origin"] is Author
    assert kwargs["instance"].name == "Ann"


# -- counting and seeing it ------------------------------------------------------------------


def test_malformed_and_foreign_messages_are_dropped_counted_and_the_listener_goes_on(
    arrivals: Arrivals, caplog: pytest.LogCaptureFixture
) -> None:
    with orders.connected_to(arrivals.receiver("b"), delivery="broadcast"):
        transport = node._transport
        assert transport is not None
        before = dict(node.counters.dropped)
        with caplog.at_level(logging.WARNING, logger="eventbus"):
            # Under the signal's topic: the reader that runs its receivers reads them, in order.
            transport.publish(b"not a frame", orders.remote_name)
            transport.publish(b"eventbus1." + b"0" * 64 + b".{}", orders.remote_name)
            orders.send(sender=None, n="after")
            arrivals.wait_for(1)
        dropped = {k: v - before.get(k, 0) for k, v in node.counters.dropped.items()}
    assert dropped == {"malformed": 1, "bad signature": 1}
    assert [kwargs for _, _, kwargs, _ in arrivals.calls] == [{"n": "after"}]


def test_status_lists_remote_signals_and_broadcast_receivers(arrivals: Arrivals) -> None:
    receive = arrivals.receiver("b")
    with orders.connected_to(receive, delivery="broadcast"):
        report = node.status()
    assert report["transport"].startswith("in-process")
    assert report["signals"]["tests.remote.order_placed"] == ["tests.test_remote.receive_b"]
    assert set(report["counters"]) == {
        "published",
        "publish_failed",
        "received",
        "delivered",
        "dropped",
        "reconnects",
    }


def test_the_counters_and_status_are_public(arrivals: Arrivals) -> None:
    with orders.connected_to(arrivals.receiver("b"), delivery="broadcast"):
        before = remote.counters()["published"]
        orders.send(sender=None)
        arrivals.wait_for(1)
        assert remote.counters()["published"] == before + 1
        assert remote.status() == node.status() | {"processes": remote.status()["processes"]}


def test_manage_py_eventbus_status_shows_every_listening_process(arrivals: Arrivals) -> None:
    with orders.connected_to(arrivals.receiver("b"), delivery="broadcast"):
        assert node.listening

        def reported() -> list[dict[str, Any]]:
            out = StringIO()
            call_command("eventbus", "status", "--json", stdout=out)
            processes: list[dict[str, Any]] = json.loads(out.getvalue())["processes"]
            return processes

        deadline = time.monotonic() + WAIT
        while not (processes := reported()) and time.monotonic() < deadline:
            time.sleep(0.05)
        text = StringIO()
        call_command("eventbus", "status", stdout=text)
    [me] = processes
    assert me["pid"] == os.getpid()
    assert set(me["counters"]) >= {"published", "received", "dropped", "reconnects"}
    assert "tests.remote.order_placed" in text.getvalue()
    assert "broadcast: tests.test_remote.receive_b" in text.getvalue()


# -- publishing failures --------------------------------------------------------------------


@pytest.mark.parametrize("raise_on_error", [False, True])
def test_a_publish_that_fails_is_logged_and_counted_or_raised_when_asked(
    reinstall: Callable[..., None],
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
    raise_on_error: bool,
) -> None:
    reinstall(
        transport=TransportSettings(
            url=redis_server.url,
            channel_prefix=f"tests-{os.getpid()}",
            signing_key=b"k",
            raise_on_publish_error=raise_on_error,
        )
    )
    redis_server.stop()
    ran: list[str] = []
    with (
        orders.connected_to(lambda sender, **kw: ran.append("local")),
        caplog.at_level(logging.ERROR, logger="eventbus"),
    ):
        if raise_on_error:
            with pytest.raises(remote.TransportError, match="Could not publish"):
                orders.send(sender=None)
        else:
            orders.send(sender=None)
            orders.send(sender=None)
    # Outside a transaction the event goes out when the send starts: raising, it stops the send
    # before its receivers.
    assert ran == ([] if raise_on_error else ["local", "local"])
    assert remote.counters()["publish_failed"] == (1 if raise_on_error else 2)
    assert len([r for r in caplog.records if "could not publish" in r.getMessage()]) == 1


# -- what must not stop the listener, and sends it cannot judge ------------------------------


def explode_on_one(kwargs: dict[str, Any]) -> dict[str, Any]:
    if kwargs["n"] == 1:
        raise KeyError("n")
    return kwargs


flaky = Signal(name="tests.remote.flaky", remote=True, from_wire=explode_on_one)


def test_a_from_wire_hook_that_raises_drops_its_message_and_the_listener_goes_on(
    arrivals: Arrivals, caplog: pytest.LogCaptureFixture
) -> None:
    before = node.counters.dropped.get("malformed", 0)
    with (
        flaky.connected_to(arrivals.receiver("flaky"), delivery="broadcast"),
        caplog.at_level(logging.WARNING, logger="eventbus"),
    ):
        flaky.send(sender=None, n=1)
        flaky.send(sender=None, n=2)
        [(_, _, kwargs, _)] = arrivals.wait_for(1)
    assert kwargs == {"n": 2}
    assert node.listening
    assert node.counters.dropped["malformed"] == before + 1
    assert "KeyError" in caplog.text


@pytest.mark.anyio
async def test_a_sync_send_of_a_remote_signal_on_an_event_loop_is_refused_before_anything_runs(
    arrivals: Arrivals,
) -> None:
    """It could not tell whether an async transaction (eventbus.atomic) commits."""
    ran: list[str] = []
    with orders.connected_to(lambda sender, **kw: ran.append("local")):
        published = node.counters.published
        with pytest.raises(eventbus.AsyncSendError, match=r"remote.*await signal\.asend"):
            orders.send(sender=None)
    assert ran == []
    assert node.counters.published == published


def test_wait_subscribed_starts_the_listener_and_says_whether_it_is_subscribed(
    reinstall: Callable[..., None],
) -> None:
    reinstall()
    assert not node.listening
    assert remote.wait_subscribed(WAIT) is True
    assert node.listening


def test_sync_and_async_broadcast_receivers_keep_their_order_and_their_threads(
    arrivals: Arrivals,
) -> None:
    """Sync ones on the eventbus-receivers thread, async ones on the listener's loop."""

    async def on_the_loop(sender: Any, signal: Any, **kwargs: Any) -> None:
        arrivals.receiver("async")(sender, signal, **kwargs)

    with (
        orders.connected_to(arrivals.receiver("first"), delivery="broadcast", priority=2),
        orders.connected_to(on_the_loop, delivery="broadcast", priority=1),
        orders.connected_to(arrivals.receiver("last"), delivery="broadcast"),
    ):
        orders.send(sender=None)
        calls = arrivals.wait_for(3)
    # In-process the listener reads everything, and sync receivers run on its worker
    # thread, eventbus-receivers_0 (over Redis, on the eventbus-receivers thread itself).
    assert [(name, thread) for name, _, _, thread in calls] == [
        ("first", "eventbus-receivers_0"),
        ("async", "eventbus-listener"),
        ("last", "eventbus-receivers_0"),
    ]


def on_redis(reinstall: Callable[..., None], server: RedisServer) -> str:
    """Use a Redis transport on ``server``; return its base channel."""
    settings = TransportSettings(
        url=server.url, channel_prefix=f"tests-{os.getpid()}", signing_key=b"k"
    )
    reinstall(transport=settings)
    listen()
    return settings.channel


def subscribed(timeout: float = WAIT) -> None:
    assert remote.wait_subscribed(timeout)


def test_each_thread_subscribes_to_the_signals_it_serves(
    reinstall: Callable[..., None], redis_server: RedisServer, arrivals: Arrivals
) -> None:
    """Signals with a sync broadcast receiver on eventbus-receivers (where they stay while
    they have listeners), the others on the listener: each signal's channel has one
    subscriber in the process."""
    base = on_redis(reinstall, redis_server)
    channel = f"{base}:{orders.remote_name}"

    async def on_the_loop(sender: Any, signal: Any, **kwargs: Any) -> None:
        arrivals.receiver("async")(sender, signal, **kwargs)

    with orders.connected_to(on_the_loop, delivery="broadcast"):
        subscribed()
        assert orders.remote_name in node._listener_topics.confirmed
        assert orders.remote_name not in node._reader_topics.confirmed
        orders.send(sender=None, n=1)
        arrivals.wait_for(1)
        with orders.connected_to(arrivals.receiver("sync"), delivery="broadcast", priority=1):
            subscribed()
            redis_server.wait_for_subscribers(channel, 1)
            assert orders.remote_name in node._reader_topics.confirmed
            assert orders.remote_name not in node._listener_topics.confirmed
            orders.send(sender=None, n=2)
            arrivals.wait_for(3)
        subscribed()
        redis_server.wait_for_subscribers(channel, 1)
        assert orders.remote_name in node._reader_topics.confirmed
        orders.send(sender=None, n=3)
        arrivals.wait_for(4)
    redis_server.wait_for_subscribers(channel, 0)
    assert node._reader_topics.wanted == node._listener_topics.wanted == frozenset()
    assert [(name, kw["n"], thread) for name, _, kw, thread in arrivals.calls] == [
        ("async", 1, "eventbus-listener"),
        ("sync", 2, "eventbus-receivers"),
        ("async", 2, "eventbus-listener"),
        ("async", 3, "eventbus-listener"),
    ]
    assert remote.counters()["received"] == 3


def test_a_signal_moving_to_the_receivers_thread_keeps_every_event_once_and_in_order(
    reinstall: Callable[..., None], redis_server: RedisServer
) -> None:
    """The first sync broadcast receiver moves its signal from the listener, which is far
    behind, to eventbus-receivers: every event runs once, in order (see _node._Inbox)."""
    on_redis(reinstall, redis_server)
    got: list[int] = []

    async def counting(sender: Any, n: int, **kwargs: Any) -> None:
        got.append(n)
        await anyio.sleep(0.001)  # the listener is busy a while with each

    def sync_one(sender: Any, **kwargs: Any) -> None:
        pass

    sent = 300
    with orders.connected_to(counting, delivery="broadcast"):
        subscribed()
        for n in range(sent):
            orders.send(sender=None, n=n)
        with orders.connected_to(sync_one, delivery="broadcast"):
            for n in range(sent, 2 * sent):
                orders.send(sender=None, n=n)
                time.sleep(0.0002)
            deadline = time.monotonic() + WAIT * 2
            while len(got) < 2 * sent:
                assert time.monotonic() < deadline, (len(got), got[-5:])
                time.sleep(0.005)
            assert orders.remote_name in node._reader_topics.confirmed
            assert orders.remote_name not in node._listener_topics.confirmed
    assert got == list(range(2 * sent))


def test_manage_py_eventbus_listen_lists_what_it_receives_for_and_stops_on_sigint(
    arrivals: Arrivals,
) -> None:
    """In this process: the command listens until SIGINT, then prints its counters."""
    out = StringIO()

    def interrupt_once_listening() -> None:
        deadline = time.monotonic() + WAIT
        while "listening on" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
        orders.send(sender=None, n=1)
        arrivals.wait_for(1)
        while node.counters.delivered < 1 and time.monotonic() < deadline:
            time.sleep(0.005)  # counted once its receivers have returned
        os.kill(os.getpid(), signal.SIGINT)

    with orders.connected_to(arrivals.receiver("b"), delivery="broadcast"):
        thread = threading.Thread(target=interrupt_once_listening)
        thread.start()
        call_command("eventbus", "listen", stdout=out)
        thread.join(WAIT)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("eventbus listening on in-process")
    assert "  tests.remote.order_placed: tests.test_remote.receive_b" in lines
    assert lines[-1].startswith("eventbus stopped listening: ")
    assert json.loads(lines[-1].removeprefix("eventbus stopped listening: "))["delivered"] >= 1
    assert not node.listening
